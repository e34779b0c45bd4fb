"""Which tier a URL belongs to (site, blog, app, social, external) and what a link is.

The known social platforms live in ``platforms.toml`` next to this module. The crawler decides
with it what to fetch and analysis judges with it: it lives here because analysis reads what
the crawler writes, never the other way round.
Everything here is a pure function of a URL and a :class:`Scope`.
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache
from importlib import resources
from urllib.parse import parse_qsl, urlsplit

SITE, BLOG, SOCIAL, EXTERNAL, CONTACT, OTHER = "site", "blog", "social", "external", "contact", "other"
# The company's other hosts (app., my., portal., docs. ... of the site's registrable domain):
# its own, checked once like an external link, never crawled as site pages.
APP = "app"
OWNED = frozenset({SITE, BLOG})  # crawled
COMPANY = frozenset({SITE, BLOG, APP})  # the business's own, crawled or only checked

PROFILE, SHARE, IDENTITY, EMBED, CONTENT, OTHER_KIND = "profile", "share", "identity", "embed", "content", "other"
COMMUNITY = "community"  # an invitation to the business's community (a Slack or Discord invite)
# A profile, post or video linked inside a quotation (an embedded tweet's @mention, a testimonial's
# handle): someone else's words, no follow link the business placed.
QUOTE = "quote"
NAVIGATION_LINK_TAGS = frozenset({"a", "area"})
# Regions where a business puts its own "follow us" row: profile links there name its own accounts.
CHROME = frozenset({"header", "nav", "footer", "aside", "head"})


def names_own_profile(kind: str, region: str, rel: str) -> bool:
    """Does this link name the business's own account (when ``--social`` does not say)?

    Identity markup does, and so does a profile link in the site's chrome or a
    visible ``rel="me"``; a profile linked only from a page body is someone else's.

    >>> names_own_profile("profile", "footer", ""), names_own_profile("profile", "main", "")
    (True, False)
    """
    return kind == IDENTITY or (kind == PROFILE and (region in CHROME or "me" in rel.split()))

def handle_key(handle: str) -> str:
    """A handle for comparison across platforms: lower case, without ``@``, dots, dashes,
    underscores, and a Bluesky/Mastodon domain suffix.

    >>> handle_key("@Acme_Co"), handle_key("acme-co.bsky.social"), handle_key("acme@fosstodon.org")
    ('acmeco', 'acmeco', 'acme')
    """
    handle = handle.lower().lstrip("@").partition("@")[0]  # (a fediverse account's user: acme@fosstodon.org)
    for suffix in (".bsky.social",):
        handle = handle.removesuffix(suffix)
    return re.sub(r"[._-]", "", handle)


AUTO_BLOG_PREFIXES = ("/blog/", "/news/", "/articles/", "/insights/")


def is_download_page(url: str) -> bool:
    """A project's download or install page by its address (:data:`DOWNLOAD`), not a file.

    >>> is_download_page("https://hop.apache.org/download/"), is_download_page("https://answer.apache.org/download")
    (True, True)
    >>> is_download_page("https://a.example/download/hop-2.10.zip"), is_download_page("https://a.example/blog/download-day/")
    (False, False)
    """
    path = urlsplit(url).path
    return bool(DOWNLOAD.search(path)) and not STATIC_FILE.search(path)


def is_blog_path(path: str) -> bool:
    """A path under one of :data:`AUTO_BLOG_PREFIXES`, the folder itself with or without its slash.

    >>> is_blog_path("/blog"), is_blog_path("/Blog/post/"), is_blog_path("/blogging-tips/")
    (True, True, False)
    """
    path = path.lower()
    return path.startswith(AUTO_BLOG_PREFIXES) or path + "/" in AUTO_BLOG_PREFIXES
# A path segment that is exactly one of these words (``/pricing/``, ``/cart``, ``/checkout.html``);
# ``/blog/pricing-psychology/`` or ``/store-locator/`` are not conversion pages.
PURCHASE = re.compile(r"/(cart|basket|checkout|pricing|plans|buy|order|book|booking|subscribe|trial|"
                      r"free-trial)(/|$|\.|\?)", re.I)
# Names a shop's pages go by that say nothing alone: ``/products/`` is a purchase page only with
# purchase evidence on it (a price, a buy or cart button or link: the page's ``signals``); so is
# a page whose name holds the word pricing or plans (``/e-label-pricing/``, ``/pricing-plans/``;
# ``/competitor-pricing-guide/`` without a price on it is no offer).
PURCHASE_BY_NAME = re.compile(r"/(shop|store|product|products|([\w-]*-)?(pricing|plans|prices)(-[\w-]*)?)(/|$|\.|\?)",
                              re.I)
LEAD = re.compile(r"/(contact|contact-us|contact-sales|demo|request-demo|mailing-list|mailing-lists|book-a-demo|book-a-call|signup|sign-up|"
                  r"register|newsletter|get-started|get-in-touch|quote|get-a-quote|request-a-quote|talk-to-sales|"
                  r"talk-to-us|start-a-project|start-your-project|consultation|schedule|apply)(/|$|\.|\?)", re.I)
# A project's download or install page (``/download/``, ``/downloads``, ``/install/``): the offer of a
# project that sells nothing (an open-source project: no price on any page), its conversion being
# that a visitor gets it (analysis.graph: conversion ``download``). A file to download is no page.
DOWNLOAD = re.compile(r"/(download|downloads|get-it|install|installation|installing)(/|$|\.html?$|\?)", re.I)
# Careers pages: a job application (``/careers/apply/``, ``/jobs/123/apply``) is no lead capture.
CAREERS = re.compile(r"/(careers?|jobs?|vacanc(y|ies)|open-positions|positions|join-us|work-with-us|hiring|"
                     r"stellenangebote|karriere|emplois?|carrieres?)(/|$|\.|\?)", re.I)
# The route of a page on the company's app host (in its path, or in a ``#/route`` fragment):
# signing up, logging in, starting a trial is a lead; paying is a purchase.
APP_LEAD = re.compile(r"/(sign-?up|sign_up|register|registration|join|log-?in|log_in|sign-?in|sign_in|trial|"
                      r"free-trial|start-trial|start-free-trial|try|get-started|create-account|onboarding)"
                      r"(/|$|\.|\?|#)", re.I)
APP_PURCHASE = re.compile(r"/(checkout|cart|basket|billing|subscribe|subscription|upgrade|buy|order|payment|"
                          r"purchase)(/|$|\.|\?|#)", re.I)
# Files a page loads rather than pages a visitor reads.
STATIC_FILE = re.compile(r"\.(css|js|mjs|map|json|xml|png|jpe?g|gif|svg|webp|avif|ico|bmp|woff2?|ttf|otf|eot|"
                         r"mp4|webm|ogg|mp3|wav|pdf|zip|gz)$", re.I)
# Hosted booking and form services: a link there is an offer even though it leaves the site.
LEAD_HOSTS = ("calendly.com", "cal.com", "forms.gle", "typeform.com", "meetings.hubspot.com",
              "acuityscheduling.com", "tally.so", "jotform.com", "savvycal.com")


def _account_query(path: str, query: str) -> str:
    """The account in a query: ``?id=N`` of facebook.com/profile.php?id=N, else nothing.

    >>> _account_query("/profile.php", "id=42&ref=x"), _account_query("/acme", "id=42")
    ('?id=42', '')
    """
    if not path.endswith(".php"):
        return ""
    ids = [v for k, v in parse_qsl(query) if k == "id"]
    return f"?id={ids[0]}" if ids else ""


@dataclass(frozen=True)
class Reader:
    """How a profile on a platform is read without logging in (``[platforms.X.reader]`` in
    ``platforms.toml``; the adapters are :mod:`crawler.profiles`)."""
    label: str
    adapter: str | None = None    # None: not readable (see ``wall``)
    api: tuple[str, ...] = ()     # URL templates asked in turn ({host}, {handle}); none: the page itself
    handle: str = ""              # a regex on the account's path: its first group is the handle
    fallback: str | None = None   # "page": the profile page when the API refuses anonymous calls
    limit: str | None = None      # why the platform's rate limit stopped a check
    wall: str | None = None       # why the platform cannot be read
    readable: bool = True         # False: a login wall; the profile is only checked to exist (not a 404)


@dataclass(frozen=True)
class Platform:
    name: str
    hosts: tuple[str, ...]
    share: tuple[re.Pattern, ...]
    profile: tuple[re.Pattern, ...] | None = None  # None: every non-share path is a profile
    subdomains: bool = False  # any sub-domain of a host is the platform too
    community: tuple[re.Pattern, ...] = ()  # invitations to a community (a Slack or Discord invite)
    only: tuple[re.Pattern, ...] | None = None  # None: every URL on the hosts; else only these
    federated: bool = False  # each host is its own site (Mastodon): the same handle elsewhere is another account
    canonical: str = ""  # the host an account is keyed under (default: the first host)
    reader: Reader | None = None  # how its profiles are read (None: as a page, nothing known)

    @property
    def label(self) -> str:
        """The platform's name in reports (``X``, ``LinkedIn``)."""
        return self.reader.label if self.reader else self.name.capitalize()

    def matches(self, patterns, host: str, path: str, query: str = "") -> bool:
        """Does one of ``patterns`` match the URL? A pattern is matched against the path (a share
        pattern also against ``path?query``); one that begins ``^//`` against ``//host/path``
        (the host without ``www.``, ``m.`` ...), for the platforms whose hosts mean different things.

        >>> p = Platform("x", ("a.example",), (), (re.compile("^//go[.]a[.]example/"), re.compile("^/@")))
        >>> p.matches(p.profile, "go.a.example", "/x"), p.matches(p.profile, "a.example", "/@x"), p.matches(p.profile, "a.example", "/x")
        (True, True, False)
        """
        full = path + "?" + query if query else path
        for r in patterns:
            if r.pattern.startswith("^//"):
                if r.search("//" + host + path) or (query and r.search("//" + host + full)):
                    return True
            elif r.search(path) or (query and r.search(full)):
                return True
        return False


