"""The limits of a crawl: ``--max-pages``, ``--depth`` and crawler traps, in a Scrapy extension.

A crawler trap is a URL pattern (:func:`crawler.urls.trap_template`: URLs that differ only in
numbers or dates, in query values, or a path that repeats itself) with no end. Past
``FUNNEL_MAX_VARIANTS`` (500) owned pages of one pattern, the way its pages were found decides
(:meth:`CrawlLimits.judge`; a few numbers per pattern, nothing per URL):

- ``repeating``, ``session``: a path that nests itself, a session id in the URL: a trap by its
  shape, cut at 500.
- ``deep``: a trap grows deep, each variant found from the one before (a calendar's "next month"
  for ever): its deepest variants are more than ``FUNNEL_TRAP_LEVELS`` (30) link levels below
  the last one the rest of the site led to, or that led to any new page outside the pattern's
  folder. A catalogue is wide and shallow (its items found from listing pages and from each
  other), and a pagination chain, deep as it is, leads to new posts or products on every page:
  neither is cut, however many pages they have. (Not caught this way: a trap spread over two
  folders whose pages each lead to new pages of the other; ``--max-pages`` stops it.)
- ``wide``: an absolute safety cap for wide explosions (filter combinations):
  ``FUNNEL_MAX_VARIANTS_WIDE`` (1,000,000) pages of one path pattern,
  ``FUNNEL_MAX_VARIANTS_WIDE_QUERY`` (100,000) of one query pattern.

The depth is the spider's own ``meta["depth"]`` (link hops from a target: Scrapy's
``DepthMiddleware`` is off, the spider sets it, and a cluster crawl's requests carry it).
Pages a sitemap or an audited folder lists are no pattern's.

``--max-time`` is Scrapy's own CloseSpider extension (``CLOSESPIDER_TIMEOUT``). What the
limits left out is handed to the store pipeline when the crawl closes (the report says so).
"""
from __future__ import annotations

from collections import Counter
from weakref import WeakKeyDictionary

from crawler.urls import key_digest, trap_family, trap_kind, trap_template

_INSTANCES: WeakKeyDictionary = WeakKeyDictionary()

MAX_VARIANTS = 500               # owned pages of one pattern crawled before it is judged
TRAP_LEVELS = 30                 # ... a trap when its deepest pages are this many levels past any feed or yield
MAX_VARIANTS_WIDE = 1_000_000    # ... and past this many of one path pattern in any case (the safety cap)
MAX_VARIANTS_WIDE_QUERY = 100_000  # ... of one query pattern (filter combinations: ?color=…&size=…)
HI, FED, LED = 0, 1, 2           # a pattern's shape: its deepest variant; the deepest one found from outside
#                                  its folder; the deepest one that led to a new page outside it
SHAPE_FIELDS = ("h:", "f:", "y:")  # ... in a cluster crawl's ``limits`` hash


