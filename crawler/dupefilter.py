"""De-duplication on funnelcheck's URL key: the set of every URL a crawl decided about.

One URL is one key whatever form a link wrote it in (an owned site's ``http``/``https``/``www.``
forms folded, ``index.html`` dropped: :func:`crawler.urls.dedupe_key`), so the key, not
Scrapy's request fingerprint, is what is de-duplicated. Installed with ``DUPEFILTER_CLASS``;
the spider asks the same instance (:func:`dupefilter_of`) when it plans a URL, so a URL that
is excluded, cached or too long is decided once too. A shared implementation (a Redis set,
for distributed workers) replaces it by setting ``DUPEFILTER_CLASS`` to a class with the same
``claim`` / ``seen`` / ``request_seen`` / ``restore``.

The set holds a 64-bit digest of each key (:func:`key_digest`), not the key, and holds it
compactly (:class:`DigestSet`: 8 bytes a digest in a sorted array, the newest in a small set):
a million URLs in ~8 MiB instead of ~66 as ints in a set (~150 as strings).
"""
from __future__ import annotations

import json
import logging
from weakref import WeakKeyDictionary

from scrapy.dupefilters import BaseDupeFilter
from scrapy.utils.misc import load_object

from crawler.urls import key_digest  # noqa: F401  (here too: it lives in crawler.urls, which the limits' summary imports without Scrapy)

logger = logging.getLogger(__name__)
_INSTANCES: WeakKeyDictionary = WeakKeyDictionary()


class DigestSet:
    """A set of signed 64-bit ints (the keys' :func:`key_digest`) at ~8 bytes each, exact.

    The newest digests are in a Python set (~66 bytes each with its slot); every :attr:`RECENT`
    of them join a sorted numpy array (8 bytes each) and are looked up there by bisection. The
    digests found in the array are kept aside in a small set (:attr:`HOT`: a site's navigation
    links, asked about on every page, cost a set lookup, not a bisection). A crawl of 1,000,000
    pages meets ~2.6 million URLs: ~21 MiB instead of ~172 as a set of ints, per crawl process.

    >>> s = DigestSet(recent=2)
    >>> for d in (5, -3, 9, 2**63 - 1):
    ...     s.add(d)
    >>> [d in s for d in (5, -3, 9, 2**63 - 1, 4, -2**63)], len(s), s.frozen.tolist()
    ([True, True, True, True, False, False], 4, [-3, 5, 9, 9223372036854775807])
    """

    RECENT = 1 << 16   # digests in the set before they join the array (~4 MiB)
    HOT = 1 << 12      # digests found in the array, kept in a set until there are this many

    def __init__(self, recent: int = RECENT):
        self.recent: set[int] = set()
        self.hot: set[int] = set()
        self.frozen = None   # the sorted numpy int64 array (numpy imported with the first one)
        self.limit = recent

    def __len__(self) -> int:
        return len(self.recent) + (0 if self.frozen is None else int(self.frozen.size))

    def __contains__(self, digest: int) -> bool:
        if digest in self.recent or digest in self.hot:
            return True
        frozen = self.frozen
        if frozen is None:
            return False
        at = int(frozen.searchsorted(digest))
        if at < frozen.size and frozen[at] == digest:
            if len(self.hot) >= self.HOT:
                self.hot.clear()
            self.hot.add(digest)
            return True
        return False

    def add(self, digest: int) -> None:
        """Add ``digest`` (the caller asked first: a digest added twice is kept twice, harmlessly)."""
        self.recent.add(digest)
        if len(self.recent) >= self.limit:
            self._freeze()

    def _freeze(self) -> None:
        import numpy as np

        new = np.fromiter(self.recent, dtype=np.int64, count=len(self.recent))
        new.sort()
        self.frozen = new if self.frozen is None else np.insert(self.frozen, self.frozen.searchsorted(new), new)
        self.recent = set()


def dupefilter_of(crawler):
    """The crawl's dupefilter (the one its scheduler uses)."""
    return load_object(crawler.settings["DUPEFILTER_CLASS"]).from_crawler(crawler)


