"""Downloader middlewares: robots.txt read the way RFC 9309 says; Retry-After honoured; hosts
that do not answer at all are not asked again."""
from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from protego import Protego
from scrapy import Request, signals
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
import time
from time import monotonic

from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.http.request import NO_CALLBACK
from scrapy.robotstxt import ProtegoRobotParser
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from crawler.errors import HostDown, NotFetched, PrivateAddress, error_kind
from crawler.guard import blocked_address
from crawler.leases import UNREACHABLE

logger = logging.getLogger(__name__)


class _Fixed(ProtegoRobotParser):
    """A parser whose answer is fixed: allow all (4xx) or disallow all (5xx)."""

    def __init__(self, allow: bool):  # noqa: D107 - no super(): nothing to parse
        self.rp = Protego.parse("" if allow else "User-agent: *\nDisallow: /\n")
        self.allow = allow


class RobotsMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots middleware, for public URLs and with RFC 9309 status handling.

    The rules that apply are those of the *public* host (``meta["public"]``): its
    robots.txt is fetched through the same ``--remap`` as any URL, and the public
    URL is matched against it, so a remapped copy of a site obeys the site's
    rules. A robots.txt answered with 2xx is parsed (longest match wins,
    Protego); 4xx means no rules (allow all); 5xx means disallow all, as the RFC
    asks. When the host gives no answer at all, the link's own fetch fails and
    reports that error (dns, refused, tls). Requests with
    ``meta["dont_obey_robotstxt"]`` skip the check.

    In a crawl with many workers, one of them fetches a host's robots.txt and the others
    read what it answered from Redis (:meth:`crawler.leases.HostLeases.robots`).
    """

    async def process_request(self, request, spider=None):
        if request.meta.get("dont_obey_robotstxt"):
            return None
        public = request.meta.get("public")
        if not public:
            return await super().process_request(request)
        parts = urlsplit(public)
        key = f"{parts.scheme}://{parts.netloc}"
        if key not in self._parsers:
            self._parsers[key] = Deferred()
            robots_url = key + "/robots.txt"
            shared = getattr(self.crawler.engine.downloader, "leases", None)  # a cluster crawl's
            try:
                answered = await shared.robots(key) if shared is not None else None
            except Exception as exc:  # noqa: BLE001 - redis errors: this worker reads its own
                logger.warning("shared robots.txt of %s unavailable: %s", key, exc)
                answered = shared = None
            if answered == UNREACHABLE:
                self._set_parser(key, None)
            elif answered is not None:
                status, body = answered
                await self._parse_robots(Response(robots_url, status=status, body=body), key, request)
            else:
                await self._fetch_robots(key, robots_url, request, shared)
        parser = self._parsers[key]
        if isinstance(parser, Deferred):
            # Only the first waiter gets the Deferred's result (its own callback returns None to
            # the next): the others, which took that None for "no rules", read the parser here.
            await maybe_deferred_to_future(parser)
            parser = self._parsers[key]
        if parser is None:
            return None
        useragent = self._robotstxt_useragent or request.headers.get(b"User-Agent", self._default_useragent)
        if not parser.allowed(public, useragent):
            self.crawler.stats.inc_value("robotstxt/forbidden")
            raise IgnoreRequest("Forbidden by robots.txt")
        return None

    async def _fetch_robots(self, key, robots_url, request, shared) -> None:
        remapper = getattr(self.crawler.spider, "remapper", None)
        fetch = remapper.fetch_url(robots_url) if remapper else robots_url
        robots_request = Request(fetch, priority=self.DOWNLOAD_PRIORITY, callback=NO_CALLBACK,
                                 meta={"dont_obey_robotstxt": True, "public": robots_url})
        try:
            response = await self.crawler.engine.download_async(robots_request)
            _share(shared, key, response.status, response.body)
            await self._parse_robots(response, key, request)
        except Exception as exc:
            # No answer at all (DNS, refused, TLS): the request itself will fail the same way,
            # and that error, not "disallowed", is what the report must say about the link.
            logger.info("robots.txt for %s unreachable: %s", key, exc)
            _share(shared, key, None)
            self._set_parser(key, None)

    def _set_parser(self, key, parser) -> None:
        waiting = self._parsers[key]
        self._parsers[key] = parser
        if isinstance(waiting, Deferred):
            waiting.callback(parser)

    async def _parse_robots(self, response, netloc, request):
        status = response.status
        if 200 <= status < 300:
            return await super()._parse_robots(response, netloc, request)
        if status >= 500:
            logger.warning("robots.txt for %s answered %s: treating the host as disallowed", netloc, status)
        # Only a real 5xx means "unreachable, disallow all". 4xx, and the non-standard answers
        # of platforms that block crawlers (999...), mean no usable rules: the links themselves
        # are then fetched and judged (blocked, not skipped).
        self._set_parser(netloc, _Fixed(allow=not 500 <= status < 600))


def _share(shared, key, status, body=b"") -> None:
    """Tell a cluster crawl's other workers what robots.txt answered (see crawler.leases)."""
    if shared is None:
        return
    try:
        shared.share_robots(key, status, body)
    except Exception as exc:  # noqa: BLE001 - redis errors: the claim expires, another fetches it
        logger.warning("could not share robots.txt of %s: %s", key, exc)