def load_platforms() -> tuple[Platform, ...]:
    """Read the platform list shipped with the package.

    >>> any(p.name == "twitter" for p in load_platforms())
    True
    """
    data = tomllib.loads(resources.files("crawler").joinpath("platforms.toml").read_text())

    def res(p, name):
        return tuple(re.compile(s) for s in p.get(name, ()))

    return tuple(
        Platform(name, tuple(p["hosts"]), res(p, "share"), res(p, "profile") if "profile" in p else None,
                 bool(p.get("subdomains", False)), res(p, "community"), res(p, "only") if "only" in p else None,
                 bool(p.get("federated", False)), p.get("canonical") or p["hosts"][0], _reader(p.get("reader")))
        for name, p in data["platforms"].items()
    )


def _reader(data: dict | None) -> Reader | None:
    """A ``[platforms.X.reader]`` table as a :class:`Reader`.

    >>> _reader({"label": "Bluesky", "adapter": "bluesky", "api": ["https://a.example/?actor={handle}"]}).api
    ('https://a.example/?actor={handle}',)
    """
    if not data:
        return None
    return Reader(data["label"], data.get("adapter"), tuple(data.get("api", ())), data.get("handle", ""),
                  data.get("fallback"), data.get("limit"), data.get("wall"), bool(data.get("readable", True)))