class CrawlLimits:
    """Counts the owned pages scheduled and decides whether one more may be.

    >>> limits = CrawlLimits(max_pages=1, max_depth=-1, max_variants=2)
    >>> limits.allow("https://a.example/", 0), limits.scheduled(), limits.allow("https://a.example/b", 1)
    (True, None, False)
    >>> limits.summary(seen=lambda digest: False)["max_pages"]
    1
    """

    def __init__(self, max_pages: int = 0, max_depth: int = -1, max_variants: int = MAX_VARIANTS,
                 trap_levels: int = TRAP_LEVELS, wide: int = MAX_VARIANTS_WIDE,
                 wide_query: int = MAX_VARIANTS_WIDE_QUERY):
        self.max_pages, self.max_depth, self.max_variants = max_pages, max_depth, max_variants
        self.trap_levels, self.wide, self.wide_query = trap_levels, wide, wide_query
        self.pages = 0                       # owned pages scheduled
        self.variants: Counter = Counter()   # ... per trap template
        self.shape: dict[str, list] = {}     # ... [HI, FED, LED] depths, once a template has two variants
        self.cuts: dict[str, tuple] = {}     # template -> (why it was cut, levels): what judge() decided
        self.kinds: dict[str, str | None] = {}  # template past the limit -> trap_kind()
        self.trapped: Counter = Counter()    # ... and those left out once it was full
        self.examples: dict[str, str] = {}   # ... and the first of those, per trapped template
        self.via: tuple = (None, None)       # the last linking page asked about, and its template
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
        """The limits the crawl's settings set (``FUNNEL_MAX_PAGES``, ``FUNNEL_DEPTH``,
        ``FUNNEL_MAX_VARIANTS``, ``FUNNEL_TRAP_LEVELS``, ``FUNNEL_MAX_VARIANTS_WIDE``, ``…_WIDE_QUERY``)."""
        depth = s.get("FUNNEL_DEPTH")
        return cls(s.getint("FUNNEL_MAX_PAGES", 0), -1 if depth is None else int(depth),
                   s.getint("FUNNEL_MAX_VARIANTS", MAX_VARIANTS), s.getint("FUNNEL_TRAP_LEVELS", TRAP_LEVELS),
                   s.getint("FUNNEL_MAX_VARIANTS_WIDE", MAX_VARIANTS_WIDE),
                   s.getint("FUNNEL_MAX_VARIANTS_WIDE_QUERY", MAX_VARIANTS_WIDE_QUERY))

    def allow(self, key: str, depth: int, seed: bool = False, listed: bool = False, via: str | None = None) -> bool:
        """May the owned page ``key`` at ``depth``, linked from the page ``via``, be crawled?
        Remembers what a limit cut off (:meth:`scheduled` counts it once it is asked for).
        Targets are always crawled; a page the site lists itself (a sitemap's entry, a file of an
        audited folder) is no trap's.

        A calendar whose months each link the next: past the limit it is judged deep, and cut:

        >>> limits = CrawlLimits(max_variants=3, trap_levels=1)
        >>> [limits.allow(f"https://a.example/cal/{n}", n, via=f"https://a.example/cal/{n - 1}") for n in range(1, 7)]
        [True, True, True, True, False, False]
        >>> limits.allow("https://a.example/cal/9", 1, listed=True)
        True
        >>> limits.summary(seen=lambda key: False)["traps"]
        {'https://a.example/cal/{n}': {'crawled': 4, 'left': 2, 'example': 'https://a.example/cal/5', 'cut': 'deep', 'levels': 2}}

        Pagination as deep, whose every page leads to a new post, is not:

        >>> limits, page = CrawlLimits(max_variants=3, trap_levels=1), "https://a.example/page/{}/".format
        >>> [limits.allow(page(n), n, via=page(n - 1)) and limits.allow(f"https://a.example/post-{chr(96 + n)}/", n + 1, via=page(n))
        ...  for n in range(1, 7)]
        [True, True, True, True, True, True]
        """
        source = self.template_of(via) if via is not None else None
        if not seed:
            if self.max_depth >= 0 and depth > self.max_depth:
                self.cut_by_depth.add(key_digest(key))
                return False
            if self.max_pages and self.pages >= self.max_pages:
                self.cut_by_max_pages.add(key_digest(key))
                return False
            template = None if listed else trap_template(key)
            if template is not None:
                if self.variants[template] >= self.max_variants and self.judge(template):
                    self.trapped[template] += 1  # a crawler trap: reported, never followed for ever
                    self.examples.setdefault(template, key)
                    return False
                self.variants[template] += 1
                self.found(template, depth, via is not None, source)
            elif source is not None:
                self.led(source, depth - 1)
        return True

    def template_of(self, via: str) -> str | None:
        """The trap template of the linking page ``via`` (the last one asked about is kept: a
        page's links are planned one after the other)."""
        if self.via[0] != via:
            self.via = (via, trap_template(via))
        return self.via[1]

    def found(self, template: str, depth: int, known: bool, source: str | None) -> None:
        """A new variant of ``template`` at ``depth``, linked from a page of template ``source``
        (``known``: the linking page is known at all): the pattern's shape grows."""
        outside = known and (source is None or trap_family(source) != trap_family(template))
        shape = self.shape.get(template)
        if shape is None:
            if self.variants[template] >= 2:  # (one variant is no pattern yet: no numbers kept for it)
                self.shape[template] = self.shaped(template, [depth, depth, -1])
        else:
            if depth > shape[HI]:
                shape[HI] = depth
                self.grew(template, HI, depth)
            if outside and depth > shape[FED]:
                shape[FED] = depth
                self.grew(template, FED, depth)
        if outside and source is not None:
            self.led(source, depth - 1)

    def led(self, source: str, depth: int) -> None:
        """A page of ``source`` at ``depth`` led to a new page outside its folder."""
        shape = self.shape.get(source)
        if shape is not None and depth > shape[LED]:
            shape[LED] = depth
            self.grew(source, LED, depth)

    def shaped(self, template: str, shape: list) -> list:
        """A new pattern's numbers (the cluster's own adds what the crawl knows of them)."""
        return shape

    def grew(self, template: str, which: int, depth: int) -> None:
        """One of ``template``'s numbers grew (the cluster's own sends it to the crawl)."""

    def judge(self, template: str) -> str | None:
        """Why a pattern past ``FUNNEL_MAX_VARIANTS`` is cut (see the module), or None: it is
        crawled on. A cut holds for the rest of the crawl.

        >>> limits = CrawlLimits(max_variants=2, trap_levels=5, wide=4, wide_query=3)
        >>> limits.variants.update({"https://a.example/p/{n}": 3, "https://a.example/s?f=…": 3, "https://a.example/x/… (repeating path)": 2})
        >>> limits.judge("https://a.example/p/{n}"), limits.judge("https://a.example/s?f=…"), limits.judge("https://a.example/x/… (repeating path)")
        (None, 'wide', 'repeating')
        """
        cut = self.cuts.get(template)
        if cut is None:
            kind = self.kinds.get(template, "")
            if kind == "":  # (kept for the patterns past the limit only: a few)
                kind = self.kinds[template] = trap_kind(template)
            count = self.variants[template]
            shape = self.shape.get(template)
            levels = shape[HI] - max(shape[FED], shape[LED]) if shape else 0
            if kind is not None:
                cut = (kind, None)
            elif count >= (self.wide_query if "?" in template else self.wide):
                cut = ("wide", None)
            elif levels > self.trap_levels:
                cut = ("deep", levels)
            else:
                return None
            self.cuts[template] = cut
            self.decided(template, cut)
        return cut[0]

    def decided(self, template: str, cut: tuple) -> None:
        """``template`` was cut (the cluster's own tells the crawl why)."""

    def scheduled(self) -> None:
        """One more owned page asked for (what ``--max-pages`` counts)."""
        self.pages += 1

    def restore(self, key: str, role: str | None, seed: bool, depth: int | None = None) -> None:
        """Count a page a resumed crawl had already scheduled (at ``depth``: its pattern counts as
        fed there, the benefit of the doubt, as the links that found it are not read again)."""
        if role == "page" or seed:
            self.pages += 1
            template = trap_template(key)
            if template is not None:
                self.variants[template] += 1
                self.restored_variant(template, depth or 0)

    def restored_variant(self, template: str, depth: int) -> None:
        shape = self.shape.setdefault(template, [depth, depth, -1])
        shape[HI], shape[FED] = max(shape[HI], depth), max(shape[FED], depth)

    def summary(self, seen, finished: bool = True, earlier: dict | None = None) -> dict:
        """What the limits left uncrawled (``seen(digest)``: the page of that :func:`key_digest`
        was crawled after all by another way, ``KeyDupeFilter.seen_digest``); a crawl that was
        stopped says that, not that a limit cut it. Each trap says why it was cut (``cut``:
        ``deep`` and its ``levels``, ``wide``, ``repeating``, ``session``)."""
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
            why, levels = self.cuts.get(t) or (before.get(t, {}).get("cut"), before.get(t, {}).get("levels"))
            if why:
                traps[t]["cut"] = why
            if levels is not None:
                traps[t]["levels"] = levels
        return {"max_pages": sum(1 for k in self.cut_by_max_pages if not seen(k)) if finished else 0,
                "depth": sum(1 for k in self.cut_by_depth if not seen(k)) if finished else 0,
                "traps": traps}


