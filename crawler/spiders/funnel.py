"""The funnel spider: fetch owned pages, their links, social profiles and externals.

Thin by design: :mod:`crawler.extract` reads pages, :mod:`crawler.urls` names
URLs, :mod:`crawler.scope` says what is owned; the spider only decides what to
fetch next and hands one item per fetched URL to the store pipeline. It never
judges a status: the store keeps facts, analysis gives verdicts.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import re
from functools import lru_cache

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.gz import gunzip

from crawler.dupefilter import dupefilter_of
from crawler.errors import error_kind, size_reason
from crawler.extensions import CrawlLimits
from crawler.extract import BINARY_DATA, NAVIGATION_TAGS, Link, binary_kind, css_urls, extract, resolve_href
from crawler.options import CrawlOptions
from crawler.profiles import MAX_LINKS, api_error, api_urls, read_api, says_missing, youtube_links
from crawler.render import (RENDER_SLOT, SAME_LINKS, SAMPLE, RenderPlan, link_diff, needs_javascript, runs_scripts,
                            same_link, template_of)
from crawler.scope import APP, EXTERNAL, OWNED, PROFILE, SHARE, SOCIAL, names_own_profile
from crawler.sitemaps import SitemapError, read_sitemap
from crawler.store import now_iso
from crawler.urls import (FETCHABLE_SCHEMES, IGNORED_SCHEMES, RECORDED_SCHEMES, Remapper, URLError, dedupe_key,
                          fold_origin, fold_slashes, normalize, origin, origin_aliases, redact_credentials, resolve,
                          route_key, scheme_of)

logger = logging.getLogger(__name__)

# Response headers that verdicts need (blocked platforms, rate limits).
# ``allow``: what a form's endpoint that answers 405 takes (POST), so analysis can tell it works.
KEPT_HEADERS = ("cf-mitigated", "retry-after", "x-amzn-waf-action", "server", "content-length", "allow",
                "x-ratelimit-remaining", "x-ratelimit-reset")
HTML_TYPES = ("text/html", "application/xhtml+xml")
FORM = "form"  # the role of a form's owned action or thank-you page: checked (HEAD, then GET), never submitted
ANSWER_CACHE_MAX = 1024 * 1024  # a profile API's answer larger than this is not kept for the next run
SITEMAP_CHUNK = 1000  # sitemap entries per item: a 50,000-URL sitemap is streamed, not held
SITEMAP_MAX_SIZE = 50 * 1024 * 1024  # the sitemap protocol's limit on one (uncompressed) sitemap
RENDER_RETRIES = 50  # pages whose rendering timed out, rendered once more when the crawl is idle


def is_stylesheet(url: str, tag: str, rel: str) -> bool:
    """Is this a stylesheet (``<link rel=stylesheet>``, or a URL ending in ``.css``)?

    >>> is_stylesheet("https://a.example/s", "link", "stylesheet"), is_stylesheet("https://a.example/x.css?v=2", "css", "")
    (True, True)
    """
    if tag == "link" and "stylesheet" in rel.split():
        return True
    return url.split("?", 1)[0].split("#", 1)[0].lower().endswith(".css")


def unmap(public: str, fetched: str, local: str) -> str:
    """Express ``local`` (an absolute URL on the fetched host) under the public URL it stands for.

    The part of the path that the public and fetched URLs share at their end is
    what the remap kept; the rest is the remapped prefix.

    >>> unmap("https://twitter.com/acme", "http://127.0.0.1:9/_social/twitter.com/acme",
    ...       "http://127.0.0.1:9/_social/twitter.com/acme/")
    'https://twitter.com/acme/'
    """
    pp = "/" + public.split("://", 1)[1].partition("/")[2]
    fp = "/" + fetched.split("://", 1)[1].partition("/")[2]
    n = 0
    while n < min(len(pp), len(fp)) and pp[-1 - n] == fp[-1 - n]:
        n += 1
    fetched_prefix, public_prefix = fp[: len(fp) - n], pp[: len(pp) - n]
    lpath = "/" + local.split("://", 1)[1].partition("/")[2]
    if not lpath.startswith(fetched_prefix):
        return local
    return origin(public) + public_prefix + lpath[len(fetched_prefix):]


class FunnelSpider(scrapy.Spider):
    name = "funnel"

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.configure(crawler.settings)
        return spider

    def configure(self, settings) -> None:
        """Read the crawl (its options, targets, origins, state) from the settings ``crawler.run``
        gave it: the spider never opens the store; the pipeline writes what it finds."""
        crawl = settings.getdict("FUNNEL_CRAWL")
        if not crawl:
            raise ValueError("FUNNEL_CRAWL is not set: start a crawl with `python -m crawler.run DB CRAWL_ID`")
        self.crawl_id = crawl["id"]
        o = CrawlOptions.from_json(crawl["options"])
        self.targets = crawl["targets"]
        self.scope = o.scope()
        self.remapper = Remapper(o.remap, o.mounts)
        self.check_external = o.check_external
        self.check_social = o.check_social
        self.obey_robots = not o.ignore_robots
        self.include = [re.compile(r) for r in o.include]
        self.exclude = [re.compile(r) for r in o.exclude]
        self.exclude_path = [re.compile(r) for r in o.exclude_path]
        self.use_sitemaps = o.sitemaps
        self.directories = dict(o.directories)  # directory targets: {public base URL: folder}
        # Caps that hold for every URL, owned or not (a trap cannot make a crawl run for ever).
        self.max_url_length = settings.getint("FUNNEL_MAX_URL_LENGTH", 2048)
        self.max_redirects = settings.getint("FUNNEL_MAX_REDIRECTS", 10)
        self.max_links = settings.getint("FUNNEL_MAX_LINKS_PER_PAGE", 10000)
        # De-duplication and limits live in Scrapy components (swappable by settings).
        self.dupefilter = dupefilter_of(self.crawler)
        self.limits = CrawlLimits.from_crawler(self.crawler)
        self.resume = settings.getbool("FUNNEL_RESUME")
        # http/https and www variants of every owned origin are one site, named as the targets name it.
        self.aliases = origin_aliases([*self.targets, *self.scope.site, *self.scope.blog])
        if self.resume and crawl.get("origins"):
            self.aliases = dict(crawl["origins"])  # as the first run named the site (a target's redirect)
        self.origins_changed = True  # written with the first item
        self.seeds_pending: set[str] = set()  # targets whose first answer has not come yet
        # handles of the business's profiles seen so far (kept in the crawl's state for a resume)
        self.known_handles: set[str] = set((crawl.get("state") or {}).get("known_handles", ())) if self.resume else set()
        self.state_changed = False
        self.state_seq = 0
        # Nav and footer links repeat on every page: name each distinct href once.
        self.classify = lru_cache(maxsize=65536)(self._classify)
        # ... and each normalised URL's tier once: external and social links are never claimed
        # (--no-check-external, --no-check-social), so every page asks about its footer's again
        # (what repeats is a site's chrome: 8,192 URLs, ~2 MiB when full, hold it)
        self.url_facts = lru_cache(maxsize=8192)(self._url_facts)
        # profile links (url, kind, region, rel) found to be the business's: they stay so (the
        # handles it knows only grow), so a footer's icons are judged once (see own_profile)
        self.own_profiles: set[tuple] = set()
        # --render: which owned pages are rendered in Chromium too (crawler.render)
        self.render = RenderPlan(o.render, browser=bool(o.chromium))
        # pages whose rendering timed out while the crawl kept Chromium waiting: rendered once more
        # when the crawl has nothing else to do (:meth:`render_again`)
        self.render_later: list[scrapy.Request] = []
        self.crawler.signals.connect(self.render_again, signal=signals.spider_idle)

    def key(self, url: str) -> str:
        """The de-duplication key of a normalised public URL (owned variants folded)."""
        return dedupe_key(url, self.aliases)

    # -- scheduling -------------------------------------------------------------
    async def start(self):
        if self.resume:
            for request in self.restore():
                yield request
        # The targets go first, alone: if one answers with a redirect to its own https:// or
        # www. form, that form names the site before any other URL of it is keyed.
        for target in self.targets:
            request = self.plan(normalize(target)[0], "a", 0, seed=True)
            if isinstance(request, scrapy.Request):
                request.meta["seed"] = True
                self.seeds_pending.add(request.meta["key"])
            if request is not None:
                yield request
        if not self.seeds_pending:
            for request in self.after_seeds():
                yield request

    def restore(self):
        """A resumed crawl: every URL the store's frontier holds is decided (the dupefilter reads
        it), the limits count what was scheduled, the URLs queued but never fetched are asked again."""
        seeds = {self.key(normalize(t)[0]) for t in self.targets}
        queued = []
        for key, fetch, state in self.dupefilter.restore():
            self.limits.restore(key, fetch.get("role"), key in seeds, fetch.get("depth"))
            if state == "queued" and fetch.get("url"):
                queued.append((key, fetch))
        for key, fetch in queued:
            if fetch["role"] == "sitemap":
                yield self.fetch(fetch["url"], "sitemap", self.parse_sitemap)
            else:
                request = self.reader_request(fetch["url"], key, fetch.get("depth") or 0) \
                    if fetch["role"] == "profile" else None
                request = request or self.request(fetch["url"], key, fetch["role"], fetch.get("depth") or 0,
                                                  fetch.get("method") or "GET")
                if fetch.get("rerender") and isinstance(request, scrapy.Request):
                    request.meta["rerender"] = True  # (stored as served, its rendering cut: it replaces that page)
                yield request

    def resume_state(self) -> dict | None:
        """What a resume needs that the pages do not say, when it changed (else None): written
        by the pipeline with the item it comes with."""
        if not (self.state_changed or self.origins_changed):
            return None
        self.state_changed = self.origins_changed = False
        self.state_seq += 1  # the pipeline keeps the newest, whatever order items reach it in
        return {"known_handles": sorted(self.known_handles), "origins": dict(self.aliases), "seq": self.state_seq}

    def seed_answered(self, meta) -> list:
        """A target's first answer came: once all have, the rest of the crawl starts."""
        if not meta.get("seed") or meta["key"] not in self.seeds_pending:
            return []
        self.seeds_pending.discard(meta["key"])
        return [] if self.seeds_pending else self.after_seeds()  # a generator: a folder's files come one by one

    def after_seeds(self):
        """Profiles given with --social, every HTML file of a directory target and the owned
        origins' robots.txt / sitemaps."""
        yield from self.directory_pages()
        if self.check_social:
            # The business's own profiles (--social) are checked even where no page links to them.
            for profile in self.scope.social:
                request = self.plan(profile, "a", 0, kind=PROFILE, role="profile",
                                    key=self.scope.account_key(profile))
                if request is not None:
                    yield request
        if self.use_sitemaps:
            # Every owned origin may publish a sitemap: the targets', the site's and the blog's.
            origins = dict.fromkeys(origin(fold_origin(u, self.aliases))
                                    for u in (*self.targets, *self.scope.site, *self.scope.blog))
            for o in origins:
                yield self.fetch(o + "/robots.txt", "robots", self.parse_robots_sitemaps)

    def directory_pages(self):
        """A directory target's HTML files, each at the URL its static host serves it at: every
        file is read, whether a page links to it or not (as htmltest and lychee do). They are
        pages one step from nowhere (depth 0), counted by --max-pages like any other."""
        from crawler.serve import page_urls

        for base, folder in self.directories.items():
            if not os.path.isdir(folder):
                continue
            for url in page_urls(folder, base):
                try:
                    url = normalize(url)[0]
                except URLError:
                    continue
                request = self.plan(url, "a", 0, role="page", listed=True)
                if request is not None:
                    yield request

    # -- sitemaps -----------------------------------------------------------------
    def fetch(self, public: str, role: str, callback) -> scrapy.Request:
        """A request for a crawl-support file (robots.txt, sitemap): never blocked by robots, and
        redirected by Scrapy's own middleware (http -> https, apex -> www), up to 5 times."""
        # No handle_httpstatus_all: Scrapy's redirect middleware would leave 3xx alone, and an
        # error status goes to on_support_error (which falls back to /sitemap.xml for robots.txt).
        key = self.key(public)
        meta = {"public": public, "key": key, "claimed": key, "role": role, "depth": 0, "dont_obey_robotstxt": True}
        if role == "sitemap":  # up to what the sitemap protocol allows, whatever --max-size says of pages
            meta["download_maxsize"] = self.sitemap_max_size()
        self.dupefilter.claim(key)
        return scrapy.Request(self.remapper.fetch_url(public), meta=meta, callback=callback,
                              errback=self.on_support_error, priority=1)

    def sitemap_max_size(self) -> int:
        """Bytes a sitemap may have, decompressed: the protocol's 50 MiB, or --max-size if larger."""
        return max(self.settings.getint("DOWNLOAD_MAXSIZE"), SITEMAP_MAX_SIZE)

    def on_support_error(self, failure):
        meta = failure.request.meta
        logger.info("could not fetch %s: %s", meta["public"], failure.value)
        response = getattr(failure.value, "response", None)  # an HTTP error status (HttpErrorMiddleware)
        if meta["role"] == "sitemap" and not (response is not None and response.status < 500):
            # recorded: the store and the report say a sitemap failed (a 404 only says there is none)
            if response is not None:
                page = self.unread(failure.request, status=response.status)
            else:
                page = self.unread(failure.request, *self.error_of(failure))
            logger.warning("sitemap %s not read: %s", meta["public"], page.get("reason") or page.get("status"))
            yield self.item(page)
        if meta["role"] == "robots":
            yield self.fetch(origin(failure.request.meta["public"]) + "/sitemap.xml", "sitemap", self.parse_sitemap)

    def parse_robots_sitemaps(self, response):
        """Read the ``Sitemap:`` lines of robots.txt, and /sitemap.xml in any case."""
        public = response.meta["public"]
        found = []
        if response.status == 200:
            for line in response.body.decode("utf-8", "replace").splitlines():
                name, _, value = line.partition(":")
                if name.strip().lower() == "sitemap" and value.strip():
                    try:
                        found.append(normalize(resolve(public, value.strip()))[0])
                    except URLError:
                        continue
        for url in found + [origin(public) + "/sitemap.xml"]:
            key = self.key(url)
            if self.dupefilter.claim(key):
                yield self.fetch(url, "sitemap", self.parse_sitemap)

    def parse_sitemap(self, response):
        """A sitemap or sitemap index (plain or gzip): seed the crawl with its owned URLs."""
        meta = response.meta
        if response.status != 200:
            return
        body = response.body
        if body[:2] == b"\x1f\x8b":
            cap = meta.get("download_maxsize") or self.sitemap_max_size()
            try:
                body = gunzip(body, max_size=cap)
            except (OSError, EOFError, ValueError) as exc:  # ValueError: over the cap (a gzip bomb)
                over = type(exc).__name__ == "_DecompressionMaxSizeExceeded"
                reason = size_reason(cap, decompressed=True) if over else f"not gzip as it says: {exc}"[:200]
                logger.warning("sitemap %s not read: %s", meta["public"], reason)
                yield self.item(self.unread(response.request, "too-large" if over else "bad-encoding", reason))
                return
        page = {"url": meta["key"], "fetched_url": response.url, "role": "sitemap", "method": "GET",
                "depth": 0, "status": response.status, "content_type": "application/xml", "parsed": 1,
                "fetched_at": now_iso()}
        links, follow, first = [], [], True
        try:
            for kind, loc in read_sitemap(body):  # a stream: 50,000 URLs are never held at once
                try:
                    url, _ = normalize(resolve(meta["public"], loc))
                except URLError:
                    continue
                key = self.key(url)
                if kind == "sitemapindex":
                    if self.dupefilter.claim(key):
                        follow.append(self.fetch(url, "sitemap", self.parse_sitemap))
                    continue
                links.append((meta["key"], url, key, None, "sitemap", "loc", "", None, "", 0, "other", None))
                if self.scope.tier(url) in OWNED:
                    # One step from the target, like a link on it: --depth 0 crawls the target only.
                    request = self.plan(url, "a", 1, role="page", listed=True)
                    if request is not None:
                        follow.append(request)
                if len(links) + len(follow) >= SITEMAP_CHUNK:
                    # what was read so far, with the URLs it queued; the sitemap counts as read
                    # (and is not read again by a resume) only with its last part
                    yield self.item(page, links, follow, partial=True, first=first)
                    yield from follow
                    links, follow, first = [], [], False
        except SitemapError as exc:
            logger.warning("unreadable sitemap %s: %s", meta["public"], exc)
        yield self.item(page, links, follow, first=first)
        yield from follow

    def excluded(self, url: str) -> str | None:
        """Why ``url`` is excluded by the filters, or None (--include wins over both excludes)."""
        if any(r.search(url) for r in self.include):
            return None
        if any(r.search(url) for r in self.exclude):
            return "excluded by --exclude"
        if self.exclude_path:
            path = "/" + url.split("://", 1)[-1].partition("/")[2]
            if any(r.search(path) for r in self.exclude_path):
                return "excluded by --exclude-path"
        return None

    def own_profile(self, url: str, kind: str, region: str, rel: str) -> bool:
        """Is this profile link the business naming its own account? (See analysis.rules.own_profiles.)"""
        if self.scope.social:
            return self.scope.is_own_profile(url)
        mark = (url, kind, region, rel)
        if mark in self.own_profiles:  # (its handles were added to known_handles the first time)
            return True
        if names_own_profile(kind, region, rel):
            keys = self.scope.handle_keys(url)
            if not keys <= self.known_handles:
                self.known_handles |= keys  # the same handle elsewhere is the business's too
                self.state_changed = True
            mine = True
        else:
            mine = self.scope.is_brand_profile(url, self.known_handles)
        if mine:  # (a no may become a yes once another link names the handle: not remembered)
            if len(self.own_profiles) >= 4096:
                self.own_profiles.clear()
            self.own_profiles.add(mark)
        return mine

    def _url_facts(self, url: str) -> tuple[str, str | None]:
        """(tier, and for a social URL the kind of a plain link to it) of a normalised URL: what
        :meth:`plan` asks the scope, the same for the whole crawl."""
        tier = self.scope.tier(url)
        return tier, self.scope.link_kind(url) if tier == SOCIAL else None

    def plan(self, url: str, tag: str, depth: int, kind: str = "other", role: str | None = None,
             seed: bool = False, key: str | None = None, region: str = "body", rel: str = "",
             listed: bool = False, via: str | None = None):
        """Decide whether and how to fetch a public URL; returns a Request, an item or None.
        ``listed``: a page the site lists itself (a sitemap entry, a file of a folder), never a trap's;
        ``via``: the page whose link this is (how a trap pattern's pages are found, CrawlLimits)."""
        key = key or self.key(url)
        if self.dupefilter.seen(key):
            return None
        tier, social_kind = self.url_facts(url)
        if tier in OWNED:
            # fetched once, under the site's own form and its one name (its key: no index file, no
            # tracking parameter), whichever form the link read first wrote (dir/index.html,
            # dir/?utm_source=x): what its relative links and its scripts resolve against is the
            # same in every crawl
            url = fold_slashes(fold_origin(url, self.aliases))
            if key == self.key(url):
                url = key
        elif tier == SOCIAL and social_kind == SHARE:
            return None  # a share intent: recorded as a link, never fetched (every page shares itself)
        if role is None:
            if tier in OWNED:
                # An owned URL seen first in <img>, <link>... is HEAD-checked; if it turns out
                # to be HTML, parse() upgrades it to a crawled page.
                role = "page" if (tag in NAVIGATION_TAGS or seed) else "asset"
            elif tier == SOCIAL and social_kind == PROFILE and self.own_profile(url, kind, region, rel):
                # The business's profiles are read to see whether they link back: those given
                # with --social, else those its chrome (header, nav, footer, sidebar) or its
                # identity markup names, whichever link names them first. An author's or a
                # customer's account in a post, a widget or an embed is a plain link.
                role = "profile"
            else:
                role = "external"
        if role == "page":
            if tier not in OWNED:
                role = "external"
            elif not self.limits.allow(key, depth, seed, listed, via):  # --depth, --max-pages, crawler traps
                return None
        if role == "profile" and not self.check_social:
            return None
        if role == "external" and not self.check_external and tier != APP:
            return None  # (the company's other hosts are its own: checked all the same)
        self.dupefilter.claim(key)
        why = self.excluded(url)
        if why:
            return self.item({"url": key, "role": role, "depth": depth, "error_kind": "excluded",
                              "reason": why, "fetched_at": now_iso()})
        if len(url) > self.max_url_length:
            return self.item({"url": key, "role": role, "depth": depth, "error_kind": "too-long",
                              "reason": f"URL longer than {self.max_url_length:,} characters: not fetched",
                              "fetched_at": now_iso()})
        if role == "page":
            self.limits.scheduled()  # what --max-pages counts: pages asked for, not those excluded
        if role == "profile":
            request = self.reader_request(url, key, depth)  # a platform that lets anyone read it as data
            if request is not None:
                return request
        method = "HEAD" if role in ("asset", "external", FORM) else "GET"
        if role == "asset" and is_stylesheet(url, tag, rel):
            method = "GET"  # an owned stylesheet is read: the images and fonts it loads are links too
        return self.request(url, key, role, depth, method)

    def request(self, url: str, key: str, role: str, depth: int, method: str, retries: int = 0,
                again: bool = False) -> scrapy.Request:
        """A request for a URL the spider claimed (``again``: one it asks a second time, past the
        dupefilter: a GET after a refused HEAD, the page under its other form)."""
        meta = {"public": url, "key": key, "role": role, "depth": depth, "claimed": key,
                "dont_redirect": True, "handle_httpstatus_all": True, "rate_limit_retries": retries}
        if not self.obey_robots:
            meta["dont_obey_robotstxt"] = True
        return scrapy.Request(self.remapper.fetch_url(url), method=method, meta=meta, dont_filter=again,
                              callback=self.parse, errback=self.on_error,
                              priority=0 if role == "page" else -1)

    # -- profiles read as data (crawler.profiles) -----------------------------------
    def reader_request(self, profile: str, key: str, depth: int, step: int = 0, found=(), url: str | None = None,
                       hops: int = 0) -> scrapy.Request | None:
        """The request of a profile's API (``step``: which of its URLs), or None when its platform
        has none. The public URL is the API's: its host's robots.txt and the guard apply."""
        platform = self.scope.platform(profile)
        urls = api_urls(platform, key or profile)
        if not urls or step >= len(urls):
            return None
        request = self.request(url or urls[step], key, "profile", depth, "GET", again=step > 0 or hops > 0)
        request.meta.update(reader=platform.name, profile=profile, step=step, found=list(found), hops=hops,
                            limit=platform.reader.limit)
        request.headers.setdefault("Accept", "application/json")
        return request

    def parse_reader(self, response):
        """An API's answer about a profile: its links (through the platform's adapter), its
        error, a redirect, a refusal of anonymous calls (then the profile page) or its rate limit."""
        meta = response.meta
        status = response.status
        platform = self.scope.platform(meta["profile"])
        reader = platform.reader
        step, found = meta["step"], meta["found"]
        ctype = (response.headers.get("Content-Type") or b"").decode("latin-1").split(";")[0].strip().lower()
        headers = {h: response.headers.get(h).decode("latin-1") for h in KEPT_HEADERS if response.headers.get(h)}
        page = {"url": meta["key"], "fetched_url": response.url, "role": "profile", "method": "GET",
                "depth": meta["depth"], "status": status, "headers": json.dumps(headers) if headers else None,
                "content_type": ctype or None, "fetched_at": now_iso(), "elapsed": meta.get("download_latency")}
        remaining = headers.get("x-ratelimit-remaining")
        limit = reader.limit and remaining == "0"
        answers = list(meta.get("answers") or ())  # for the store's cache: the next run asks no one
        budget = self.budget_entry(response, headers)
        if budget:
            answers.append(budget)
        if limit and status in (403, 429) and not meta.get("first"):
            page.update(status=None, error_kind="hourly-limit", reason=f"not checked: {reader.limit}")
            yield self.item(page, answers=answers)
            return
        if meta.get("page"):  # the profile page of an instance that refuses anonymous API calls
            yield from self.parse_profile_page(response, page, meta)
            return
        if 300 <= status < 400 and response.headers.get("Location"):
            location = self.public_location(meta["public"], response.url,
                                            response.headers["Location"].decode("latin-1"))
            if location and meta["hops"] < self.max_redirects and scheme_of(location) in FETCHABLE_SCHEMES:
                yield self.reader_request(meta["profile"], meta["key"], meta["depth"], step, found, location,
                                          meta["hops"] + 1)
                return
            page["reason"] = f"{reader.label} answered with a redirect that was not followed"
        elif status in (401, 403) and reader.fallback == "page" and step == 0:
            request = self.request(meta["profile"], meta["key"], "profile", meta["depth"], "GET", again=True)
            request.meta.update(reader=platform.name, profile=meta["profile"], step=0, found=[], hops=0,
                                page=f"{status} {api_error(response.body) or 'refused'}")
            yield request
            return
        elif 200 <= status < 300:
            read = read_api(reader.adapter, step, response.body)
            if read.problem:
                page.update(status=None, error_kind="not-a-profile",
                            reason=f"could not read the {reader.label} profile: {read.problem}")
            else:
                if not meta.get("cached") and len(response.body) <= ANSWER_CACHE_MAX:
                    answers.append({"url": meta["public"], "status": status, "headers": page["headers"],
                                    "content_type": ctype,  # (as text: items cross processes as JSON)
                                    "body64": base64.b64encode(response.body).decode("ascii")})
                found = found + [(l.url, l.source, l.verified, l.text) for l in read.links]
                if read.title and step == 0:
                    meta["title"] = read.title
                if read.total > len(read.links):
                    meta["cut"] = f"read the first {MAX_LINKS} of {read.total:,} links"
                nxt = self.reader_request(meta["profile"], meta["key"], meta["depth"], step + 1, found)
                if nxt is not None:
                    nxt.meta.update(title=meta.get("title"), cut=meta.get("cut"), first=page, answers=answers)
                    yield nxt
                    return
                page.update(parsed=1, title=meta.get("title"), reason=meta.get("cut"))
        elif step > 0 and meta.get("first"):
            # the user was read, the second call failed: what was read stands
            why = reader.limit if limit else f"{reader.label} answers {status}"
            page = dict(meta["first"], parsed=1, title=meta.get("title"),
                        reason=f"read without its part {meta['step'] + 1}: {why}")
        else:
            message = api_error(response.body)
            page["reason"] = f"{reader.label} answers {status}" + (f": {message}" if message else "")
            if not says_missing(status, message):  # the platform failed, not the account: run again later
                page.update(status=None, error_kind="platform-error",
                            reason=f"{page['reason']} (the platform failed, not the account: run the audit again later)")
        links = self.profile_rows(meta["key"], found) if page.get("parsed") else []
        if meta.get("cached"):
            page["reason"] = page.get("reason") or "cached"
        yield self.item(page, links, answers=answers)

    def parse_profile_page(self, response, page: dict, meta):
        """A Mastodon profile page, read because its instance refused the API: its ``rel="me"`` links."""
        platform = self.scope.platform(meta["profile"])
        found = []
        if 200 <= response.status < 300 and page["content_type"] in HTML_TYPES:
            try:
                facts = extract(response.body, meta["profile"], response.encoding)
            except Exception as exc:  # hostile HTML costs this profile, never the crawl
                facts = None
                page["reason"] = f"unreadable HTML: {type(exc).__name__}"
            if facts is not None:
                found = [(l.url, "field", False, l.text[:200]) for l in facts.links if "me" in (l.rel or "").split()]
                page.update(parsed=1, title=facts.title,
                            reason=f"read from the profile page: {platform.reader.label} refused anonymous API "
                                   f"calls ({meta['page']})"[:300])
        yield self.item(page, self.profile_rows(meta["key"], found[:MAX_LINKS]) if page.get("parsed") else [])

    def behind_wall(self, url: str) -> str | None:
        """Why a profile on this platform is never read (``readable = false``: a login wall), or None."""
        platform = self.scope.platform(url)
        reader = platform.reader if platform else None
        return reader.wall or "not readable" if reader is not None and not reader.readable else None

    def profile_rows(self, key: str, found) -> list[tuple]:
        """Link rows of what a profile shows: tag ``a``, attr its place (bio, field, website,
        account, handle, page), rel ``verified`` where the platform verified it."""
        rows = []
        for pos, (url, source, verified, text) in enumerate(found):
            link = Link(url, "a", source, text or "", "body", "verified" if verified else "", False, False, None)
            row, _ = self.link(key, link, 1, False, pos)
            if row is not None:
                rows.append(row)
        return rows

    def budget_entry(self, response, headers: dict):
        """The rate-limit state an API answered, for the store (the next run reads it: an
        exhausted hourly budget is not asked again before it resets)."""
        if "x-ratelimit-remaining" not in headers:
            return None
        return {"url": "budget:" + origin(response.meta["public"]), "status": response.status,
                "headers": json.dumps({k: headers[k] for k in ("x-ratelimit-remaining", "x-ratelimit-reset")
                                       if k in headers})}

    # -- responses ----------------------------------------------------------------
    def parse(self, response):
        meta = response.meta
        if meta.get("reader"):
            yield from self.parse_reader(response)
            return
        status = response.status
        method = response.request.method
        role = meta["role"]
        if method == "HEAD" and status >= 400 and status != 429:
            # Many servers answer HEAD wrongly (405, 501, 403, 404): ask again with GET.
            yield self.request(meta["public"], meta["key"], role, meta["depth"], "GET",
                               retries=meta.get("rate_limit_retries", 0), again=True)
            return
        ctype = (response.headers.get("Content-Type") or b"").decode("latin-1").split(";")[0].strip().lower()
        if ((role == "asset" or (role == FORM and not meta.get("form_action") and self.scope.tier(meta["public"]) in OWNED))
                and 200 <= status < 300 and ctype in HTML_TYPES and self.limits.allow(meta["key"], meta["depth"])):
            # An owned HTML page first seen in <link rel=alternate>, an <img>, a form (its thank-you
            # page) ...: crawl it.
            self.limits.scheduled()
            if method == "HEAD":
                yield self.request(meta["public"], meta["key"], "page", meta["depth"], "GET", again=True)
                return
            role = "page"  # the GET that replaced a refused HEAD already holds the page
        get = response.headers.get  # (once a header: Scrapy's get normalises the name each time)
        headers = {h: value.decode("latin-1") for h in KEPT_HEADERS if (value := get(h))}
        page = {
            "url": meta["key"], "fetched_url": response.url, "role": role, "method": method,
            "depth": meta["depth"], "status": status, "headers": json.dumps(headers) if headers else None,
            "content_type": ctype or None, "fetched_at": now_iso(),
            "elapsed": meta.get("download_latency"),
        }
        if status == 405 and role == FORM:
            page["reason"] = "405 to GET: a form's endpoint (it takes what the form sends; never submitted)"
        links, follow = [], []
        if 300 <= status < 400 and response.headers.get("Location"):
            location = self.public_location(meta["public"], response.url,
                                            response.headers["Location"].decode("latin-1"))
            page["location"] = location
            if location and role in ("page", "profile", "external") and self.key(location) == meta["key"]:
                # The same page under another name (http -> https, apex -> www, index.html -> /).
                yield from self.follow_variant(response, page, location)
                return
            hops = meta.get("hops", 0) + 1
            if location and scheme_of(location) not in FETCHABLE_SCHEMES:
                page["reason"] = f"redirects to a {scheme_of(location)}: URL: not followed (only http and https are fetched)"
            elif location and hops > self.max_redirects:
                page["reason"] = f"more than {self.max_redirects} redirects: not followed further"
            elif location:
                next_req = self.plan(location, "a", meta["depth"], role=self.hop_role(role, location))
                if isinstance(next_req, scrapy.Request):
                    next_req.meta["hops"] = hops
                if next_req is not None:
                    follow.append(next_req)
        elif 200 <= status < 300 and role in ("asset", "page") and method == "GET" and (
                ctype == "text/css" or (not ctype and is_stylesheet(meta["public"], "", ""))):
            # (a stylesheet a link opens, met first as a page, is read all the same, and is a file:
            # what it loads and what it is do not depend on which link the crawl read first)
            page.update(parsed=1, role="asset")
            text = response.body.decode(response.encoding if hasattr(response, "encoding") else "utf-8", "replace")
            for pos, (href, line) in enumerate(css_urls(text)):
                link = Link(resolve_href(meta["public"], href), "css", "url", "", "", "", False, False, line)
                row, request = self.link(meta["key"], link, meta["depth"] + 1, True, pos)
                if row is not None:
                    links.append(row)
                if request is not None:
                    follow.append(request)
        elif role == "profile" and 200 <= status < 300 and self.behind_wall(meta["public"]):
            # a login wall (platforms.toml: readable = false): it exists; what it shows is not its profile
            page["reason"] = f"not read: {self.behind_wall(meta['public'])}"
        elif 200 <= status < 300 and ctype in HTML_TYPES and role in ("page", "profile") and method == "GET":
            # A download, an image ... served as HTML: recorded as it answered, not read as HTML.
            # Bytes that merely look binary are read all the same (a page may be stuffed with
            # NULs): they are called binary only when no title and no link came out of them.
            binary = binary_kind(response.body)
            try:
                facts = None
                if binary is None or binary == BINARY_DATA:
                    facts = extract(response.body, meta["public"], response.encoding)
                if binary and (facts is None or not (facts.title or facts.links)):
                    page["reason"] = f"not HTML: {binary} served as {ctype}"
                    facts = None
            except Exception as exc:  # hostile HTML must cost one page's links, never the page itself
                logger.warning("cannot read the HTML of %s: %s", meta["public"], exc)
                page["reason"] = f"unreadable HTML: {type(exc).__name__}: {exc}"[:200]
                facts = None
            rendering = None
            if facts is not None:
                page.update(title=facts.title, lead_form=int(facts.lead_form), parsed=1,
                            anchors=json.dumps(facts.anchors) if facts.anchors else None,
                            signals=json.dumps(facts.signals, separators=(",", ":")) if facts.signals else None)
            if facts is not None and role == "page":
                page["read_as"] = "raw"  # or rendered in Chromium too (--render; crawler.render)
                rendering = self.render_request(response, page, facts)
                if rendering is not None and not rendering.meta["sample"]:
                    yield rendering  # (the page is stored once rendered)
                    return
            if facts is not None:
                crawl_more = role == "page"
                if len(facts.links) > self.max_links:
                    page["reason"] = f"read the first {self.max_links:,} of {len(facts.links):,} links"
                for pos, link in enumerate(facts.links[: self.max_links]):  # (in document order)
                    row, request = self.link(meta["key"], link, meta["depth"] + 1, crawl_more, pos)
                    if row is not None:
                        links.append(row)
                    if request is not None:
                        follow.append(request)
                if role == "profile":  # a YouTube channel's links live in its page data (best effort)
                    platform = self.scope.platform(meta["public"])
                    if platform is not None and platform.reader and platform.reader.adapter == "youtube":
                        found = [(l.url, l.source, l.verified, l.text) for l in youtube_links(response.body)]
                        links += [(*row[:-1], row[-1] + len(facts.links)) for row in self.profile_rows(meta["key"], found)]
                if rendering is not None:  # a sample: stored as served now, compared once rendered
                    rendering.meta["raw_page"] = dict(page)
                    follow.append(rendering)
        if meta.get("cached"):
            page["reason"] = "cached"
        cache = role == "external" and 200 <= status < 300 and not meta.get("cached")  # only answers that work
        item = self.item(page, links, follow, cache=cache, rereads=meta.get("rerender", False))
        sample = [r for r in follow if isinstance(r, scrapy.Request) and r.meta.get("sample")]
        if sample:  # (its rendering: the page is queued again until its rendered reading is stored)
            item["rerender"] = self.to_render(sample)
        yield item
        yield from follow
        yield from self.seed_answered(meta)

    def follow_variant(self, response, page: dict, location: str):
        """An owned page redirected to another form of its own URL: follow it under the same key.

        A target that answers with its https:// or www. form renames the site: that form is
        the one every page is keyed and fetched under, and the target's answer is kept as a
        redirect hop under the URL asked for. Elsewhere the hop is simply followed.
        """
        meta = response.meta
        hops = meta.get("variant_hops", 0) + 1
        if hops > 5:
            page["reason"] = "redirects between forms of its own URL"
            yield self.item(page)
            yield from self.seed_answered(meta)
            return
        key = meta["key"]
        public_origin, new_origin = origin(meta["public"]), origin(location)
        if meta.get("seed") and new_origin != public_origin and self.aliases.get(new_origin):
            canonical = self.aliases[new_origin]
            for variant, named in self.aliases.items():
                if named == canonical:
                    self.aliases[variant] = new_origin
            self.origins_changed = True  # the pipeline writes them with the next item
            self.classify.cache_clear()
            self.seeds_pending.discard(key)
            key = self.key(location)
            self.seeds_pending.add(key)
            self.dupefilter.claim(key)
            page["url"] = meta["public"]  # the hop, under the name the target was given
            yield self.item(page)
        request = self.request(location, key, meta["role"], meta["depth"], response.request.method, again=True)
        request.meta.update(variant_hops=hops, seed=meta.get("seed", False))
        yield request

    def item(self, page: dict, links: list | None = None, follow=(), cache: bool = False,
             partial: bool = False, first: bool = False, answers=(), rereads: bool = False) -> dict:
        """The item for one fetched (or recorded) URL: the page, its links, the URLs it queued
        (the frontier a resume reads) and, when it changed, the crawl's state. ``partial``: a
        part of a long sitemap; the page itself is written with its last part. ``first``: its first
        part (links of an earlier, interrupted reading are dropped). ``rereads``: a second reading
        of a page stored before as served (a sample rendered, a page rendered after its template's
        samples differed): it replaces that one, page and links (a cluster's writer, which skips
        an item whose page it holds as a replay, writes it all the same: crawler.writer)."""
        item = {"page": page, "links": links or [], "discovered": self.frontier(follow), "cache": cache,
                "state": self.resume_state(), "partial": partial, "replace_links": first or rereads}
        if rereads:
            item["rereads"] = True
        if answers:
            item["answers"] = list(answers)  # a profile API's answers and rate-limit state (kept by the pipeline)
        return item

    @staticmethod
    def to_render(requests) -> list[tuple[str, str]]:
        """Frontier rows of pages stored as served and asked again to render them (a sample, the
        pages read as served before their template's samples differed): the store holds them
        queued until their rendered reading is stored, and a resume asks for them again with
        ``rerender`` (a crawl cut meanwhile left them as served, unlike an uninterrupted one)."""
        return [(r.meta["key"], json.dumps({"url": r.meta["public"], "role": r.meta["role"], "depth": r.meta["depth"],
                                            "method": "GET", "rerender": True})) for r in requests]

    @staticmethod
    def frontier(follow) -> list[tuple[str, str]]:
        """Frontier rows for the requests a page queued (what a resume would need)."""
        out = []
        for r in follow:
            if isinstance(r, scrapy.Request) and not r.meta.get("playwright"):  # (a page rendered: queued already)
                m = r.meta
                # (a profile read through its API is asked again as the profile: restore() reads it so)
                out.append((m["key"], json.dumps({"url": m.get("profile") or m["public"], "role": m["role"],
                                                  "depth": m["depth"], "method": r.method})))
        return out

    def link(self, source: str, link, depth: int, crawl_more: bool, pos: int | None = None):
        """One extracted link (``pos``: its index in the page's document order) -> (row for the
        store, follow-up request or item)."""
        scheme = scheme_of(link.url)
        if scheme in IGNORED_SCHEMES:
            return None, None
        if scheme in RECORDED_SCHEMES or (scheme and scheme not in FETCHABLE_SCHEMES):
            target = scheme + ":" + link.url.split(":", 1)[1].strip()
            return (source, target, target, None, link.tag, link.attr, link.text, link.region, link.rel,
                    int(link.icon), "other", link.line, pos), None
        try:
            url, fragment, key, kind = self.classify(link.url, link.rel, link.sameas, link.tag, link.quoted)
        except URLError:
            return (source, link.url, link.url, None, link.tag, link.attr, link.text, link.region, link.rel,
                    int(link.icon), "malformed", link.line, pos), None
        row = (source, url, key, fragment or None, link.tag, link.attr, link.text, link.region,
               link.rel, int(link.icon), kind, link.line, pos)
        if not crawl_more:
            return row, None
        if link.tag == "form":
            # A form's action and its thank-you page (``next``): checked where they are the business's
            # own (site, blog, its other hosts), HEAD then GET like any file, never POSTed, never
            # submitted; elsewhere (a form service) only recorded.
            if self.url_facts(url)[0] in (EXTERNAL, SOCIAL):
                return row, None
            return row, self.plan(url, "form", depth, kind, role=FORM, key=key, region=link.region, rel=link.rel)
        return row, self.plan(url, link.tag, depth, kind, key=key, region=link.region, rel=link.rel, via=source)

    def _classify(self, href: str, rel: str, sameas: bool, tag: str, quoted: bool = False) -> tuple[str, str, str, str]:
        url, fragment = normalize(href)
        kind = self.scope.link_kind(url, rel, sameas, tag, quoted)
        # one account, one node: x.com/Acme, twitter.com/acme/, ?ref=nav and a sameAs naming it are
        # fetched and judged once
        key = self.scope.account_key(url)
        if key is None and fragment and fragment.startswith(("/", "!/")) and self.scope.tier(url) == APP:
            # a single-page app's route (portal.acme.example/#/signup) is a page of its own
            key = route_key(self.key(url), fragment)
        return url, fragment, key or self.key(url), kind

    def link_key(self, link) -> str:
        """The key of a link's target as the crawl stores it (an unparsable one: as written)."""
        try:
            return self.classify(link.url, link.rel, link.sameas, link.tag, link.quoted)[2]
        except URLError:
            return link.url

    def hop_role(self, role: str, location: str) -> str:
        """The role of a redirect's next hop: a page (or a form's target) redirected off-site becomes
        an external check."""
        if role in ("page", FORM) and self.scope.tier(location) not in OWNED:
            return "external"
        return role

    def public_location(self, public: str, fetched: str, location: str) -> str | None:
        """Resolve a Location header against the public URL (absolute local ones mapped back)."""
        location = location.strip()
        if not location:
            return None
        fetched_origin = origin(fetched)
        if location.startswith(fetched_origin + "/") and fetched_origin != origin(public):
            # The local copy answered with its own address: map it back under the public URL.
            location = unmap(public, fetched, location)
        try:
            resolved = resolve(public, location)
            if scheme_of(resolved) not in FETCHABLE_SCHEMES:
                return redact_credentials(resolved)[:2048] if scheme_of(resolved) else None  # kept, never fetched
            return normalize(resolved)[0]
        except URLError:
            return None

    def error_of(self, failure) -> tuple[str, str]:
        """(error kind, reason) of a failed download, its size cap the one it was fetched with."""
        cap = failure.request.meta.get("download_maxsize") or self.settings.getint("DOWNLOAD_MAXSIZE")
        return error_kind(failure, cap)

    @staticmethod
    def unread(request, kind: str | None = None, reason: str | None = None, status: int | None = None) -> dict:
        """The page row of a URL that was fetched and not read: its error, or its status."""
        meta = request.meta
        page = {"url": meta["key"], "fetched_url": request.url, "role": meta["role"], "method": request.method,
                "depth": meta["depth"], "fetched_at": now_iso()}
        if status is not None:
            page["status"] = status
        else:
            page["error_kind"], page["reason"] = kind, reason
        return page

    def on_error(self, failure):
        meta = failure.request.meta
        if meta.get("reader") and meta.get("first"):
            # a profile's first answer was read, a later call failed (its hourly limit): what was read stands
            kind, reason = self.error_of(failure)
            page = dict(meta["first"], parsed=1, title=meta.get("title"),
                        reason=f"read without its part {meta['step'] + 1}: {reason}"[:300])
            yield self.item(page, self.profile_rows(meta["key"], meta["found"]), answers=meta.get("answers") or ())
            return
        yield self.item(self.unread(failure.request, *self.error_of(failure)))
        yield from self.seed_answered(failure.request.meta)

    # -- pages built with JavaScript (--render; crawler.render) ---------------------------------
    def render_request(self, response, page: dict, facts):
        """The request that renders this raw page in Chromium, or None (read as served: the
        page's ``read_as`` and, when its raw HTML showed it needs JavaScript, ``render_why``
        say so). The raw page and its links go with the request: they are compared with what
        rendering shows, and stored as they are if rendering fails."""
        meta = response.meta
        nav = sum(1 for link in facts.links if link.tag in ("a", "area"))
        text = getattr(response, "text", None)
        need = needs_javascript(response.body, text, nav) if text is not None else None
        if not self.render.active:  # --render never: said in the report's header, never rendered
            if need:
                page["render_why"] = f"needs JavaScript: {need}; read as served: --render never"
            return None
        why = self.render.decide(meta["public"], need, scripts=runs_scripts(response.body))
        if why is None:
            return None
        if not self.render.browser:
            page["render_why"] = f"{why}; read as served: no Chromium"
            return None
        page["render_why"] = why
        keep = {k: meta[k] for k in ("public", "key", "role", "depth", "claimed", "seed", "dont_obey_robotstxt", "rerender")
                if k in meta}
        keep.update(dont_redirect=True, handle_httpstatus_all=True, playwright=True, download_slot=RENDER_SLOT,
                    dont_obey_robotstxt=True, raw_page=page, raw_links=facts.links, dont_retry=True,
                    playwright_context_kwargs=self.settings.getdict("FUNNEL_RENDER_CONTEXT"))
        keep["sample"] = why == SAMPLE  # (its links as served are followed at once, not after rendering)
        again = True  # the page asked again, to render it (past the dupefilter)
        # Chromium loads the page at its public address (its location, its share links); what it
        # asks for is fetched by Scrapy with --remap applied (crawler.browser.RenderHandler.route)
        return scrapy.Request(meta["public"], meta=keep, dont_filter=again, priority=1,
                              callback=self.parse_rendered, errback=self.on_render_error)

    def parse_rendered(self, response):
        """A page rendered by Chromium: its links are those of the rendered DOM and those of the
        raw HTML it no longer has; the ones only one reading has are recorded as such."""
        meta = response.meta
        page, raw_links = meta["raw_page"], meta["raw_links"]
        cap = self.settings.getint("DOWNLOAD_MAXSIZE")
        problem, documents = None, meta.pop("_funnel_navigations", None) or ()
        away = [u for u in documents[1:] if u.partition("#")[0] != documents[0].partition("#")[0]]
        if away:  # a redirect stub: where it sends visitors is not its content (a reload is no stub)
            yield from self.read_raw(meta, f"its script or meta refresh sends the browser on to {away[0]}: "
                                           "read as served")
            return
        if len(response.body) > cap:
            problem = f"the rendered HTML is over --max-size ({cap / 1048576:g} MiB)"
        elif origin(response.url) != origin(response.request.url):
            problem = f"the page left for {origin(response.url)} while rendering"
        facts = None
        if problem is None:
            try:
                facts = extract(response.body, meta["public"], response.encoding)
            except Exception as exc:  # hostile HTML: the raw reading stands
                problem = f"unreadable rendered HTML: {type(exc).__name__}"
        if facts is None:
            yield from self.read_raw(meta, f"rendering failed ({problem}): read as served")
            return
        fetched = origin(response.request.url)
        if fetched != origin(meta["public"]):  # a remapped page's own absolute URLs, under the public name
            links = [link._replace(url=unmap(meta["public"], response.request.url, link.url))
                     if link.url.startswith(fetched + "/") else link for link in facts.links]
        else:
            links = facts.links
        # (compared as the crawl knows URLs: a script that writes /blog/ for /blog, or adds a
        # table of contents of #fragments of the page itself, adds no link)
        only_rendered, only_raw = link_diff(raw_links, links, self.link_key, meta["key"])
        again = []
        if page.get("render_why") == SAMPLE:  # pages of its template read as served meanwhile: render them
            again = [self.request(url, self.key(url), "page", meta["depth"], "GET", again=True)
                     for url in self.render.learn(template_of(meta["public"]), differs=bool(only_rendered or only_raw))]
            if not (only_rendered or only_raw):
                # The same links once rendered: the page stays as served, as every other page of its
                # template is (which pages were the samples is the crawl's order: what they alone
                # showed rendered, an image a script adds, would come and go from one crawl to the next)
                yield from self.read_raw(meta, SAME_LINKS)
                return
            for request in again:
                request.meta["rerender"] = True
            if again:
                logger.info("%s: rendering %d more pages of its template, read as served before its samples differed",
                            meta["public"], len(again))
                self.crawler.stats.inc_value("funnelcheck/render/rerendered", len(again))
        # the served HTML's lines (the rendered DOM has none): where the same link is in it, else none
        def served(link) -> tuple:  # (a #fragment is a place of its own: a table of contents is on no line)
            return same_link(self.link_key(link)), link.url.partition("#")[1:], link.tag

        lines: dict[tuple, int | None] = {}
        for link in raw_links:
            lines.setdefault(served(link), link.line)
        links = [link._replace(line=lines.get(served(link))) for link in links]
        links += [link for link in raw_links if (link.url, link.tag) in only_raw]
        page.update(read_as="rendered", title=facts.title, lead_form=int(facts.lead_form), parsed=1,
                    anchors=json.dumps(facts.anchors) if facts.anchors else None,
                    signals=json.dumps(facts.signals, separators=(",", ":")) if facts.signals else None)
        rows, follow, differing = self.page_links(meta, page, links, only_rendered, only_raw)
        item = self.item(page, rows, follow, rereads=meta.get("sample", False) or meta.get("rerender", False))
        item["render_links"] = differing
        if again:  # (queued again until rendered: a resume renders them too)
            item["rerender"] = self.to_render(again)
        yield item
        yield from follow
        yield from again
        yield from self.seed_answered(meta)

    def on_render_error(self, failure):
        """Rendering failed (a timeout, a crash, no browser): the page as served. A page that did
        not load in time is stored so, and rendered once more when the crawl has nothing else to
        do (a large crawl's own work keeps Chromium waiting: nozzle's 16 samples all timed out,
        each renders in 2 s alone): its rendered reading replaces the served one."""
        why = getattr(failure.value, "message", None) or str(failure.value) or type(failure.value).__name__
        if type(failure.value).__name__ == "TimeoutError" and "goto" in why.lower():  # (Playwright's own words)
            why = f"the page did not load in {self.settings.getfloat('DOWNLOAD_TIMEOUT'):g} s, --timeout"
        self.retry_render(failure.request, why)
        yield from self.read_raw(failure.request.meta, f"rendering failed ({why.splitlines()[0][:150]}): read as served")

    def retry_render(self, request, why: str) -> None:
        """Keep a render that timed out (``why``) for :meth:`render_again`, once, up to
        :data:`RENDER_RETRIES` pages (what its failure stores meanwhile is replaced: ``rerender``)."""
        meta = request.meta
        if "did not" not in why or meta.get("render_retry") or len(self.render_later) >= RENDER_RETRIES:
            return
        # (without what its first attempt left: its time spent, --timeout's budget, the browser's notes)
        again = {k: v for k, v in meta.items() if not k.startswith(("_funnel", "funnel_", "download_latency",
                                                                     "download_timeout"))}
        again.update(render_retry=True, rerender=True, raw_page=dict(meta["raw_page"]))  # (as it was before failing)
        self.render_later.append(request.replace(meta=again))

    def render_again(self):
        """spider_idle: render the pages that timed out during the crawl once more, now that
        Chromium has the machine to itself."""
        if not self.render_later:
            return
        later, self.render_later = self.render_later, []
        logger.info("rendering %d pages once more that did not load in time during the crawl", len(later))
        self.crawler.stats.inc_value("funnelcheck/render/retried", len(later))
        for request in later:
            self.crawler.engine.crawl(request)
        raise DontCloseSpider

    def read_raw(self, meta, why: str):
        """The page as its raw HTML showed it (what a crawl without --render stores). A sample
        whose rendering failed is as every other page of its template, read as served: no page
        that needs JavaScript went unrendered (rule javascript-unrendered; a sample that timed out
        on a loaded machine would come and go from one audit to the next)."""
        page = meta["raw_page"]
        if meta.get("sample") and why.startswith("rendering failed"):
            why = f"{SAMPLE}: {why}"
        page.update(read_as="raw", render_why=why)
        logger.info("%s: %s", meta["public"], why)
        rows, follow, _ = self.page_links(meta, page, meta["raw_links"])
        yield self.item(page, rows, follow, rereads=meta.get("sample", False) or meta.get("rerender", False))
        yield from follow
        yield from self.seed_answered(meta)

    def page_links(self, meta, page: dict, links, only_rendered=(), only_raw=()) -> tuple[list, list, list]:
        """The link rows and follow-up requests of a page's extracted ``links`` (read as parse
        does), and the rows of the store's ``render_links`` for those in ``only_rendered``
        (``js``: they exist only after JavaScript) or ``only_raw`` (``raw``: rendering removes them)."""
        rows, follow, differing = [], [], []
        if len(links) > self.max_links:
            page["reason"] = f"read the first {self.max_links:,} of {len(links):,} links"
        for pos, link in enumerate(links[: self.max_links]):
            row, request = self.link(meta["key"], link, meta["depth"] + 1, True, pos)
            if row is not None:
                rows.append(row)
                seen = (link.url, link.tag)
                where = "js" if seen in only_rendered else "raw" if seen in only_raw else None
                if where:  # (page, target as written, tag, region, text, where)
                    differing.append((row[0], row[1], row[4], row[7], row[6], where))
                if where == "js" and link.tag == "form" and link.attr == "action" and isinstance(request, scrapy.Request):
                    # the endpoint of a form a script adds (an app's /api/...): its HTML answer is the
                    # app's own page for every path, not a thank-you page: checked, never read as a page
                    request.meta["form_action"] = True
            if request is not None:
                follow.append(request)
        return rows, follow, differing


__all__ = ["FunnelSpider", "is_stylesheet", "unmap"]