# Sub-domains that name a function of the business, not a project of a shared domain: a site on
# docs.acme.example is Acme's, its brand handle ``acme`` (Scope.brand_handles).
FUNCTIONAL_SUBDOMAINS = frozenset({"docs", "doc", "app", "apps", "help", "support", "shop", "store", "my", "get", "web",
                                   "home", "info", "site", "portal", "dashboard", "news", "community", "developer",
                                   "developers", "dev", "api", "status", "beta", "staging", "mobile", "go", "try",
                                   "learn", "academy", "events", "careers", "jobs", "investors", "press"})
# Sub-domains that are the platform itself, wherever it is listed.
MOBILE_PREFIXES = ("www.", "m.", "mobile.", "mbasic.", "web.")


def _host(url: str) -> str:
    """The host of ``url``, lowercased, as :func:`urllib.parse.urlsplit` names it ('' for none).

    >>> _host("https://WWW.A.example:8080/x?y"), _host("http://u@B.example/"), _host("https://[::1]/"), _host("x")
    ('www.a.example', 'b.example', '::1', '')
    """
    m = _plain(url)
    if m is not None:
        return m.group(3).lower()
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:  # a malformed URL (bad IPv6 literal, bad port) has no usable host
        return ""


_LEAD_HOSTS = frozenset(LEAD_HOSTS)


def _on_lead_host(host: str) -> bool:
    """``host`` is one of :data:`LEAD_HOSTS` or under one (a set lookup per parent domain).

    >>> _on_lead_host("acme.typeform.com"), _on_lead_host("typeform.com.evil.example")
    (True, False)
    """
    while host:
        if host in _LEAD_HOSTS:
            return True
        host = host.partition(".")[2]
    return False


# "https://host/path?query" as most links are written: split without urlsplit (the graph of a
# big crawl asks the tier of every URL, the rules every post's blog and every share button's
# host): the scheme, the host and port, the host, the port, the path. Anything else (user info,
# IPv6, odd ports, a tab or newline urlsplit would drop) goes to urlsplit.
_PLAIN_URL = re.compile(r"(?i)(https?://)(([a-z0-9.-]+)(?::(\d{1,5}))?)(/[^?#\t\r\n]*)?")


def _plain(url: str):
    """``url``'s match of :data:`_PLAIN_URL` when urlsplit would split it the same way, else None."""
    m = _PLAIN_URL.match(url)
    return m if m is not None and (m.end() == len(url) or url[m.end()] in "?#") else None