def retry_after_seconds(value: str | None, default: float) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date).

    >>> retry_after_seconds("3", 1), retry_after_seconds(None, 1), retry_after_seconds("soon", 2)
    (3.0, 1, 2)
    """
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def rate_limit_pause(response, settings) -> float:
    """Seconds no worker of a cluster crawl asks a host again after this answer: a 429 or 503
    with ``Retry-After``, capped at ``FUNNEL_MAX_RETRY_WAIT`` (the longest this crawl waits
    for one); 0.0 for any other answer.

    >>> from scrapy.settings import Settings
    >>> from scrapy.http import Response
    >>> s = Settings({"FUNNEL_MAX_RETRY_WAIT": 10})
    >>> [rate_limit_pause(Response("http://a.example/", status=st, headers=h), s)
    ...  for st, h in [(429, {"Retry-After": "3"}), (503, {"Retry-After": "60"}), (429, {}), (200, {"Retry-After": "3"})]]
    [3.0, 10.0, 0.0, 0.0]
    """
    if getattr(response, "status", None) not in (429, 503):
        return 0.0
    value = response.headers.get("Retry-After")
    if not value:
        return 0.0
    return min(settings.getfloat("FUNNEL_MAX_RETRY_WAIT", 10.0), retry_after_seconds(value.decode("latin-1"), 0.0))


class RetryAfterMiddleware:
    """Wait and retry on 429 (always) and 503 with Retry-After, a bounded number of times.

    The wait is capped at ``FUNNEL_MAX_RETRY_WAIT`` seconds and happens without
    blocking other hosts. When the host keeps answering 429 the last answer is
    kept: the status policy calls it unverified (rate limited), never broken.

    In a crawl with many workers a ``Retry-After`` also pauses the host for all of them
    (:func:`rate_limit_pause`): :class:`crawler.downloader.Downloader` sets ``pause:<host>``
    in the same Redis step that gives the answer's lease back, before this middleware sees
    the answer, so no other worker asks the host in between.
    """

    def __init__(self, max_retries: int, max_wait: float):
        self.max_retries, self.max_wait = max_retries, max_wait

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getint("FUNNEL_RATE_LIMIT_RETRIES", 2),
                   crawler.settings.getfloat("FUNNEL_MAX_RETRY_WAIT", 10.0))

    async def process_response(self, request, response, spider=None):
        status = response.status
        retry_after = response.headers.get("Retry-After")
        if not (status == 429 or (status == 503 and retry_after)):
            return response
        tries = request.meta.get("rate_limit_retries", 0)
        if tries >= self.max_retries:
            return response
        delay = min(self.max_wait, retry_after_seconds(retry_after.decode("latin-1") if retry_after else None,
                                                        float(2 ** tries)))
        spent = time_spent(request.meta)
        if spent + delay >= request.meta.get("funnel_budget", float("inf")):
            return response  # waiting would take the request past --timeout: the answer stands
        logger.info("%s answered %s: retrying in %.1f s", request.url, status, delay)
        await asyncio.sleep(delay)
        meta = dict(request.meta, rate_limit_retries=tries + 1, funnel_spent=spent + delay)
        return request.replace(meta=meta, dont_filter=True)


def time_spent(meta: dict, now: float | None = None) -> float:
    """Seconds a request has taken so far: its earlier attempts and waits, and the current
    attempt since :class:`crawler.downloader.Downloader` started it."""
    started = meta.get("funnel_attempt_started")
    current = ((now or monotonic()) - started) if started else 0.0
    return meta.get("funnel_spent", 0.0) + current


class TimeBudgetMiddleware:
    """``--timeout`` bounds a request in all, its retries and Retry-After waits included.

    Scrapy's ``DOWNLOAD_TIMEOUT`` is per attempt, so a server that drips a byte a second held
    a request for twice the timeout (the timeout, then its retry). Here each attempt adds its
    time to the request's ``funnel_spent``; a retry gets only what is left of the budget, and
    none when nothing is (an attempt that timed out is not retried).
    """

    def __init__(self, budget: float):
        self.budget = budget

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getfloat("DOWNLOAD_TIMEOUT"))

    def process_request(self, request, spider=None):
        meta = request.meta
        meta.setdefault("funnel_budget", self.budget)
        spent = meta.get("funnel_spent", 0.0)
        if spent:
            left = meta["funnel_budget"] - spent
            if left < 0.05:
                raise NotFetched("timeout", f"timed out ({meta['funnel_budget']:g} s in all, retries included)")
            meta["download_timeout"] = left
        meta.pop("funnel_attempt_started", None)
        return None

    def process_exception(self, request, exception, spider=None):
        meta = request.meta
        if "funnel_attempt_started" not in meta:
            return None  # failed before it was sent (a middleware, robots.txt): no time spent
        meta["funnel_spent"] = spent = time_spent(meta)
        meta.pop("funnel_attempt_started", None)
        if spent >= meta.get("funnel_budget", self.budget) - 0.05 and not isinstance(exception, IgnoreRequest):
            raise exception  # the budget is spent: no retry (RetryMiddleware never sees it)
        return None



# No answer at all from another site's host: after this many attempts failed so (a retry is an
# attempt), its other links fail at once, with the same verdict.
DEAD_HOST_ERRORS = frozenset({"dns", "refused", "timeout"})
DEAD_HOST_AFTER = 2


def host_of(url: str) -> str:
    """The host (and port) of a public URL.

    >>> host_of("https://user@Example.org:8443/a")
    'example.org:8443'
    """
    return url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1].lower()


class DeadHostMiddleware:
    """Stops asking another site's host that gave no answer at all to two attempts.

    An offline machine, or one behind a proxy, otherwise waits out every external link in
    turn (a refused connection costs Twisted ~0.3 s, a timeout ``--timeout``, each retried).
    Owned pages are always fetched. Installed next to the download handler, so it judges
    each attempt (retries included) and stops requests that waited (for robots.txt, in the
    queue) while their host failed.
    """

    def __init__(self, after: int = DEAD_HOST_AFTER):
        self.after = after
        self.failures: dict[str, int] = {}
        self.dead: dict[str, tuple[str, str]] = {}

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getint("FUNNEL_DEAD_HOST_AFTER", DEAD_HOST_AFTER))

    @staticmethod
    def _host(request) -> str | None:
        meta = request.meta
        if meta.get("role") not in ("external", "profile"):
            return None
        return host_of(meta.get("public") or request.url)

    def process_request(self, request, spider=None):
        host = self._host(request)
        if host is not None and host in self.dead:
            kind, reason = self.dead[host]
            raise HostDown(kind, f"{reason} (the host gave no answer to earlier links; not asked again)")
        return None

    def process_exception(self, request, exception, spider=None):
        host = self._host(request)
        if host is None or isinstance(exception, IgnoreRequest):
            return None
        kind, reason = error_kind(Failure(exception))
        if kind in DEAD_HOST_ERRORS:
            self.failures[host] = self.failures.get(host, 0) + 1
            if self.failures[host] >= self.after:
                self.dead.setdefault(host, (kind, reason))
        return None


class AddressGuardMiddleware:
    """Only http and https, and never the user's own network from a public target.

    Next to the download. The address check itself is :class:`crawler.guard.GuardedResolver`'s,
    made on the addresses a connection would go to, literal ones included: the download it
    refuses fails, and is reported here as skipped (private address), not as a DNS error, and
    never retried.
    """

    def process_request(self, request, spider=None):
        scheme = urlsplit(request.url).scheme
        if scheme not in ("http", "https"):
            raise NotFetched("scheme", f"skipped (only http and https are fetched, not {scheme}:)")
        return None

    def process_exception(self, request, exception, spider=None):
        address = blocked_address(urlsplit(request.url).hostname)
        if address is not None and not isinstance(exception, IgnoreRequest):
            raise PrivateAddress(address)
        return None


class CacheMiddleware:
    """Answers an external link from the store's cache of recent working answers (``--cache-age``)
    instead of fetching it: robots.txt, the host and the network are not asked. Reads the store;
    the pipeline writes new answers to it."""

    def __init__(self, db_path: str | None, max_age: float, profile_age: float = 0.0):
        self.db_path, self.max_age, self.profile_age = db_path, max_age, profile_age
        self.store = None

    @classmethod
    def from_crawler(cls, crawler):
        from crawler.options import CrawlOptions

        options = CrawlOptions.from_json((crawler.settings.getdict("FUNNEL_CRAWL") or {}).get("options") or {})
        age = float(options.cache_age_seconds or 0) if options.check_external else 0.0
        middleware = cls(crawler.settings.get("FUNNEL_DB"), age, float(options.cache_age_seconds or 0))
        crawler.signals.connect(middleware.close, signal=signals.spider_closed)
        return middleware

    def _open(self):
        if self.store is None:
            from crawler.store import Store

            self.store = Store(self.db_path, readonly=True)
        return self.store

    def process_request(self, request, spider=None):
        meta = request.meta
        if meta.get("reader") and not meta.get("page") and self.profile_age and not meta.get("cached"):
            return self._answer(request)  # a profile API's answer from an earlier run (crawler.profiles)
        if not self.max_age or meta.get("role") != "external" or meta.get("cached"):
            return None
        hit = self._open().cached(meta["key"], self.max_age)
        if hit is None:
            return None
        meta["cached"] = True
        headers = json.loads(hit["headers"]) if hit["headers"] else {}
        if hit["content_type"]:
            headers["Content-Type"] = hit["content_type"]
        if hit["location"]:
            headers["Location"] = hit["location"]
        return Response(request.url, status=hit["status"], headers=headers, request=request)

    def _answer(self, request):
        hit = self._open().answer(request.meta["public"], self.profile_age)
        if hit is None or hit["body"] is None:
            return None
        request.meta["cached"] = True
        headers = json.loads(hit["headers"]) if hit["headers"] else {}
        if hit["content_type"]:
            headers["Content-Type"] = hit["content_type"]
        return Response(request.url, status=hit["status"], headers=headers, body=hit["body"], request=request)

    def close(self, spider=None):
        if self.store is not None:
            self.store.close()
            self.store = None


class ApiBudgetMiddleware:
    """A profile API's own budget for anonymous calls (GitHub: 60 an hour): read from each answer's
    ``x-ratelimit-remaining`` and ``x-ratelimit-reset``, and from the store for the budget an earlier
    run spent. Once it is spent, the API is not asked again before it resets: the request fails
    at once, "not checked: <the platform's limit>" (``limit`` in its reader)."""

    def __init__(self, db_path: str | None):
        self.db_path = db_path
        self.spent: dict[str, float] = {}   # API origin -> when its budget resets (epoch seconds)
        self.read: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.get("FUNNEL_DB"))

    @staticmethod
    def _origin(request) -> str:
        parts = urlsplit(request.meta.get("public") or request.url)
        return f"{parts.scheme}://{parts.netloc}"

    def _stored(self, key: str) -> None:
        """What an earlier run learnt of this API's budget (once per API)."""
        if key in self.read or not self.db_path:
            return
        self.read.add(key)
        from crawler.store import Store, StoreError

        try:
            with Store(self.db_path, readonly=True) as store:
                hit = store.answer("budget:" + key)
        except StoreError:
            return
        if hit and hit["headers"]:
            self._note(key, json.loads(hit["headers"]))

    def _note(self, key: str, headers: dict) -> None:
        remaining, reset = headers.get("x-ratelimit-remaining"), headers.get("x-ratelimit-reset")
        if remaining is None:
            return
        try:
            remaining, reset = int(remaining), float(reset or 0)
        except ValueError:
            return
        if remaining <= 0:
            self.spent[key] = reset or (time.time() + 3600)
        else:
            self.spent.pop(key, None)

    def process_request(self, request, spider=None):
        meta = request.meta
        if not meta.get("limit") or meta.get("page"):
            return None
        key = self._origin(request)
        self._stored(key)
        reset = self.spent.get(key)
        if reset is not None and time.time() < reset:
            raise NotFetched("hourly-limit", f"not checked: {meta['limit']}")
        return None

    def process_response(self, request, response, spider=None):
        if request.meta.get("limit") and not request.meta.get("cached"):
            headers = {k: response.headers.get(k).decode("latin-1") for k in ("x-ratelimit-remaining",
                                                                             "x-ratelimit-reset")
                       if response.headers.get(k)}
            self._note(self._origin(request), headers)
        return response
