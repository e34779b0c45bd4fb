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
            s = crawler.settings
            depth = s.get("FUNNEL_DEPTH")
            instance = _INSTANCES[crawler] = cls(s.getint("FUNNEL_MAX_PAGES", 0),
                                                  -1 if depth is None else int(depth),
                                                  s.getint("FUNNEL_MAX_VARIANTS", 500))
        return instance

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