class KeyDupeFilter(BaseDupeFilter):
    """The keys of every URL the crawl decided to fetch (or to record without fetching).

    >>> df = KeyDupeFilter()
    >>> df.claim("https://a.example/"), df.claim("https://a.example/"), df.seen("https://a.example/x")
    (True, False, False)
    >>> df.seen_digest(key_digest("https://a.example/")), len(df.digests)
    (True, 1)
    """

    def __init__(self, db_path: str | None = None, crawl_id: int | None = None):
        self.db_path, self.crawl_id = db_path, crawl_id
        self.digests = DigestSet()   # key_digest() of every key decided about, never the key

    @classmethod
    def from_crawler(cls, crawler):
        instance = _INSTANCES.get(crawler)
        if instance is None:  # one per crawler: the scheduler's and the spider's are the same
            instance = _INSTANCES[crawler] = cls(crawler.settings.get("FUNNEL_DB"),
                                                  crawler.settings.getint("FUNNEL_CRAWL_ID"))
        return instance

    def claim(self, key: str) -> bool:
        """Decide about ``key`` now: True if no one had (the caller plans it), else False."""
        digest = key_digest(key)
        if digest in self.digests:
            return False
        self.digests.add(digest)
        return True

    def seen(self, key: str) -> bool:
        return key_digest(key) in self.digests

    def seen_digest(self, digest: int) -> bool:
        """:meth:`seen` of a key kept as its :func:`key_digest` (what :class:`CrawlLimits` keeps)."""
        return digest in self.digests

    def request_seen(self, request) -> bool:
        """Scrapy's question. The spider's requests carry the key it claimed (``meta["claimed"]``);
        any other request is claimed here. ``dont_filter`` requests (a GET after a refused
        HEAD, a Retry-After wait) never get here."""
        key = request.meta.get("key") or request.url
        if request.meta.get("claimed") == key:
            return False
        return not self.claim(key)

    def restore(self):
        """A resumed crawl: every URL the store's frontier holds is decided; yields the
        ``(key, fetch)`` of those queued but never fetched (read-only: the pipeline writes)."""
        from crawler.store import Store

        queued = 0
        with Store(self.db_path, readonly=True) as store:
            for key, fetch, state in store.frontier(self.crawl_id):
                self.digests.add(key_digest(key))
                if state == "queued" and fetch.get("url"):
                    queued += 1
                yield key, fetch, state
        logger.info("resuming crawl %s: %d URLs decided, %d to fetch", self.crawl_id, len(self.digests), queued)


class RedisKeyDupeFilter(KeyDupeFilter):
    """The dupefilter of a cluster crawl (``DUPEFILTER_CLASS``, built by scrapy-redis's scheduler
    with :meth:`from_spider`, the same instance the spider asks).

    The spider decides on this worker's local set, as :class:`KeyDupeFilter` does: no round trip
    per link. The crawl-wide decision is Redis's, once per page: every new request goes to Redis
    with its key's :func:`crawler.cluster.digest`, and :data:`crawler.streams.FLUSH` adds it to
    ``seen`` and pushes the request only if no worker had (so two workers that found the same link
    at once fetch it once). A resumed crawl's decided URLs come from the ``frontier`` stream the
    coordinator filled from the store (their digests are in ``seen`` already).
    """

    def __init__(self, db_path: str | None = None, crawl_id: int | None = None, client=None,
                 token: str | None = None):
        super().__init__(db_path, crawl_id)
        self.client, self.token = client, token

    @classmethod
    def from_crawler(cls, crawler):
        instance = _INSTANCES.get(crawler)
        if instance is None:
            from crawler.streams import client_of

            s = crawler.settings
            instance = _INSTANCES[crawler] = cls(s.get("FUNNEL_DB"), s.getint("FUNNEL_CRAWL_ID"),
                                                  client_of(s), s.get("FUNNEL_CLUSTER_TOKEN"))
        return instance

    @classmethod
    def from_spider(cls, spider):
        """(scrapy-redis's Scheduler builds its dupefilter this way: the crawler's one instance)"""
        return cls.from_crawler(spider.crawler)

    def shared_key(self, request) -> tuple[bytes, bool]:
        """What Redis de-duplicates a request on: its key's digest, and whether it is pushed only
        if that key is new (not a request asked again past the dupefilter, ``dont_filter``, nor
        one a resume restored: decided before)."""
        from crawler.cluster import digest

        key = request.meta.get("key") or request.url
        return digest(key), not (request.dont_filter or request.meta.get("restored"))

    def restore(self):
        """A resumed crawl: every URL of the ``frontier`` stream is decided; yields its
        ``(key, fetch, state)`` entries (the spider asks again for those queued)."""
        from crawler.cluster import decode, key

        stream, start, count, queued = key(self.token, "frontier"), "-", 0, 0
        while True:
            entries = self.client.xrange(stream, start, "+", count=1000)
            for entry_id, fields in entries:
                k, fetch, state = decode(fields[b"f"])
                if isinstance(fetch, str):
                    fetch = json.loads(fetch or "{}")
                self.digests.add(key_digest(k))
                count += 1
                queued += state == "queued" and bool(fetch.get("url"))
                yield k, fetch, state
            if len(entries) < 1000:
                break
            start = "(" + entries[-1][0].decode()
        logger.info("resuming crawl %s: %d URLs decided, %d to fetch", self.crawl_id, count, queued)
