"""The limits of a crawl: ``--max-pages``, ``--depth`` and crawler traps, in a Scrapy extension.

A crawler trap is a URL pattern (:func:`crawler.urls.trap_template`: URLs that differ only in
numbers or dates, in query values, or a path that repeats itself) with more owned pages than
``FUNNEL_MAX_VARIANTS`` (500): those are crawled, the rest of the pattern left out and counted.
A blog's ``/page/{n}/`` or its ``/{n}/{n}/`` archives end long before; a calendar does not.

``--max-time`` is Scrapy's own CloseSpider extension (``CLOSESPIDER_TIMEOUT``). What the
limits left out is handed to the store pipeline when the crawl closes (the report says so).
"""
from __future__ import annotations

from collections import Counter
from weakref import WeakKeyDictionary

from crawler.dupefilter import key_digest
from crawler.urls import trap_template

_INSTANCES: WeakKeyDictionary = WeakKeyDictionary()


class CrawlLimits:
    """Counts the owned pages scheduled and decides whether one more may be.

    >>> limits = CrawlLimits(max_pages=1, max_depth=-1, max_variants=2)
    >>> limits.allow("https://a.example/", 0), limits.scheduled(), limits.allow("https://a.example/b", 1)
    (True, None, False)
    >>> limits.summary(seen=lambda digest: False)["max_pages"]
    1
    """

    def __init__(self, max_pages: int = 0, max_depth: int = -1, max_variants: int = 500):
        self.max_pages, self.max_depth, self.max_variants = max_pages, max_depth, max_variants
        self.pages = 0                       # owned pages scheduled
        self.variants: Counter = Counter()   # ... per trap template
        self.trapped: Counter = Counter()    # ... and those left out once it was full
        self.examples: dict[str, str] = {}   # ... and the first of those, per trapped template
        # key_digest() of the pages not crawled because of --depth, and because of --max-pages
        # (never the URLs: a --depth on a big site leaves out as many as it crawls)
        self.cut_by_depth: set[int] = set()
        self.cut_by_max_pages: set[int] = set()

    @classmethod
    def from_crawler(cls, crawler):
        instance = _INSTANCES.get(crawler)
        if instance is None:
            instance = _INSTANCES[crawler] = cls.from_settings(crawler.settings)
        return instance

    @classmethod
    def from_settings(cls, s):
        """The limits the crawl's settings set (``FUNNEL_MAX_PAGES``, ``FUNNEL_DEPTH``, ``FUNNEL_MAX_VARIANTS``)."""
        depth = s.get("FUNNEL_DEPTH")
        return cls(s.getint("FUNNEL_MAX_PAGES", 0), -1 if depth is None else int(depth),
                   s.getint("FUNNEL_MAX_VARIANTS", 500))

    def allow(self, key: str, depth: int, seed: bool = False, listed: bool = False) -> bool:
        """May the owned page ``key`` at ``depth`` be crawled? Remembers what a limit cut off
        (:meth:`scheduled` counts it once it is asked for). Targets are always crawled; a page
        the site lists itself (a sitemap's entry, a file of an audited folder) is no trap's.

        >>> limits = CrawlLimits(max_variants=1)
        >>> [limits.allow(f"https://a.example/cal/{n}", 1) for n in (1, 2)], limits.allow("https://a.example/cal/3", 1, listed=True)
        ([True, False], True)
        >>> limits.summary(seen=lambda key: False)["traps"]
        {'https://a.example/cal/{n}': {'crawled': 1, 'left': 1, 'example': 'https://a.example/cal/2'}}
        """
        if not seed:
            if self.max_depth >= 0 and depth > self.max_depth:
                self.cut_by_depth.add(key_digest(key))
                return False
            if self.max_pages and self.pages >= self.max_pages:
                self.cut_by_max_pages.add(key_digest(key))
                return False
            template = None if listed else trap_template(key)
            if template is not None:
                if self.variants[template] >= self.max_variants:
                    self.trapped[template] += 1  # a crawler trap: reported, never followed for ever
                    self.examples.setdefault(template, key)
                    return False
                self.variants[template] += 1
        return True

    def scheduled(self) -> None:
        """One more owned page asked for (what ``--max-pages`` counts)."""
        self.pages += 1

    def restore(self, key: str, role: str | None, seed: bool) -> None:
        """Count a page a resumed crawl had already scheduled."""
        if role == "page" or seed:
            self.pages += 1
            template = trap_template(key)
            if template is not None:
                self.variants[template] += 1

    def summary(self, seen, finished: bool = True, earlier: dict | None = None) -> dict:
        """What the limits left uncrawled (``seen(digest)``: the page of that :func:`key_digest`
        was crawled after all by another way, ``KeyDupeFilter.seen_digest``); a crawl that was
        stopped says that, not that a limit cut it."""
        before = (earlier or {}).get("traps") or {}
        trapped = Counter({t: c["left"] for t, c in before.items()})
        for template, left in self.trapped.items():  # a resumed crawl meets the same trap again
            trapped[template] = max(trapped[template], left)
        traps = {}
        for t, n in sorted(trapped.items()):
            traps[t] = {"crawled": self.variants[t], "left": n}
            example = self.examples.get(t) or before.get(t, {}).get("example")
            if example:  # the first URL left out: where to look for the links that make the pattern
                traps[t]["example"] = example
        return {"max_pages": sum(1 for k in self.cut_by_max_pages if not seen(k)) if finished else 0,
                "depth": sum(1 for k in self.cut_by_depth if not seen(k)) if finished else 0,
                "traps": traps}