def _host_port_path(url: str) -> tuple[str, int | None, str]:
    """``(host, port, path)`` of an http(s) URL, as :func:`urllib.parse.urlsplit` gives them
    (ValueError for a port out of range).

    >>> _host_port_path("https://WWW.A.example:8080/x?y"), _host_port_path("http://u@a.example")
    (('www.a.example', 8080, '/x'), ('a.example', None, ''))
    """
    m = _plain(url)
    if m is not None:
        port = m.group(4)
        if port is not None and int(port) > 65535:
            raise ValueError("port out of range")
        return m.group(3).lower(), None if port is None else int(port), m.group(5) or ""
    parts = urlsplit(url)
    return parts.hostname or "", parts.port, parts.path


_IP = re.compile(r"^(\d+\.){3}\d+$|^\[|:")


def _strip_www(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


def _platform_host(host: str) -> str:
    """A platform's host without its ``www.``, ``m.`` ... prefix.

    >>> _platform_host("m.facebook.com"), _platform_host("join.slack.com")
    ('facebook.com', 'join.slack.com')
    """
    for prefix in MOBILE_PREFIXES:
        if host.startswith(prefix):
            return host[len(prefix):]
    return host


@lru_cache(maxsize=1024)
def _split_prefix(prefix: str) -> tuple[str, int | None, str] | None:
    """``(host without www., port, path)`` of a scope prefix: split once, not for every URL."""
    try:
        p = urlsplit(prefix)
        return _strip_www(p.hostname or ""), p.port, p.path or "/"
    except ValueError:
        return None


def _under(host: str, port: int | None, path: str, prefix: str) -> bool:
    """A URL split into ``host`` (without ``www.``), ``port`` and ``path`` lies under ``prefix``."""
    split = _split_prefix(prefix)
    if split is None or host != split[0] or port != split[1]:
        return False
    ppath = split[2]
    return path == ppath.rstrip("/") or path.startswith(ppath if ppath.endswith("/") else ppath + "/") or ppath == "/"


def _prefix_match(url: str, prefix: str) -> bool:
    """``url`` lies under ``prefix``, ignoring a leading ``www.`` on either host."""
    try:
        u = urlsplit(url)
        return _under(_strip_www(u.hostname or ""), u.port, u.path or "/", prefix)
    except ValueError:
        return False


@dataclass(frozen=True)
class Scope:
    """What the business owns: its site and blog prefixes, its social profiles.

    >>> s = Scope(site=("https://acme.example/",))
    >>> s.tier("https://acme.example/pricing/"), s.tier("https://acme.example/blog/x/")
    ('site', 'blog')
    >>> s.tier("https://blog.acme.example/"), s.tier("https://twitter.com/acme"), s.tier("https://w3.org/")
    ('blog', 'social', 'external')
    >>> s.tier("https://app.acme.example/sign-up"), Scope(site=("https://hop.apache.org/",)).tier("https://www.apache.org/")
    ('app', 'external')
    """

    site: tuple[str, ...] = ()
    blog: tuple[str, ...] = ()
    social: tuple[str, ...] = ()
    conversion: tuple[str, ...] = ()
    platforms: tuple[Platform, ...] = field(default_factory=load_platforms)

    @cached_property
    def _conversion_res(self) -> tuple[re.Pattern, ...]:
        return tuple(re.compile(c) for c in self.conversion)

    @cached_property
    def _site_domains(self) -> frozenset[str]:
        return frozenset(registered_domain(_host(s)) for s in self.site)

    @cached_property
    def _platform_hosts(self) -> dict[str, Platform]:
        return {h: p for p in self.platforms for h in p.hosts}

    def platform(self, url: str) -> Platform | None:
        """The social platform a URL is on (its host or a parent domain listed), if any.

        >>> Scope().platform("https://www.linkedin.com/company/acme").name
        'linkedin'
        >>> Scope().platform("https://engineering.fb.com/x/") is None, Scope().platform("https://uk.linkedin.com/in/a").name
        (True, 'linkedin')
        >>> Scope().platform("https://join.slack.com/t/acme/shared_invite/x").name, Scope().platform("https://slack.com/pricing") is None
        ('slack', True)
        """
        host = _host(url)
        p = self._platform_of_host(host)
        if p is not None and p.only is not None:
            # Slack's or Discord's own pages (slack.com/pricing) are a vendor's site, not the platform
            try:
                parts = urlsplit(url)
            except ValueError:
                return None
            if not p.matches(p.only, _platform_host(host), parts.path or "/", parts.query):
                return None
        return p

    def _platform_of_host(self, host: str) -> Platform | None:
        hosts = self._platform_hosts
        p = hosts.get(host)
        if p is None and host.startswith(MOBILE_PREFIXES):
            p = hosts.get(host.partition(".")[2])
        if p is not None:
            return p
        # engineering.fb.com or developers.facebook.com are not the platform: only platforms whose
        # accounts live on sub-domains (uk.linkedin.com, name.tumblr.com) match them
        parent = host.partition(".")[2]
        while parent:
            p = hosts.get(parent)
            if p is not None:
                return p if p.subdomains else None
            parent = parent.partition(".")[2]
        return None

    def profile_id(self, url: str) -> tuple[str, str] | None:
        """``(platform, handle)`` naming an account whatever URL form links to it: the handle
        lower-cased (``@`` dropped), the platform's hosts one (x.com is twitter.com).

        >>> s = Scope()
        >>> s.profile_id("https://x.com/AcmeCo") == s.profile_id("http://www.twitter.com/acmeco/")
        True
        >>> s.profile_id("https://www.linkedin.com/company/Acme"), s.profile_id("https://w3.org/acme")
        (('linkedin', 'acme'), None)
        >>> s.profile_id("https://www.facebook.com/profile.php?id=42&ref=x")
        ('facebook', 'profile.php?id=42')

        On a federated platform (Mastodon: every instance its own site) the handle is
        user@instance: @acme on two instances is two accounts.

        >>> s.profile_id("https://mastodon.social/@Acme"), s.profile_id("https://fosstodon.org/users/acme/")
        (('mastodon', 'acme@mastodon.social'), ('mastodon', 'acme@fosstodon.org'))
        """
        p = self.platform(url)
        if p is None:
            return None
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        segments = [seg for seg in parts.path.split("/") if seg]
        handle = segments[-1].lstrip("@").lower() if segments else _strip_www(_host(url))
        if p.federated and segments and "@" not in handle:
            handle += "@" + _platform_host(_host(url))  # a fediverse account is user@instance
        return p.name, handle + _account_query(handle, parts.query)

    def handle_keys(self, url: str) -> set[str]:
        """What an account of the business's tells of its other accounts (:func:`handle_key`):
        its handle, the same elsewhere; on a federated platform also the whole user@instance,
        which alone names it there (fosstodon.org/@acme says nothing of mastodon.social/@acme).

        >>> sorted(Scope().handle_keys("https://fosstodon.org/@Acme_Co")), Scope().handle_keys("https://w3.org/")
        (['acme_co@fosstodon.org', 'acmeco'], set())
        """
        pid = self.profile_id(url)
        if pid is None:
            return set()
        return {handle_key(pid[1])} | ({pid[1]} if "@" in pid[1] else set())

    def account_key(self, url: str) -> str | None:
        """One key for one account, however a page writes its URL (case, ``www.``/``m.``, a
        trailing slash, a ``?ref=`` or utm query, http or https, x.com or twitter.com): the URL a
        profile link is fetched once and judged once under. None for anything but a profile.

        >>> s = Scope()
        >>> {s.account_key(u) for u in ("https://x.com/AcmeCo", "http://www.twitter.com/acmeco/?ref=home",
        ...                             "https://mobile.twitter.com/ACMECO")}
        {'https://twitter.com/acmeco'}
        >>> s.account_key("https://fosstodon.org/@Acme/"), s.account_key("https://twitter.com/acme/status/1")
        ('https://fosstodon.org/@acme', None)
        """
        p = self.platform(url)
        if p is None or self.link_kind(url) != PROFILE:
            return None
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        host = _platform_host(_host(url))
        path = parts.path.rstrip("/").lower()
        if path and not p.federated:
            # x.com/acme is twitter.com/acme, uk.linkedin.com/in/a linkedin.com/in/a (an account that
            # is a host, name.tumblr.com, has no path and stays)
            host = p.canonical or p.hosts[0]
        return f"https://{host}{path or '/'}{_account_query(path, parts.query)}"

    @cached_property
    def _own_keys(self) -> frozenset[str]:
        return frozenset(self.account_key(s) or s for s in self.social)

    @cached_property
    def _own_elsewhere(self) -> tuple[str, ...]:
        """The ``--social`` URLs on no known platform (a forum, a self-hosted instance)."""
        return tuple(s.lower() for s in self.social if self.platform(s) is None)

    def is_own_profile(self, url: str) -> bool:
        """Is ``url`` one of the profiles given with ``--social`` (any case, scheme, ``www.``
        or platform alias)? On a known platform only the account itself is: a repository, a
        post or a video under it is content.

        >>> s = Scope(social=("https://twitter.com/AcmeCo", "https://github.com/acme"))
        >>> s.is_own_profile("https://x.com/acmeco"), s.is_own_profile("https://github.com/Acme/")
        (True, True)
        >>> s.is_own_profile("https://github.com/acme/widget/issues/3"), s.is_own_profile("https://x.com/acmeco/status/1")
        (False, False)
        """
        if not self.social:
            return False
        key = self.account_key(url)
        if key is not None:
            return key in self._own_keys
        if self.platform(url) is not None:
            return False
        lowered = url.lower()
        return any(_prefix_match(lowered, s) for s in self._own_elsewhere)

    @cached_property
    def brand_handles(self) -> frozenset[str]:
        """The business's name as a handle: the label of each site's registrable domain
        (``acme``), or for a site on a project's sub-domain of a shared domain its own label
        (``hop`` for hop.apache.org), alone or joined with the domain's (``apachehop``). The
        shared domain's label alone is the umbrella's (``apache``: the ASF's github.com/apache,
        a committer's github.com/clr-apache), not the project's; a functional sub-domain
        (:data:`FUNCTIONAL_SUBDOMAINS`: docs., shop.) is the domain's business.

        >>> sorted(Scope(site=("https://www.acme.example/",)).brand_handles)
        ['acme', 'acmeacme']
        >>> sorted(Scope(site=("https://hop.apache.org/",)).brand_handles)
        ['apachehop', 'hop', 'hopapache', 'hophop']
        >>> sorted(Scope(site=("https://docs.acme.example/",)).brand_handles)
        ['acme', 'acmeacme']
        """
        labels, umbrellas = set(), set()
        for site in self.site:
            host = _strip_www(_host(site))
            domain = registered_domain(host) if host else ""
            if not domain:
                continue
            top = handle_key(domain.split(".")[0])
            sub = host[: -len(domain)].rstrip(".")
            own = handle_key(sub.split(".")[-1]) if sub and not sub.startswith("blog") else ""
            if len(own) >= 3 and own not in FUNCTIONAL_SUBDOMAINS:
                labels.add(own)
                umbrellas.add(top)
            else:
                labels.add(top)
        labels.discard("")
        names = labels | umbrellas
        return frozenset(labels | {a + b for a in names for b in names if a in labels or b in labels})

    def is_brand_profile(self, url: str, known: Collection[str] = ()) -> bool:
        """A profile whose handle is the business's brand, or a handle ``known`` to be the
        business's on another platform (``known`` holds :func:`handle_key` values).

        >>> s = Scope(site=("https://acme.example/",))
        >>> s.is_brand_profile("https://www.instagram.com/Acme/"), s.is_brand_profile("https://x.com/jane")
        (True, False)
        """
        pid = self.profile_id(url)
        if pid is None:
            return False
        user, at, _ = pid[1].partition("@")
        key = handle_key(user)
        # (a fediverse account is known only as user@instance: the same user elsewhere is someone else)
        if key in self.brand_handles or (pid[1] if at else key) in known:
            return True
        # hop-project, acme_official: a word of the handle is the brand
        return any(len(w) >= 3 and w in self.brand_handles for w in re.split(r"[._-]", user.lower()))

    def tier(self, url: str) -> str:
        """site, blog, social, external, contact (mailto:/tel:) or other (unsupported or malformed).

        >>> Scope(site=("https://a.example/",)).tier("http://[broken/")
        'other'
        """
        scheme = url.split(":", 1)[0].lower()
        if scheme in ("mailto", "tel"):
            return CONTACT
        if scheme not in ("http", "https"):
            return OTHER
        try:
            host, port, raw_path = _host_port_path(url)
            if not host or port == -1:
                return OTHER
        except ValueError:  # bad IPv6 literal, port out of range or not a number
            return OTHER
        bare, path = _strip_www(host), raw_path or "/"  # split once for every prefix
        if self.blog:
            if any(_under(bare, port, path, b) for b in self.blog):
                return BLOG
        else:
            # blog.<the site's domain> is the blog even when it was given as a target too
            if host.startswith("blog.") and registered_domain(host) in self._site_domains:
                return BLOG
        if any(_under(bare, port, path, s) for s in self.site):
            if not self.blog and is_blog_path(raw_path):
                return BLOG
            return SITE
        if self.social and self.is_own_profile(url):  # (--social may name a host of the company's)
            return SOCIAL
        company = self._company
        if company[0] and bare not in company[1] and bare.endswith(company[0]):
            return APP
        if self.platform(url):
            return SOCIAL
        return EXTERNAL

    @cached_property
    def _company(self) -> tuple[tuple[str, ...], frozenset[str]]:
        """``(".domain" suffixes, hosts)``: the suffixes a host of the company's other hosts ends
        with, and the site's and blog's own hosts (never "other hosts", whatever their paths).

        A site on its registrable domain (acme.example, www.acme.example) owns every host of it;
        a site on a sub-domain of a shared domain (hop.apache.org) only the hosts under its own.
        """
        suffixes, hosts = [], set()
        for prefix in (*self.site, *self.blog):
            host = _strip_www(_host(prefix))
            if not host or "." not in host or _IP.match(host):
                continue
            hosts.add(host)
            if prefix in self.site:
                domain = registered_domain(host)
                suffixes.append("." + (domain if host == domain else host))
        return tuple(dict.fromkeys(suffixes)), frozenset(hosts)

    def blog_root(self, url: str) -> str:
        """The blog a URL belongs to: its ``--blog`` prefix, or the auto-detected blog's root.

        >>> Scope(site=("https://a.example/",)).blog_root("https://a.example/blog/2024/post/")
        'https://a.example/blog/'

        As :func:`urllib.parse.urlsplit` splits the URL (the scheme lowercased, a host named
        ``blog.`` is a blog), with or without it:

        >>> [Scope().blog_root(u) for u in ("HTTPS://A.example/Blog/x", "https://blog.a.example/x/y",
        ...                                 "https://a.example?x=/y/", "https://a.example////news/x",
        ...                                 "https://u@a.example/news/x")]
        ['https://A.example/Blog/', 'https://blog.a.example/', 'https://a.example/', 'https://a.example/news/', 'https://u@a.example/news/']
        """
        for b in self.blog:
            if _prefix_match(url, b):
                return b
        m = _plain(url)
        if m is not None:
            root = m.group(1).lower() + m.group(2) + "/"
            if m.group(3).lower().startswith("blog."):
                return root
            first = (m.group(5) or "").lstrip("/").split("/", 1)[0]
            return root + first + "/" if first else root
        try:
            parts = urlsplit(url)
        except ValueError:
            return url
        root = f"{parts.scheme}://{parts.netloc}/"
        if _host(url).startswith("blog."):
            return root
        first = parts.path.lstrip("/").split("/", 1)[0]
        return root + first + "/" if first else root

    def conversion_kind(self, url: str, paths: bool = True, evidence: bool = False) -> str | None:
        """'purchase' or 'lead' when the URL is a conversion page by its address.

        Files a page loads (stylesheets, scripts, images, fonts) are never offers, whatever
        their names: ``/css/book.min.css`` is not a booking page. A shop's page names
        (``/products/``, ``/shop/``) are a purchase page only with ``evidence`` of one (a price,
        a buy or cart button or link on the page); a careers page (``/careers/apply/``) is no
        lead page by its name.

        >>> s = Scope(site=("https://a.example/",))
        >>> s.conversion_kind("https://a.example/pricing/"), s.conversion_kind("https://a.example/css/book.min.3f2a.css")
        ('purchase', None)
        >>> s.conversion_kind("https://a.example/products/"), s.conversion_kind("https://a.example/products/", evidence=True)
        (None, 'purchase')
        >>> s.conversion_kind("https://a.example/e-label-pricing/", evidence=True), s.conversion_kind("https://a.example/e-label-pricing/")
        ('purchase', None)
        >>> s.conversion_kind("https://a.example/our-competitor-pricing-guide/"), s.conversion_kind("https://a.example/explainers/", evidence=True)
        (None, None)
        >>> s.conversion_kind("https://a.example/careers/apply/"), s.conversion_kind("https://a.example/jobs/42/apply")
        (None, None)
        """
        path = urlsplit(url).path
        if STATIC_FILE.search(path):
            return None
        host = _host(url)
        if _on_lead_host(host):
            return "lead"
        if paths and not CAREERS.search(path):
            if PURCHASE.search(path) or (evidence and PURCHASE_BY_NAME.search(path)):
                return "purchase"
            if LEAD.search(path):
                return "lead"
        if any(r.search(url) for r in self._conversion_res):
            return "purchase"
        return None

    def app_conversion(self, url: str) -> str | None:
        """'lead' or 'purchase' for a page of the company's app host by its route: signing up,
        logging in or starting a trial is a lead, paying a purchase. A single-page app's route
        may sit in the fragment (``https://portal.acme.example/#/signup?utm_source=x``).

        >>> s = Scope(site=("https://acme.example/",))
        >>> s.app_conversion("https://app.acme.example/sign-up"), s.app_conversion("https://portal.acme.example/#/signup?a=1")
        ('lead', 'lead')
        >>> s.app_conversion("https://app.acme.example/billing/checkout"), s.app_conversion("https://docs.acme.example/")
        ('purchase', None)
        """
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        path = parts.path
        if STATIC_FILE.search(path):
            return None
        route = path
        fragment = parts.fragment.lstrip("!")
        if fragment.startswith("/"):
            route = fragment.split("?", 1)[0]
        for text in dict.fromkeys((path, route)):
            if APP_PURCHASE.search(text):
                return "purchase"
            if APP_LEAD.search(text):
                return "lead"
        if any(r.search(url) for r in self._conversion_res):
            return "purchase"
        return None

    def hosted_conversion(self, url: str) -> str | None:
        """'lead' for a hosted booking or form service (Calendly, Typeform ...): the one kind of
        other site whose page is the business's offer. Another company's /contact/ is not.

        >>> s = Scope()
        >>> s.hosted_conversion("https://calendly.com/acme/demo"), s.hosted_conversion("https://other.example/contact")
        ('lead', None)
        """
        host = _host(url)
        return "lead" if _on_lead_host(host) else None

    def link_kind(self, url: str, rel: str = "", sameas: bool = False, tag: str = "a", quoted: bool = False) -> str:
        """profile, share, content, quote, identity, embed or other for a link to ``url`` from a ``tag``.

        Only ``<a>``/``<area>`` links send a visitor anywhere: a social URL in an
        iframe, script, img or stylesheet is an ``embed`` (a video, a widget). Identity
        is invisible markup (``<link rel=me>``, schema.org ``sameAs``); a visible
        ``<a rel="me">`` icon is a profile link like any other. ``content`` is a post,
        video or hashtag on a platform rather than an account. A profile or content link
        ``quoted`` (inside a ``<blockquote>``/``<q>``: an embedded tweet) is a ``quote``.

        >>> s = Scope()
        >>> s.link_kind("https://twitter.com/intent/tweet?url=x"), s.link_kind("https://twitter.com/acme")
        ('share', 'profile')
        >>> s.link_kind("https://mastodon.social/@acme", rel="me", tag="link"), s.link_kind("https://w3.org/")
        ('identity', 'other')
        >>> s.link_kind("https://www.youtube.com/embed/x", tag="iframe")
        'embed'
        >>> s.link_kind("https://twitter.com/acme/status/1"), s.link_kind("https://x.com/acme", rel="me noopener")
        ('content', 'profile')
        >>> s.link_kind("https://twitter.com/acme", quoted=True), s.link_kind("https://twitter.com/intent/tweet", quoted=True)
        ('quote', 'share')
        """
        if sameas or ("me" in rel.lower().split() and tag not in NAVIGATION_LINK_TAGS):
            return IDENTITY
        p = self.platform(url)
        if p is None:
            if not self.is_own_profile(url):
                return OTHER_KIND
            return PROFILE if tag in NAVIGATION_LINK_TAGS else EMBED
        if tag not in NAVIGATION_LINK_TAGS:
            return EMBED
        kind = self._kind_on(p, url)
        return QUOTE if quoted and (kind == PROFILE or kind == CONTENT) else kind

    @staticmethod
    @lru_cache(maxsize=8192)  # (remembered: a footer's icons are asked about on every page)
    def _kind_on(p: Platform, url: str) -> str:
        """share, community, profile or content: what a link to ``url`` on platform ``p`` is."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return CONTENT
        host, path = _platform_host(_host(url)), parts.path or "/"
        if p.matches(p.share, host, path, parts.query):
            return SHARE
        if p.matches(p.community, host, path):
            return COMMUNITY
        if p.profile is None or p.matches(p.profile, host, path):
            return PROFILE
        return CONTENT


# Link redirectors social platforms wrap outbound links in: host -> (path regex, query parameter).
REDIRECTORS = {
    "youtube.com": (re.compile(r"^/redirect"), "q"),
    "l.facebook.com": (re.compile(r"^/l\.php"), "u"),
    "lm.facebook.com": (re.compile(r"^/l\.php"), "u"),
    "l.instagram.com": (re.compile(r"^/"), "u"),
    "linkedin.com": (re.compile(r"^/redir/redirect"), "url"),
    "away.vk.com": (re.compile(r"^/away\.php"), "to"),
    "out.reddit.com": (re.compile(r"^/"), "url"),
    "t.umblr.com": (re.compile(r"^/redirect"), "z"),
}


def unwrap_redirector(url: str) -> str:
    """The destination of a platform's outbound-link redirector, or ``url`` itself.

    >>> unwrap_redirector("https://www.youtube.com/redirect?q=https%3A%2F%2Facme.example%2F&v=1")
    'https://acme.example/'
    >>> unwrap_redirector("https://acme.example/")
    'https://acme.example/'
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return url
    rule = REDIRECTORS.get(host) or REDIRECTORS.get(_strip_www(host))
    if rule is None or not rule[0].search(parts.path):
        return url
    for key, value in parse_qsl(parts.query):
        if key == rule[1] and value.startswith(("http://", "https://")):
            return value
    return url


def registered_domain(host: str) -> str:
    """The registrable domain of a host, offline (the bundled public-suffix snapshot).

    >>> registered_domain("blog.acme.co.uk"), registered_domain("blog.acme.example")
    ('acme.co.uk', 'acme.example')
    """
    ext = _extractor()(host)
    if ext.suffix:
        return f"{ext.domain}.{ext.suffix}"
    labels = host.split(".")
    return ".".join(labels[-2:])


@cache
def _extractor():
    """One offline extractor per process (it never fetches the suffix list)."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