NEAR_MAX_PAGES = 2000   # pages short of --max-pages (as a worker sees the count) where workers reserve each page

# KEYS: limits. ARGV: max pages. A page for --max-pages, reserved if the pages counted and those
# reserved (decided by a worker, not sent yet) leave room: {1 or 0, pages counted}.
_RESERVE = """
local pages = tonumber(redis.call('HGET', KEYS[1], 'pages') or '0')
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
if pages + reserved >= tonumber(ARGV[1]) then return {0, pages} end
redis.call('HINCRBY', KEYS[1], 'reserved', 1)
return {1, pages}
"""


class ClusterLimits(CrawlLimits):
    """:class:`CrawlLimits` of one worker of a cluster crawl: the counts are the crawl's, in its
    ``limits`` hash (``pages``, ``v:<template>`` variants crawled, ``h:``, ``f:``, ``y:<template>``
    its shape (``HI``, ``FED``, ``LED``: the largest any worker saw), ``t:<template>`` left by a
    trap, ``e:<template>`` its first example, ``c:`` and ``k:<template>`` why it was cut and at
    how many levels) and two sets of key digests (``limits:depth``,
    ``limits:max_pages``: what ``--depth`` and ``--max-pages`` left out).

    A worker decides on its own view (the crawl's counts as of its last step, plus its own since),
    and sends what it decided with the page that made it (:data:`crawler.streams.FLUSH`): a page
    counts only when its request was the one pushed. So a trap's 500 variants hold across workers
    to within the pages being read at the same moment (exact with one worker). ``--max-pages``
    holds exactly: within :data:`NEAR_MAX_PAGES` of it, a worker reserves each page it decides
    to crawl (``reserved`` in the hash, one round trip) and gives the reservation back in the
    step that sends it, counted or not (three workers stored 74 pages of a --max-pages 50). A
    worker killed between the two leaves its reservations: the crawl ends a few pages short.
    :func:`cluster_limits_summary` reads what :meth:`CrawlLimits.summary` says of one process.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pending: dict[str, list] = {}   # key -> [template, counted]: decided here, not sent yet
        self.queued_ops: list = []           # (code, field, value) for the next step
        self.restored: Counter = Counter()   # what a resume counted (the starter sends it once)
        self.last: str | None = None          # the key allow() said yes to last (scheduled() counts it)
        self.reserver = None                  # (client, script, limits key): --max-pages near its end
        self.unscheduled: str | None = None   # the key reserved last, not scheduled (yet)
        self.reserved: set[str] = set()       # keys reserved and scheduled, their step not sent

    @classmethod
    def from_crawler(cls, crawler):
        instance = _INSTANCES.get(crawler)
        if instance is None:
            instance = _INSTANCES[crawler] = cls.from_settings(crawler.settings)
            from crawler.streams import Sender

            sender = Sender.of(crawler)
            sender.limits = instance
            if instance.max_pages:
                from crawler.cluster import key

                instance.reserver = (sender.client, sender.client.register_script(_RESERVE),
                                     key(sender.token, "limits"))
        return instance

    def allow(self, key: str, depth: int, seed: bool = False, listed: bool = False, via: str | None = None) -> bool:
        from crawler.cluster import digest

        if self.unscheduled is not None:  # (allowed, then excluded: not asked for, its page given back now)
            client, _, limits = self.reserver
            client.hincrby(limits, "reserved", -1)
            self.unscheduled = None
        source = self.template_of(via) if via is not None else None
        if not seed:
            if self.max_depth >= 0 and depth > self.max_depth:
                self.queued_ops += ["d", "", digest(key)]
                return False
            if self.max_pages and self.pages >= self.max_pages:
                self.queued_ops += ["m", "", digest(key)]
                return False
            template = None if listed else trap_template(key)
            if template is not None:
                if self.variants[template] >= self.max_variants and self.judge(template):
                    self.queued_ops += ["i", "t:" + template, 1, "n", "e:" + template, key]
                    return False
            if self.reserver is not None and self.max_pages - self.pages <= NEAR_MAX_PAGES:
                _, script, limits = self.reserver
                granted, pages = script(keys=[limits], args=[self.max_pages])
                self.pages = max(self.pages, int(pages))
                if not int(granted):
                    self.queued_ops += ["m", "", digest(key)]
                    return False
                self.unscheduled = key
            if template is not None:
                self.variants[template] += 1
                self.pending.setdefault(key, [None, False])[0] = template
                self.found(template, depth, via is not None, source)
            elif source is not None:
                self.led(source, depth - 1)
        self.last = key
        return True

    def grew(self, template: str, which: int, depth: int) -> None:
        self.queued_ops += ["x", SHAPE_FIELDS[which] + template, depth]

    def decided(self, template: str, cut: tuple) -> None:
        self.queued_ops += ["n", "c:" + template, cut[0]]
        if cut[1] is not None:
            self.queued_ops += ["n", "k:" + template, cut[1]]

    def scheduled(self) -> None:
        self.pages += 1
        if self.last is not None:
            self.pending.setdefault(self.last, [None, False])[1] = True
        if self.unscheduled is not None and self.unscheduled == self.last:
            self.reserved.add(self.unscheduled)
            self.unscheduled = None

    def restore(self, key: str, role: str | None, seed: bool, depth: int | None = None) -> None:
        if role == "page" or seed:
            self.pages += 1
            self.restored["pages"] += 1
            template = trap_template(key)
            if template is not None:
                self.variants[template] += 1
                self.restored["v:" + template] += 1
                before = list(self.shape.get(template) or (-1, -1, -1))
                self.restored_variant(template, depth or 0)
                for which in (HI, FED):
                    if self.shape[template][which] > before[which]:
                        self.grew(template, which, self.shape[template][which])

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
        if key in self.reserved:  # (counted by the step if its key is new: the reservation goes back)
            self.reserved.discard(key)
            self.queued_ops += ["i", "reserved", -1]
        return template, counted

    def ops(self) -> list:
        ops, self.queued_ops = self.queued_ops, []
        return ops

    def update(self, out) -> None:
        """The crawl's counts after a step: ``[pages, template, variants, HI, FED, LED, ...]``
        (a pattern's shape as all workers saw it: -1 where none is known)."""
        self.pages = max(self.pages, int(out[0]))
        for i in range(1, len(out) - 4, 5):
            template = out[i].decode() if isinstance(out[i], bytes) else out[i]
            self.variants[template] = max(self.variants[template], int(out[i + 1]))
            crawl = [int(n) for n in out[i + 2: i + 5]]
            if crawl[HI] >= 0:
                shape = self.shape.setdefault(template, [-1, -1, -1])
                for which in (HI, FED, LED):
                    shape[which] = max(shape[which], crawl[which])


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
        elif kind == "c":
            limits.cuts[template] = (value, int(fields["k:" + template]) if "k:" + template in fields else None)
    summary = limits.summary(lambda k: True, finished, earlier)
    seen = key(token, "seen")

    def left(name: str) -> int:
        cut = key(token, name)
        total = client.scard(cut)
        return total - client.sintercard(2, [cut, seen]) if total else 0

    summary["max_pages"] = left("limits:max_pages") if finished else 0
    summary["depth"] = left("limits:depth") if finished else 0
    unrendered = cluster_unrendered(client, token)
    if unrendered:  # (--render auto: pages past the re-render bound, as StorePipeline adds them)
        summary["unrendered"] = unrendered
    return summary


def cluster_unrendered(client, token: str) -> dict[str, int]:
    """:meth:`crawler.render.RenderPlan.unrendered` of a cluster crawl (its plan in the ``render``
    hash, :class:`crawler.clustered.ClusterRenderPlan`): the pages of templates that render that
    were read as served past :data:`crawler.render.REQUEUE`, ``{template: pages}``."""
    from crawler.cluster import key

    fields = {k.decode(): v for k, v in client.hgetall(key(token, "render")).items()}
    return {t[2:]: int(n) for t, n in sorted(fields.items()) if t.startswith("m:") and "r:" + t[2:] in fields}