class ClusterLimits(CrawlLimits):
    """:class:`CrawlLimits` of one worker of a cluster crawl: the counts are the crawl's, in its
    ``limits`` hash (``pages``, ``v:<template>`` variants crawled, ``t:<template>`` left by a
    trap and ``e:<template>`` its first example) and two sets of key digests (``limits:depth``,
    ``limits:max_pages``: what ``--depth`` and ``--max-pages`` left out).

    A worker decides on its own view (the crawl's counts as of its last step, plus its own since),
    and sends what it decided with the page that made it (:data:`crawler.streams.FLUSH`): a page
    counts only when its request was the one pushed. So ``--max-pages`` and a trap's 500 variants
    hold across workers to within the pages being read at the same moment (exact with one worker).
    :func:`cluster_limits_summary` reads what :meth:`CrawlLimits.summary` says of one process.
    """

    def __init__(self, max_pages: int = 0, max_depth: int = -1, max_variants: int = 500):
        super().__init__(max_pages, max_depth, max_variants)
        self.pending: dict[str, list] = {}   # key -> [template, counted]: decided here, not sent yet
        self.queued_ops: list = []           # (code, field, value) for the next step
        self.restored: Counter = Counter()   # what a resume counted (the starter sends it once)
        self.last: str | None = None          # the key allow() said yes to last (scheduled() counts it)

    @classmethod
    def from_crawler(cls, crawler):
        instance = _INSTANCES.get(crawler)
        if instance is None:
            instance = _INSTANCES[crawler] = cls.from_settings(crawler.settings)
            from crawler.streams import Sender

            Sender.of(crawler).limits = instance
        return instance

    def allow(self, key: str, depth: int, seed: bool = False, listed: bool = False) -> bool:
        from crawler.cluster import digest

        if not seed:
            if self.max_depth >= 0 and depth > self.max_depth:
                self.queued_ops += ["d", "", digest(key)]
                return False
            if self.max_pages and self.pages >= self.max_pages:
                self.queued_ops += ["m", "", digest(key)]
                return False
            template = None if listed else trap_template(key)
            if template is not None:
                if self.variants[template] >= self.max_variants:
                    self.queued_ops += ["i", "t:" + template, 1, "n", "e:" + template, key]
                    return False
                self.variants[template] += 1
                self.pending.setdefault(key, [None, False])[0] = template
        self.last = key
        return True

    def scheduled(self) -> None:
        self.pages += 1
        if self.last is not None:
            self.pending.setdefault(self.last, [None, False])[1] = True

    def restore(self, key: str, role: str | None, seed: bool) -> None:
        if role == "page" or seed:
            self.pages += 1
            self.restored["pages"] += 1
            template = trap_template(key)
            if template is not None:
                self.variants[template] += 1
                self.restored["v:" + template] += 1

    def send_restored(self, client, token: str) -> None:
        """The counts a resume restored, into the crawl's (the starter, once, after its restore)."""
        from crawler.cluster import key

        if self.restored:
            pipe = client.pipeline(transaction=False)
            for field, n in self.restored.items():
                pipe.hincrby(key(token, "limits"), field, n)
            pipe.execute()
            self.restored.clear()

    # -- with crawler.streams.Sender -------------------------------------------------------------
    def take(self, key: str) -> tuple[str | None, bool]:
        """What deciding ``key`` counted here (trap template, a page for --max-pages), now sent."""
        template, counted = self.pending.pop(key, (None, False))
        return template, counted

    def ops(self) -> list:
        ops, self.queued_ops = self.queued_ops, []
        return ops

    def update(self, out) -> None:
        """The crawl's counts after a step: ``[pages, template, variants, ...]``."""
        self.pages = max(self.pages, int(out[0]))
        for i in range(1, len(out) - 1, 2):
            template = out[i].decode() if isinstance(out[i], bytes) else out[i]
            self.variants[template] = max(self.variants[template], int(out[i + 1]))


def cluster_limits_summary(client, token: str, finished: bool = True, earlier: dict | None = None) -> dict:
    """What the limits of a cluster crawl left uncrawled: :meth:`CrawlLimits.summary` of all its
    workers together (called by the coordinator when the crawl ends)."""
    from crawler.cluster import key

    fields = {k.decode(): v.decode() for k, v in client.hgetall(key(token, "limits")).items()}
    limits = CrawlLimits()
    for field, value in fields.items():
        kind, _, template = field.partition(":")
        if kind == "v":
            limits.variants[template] = int(value)
        elif kind == "t":
            limits.trapped[template] = int(value)
        elif kind == "e":
            limits.examples[template] = value
    summary = limits.summary(lambda k: True, finished, earlier)
    seen = key(token, "seen")

    def left(name: str) -> int:
        cut = key(token, name)
        total = client.scard(cut)
        return total - client.sintercard(2, [cut, seen]) if total else 0

    summary["max_pages"] = left("limits:max_pages") if finished else 0
    summary["depth"] = left("limits:depth") if finished else 0
    return summary
