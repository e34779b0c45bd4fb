"""Funnel metrics: a visitor as a random walk over the owned pages (issue 10, part 3).

The model
=========
A visitor lands on an *entry page* and clicks a link at random; each link is as likely as its
weight, and the weight depends on where the link stands on the page (the "reasonable surfer":
a link in the text is likelier to be clicked than one in the footer). :data:`DEFAULT_WEIGHTS`:

======  ======  ===========================================================
main    1.0     the page's content (``<main>``, an article)
body    1.0     a link outside any landmark
aside   0.5     a sidebar
nav     0.4     the navigation
header  0.4     the page header
footer  0.2     the footer
head    0.0     ``<head>``: not shown, not clicked
======  ======  ===========================================================

Only ``<a>`` and ``<area>`` links are clicked (no form, iframe, image, script); identity
markup (``rel=me``, ``sameAs``, kind ``identity``) weighs 0, and so does a link from a page
to itself (a table of contents). Several links from a page to the same target add up. A link
to a redirect or a ``<meta refresh>`` stub leads to the page it lands on. ``--weights`` (see
:func:`parse_weights`) changes the table.

At each click the visitor goes on with probability ``damping`` (0.85, PageRank's) and leaves
with the rest (0.15): a walk always ends, even in a closed loop of pages, and the linear
system below is never singular.

States are the *owned pages* (site or blog HTML pages that were read and answered ok) and
four ends where a walk stops (absorbing states):

===========  ==================================================================================
conversion   a page that offers a purchase or lead capture (``conversion`` set, or a lead form),
             on the site or hosted elsewhere (a booking form): the visitor reached the offer
social_leak  a social platform: the business lost the visitor to a feed it does not control
external     any other site (and ``mailto:`` / ``tel:`` links that are not a signup)
exit         left without a click: the ``1 - damping`` share at every page, every walk from a
             page with no clickable link, and links to broken URLs (a dead social profile
             too), to owned pages that were skipped or not crawled, to files, and malformed
             hrefs: there is no way on from there
===========  ==================================================================================

An entry page that is itself a conversion page converts with probability 1, in 0 clicks.

What is computed
================
Absorption probabilities solve ``(I - Q) X = R`` (``Q`` the page-to-page click
probabilities, ``R`` the page-to-end ones): exactly, not by simulation. Expected clicks to a
conversion *given* the walk converts are the standard conditional expectation of an absorbing
chain, ``(N b)_i / b_i`` with ``N = (I - Q)^-1`` and ``b`` the conversion probabilities (every
visit to a page that is not an offer is one click on). The click depth to the nearest
conversion page is a breadth-first search over clickable links (weight above 0). Up to
:data:`DIRECT_MAX` pages the system is factorised (``splu``, the one factorisation serving
every right-hand side); beyond, it is solved iteratively (BiCGSTAB on ``x - Qx``, ``I - Q``
never formed) to :data:`TOLERANCE`, a factorisation of a site-sized link graph filling in
far beyond memory.

Entry pages are the blog's pages (posts and listings) and the pages the crawl's targets land
on (the home page), or the owned pages an ``entry`` regex matches (``re.search`` on the URL). *Site-wide* values are the mean over the entry pages, each entry
counting once (no traffic data says which posts people land on); site-wide expected clicks
are those of the converting visitors, ``sum(N b) / sum(b)`` over the entries.

What to fix first (the action plan, :mod:`analysis.plan`): each problem is costed in the chain.
Backward links (``backward-social`` of one kind in one region, every platform together, and
``backward-blog`` per region) are removed: the chain is solved again without them (its pages'
links to those targets in that region) and the rise in site-wide conversion is what they cost;
negative when the links helped (a blog whose posts convert well). The variant shares the
page-to-page matrix of the baseline (the links taken out are subtracted on the fly) and starts
from the baseline's answer. A broken link is repaired: with ``y`` the visits of one solve of
the transposed chain, what each broken target costs is a sum over its links, read again from
the store for the worst :data:`REPAIR_MAX` targets only (see :func:`fix_effects`). A missing
offer link (a buried offer, a dead end) is added: a chain solve each, for :data:`REACH_MAX`.

The internal link score of each owned page is its PageRank over the owned pages (the same
weighted links, damping 0.85, a page with no owned link spreading its share over every page),
on a logarithmic 0-100 scale: ``100 * log(pr / min) / log(max / min)``, the crawl's best
linked page 100 and its least linked 0 (all 100 when every page ranks the same). Like
Screaming Frog's Link Score a step on the scale is a factor, not a difference, but it is
relative to this crawl.

The links are streamed from the store once into arrays of ints (no Python object per link);
the matrices are ``scipy.sparse``. What the metrics read of the nodes and the findings is read
first (:func:`read_nodes`, :func:`fix_inputs`): a big crawl's graph nodes and findings are then
parked in a file while the links are walked and the chain solved (:mod:`analysis.parking`).
"""
from __future__ import annotations

import bisect
import logging
import math
import re
import time
from array import array
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, bicgstab, splu

from analysis import parking as parking_module
from analysis.blas import one_thread
from analysis.graph import AHEAD_URLS, blank, landing_page, refreshes
from analysis.status import BROKEN
from crawler.scope import APP, BLOG, COMPANY, CONTENT, IDENTITY, OTHER, OWNED, PROFILE, SHARE, SITE, SOCIAL

logger = logging.getLogger(__name__)

# How likely a link is clicked, by the region of the page it stands in (see the module docstring).
DEFAULT_WEIGHTS = {"main": 1.0, "body": 1.0, "aside": 0.5, "nav": 0.4, "header": 0.4, "footer": 0.2, "head": 0.0}
REGIONS = tuple(DEFAULT_WEIGHTS)  # a link's region is kept as its number in this tuple (one byte)
DAMPING = 0.85          # the chance a visitor clicks on at each page (PageRank's damping factor)
CLICK_TAGS = frozenset({"a", "area"})  # the links a visitor clicks
ENDS = ("conversion", "social_leak", "external", "exit")  # the absorbing states, in column order
CONVERSION, SOCIAL_LEAK, EXTERNAL, EXIT = range(len(ENDS))
DIRECT_MAX = 2_000      # pages up to which the chain is factorised (splu); iterative beyond
TOLERANCE = 1e-10       # relative residual of the iterative solves
PAGERANK_TOLERANCE = 1e-12  # L1 change between two power iterations
MAX_ITERATIONS = 1_000
DIGITS = 6              # probabilities, clicks and gains are rounded to this many decimals
SCORE_DIGITS = 1        # link scores


def parse_weights(text: str) -> dict[str, float]:
    """The weights of ``--weights REGION=W,...``: the defaults with the regions given changed.

    >>> w = parse_weights("body=1, footer=0.1"); w["footer"], w["nav"]
    (0.1, 0.4)
    >>> parse_weights("sidebar=1")
    Traceback (most recent call last):
    ValueError: --weights: unknown region 'sidebar' (regions: main, body, aside, nav, header, footer, head)
    """
    given: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not sep or not name or not value:
            raise ValueError(f"--weights: expected REGION=WEIGHT, not {item.strip()!r}")
        if name in given:
            raise ValueError(f"--weights: region {name!r} given twice")
        try:
            given[name] = float(value)
        except ValueError:
            raise ValueError(f"--weights: the weight of {name!r} is not a number: {value!r}") from None
    return check_weights(given)


def check_weights(weights: dict[str, float] | None) -> dict[str, float]:
    """``weights`` over :data:`DEFAULT_WEIGHTS`, each a finite number >= 0 of a known region.

    >>> check_weights({"nav": float("nan")})
    Traceback (most recent call last):
    ValueError: --weights: the weight of 'nav' must be a finite number >= 0, not nan
    """
    out = dict(DEFAULT_WEIGHTS)
    for name, value in (weights or {}).items():
        if name not in DEFAULT_WEIGHTS:
            raise ValueError(f"--weights: unknown region {name!r} (regions: {', '.join(DEFAULT_WEIGHTS)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"--weights: the weight of {name!r} must be a finite number >= 0, not {value!r}")
        out[name] = float(value)
    return out


def _in_walk(data) -> bool:
    """An owned HTML page that was read and answered ok (a ``<meta refresh>`` stub is a redirect)."""
    return (data.get("tier") in OWNED and data.get("role") == "page" and bool(data.get("parsed"))
            and not data.get("stub") and data.get("verdict") == "ok")


def _offers(data) -> bool:
    return bool(data.get("conversion") or data.get("lead_form"))


@dataclass
class Walk:
    """The owned graph as arrays: pages ``0..n-1`` (``urls``, sorted), ends ``n + CONVERSION``
    and so on; one entry per clickable link in ``src``, ``dst`` and ``region`` (never a Python
    object per link: 9 bytes); ``grouped``: the positions of the links a fix-first finding is
    about, ``group`` the finding's number in ``findings``."""
    urls: list[str]
    tiers: list[str]
    offers: np.ndarray          # bool per page: a conversion page (absorbing)
    src: np.ndarray             # int32 per link
    dst: np.ndarray             # int32 per link: a page, or n + an end
    region: np.ndarray          # uint8 per link: its number in REGIONS
    table: np.ndarray           # the weight of each region, in REGIONS order
    findings: list = field(default_factory=list)
    grouped: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    group: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    # A walk of the owned links only (``walk_graph(..., owned=True)``): ``src``, ``dst``, ``region``
    # hold the links between pages; ``sums`` = ``(count, total, off)`` of every clickable link, as
    # :class:`Chain` sums them; ``removals`` the ``(src, dst, region)`` of each fix-first group's
    # links (what ``links_of(number, weights=False)`` gives); ``links`` the clickable links walked.
    sums: tuple | None = None
    removals: list | None = None
    links: int = -1
    # each page's position in the graph's node order (a chunked walk's: see read_nodes), by
    # which ``urls`` is found again after the nodes were parked (:func:`funnel_metrics`)
    nodes: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.urls)

    def weight(self, at=slice(None)) -> np.ndarray:
        """The weight of the links ``at`` (positions or a mask; all by default), float64."""
        return self.table[self.region[at]]

    def links_of(self, number: int, weights: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(src, dst, weight)`` of the links fix-first finding ``number`` is about; ``(src, dst,
        region)`` without ``weights`` (a byte a link instead of 8: :func:`fix_first` weighs them
        one group at a time)."""
        if self.removals is not None:
            src, dst, region = self.removals[number]
            return src, dst, (self.table[region] if weights else region)
        at = self.grouped[self.group == number]
        return self.src[at], self.dst[at], (self.weight(at) if weights else self.region[at])

    def release(self) -> None:
        """Let go of the per-link arrays (the chain and :meth:`links_of` copies hold what is left to do)."""
        self.src = self.dst = np.zeros(0, np.int32)
        self.region = np.zeros(0, np.uint8)
        self.grouped, self.group = np.zeros(0, np.int64), np.zeros(0, np.int32)


_NONE: dict = {}


class _Same:
    """``x[key] == key``: the URL of a link end in a store that names it by its URL."""
    __slots__ = ()

    def __getitem__(self, key):
        return key


_SAME = _Same()


# The backward links fix-first measures by removing them, grouped as one fix: every follow icon
# of one region is one fix ("the footer's 3 follow icons"), and so is every share button of a region.
REMOVED_KINDS = ("profile", "share", "content", "third-party")


def removal_groups(findings) -> list[list]:
    """The findings whose links fix-first removes, as groups fixed at once: ``backward-social``
    links of one kind (not identity markup) in one region, the profiles of all platforms
    together; ``backward-blog`` per region. In the order first found (findings come worst first).

    >>> from analysis.findings import Finding
    >>> fs = [Finding("backward-social", "high", t, "m", "footer", detail={"kind": "profile"})
    ...       for t in ("https://x.com/a", "https://linkedin.com/company/a")]
    >>> fs.append(Finding("backward-social", "low", "https://x.com/intent/tweet", "m", "main", detail={"kind": "share"}))
    >>> [[f.target for f in grp] for grp in removal_groups(fs)]
    [['https://x.com/a', 'https://linkedin.com/company/a'], ['https://x.com/intent/tweet']]
    """
    groups: dict[tuple, list] = {}
    for f in findings:
        detail = f.detail if isinstance(f.detail, dict) else {}
        kind = detail.get("kind") if f.rule == "backward-social" else None
        if f.rule == "backward-social" and kind not in REMOVED_KINDS:
            continue
        if f.rule not in ("backward-social", "backward-blog"):
            continue
        groups.setdefault((f.rule, f.region or "body", kind), []).append(f)
    return list(groups.values())


def _fix_candidates(g, findings) -> tuple[list, dict, dict]:
    """The groups of findings fix-first measures (:func:`removal_groups`), and how a link is
    found to be theirs: ``social[region][(kind, account)]`` (a profile's), ``social[region][(kind,)]``
    (a share button's or a post's: one group per region) and
    ``blog[region][blog URL]`` -> the group's number."""
    scope = g.graph["scope"]
    chosen = removal_groups(findings)
    social: dict[str, dict] = defaultdict(dict)
    blog: dict[str, dict] = defaultdict(dict)
    for number, grp in enumerate(chosen):
        for f in grp:
            region = f.region or "body"
            if f.rule == "backward-social":
                kind = f.detail["kind"]
                if kind in (PROFILE, "third-party"):  # (someone else's account: a profile link too)
                    social[region][(PROFILE, scope.profile_id(f.target) or f.target)] = number
                else:  # every share button or post link of the region
                    social[region][(kind,)] = number
            else:
                for target in f.detail.get("targets", ()):  # the blog URLs the site links in that region
                    blog[region][target] = number
    return chosen, dict(social), dict(blog)


def _account(cache: dict, key_id: int, url_of, nodes, scope):
    """The social account a link's target (store URL id ``key_id``) is, as fix-first groups the
    backward-social findings: ``(PROFILE, profile id)`` for a social profile, "" for anything
    else; remembered in ``cache`` (the callers look there first: this runs once per target)."""
    key = url_of[key_id]
    node = nodes.get(key)
    account = cache[key_id] = ((PROFILE, scope.profile_id(key) or key)
                               if node is not None and node.get("tier") == SOCIAL else "")
    return account


class _SortedIndex:
    """``index.get(url)``: the number of ``url`` in the sorted list ``urls``, by bisection (None if
    it is not there), without a dict of every page; :meth:`remember` finds a URL's and keeps it
    for the next :meth:`get` of the same URL (a link target's own page, then where it lands).

    >>> index = _SortedIndex(["a", "c", "d"])
    >>> index.get("c"), index.get("b"), index.remember("d", True), index.get("d"), index.remember("a", False)
    (1, None, 2, 2, None)
    """
    __slots__ = ("urls", "last", "page")

    def __init__(self, urls: list[str]):
        self.urls, self.last, self.page = urls, None, None

    def get(self, url: str, default=None):
        if url == self.last:
            return default if self.page is None else self.page
        i = bisect.bisect_left(self.urls, url)
        return i if i < len(self.urls) and self.urls[i] == url else default

    def remember(self, url: str, listed: bool) -> int | None:
        """The number of ``url`` if ``listed`` (None otherwise: not looked up), kept for :meth:`get`."""
        self.last = None
        page = self.get(url) if listed else None
        self.last, self.page = url, page
        return page


def _destination(g, key: str, index, n: int) -> int:
    """Where a click on a link to ``key`` leads: a page's number, or ``n + `` an end."""
    nodes = g.node_data
    node = nodes.get(key)
    if node is None or node.get("verdict") == BROKEN:
        return n + EXIT
    land = landing_page(g, key)  # through redirects and <meta refresh> stubs
    there = nodes.get(land, node)
    if there.get("verdict") == BROKEN:
        return n + EXIT
    page = index.get(land)
    if page is not None:
        return page  # an owned conversion page too: it absorbs as a conversion in the chain
    if _offers(node):  # the offer the link names (/signup), wherever it lands
        return n + CONVERSION
    return _end(there, n)


class _SharedJudge:
    """:func:`_in_walk` and where a click on a link to a URL ends (:func:`_destination` of a URL
    that is no walked page and lands on itself), for nodes whose attributes these read are all
    in their shared dict (:class:`analysis.graph.NodeData`: a few hundred in a crawl of millions
    of URLs): judged once per shared dict, remembered by its id (the dict held beside, so the id
    stays its own). Anything else (a plain dict) is judged each time. ``n``: the walked pages.

    >>> from analysis.graph import NodeData
    >>> j = _SharedJudge(n=10); a = NodeData(tier="social", verdict="ok"); b = NodeData(tier="social", verdict="ok")
    >>> b._shared = a._shared; j.in_walk(a), j.end(a) == 10 + SOCIAL_LEAK, j.end(b) == 10 + SOCIAL_LEAK, len(j.ends)
    (False, True, True, 1)
    """
    __slots__ = ("n", "walks", "ends")

    def __init__(self, n: int):
        self.n, self.walks, self.ends = n, {}, {}

    def in_walk(self, data) -> bool:
        return self._judged(self.walks, _in_walk, data)

    def end(self, data) -> int:
        return self._judged(self.ends, lambda node: _end(node, self.n), data)

    @staticmethod
    def _judged(memo: dict, judge, data):
        shared = getattr(data, "_shared", None)
        if shared is None:
            return judge(data)
        got = memo.get(id(shared))
        if got is None:
            got = memo[id(shared)] = (shared, judge(data))
        return got[1]


def _end(node, n: int) -> int:
    """Where a click ends on ``node``, a URL that is no walked page (where a link lands, or a URL
    that lands on itself): ``n + `` an end."""
    if node.get("verdict") == BROKEN:
        return n + EXIT
    if _offers(node):
        return n + CONVERSION
    tier = node.get("tier")
    if tier == SOCIAL:
        return n + SOCIAL_LEAK
    if tier in OWNED or tier == OTHER or tier == APP:
        # an owned file, error, skipped or uncrawled page; a malformed href; the company's docs or app
        return n + EXIT
    return n + EXTERNAL


def walk_graph(g, findings=(), weights: dict[str, float] | None = None, chunked: bool = True,
               owned: bool = False) -> Walk:
    """Stream the crawl's clickable links once into a :class:`Walk`: a chunk of rows at a time
    judged with numpy (``chunked``), or one by one (a store of schema 1; the reference the
    chunked walk is tested against). With ``owned``, the walk keeps the links between pages only
    and sums the others as it goes (:class:`Chain` needs no more of them: see ``Walk.sums``), and
    each fix-first group's links in ``Walk.removals``: the funnel metrics' walk, a third smaller.
    (:func:`read_nodes` then :func:`read_links`: the chunked link pass reads no node.)

    >>> from analysis.graph import graph_from
    >>> g = graph_from([{"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1}],
    ...     [("https://a.example/", "https://a.example/pricing/", "main", "other"),
    ...      ("https://a.example/", "https://x.com/a", "footer", "profile")], site=["https://a.example/"])
    >>> w = walk_graph(g)
    >>> w.urls, w.dst.tolist(), w.weight().tolist()   # pricing was not crawled: a conversion by its address
    (['https://a.example/'], [1, 2], [1.0, 0.2])
    """
    head, plan = read_nodes(g, findings, weights, chunked)
    return read_links(g, head, plan, owned)


class _Plan:
    """What :func:`read_nodes` read of the nodes for the link pass: per store URL id its page
    number (``page_of``, -1: none walked), where a click on a link to it leads (``dest``), its
    social account's number in ``accounts`` (-1: none a fix-first group is about), and the
    fix-first groups (``social``, ``blog`` by URL id); ``size``: the graph's URLs. ``url_of``
    and ``index`` (URL -> page number) are kept only for the per-link walk (a store of schema 1,
    or ``chunked=False``), which reads the nodes as it goes."""
    __slots__ = ("size", "chunked", "page_of", "dest", "account", "accounts", "site_page", "code_of", "social",
                 "blog", "url_of", "index")


def read_nodes(g, findings=(), weights: dict[str, float] | None = None, chunked: bool = True) -> tuple[Walk, _Plan]:
    """The nodes' part of :func:`walk_graph`: a :class:`Walk` with its pages (``urls``,
    ``tiers``, ``offers``, ``nodes``: each page's position in the graph's node order) and its
    fix-first groups, no link yet, and what :func:`read_links` needs to judge the links with no
    node read (a chunked walk of a store of schema 2: ``Walk.nodes`` is set; then the graph's
    nodes may be parked in between, see :mod:`analysis.parking`)."""
    weights = check_weights(weights)
    nodes = g.node_data
    plan = _Plan()
    plan.size = len(nodes)
    # the walked pages sorted, and each one's position in the node order (how walk.urls is found
    # again once the nodes were parked): no dict of every page (a million pages: ~80 MiB)
    walked, at = [], array("q")
    judged = _SharedJudge(n=0)
    for position, (url, data) in enumerate(nodes.items()):
        if judged.in_walk(data):
            walked.append(url)
            at.append(position)
    walked = np.array(walked, object)  # (sorted by numpy: no int object a page)
    order = np.argsort(walked, kind="stable")
    urls = walked[order].tolist()
    positions = np.frombuffer(at, np.int64)[order] if len(order) else np.zeros(0, np.int64)
    del walked, at, order
    index = _SortedIndex(urls)
    n = len(urls)
    tiers = [nodes[u].get("tier") for u in urls]
    plan.site_page = bytes(t == SITE for t in tiers)
    offers = np.fromiter((_offers(nodes[u]) for u in urls), bool, n)
    chosen, social, blog = _fix_candidates(g, findings)
    # region -> its number, -1 where it weighs nothing; a region the table does not know weighs as the body
    code_of = plan.code_of = {region: (i if weights[region] > 0 else -1) for i, region in enumerate(REGIONS)}
    code_of[None] = code_of["body"]
    plan.social, plan.blog = social, blog
    table = np.array([weights[r] for r in REGIONS])
    head = Walk(urls, tiers, offers, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.uint8), table,
                chosen)
    # URLs by their store ids (a link is read as four small values, never as strings), looked up
    # in arrays indexed by id: a 100,000-page crawl names 180,000 URLs, and a dict entry each
    # would be tens of MiB more at the metrics' peak
    url_of = g.store.url_table(nodes)
    plan.chunked = chunked and url_of is not None
    if not plan.chunked:
        index = {url: i for i, url in enumerate(urls)}  # (the per-link walk looks its pages up as it goes)
        plan.url_of, plan.page_of = url_of, None
        if url_of is not None:
            plan.page_of = array("i", [-1]) * len(url_of)  # id -> page number, -1: not a page walked
            for i, url in enumerate(url_of):
                if url is not None:
                    plan.page_of[i] = index.get(url, -1)
        plan.index = index  # (the per-link walk finds destinations as it goes)
        return head, plan
    # every URL's destination and account now, by its id: the link pass reads no node
    scope = g.graph["scope"]
    wanted = {account for per in social.values() for account in per if len(account) == 2}  # (PROFILE, id)
    accounts = plan.accounts = list(wanted)
    number = {account: i for i, account in enumerate(accounts)}
    targets = {url for per in blog.values() for url in per}
    # a URL can be one of those accounts only if it holds its handle (the last path segment, lower-cased,
    # before any @instance or query; an unnamed one's URL itself) before its query: the share intents,
    # whose query names the shared post (on the company's domain, the brand's name in it), skip profile_id
    needles = tuple({(a[1][1] if isinstance(a[1], tuple) else a[1]).split("?")[0].split("@")[0].lower()
                     for a in wanted})
    id_of: dict[str, int] = {}
    page_of, dest = array("i", [-1]) * len(url_of), array("i", [n + EXIT]) * len(url_of)
    account = array("i", [-1]) * len(url_of) if wanted else None
    judged.n = n
    refresh = refreshes(g)
    for i, url in enumerate(url_of):
        if url is None:
            continue
        data = nodes[url]
        page = index.remember(url, judged.in_walk(data))
        page_of[i] = -1 if page is None else page
        if not data.get("final_url") and url not in refresh:  # (it lands on itself: _destination, short)
            dest[i] = page if page is not None else judged.end(data)
        else:
            dest[i] = _destination(g, url, index, n)
        if account is not None and data.get("tier") == SOCIAL and any(h in url.partition("?")[0].lower()
                                                                       for h in needles):
            account[i] = number.get((PROFILE, scope.profile_id(url) or url), -1)
        if url in targets:
            id_of[url] = i
    plan.page_of, plan.dest, plan.account = page_of, dest, account
    plan.blog = {region: {id_of[url]: f for url, f in per.items() if url in id_of} for region, per in blog.items()}
    plan.url_of = None
    del url_of
    head.nodes = positions
    return head, plan


def read_links(g, head: Walk, plan: _Plan, owned: bool = False) -> Walk:
    """The links' part of :func:`walk_graph`: the clickable links judged into ``head`` (of
    :func:`read_nodes`; its ``urls``, ``tiers``, ``offers`` and ``findings`` are passed on as
    they are now). A chunked walk reads no node: ``g``'s nodes may be parked."""
    n = head.n
    src, dst, codes = array("i"), array("i"), array("B")
    grouped, group = array("q"), array("i")
    sums = None
    if plan.chunked:
        sums = _Sums(n, head.table) if owned else None
        _walk_chunks(g, plan, n, src, dst, codes, grouped, group, sums)
    elif plan.url_of is not None:
        _walk_rows(g, plan.index, n, plan.url_of, plan.page_of, array("i", [-1]) * len(plan.url_of), plan.site_page,
                   plan.code_of, plan.social, plan.blog, src, dst, codes, grouped, group)
    else:  # a store of schema 1 names URLs by their text
        index = plan.index
        _walk_rows(g, index, n, _SAME, defaultdict(lambda: -1, index), defaultdict(lambda: -1), plan.site_page,
                   plan.code_of, plan.social, plan.blog, src, dst, codes, grouped, group)
    if sums is not None:
        walk = sums.walk(head.urls, head.tiers, head.offers, head.findings)
        walk.nodes = head.nodes
        return walk
    walk = Walk(head.urls, head.tiers, head.offers, np.frombuffer(src, np.int32), np.frombuffer(dst, np.int32),
                np.frombuffer(codes, np.uint8), head.table, head.findings,
                np.frombuffer(grouped, np.int64), np.frombuffer(group, np.int32), nodes=head.nodes)
    return owned_walk(walk) if owned else walk


def owned_walk(walk: Walk) -> Walk:
    """``walk`` (every clickable link) as ``walk_graph(..., owned=True)`` gives it: the links
    between pages, the sums of all (as :class:`Chain` takes them from a whole walk) and each
    fix-first group's links. The reference the walk that sums as it reads is tested against.

    >>> w = Walk(["a", "b"], ["site"] * 2, np.zeros(2, bool), np.array([0, 0, 1], np.int32),
    ...          np.array([1, 2, 0], np.int32), np.array([0, 5, 1], np.uint8), np.array([1.0, 1.0, 0.5, 0.4, 0.4, 0.2, 0.0]))
    >>> o = owned_walk(w); o.src.tolist(), o.dst.tolist(), [a.tolist() for a in o.sums[:2]], o.sums[2][:, 0].tolist(), o.links
    ([0, 1], [1, 0], [[2, 1], [1.2, 1.0]], [0.2, 0.0], 3)
    """
    n = walk.n
    count, total = _page_sums(walk)
    off = np.zeros((n, EXIT))
    for end in range(EXIT):
        at = walk.dst == n + end
        off[:, end] = np.bincount(walk.src[at], weights=walk.weight(at), minlength=n)
    removals = [walk.links_of(number, weights=False) for number in range(len(walk.findings))]
    inside = walk.dst < n
    return Walk(walk.urls, walk.tiers, walk.offers, walk.src[inside], walk.dst[inside], walk.region[inside],
                walk.table, walk.findings, sums=(count, total, off), removals=removals, links=len(walk.src),
                nodes=walk.nodes)


class _Sums:
    """What :func:`walk_graph` with ``owned`` keeps as it reads a chunk of links: the links between
    pages (9 bytes each), every link's count, weight and weight to each end per page added up in
    the order read (``np.add.at``: the very sums :class:`Chain` takes from a whole walk, to the
    last bit), and the links of the fix-first groups."""

    def __init__(self, n: int, table: np.ndarray):
        self.n, self.table, self.links = n, table, 0
        self.count, self.total, self.off = np.zeros(n, np.int64), np.zeros(n), np.zeros((EXIT, n))
        self.src, self.dst, self.codes = array("i"), array("i"), array("B")
        self.g_src, self.g_dst, self.g_codes, self.g_group = array("i"), array("i"), array("B"), array("i")

    def add(self, s: np.ndarray, d: np.ndarray, code: np.ndarray, f: np.ndarray | None) -> None:
        n = self.n
        self.links += len(s)
        self.count += np.bincount(s, minlength=n)
        w = self.table[code]
        np.add.at(self.total, s, w)
        for end in range(EXIT):
            at = d == n + end
            if at.any():
                np.add.at(self.off[end], s[at], w[at])
        if f is not None:
            hit = np.flatnonzero(f >= 0)
            if len(hit):
                self.g_src.frombytes(s[hit].astype(np.int32).tobytes())
                self.g_dst.frombytes(d[hit].astype(np.int32).tobytes())
                self.g_codes.frombytes(code[hit].astype(np.uint8).tobytes())
                self.g_group.frombytes(f[hit].astype(np.int32).tobytes())
        inside = d < n
        self.src.frombytes(s[inside].astype(np.int32).tobytes())
        self.dst.frombytes(d[inside].astype(np.int32).tobytes())
        self.codes.frombytes(code[inside].astype(np.uint8).tobytes())

    def walk(self, urls: list, tiers: list, offers: np.ndarray, findings: list) -> Walk:
        group = np.frombuffer(self.g_group, np.int32)
        src, dst = np.frombuffer(self.g_src, np.int32), np.frombuffer(self.g_dst, np.int32)
        codes = np.frombuffer(self.g_codes, np.uint8)
        removals = []
        for number in range(len(findings)):
            at = group == number
            removals.append((src[at], dst[at], codes[at]))
        del group, src, dst, codes
        self.g_src = self.g_dst = self.g_codes = self.g_group = None
        return Walk(urls, tiers, offers, np.frombuffer(self.src, np.int32), np.frombuffer(self.dst, np.int32),
                    np.frombuffer(self.codes, np.uint8), self.table, findings,
                    sums=(self.count, self.total, np.ascontiguousarray(self.off.T)), removals=removals,
                    links=self.links)


def _walk_rows(g, index, n, url_of, page_of, seen, site_page, code_of, social, blog, src, dst, codes, grouped, group):
    """:func:`walk_graph`'s links one by one (a store of schema 1, whose links name URLs by their text)."""
    nodes = g.node_data
    scope = g.graph["scope"]
    body = code_of[None]
    accounts: dict = {}
    code_get = code_of.get
    for source, key_id, region, kind in g.store.link_codes(g.crawl_id, sorted(CLICK_TAGS)):
        s = page_of[source]
        if s < 0 or kind == IDENTITY:
            continue
        code = code_get(region, body)
        if code < 0:
            continue
        d = seen[key_id]
        if d < 0:
            d = seen[key_id] = _destination(g, url_of[key_id], index, n)
        if d == s:
            continue
        f = None
        if social and kind == PROFILE:
            account = accounts.get(key_id)
            if account is None:
                account = _account(accounts, key_id, url_of, nodes, scope)
            f = social.get(region or "body", _NONE).get(account)
        elif social and (kind == SHARE or kind == CONTENT):
            f = social.get(region or "body", _NONE).get((kind,))
        elif blog and site_page[s]:
            f = blog.get(region or "body", _NONE).get(url_of[key_id])
        if f is not None:
            grouped.append(len(src))
            group.append(f)
        src.append(s)
        dst.append(d)
        codes.append(code)


# The clickable links of a crawl as four ids each (source, key, region term, kind term; 0: none), in stored order.
_CLICK_CODES = {2: "SELECT l.source_id, l.key_id, COALESCE(l.region, 0), COALESCE(l.kind, 0) FROM links l"
                   " WHERE +l.crawl_id = ? AND l.tag IN (SELECT id FROM terms WHERE term IN ('a', 'area'))"
                   " ORDER BY l.id"}
_TERM_IDS = {2: "SELECT id, term FROM terms"}
CHUNK = 1 << 16  # link rows read and judged at once (their tuples: 11 MiB)


# A graph of at least AHEAD_URLS URLs (analysis.graph's: the offer links' threshold too) has its
# clickable links read by a helper process (the SQLite rows stepped and packed into ints on the
# other core) while the walk judges the chunks before.


def _packing(store) -> tuple[int, int] | None:
    """``(bits of a URL id, bits of a term id)`` when a link's four ids fit in one 63-bit integer
    (:data:`_CLICK_PACKED`), else None: the store's largest ids (two indexed look-ups)."""
    ids = [next(iter(store.read({2: f"SELECT max(id) FROM {table}"})))[0] for table in ("urls", "terms")]
    if any(i is None or i < 0 for i in ids):
        return None
    url_bits, term_bits = (max(1, int(i).bit_length()) for i in ids)
    return (url_bits, term_bits) if 2 * (url_bits + term_bits) <= 63 else None


# _CLICK_CODES with each link's four ids in one integer (source, key, region, kind from the high
# bits down; {u}: a URL id's bits, {t}: a term id's): a row is one value, not a tuple of four
_CLICK_PACKED = ("SELECT (l.source_id << ({u} + {t} + {t})) | (l.key_id << ({t} + {t})) | (COALESCE(l.region, 0) << {t})"
                 " | COALESCE(l.kind, 0)" + _CLICK_CODES[2][_CLICK_CODES[2].index(" FROM "):])


def _unpack(packed: np.ndarray, url_bits: int, term_bits: int) -> np.ndarray:
    """The ``(n, 4)`` ids of :data:`_CLICK_PACKED`'s values.

    >>> _unpack(np.array([(5 << 10) | (7 << 6) | (2 << 3) | 1]), 4, 3).tolist()
    [[5, 7, 2, 1]]
    """
    out = np.empty((len(packed), 4), np.int64)
    np.right_shift(packed, url_bits + 2 * term_bits, out=out[:, 0])
    np.bitwise_and(packed >> (2 * term_bits), (1 << url_bits) - 1, out=out[:, 1])
    np.bitwise_and(packed >> term_bits, (1 << term_bits) - 1, out=out[:, 2])
    np.bitwise_and(packed, (1 << term_bits) - 1, out=out[:, 3])
    return out


def _click_chunks(g, size: int):
    """The clickable links (:data:`_CLICK_CODES`) as int64 arrays of 4 columns, :data:`CHUNK` rows
    at a time: read by a helper process for a big crawl (``size`` URLs) in a file
    (:meth:`Store.int_rows_ahead`), else here; packed in one integer a row when the ids fit
    (:data:`_CLICK_PACKED`: SQLite hands over one value a link, not four)."""
    from itertools import chain

    bits = _packing(g.store) if g.store.version >= 2 else None
    query = _CLICK_CODES if bits is None else {2: _CLICK_PACKED.format(u=bits[0], t=bits[1])}
    width = 4 if bits is None else 1
    ahead = getattr(g.store, "int_rows_ahead", None)
    batches = ahead(query, (g.crawl_id,), CHUNK) if ahead is not None and size >= AHEAD_URLS else None
    if batches is None:
        rows = g.store.read(query, (g.crawl_id,))
        batches = iter(lambda: rows.fetchmany(CHUNK), [])
        batches = (np.fromiter(chain.from_iterable(batch), np.int64, width * len(batch)) for batch in batches)
    for b in batches:
        b = np.frombuffer(b, np.int64)
        yield b.reshape(-1, 4) if bits is None else _unpack(b, *bits)


def _walk_chunks(g, plan: _Plan, n, src, dst, codes, grouped, group, sums=None):
    """:func:`walk_graph`'s links judged a chunk at a time with numpy: what the per-link loop
    (:func:`_walk_rows`) does, array for array, with the destinations and accounts of ``plan``
    (:func:`read_nodes`: no node read here) and Python only once per distinct (region, target)
    of the links a fix-first group may hold."""
    social, blog = plan.social, plan.blog
    body = plan.code_of[None]
    terms = dict(g.store.read(_TERM_IDS))
    size = max(terms, default=0) + 1
    code_by = np.full(size, body, np.int16)  # region term id -> its code (-1: weighs nothing)
    name_by = ["body"] * size                # region term id -> the name groups are looked up by
    kind_by = np.zeros(size, np.int8)        # kind term id -> 0 other, 1 profile, 2 share or content, -1 identity
    for i, term in terms.items():
        code_by[i] = plan.code_of.get(term, body)
        name_by[i] = term or "body"
        kind_by[i] = -1 if term == IDENTITY else 1 if term == PROFILE else 2 if term in (SHARE, CONTENT) else 0
    pages = np.frombuffer(plan.page_of, np.int32)
    dest = np.frombuffer(plan.dest, np.int32)  # link key's id -> destination
    account_of, accounts = plan.account, plan.accounts  # profile link key's id -> its account's number
    site = np.frombuffer(plan.site_page, np.uint8).astype(bool) if n else np.zeros(0, bool)
    found: dict = {}        # (branch, region term id, key or kind term id) -> group number or -1
    for a in _click_chunks(g, plan.size):
        s = pages[a[:, 0]]
        kind = kind_by[a[:, 3]]
        code = code_by[a[:, 2]]
        keep = (s >= 0) & (kind >= 0) & (code >= 0)
        a, s, kind, code = a[keep], s[keep], kind[keep], code[keep]
        d = dest[a[:, 1]]
        keep = d != s
        a, s, kind, code, d = a[keep], s[keep], kind[keep], code[keep], d[keep]
        f = None
        if social or blog:
            f = np.full(len(s), -1, np.int64)
            branch = np.zeros(len(s), np.int8)  # 1: a profile's group, 2: a share or post's, 3: a blog link's
            if social:
                branch[kind == 1] = 1
                branch[kind == 2] = 2
            if blog:
                branch[(branch == 0) & site[s]] = 3
            for b in (1, 2, 3):
                at = np.flatnonzero(branch == b)
                if not len(at):
                    continue
                third = a[at, 3] if b == 2 else a[at, 1]
                pairs, inverse = np.unique(a[at, 2] * (1 << 32) + third, return_inverse=True)
                values = np.empty(len(pairs), np.int64)
                for j, pair in enumerate(pairs.tolist()):
                    got = found.get((b, pair))
                    if got is None:
                        region, other = name_by[pair >> 32], pair & 0xFFFFFFFF
                        if b == 1:
                            number = account_of[other] if account_of is not None else -1
                            got = social.get(region, _NONE).get(accounts[number]) if number >= 0 else None
                        elif b == 2:
                            got = social.get(region, _NONE).get((terms[other],))
                        else:
                            got = blog.get(region, _NONE).get(other)
                        got = found[b, pair] = -1 if got is None else got
                    values[j] = got
                f[at] = values[inverse.ravel()]
            if sums is None:
                hit = np.flatnonzero(f >= 0)
                grouped.frombytes((hit + len(src)).astype(np.int64).tobytes())
                group.frombytes(f[hit].astype(np.int32).tobytes())
        if sums is not None:
            sums.add(s, d, code, f)
            continue
        src.frombytes(s.astype(np.int32).tobytes())
        dst.frombytes(d.astype(np.int32).tobytes())
        codes.frombytes(code.astype(np.uint8).tobytes())


def _csr(links: list, table: np.ndarray, n: int) -> sp.csr_matrix:
    """The n x n matrix of link weights ``table[regions]`` at ``(rows, cols)`` (``links`` =
    ``[rows, cols, regions]``), duplicates summed: what ``csr_matrix((weights, (rows, cols)))``
    gives, array for array, built by a stable sort on the rows so the coordinates, the float
    weights and the result are never all held at once. ``links`` is emptied as its arrays are
    used, so each is freed as soon as it can be.

    >>> _csr([np.array([1, 0, 1]), np.array([0, 1, 0]), np.array([0, 1, 1], np.uint8)], np.array([1.0, 0.5]), 2).toarray()
    array([[0. , 0.5],
           [1.5, 0. ]])
    """
    rows = links.pop(0)
    indptr = np.zeros(n + 1, np.int32 if len(rows) < 2**31 - 1 else np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    order = _stable_order(rows, indptr.dtype)  # each row's links in the order they were read, as coo_tocsr keeps them
    del rows
    indices = links.pop(0)[order].astype(indptr.dtype, copy=False)
    codes = links.pop(0)[order]
    del order
    m = sp.csr_matrix((table[codes], indices, indptr), shape=(n, n))
    del codes, indices
    m.sum_duplicates()  # each row's columns sorted and repeats added up, in place, as tocsr() does
    return m


def _stable_order(rows: np.ndarray, dtype) -> np.ndarray:
    """``np.argsort(rows, kind="stable")`` as ``dtype``, for rows that come in runs (a page's
    links are stored together): the runs are sorted, not the links, so there is no sort buffer
    and no 64-bit index per link.

    >>> _stable_order(np.array([2, 2, 0, 1, 1, 0]), np.int32).tolist()
    [2, 5, 3, 4, 0, 1]
    """
    m = len(rows)
    if m == 0:
        return np.zeros(0, dtype)
    starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1]))).astype(dtype)
    lengths = np.diff(np.concatenate((starts, [m]))).astype(dtype)
    runs = np.argsort(rows[starts], kind="stable")
    starts, lengths = starts[runs], lengths[runs]
    # link k of the sorted order is link k + (its run's start - the run's place in the order)
    order = np.repeat(starts - (np.cumsum(lengths, dtype=dtype) - lengths), lengths)
    order += np.arange(m, dtype=dtype)
    return order


def _page_sums(walk: Walk, chunk: int = 1 << 20) -> tuple[np.ndarray, np.ndarray]:
    """Each page's number of links and their total weight, ``chunk`` links at a time: a
    bincount of the whole int32 array would copy it to int64 and build every link's float
    weight at once (50 MiB at 3 million links). ``np.add.at`` adds in link order, so the
    totals are those of one ``np.bincount(src, weights=...)`` to the last bit.

    >>> w = Walk(["a", "b"], ["site", "site"], np.zeros(2, bool), np.array([1, 0, 1], np.int32),
    ...          np.array([0, 1, 0], np.int32), np.array([0, 1, 1], np.uint8), np.array([1.0, 0.5]))
    >>> [a.tolist() for a in _page_sums(w, chunk=2)]
    [[1, 2], [0.5, 1.5]]
    """
    n = walk.n
    count, total = np.zeros(n, np.int64), np.zeros(n)
    for start in range(0, len(walk.src), chunk):
        part = slice(start, start + chunk)
        src = walk.src[part]
        count += np.bincount(src, minlength=n)
        np.add.at(total, src, walk.weight(part))
    return count, total


def _less(step):
    """``x -> x - step(x)`` (``(I - Q) x`` for ``step`` ``Q x``: BiCGSTAB's product), in the new
    array ``step`` made.

    >>> _less(lambda x: 2 * x)(np.array([[1.0], [2.0]])).tolist()
    [-1.0, -2.0]
    """
    def less(x: np.ndarray) -> np.ndarray:
        x = np.ravel(x)
        y = step(x)
        return np.subtract(x, y, out=y)
    return less


class Chain:
    """The absorbing chain of a :class:`Walk`: ``Q = diag(scale) (C - minus)`` with ``C`` the
    page-to-page link weights (csr), ``minus`` those of links taken out (None, or a small csr:
    see :meth:`without`) and ``scale`` = damping / a page's total link weight (0 for conversion
    pages and pages with no link on); ``ends`` (n x 3) the one-click probabilities of
    conversion, social leak and external (exit is the rest). :meth:`solve` solves
    ``(I - Q) x = b``."""

    def __init__(self, walk: Walk, damping: float):
        """The chain of ``walk``, whose per-link arrays it takes: :meth:`Walk.release` is called
        once it has read them (take :meth:`Walk.links_of` before), so the walk's arrays and the
        sparse matrix built from them are never all held at once."""
        n = walk.n
        src, dst = walk.src, walk.dst
        self.offers, self.damping = walk.offers, damping
        if walk.sums is not None:  # a walk of the owned links, whose sums were taken as it read them
            self.count, self.total, self.off = walk.sums
            walk.sums = None
            del src, dst
            links = [walk.src, walk.dst, walk.region]
            walk.release()
            self.C = _csr(links, walk.table, n)
            self.minus = None
            self._finish()
            return
        self.count, self.total = _page_sums(walk)  # links per page and their weight
        self.off = np.zeros((n, EXIT))             # of which to each end but exit
        for end in range(EXIT):
            at = dst == n + end
            self.off[:, end] = np.bincount(src[at], weights=walk.weight(at), minlength=n)
        owned = dst < n
        del src, dst  # the walk's arrays are read and let go one at a time
        links = [walk.src[owned]]
        walk.src = np.zeros(0, np.int32)
        links.append(walk.dst[owned])
        walk.dst = np.zeros(0, np.int32)
        links.append(walk.region[owned])
        del owned
        walk.release()
        self.C = _csr(links, walk.table, n)
        self.minus = None
        self._finish()

    def without(self, src: np.ndarray, dst: np.ndarray, weight: np.ndarray, ends: int = EXIT) -> Chain:
        """This chain without some links (``src``, ``dst``, ``weight`` arrays): each page's count,
        total and ends less theirs, and the links among them that lead to a page in ``minus``;
        ``C`` is shared, never copied (work in pages plus links removed). ``ends=1``: the
        conversion end only (``off`` and ``ends`` one column: what :func:`fix_first` solves for)."""
        n = self.n
        other = object.__new__(Chain)
        other.offers, other.damping = self.offers, self.damping
        other.count = self.count - np.bincount(src, minlength=n)  # exact: is a link left on the page?
        other.total = self.total - np.bincount(src, weights=weight, minlength=n)
        other.off = self.off[:, :ends].copy()
        for end in range(ends):
            at = dst == n + end
            other.off[:, end] -= np.bincount(src[at], weights=weight[at], minlength=n)
        owned = dst < n
        other.C, other.minus = self.C, None
        if owned.any():
            other.minus = sp.csr_matrix((weight[owned], (src[owned], dst[owned])), shape=(n, n))
            if self.minus is not None:
                other.minus = other.minus + self.minus
        other._finish()
        return other

    def with_offer_link(self, pages: np.ndarray, weight: float) -> Chain:
        """This chain with one more link, of ``weight``, from each page of ``pages`` (a bool per
        page) to an offer (a conversion): a call to action added to those pages, or a buried
        offer linked from them. ``C`` is shared."""
        other = object.__new__(Chain)
        other.offers, other.damping = self.offers, self.damping
        add = pages & ~self.offers
        other.count = self.count + add
        other.total = self.total + weight * add
        other.off = self.off.copy()
        other.off[:, CONVERSION] += weight * add
        other.C, other.minus = self.C, self.minus
        other._finish()
        return other

    def _finish(self) -> None:
        offers = self.offers
        moving = (self.count > 0) & ~offers
        self.scale = np.where(moving, self.damping / np.where(moving, self.total, 1.0), 0.0)
        self.ends = np.clip(self.off * self.scale[:, None], 0.0, None)  # (a rounding residue below 0 is 0)
        self.ends[offers, CONVERSION] = 1.0
        self._lu = None

    @property
    def n(self) -> int:
        return self.C.shape[0]

    def step(self, x: np.ndarray) -> np.ndarray:
        """``Q x`` (a new array: the product's, scaled in place; each vector the solves make is a
        new mapping of a page's worth of floats to fault in, so none more than needed)."""
        y = self.C @ x
        if self.minus is not None:
            y -= self.minus @ x
        return np.multiply(self.scale, y, out=y)


    def solve(self, b: np.ndarray, x0: np.ndarray | None = None) -> np.ndarray:
        """``x`` with ``(I - Q) x = b``, for a vector ``b`` or each column of a matrix ``b``."""
        if self.n <= DIRECT_MAX:
            if self._lu is None:  # one factorisation for every right-hand side
                C = self.C if self.minus is None else self.C - self.minus
                self._lu = splu((sp.identity(self.n, format="csc") - sp.diags(self.scale) @ C).tocsc())
            return self._lu.solve(np.asarray(b, dtype=float))
        if b.ndim == 2:
            return np.column_stack([self.solve(b[:, k], None if x0 is None else x0[:, k]) for k in range(b.shape[1])])
        op = LinearOperator((self.n, self.n), matvec=_less(self.step), dtype=float)
        x, info = bicgstab(op, b, x0=x0, rtol=TOLERANCE, atol=0.0, maxiter=MAX_ITERATIONS)
        if info != 0:  # the iteration x = b + Qx always converges (|Q| <= damping < 1)
            logger.info("BiCGSTAB did not converge (%s): iterating", info)
            x = self._iterate(b, x if np.all(np.isfinite(x)) else b)
        return x

    def solve_transposed(self, b: np.ndarray) -> np.ndarray:
        """``y`` with ``(I - Q)^T y = b``: with ``b`` the entries' mean (``1/k`` on each of ``k``
        entry pages), ``y[i]`` is how often a visitor is on page ``i`` (for an offer page: the
        chance to reach it), and ``y @ d`` the change in site-wide conversion when each page's
        one-click conversion chance rises by ``d`` (a link repaired): one solve for every repair."""
        if self.n <= DIRECT_MAX:
            if self._lu is None:
                self.solve(np.zeros(self.n))
            return self._lu.solve(np.asarray(b, dtype=float), trans="T")

        def step_t(x):
            y = self.C.T @ (self.scale * x)
            if self.minus is not None:
                y -= self.minus.T @ (self.scale * x)
            return y
        op = LinearOperator((self.n, self.n), matvec=_less(step_t), dtype=float)
        y, info = bicgstab(op, b, rtol=TOLERANCE, atol=0.0, maxiter=MAX_ITERATIONS)
        if info != 0:
            logger.info("BiCGSTAB did not converge on the transposed chain (%s): iterating", info)
            bound = TOLERANCE * max(float(np.abs(b).max()), 1e-300) * (1 - self.damping)
            y = b.copy()
            for _ in range(MAX_ITERATIONS * 10):
                nxt = b + step_t(y)
                if np.abs(nxt - y).max() <= bound:
                    return nxt
                y = nxt
        return y

    def _iterate(self, b: np.ndarray, x: np.ndarray) -> np.ndarray:
        bound = TOLERANCE * max(float(np.abs(b).max()), 1e-300) * (1 - self.damping)
        change = np.empty_like(b)  # (one vector for every iteration's change, not two new ones)
        for _ in range(MAX_ITERATIONS * 10):
            nxt = self.step(x)
            np.add(b, nxt, out=nxt)
            np.abs(np.subtract(nxt, x, out=change), out=change)
            if change.max() <= bound:
                return nxt
            x = nxt
        return x


def conversion_depth(chain: Chain) -> np.ndarray:
    """Clicks from each page to the nearest conversion (0 on one, -1: none within reach): a
    breadth-first search back from the conversion pages over clickable links, one level per
    product with ``C`` (pages linking into the last level), no transposed copy of the graph."""
    offers = chain.offers
    depth = np.where(offers, 0, -1)
    frontier = offers.astype(float)
    level = 0
    while True:
        level += 1
        reached = chain.C @ frontier > 0
        if level == 1:
            reached |= chain.off[:, CONVERSION] > 0  # a link to a conversion off the site
        reached &= depth < 0
        if not reached.any():
            return depth
        depth[reached] = level
        frontier = reached.astype(float)


def pagerank(chain: Chain, damping: float = DAMPING) -> np.ndarray:
    """PageRank of the owned pages over the weighted page-to-page links (sums to 1); a page with
    no owned link, and the ``1 - damping`` share, spread over every page."""
    n = chain.n
    if n == 0:
        return np.zeros(0)
    total = np.asarray(chain.C.sum(axis=1)).ravel()
    inv = np.where(total > 0, 1.0 / np.where(total > 0, total, 1.0), 0.0)
    CT = chain.C.T  # a csc view of the same arrays
    x = np.full(n, 1.0 / n)
    weighed, change = np.empty(n), np.empty(n)  # (kept for every iteration: no new vectors to fault in)
    for _ in range(MAX_ITERATIONS):
        nxt = CT @ np.multiply(x, inv, out=weighed)
        np.multiply(damping, nxt, out=nxt)
        nxt += (1.0 - nxt.sum()) / n
        if np.abs(np.subtract(nxt, x, out=change), out=change).sum() < PAGERANK_TOLERANCE:
            return nxt
        x = nxt
    return x


def link_scores(pr: np.ndarray) -> np.ndarray:
    """PageRank on a logarithmic 0-100 scale: the crawl's best linked page 100, its least 0.

    >>> link_scores(np.array([0.1, 0.2, 0.4])).tolist()
    [0.0, 50.0, 100.0]
    """
    if len(pr) == 0:
        return pr
    lo, hi = float(pr.min()), float(pr.max())
    if hi <= lo * (1 + 1e-9):
        return np.full(len(pr), 100.0)
    return 100.0 * np.log(pr / lo) / math.log(hi / lo)


def _posts(g, walk: Walk) -> np.ndarray:
    """A byte a walked page: is it a blog page that is not an empty file (:func:`analysis.graph.blank`)?"""
    return np.fromiter((tier == BLOG and not blank(g, url) for url, tier in zip(walk.urls, walk.tiers)), bool,
                       walk.n)


def entry_pages(g, walk: Walk, entry: str | None = None, posts: np.ndarray | None = None) -> np.ndarray:
    """Numbers of the entry pages: those ``entry`` (a regex) finds in their URL, or the blog's
    pages (not an empty file: :func:`analysis.graph.blank`) and the crawl's targets (the page
    each lands on)."""
    if entry is not None:
        try:
            pattern = re.compile(entry)
        except re.error as exc:
            raise ValueError(f"--entry: not a regular expression: {entry!r} ({exc})") from None
        return np.array([i for i, url in enumerate(walk.urls) if pattern.search(url)], np.int64)
    # (a byte a page: not a set of a million numbers; ``posts``: :func:`_posts` when the caller has it)
    chosen = _posts(g, walk) if posts is None else posts.copy()
    for target in g.graph["crawl"]["targets"]:
        key = g.graph["key"](target)
        if key in g:
            i = _page_number(walk, landing_page(g, key))  # (no index of a million pages for a few targets)
            if i is not None:
                chosen[i] = True
    return np.flatnonzero(chosen).astype(np.int64)


def _number(value) -> float | None:
    """A JSON number to :data:`DIGITS` decimals; None for None, nan or infinity."""
    return None if value is None or not math.isfinite(value) else round(float(value), DIGITS)


def _numbers(values) -> list:
    """:func:`_number` of each of ``values``.

    >>> _numbers([0.1234567, -0.0, None])
    [0.123457, -0.0, None]
    """
    return [_number(v) for v in values]


def funnel_metrics(g, findings=(), weights: dict[str, float] | None = None, entry: str | None = None,
                   damping: float = DAMPING, visits: dict[str, float] | None = None,
                   values: dict | None = None) -> dict:
    """The funnel metrics of a crawl's graph, JSON-ready (see the module docstring):

    - ``site``: ``pages`` (owned pages walked), ``entries`` (how many), ``conversion``,
      ``social_leak``, ``external``, ``exit`` (mean probabilities over the entries; they sum
      to 1), ``clicks_to_conversion`` (expected clicks of the converting visitors),
      ``conversion_depth`` (mean over the entries that can reach one), ``unreachable_entries``,
      ``unreachable_posts`` (blog pages with no path to a conversion, sorted), ``damping``,
      ``weights``; the values None without entries;
    - ``entries``: per entry page, sorted by URL: ``url``, ``tier``, the four probabilities,
      ``clicks_to_conversion`` (None if it cannot convert) and ``conversion_depth`` (None: no path);
    - ``fix_first``: the action plan (:func:`analysis.plan.action_plan`): an item per problem worth
      fixing, of every rule, ranked by what it costs (conversions lost per 100 entry visitors),
      from the effects :func:`fix_first` and :func:`fix_effects` measure;
    - ``link_score``: owned page URL -> 0-100 (PageRank, log scale).

    ``findings`` are :class:`analysis.findings.Finding` objects (:func:`analysis.rules.run_rules`).

    ``visits`` (page URL -> entry visits, from analytics: :mod:`analysis.analytics`) replaces the
    equal start distribution: the entry pages are the walked pages with visits, whatever their
    tier (of those ``entry`` matches, when given), each starting its share of the walks, and every site-wide figure and
    fix-first cost is visits-weighted (``site["weighted"]``: ``"visits"``, else ``"equal"``; each
    entry then has its ``share`` of the walks).
    ``values`` (``{"pages": {offer URL: money per conversion}, "default": money or None}``) gives
    ``site["value_per_visit"]`` (what an entry visit is worth: the chance to reach each offer
    times its value; offers off the site and offers without a value at ``default``) and
    ``site["value_per_conversion"]``. Each fix-first effect has ``flow``: the visits per entry
    visitor its problem touches (clicks on its links, visits to its pages).

    The home page links pricing (body, weight 1) and a profile in its header (0.4): a visitor
    converts with 0.85 * 1/1.4, leaks with 0.85 * 0.4/1.4 and leaves with 0.15; without the
    header link it would convert with 0.85.

    >>> from analysis.graph import graph_from
    >>> from analysis.rules import run_rules
    >>> home = "https://a.example/"
    >>> g = graph_from([{"url": home, "role": "page", "status": 200, "parsed": 1}],
    ...     [(home, home + "pricing/", "main", "other"), (home, "https://x.com/acme", "header", "profile")],
    ...     site=[home])
    >>> m = funnel_metrics(g, run_rules(g))
    >>> m["site"]["conversion"], m["site"]["social_leak"], m["site"]["exit"], m["entries"][0]["conversion_depth"]
    (0.607143, 0.242857, 0.15, 1)
    >>> [(x["rule"], x["region"], x["cost"]) for x in m["fix_first"]]   # (per 100 entry visitors)
    [('backward-social', 'header', 24.2857)]
    """
    if not 0 <= damping < 1:
        raise ValueError(f"damping must be at least 0 and below 1, not {damping!r}")
    with one_thread():  # (the solves' dots on one core: OpenBLAS's idle threads spin, see analysis.blas)
        return _funnel_metrics(g, findings, weights, entry, damping, visits, values)


def _funnel_metrics(g, findings, weights: dict[str, float] | None, entry: str | None, damping: float,
                    visits: dict[str, float] | None, values: dict | None) -> dict:
    """:func:`funnel_metrics`, its arguments checked."""
    started = time.monotonic()
    weights = check_weights(weights)
    # what reads the nodes and the findings first: a big graph's are parked (written to a file,
    # analysis.parking) while the link pass, the chain and the solves run, which read neither
    walk, plan = read_nodes(g, findings, weights)
    # with analytics every walked page with real entries is an entry page, unless --entry restricts them
    posts = _posts(g, walk)
    chosen = (entry_pages(g, walk, entry, posts) if visits is None or entry is not None
              else np.arange(walk.n, dtype=np.int64))
    entries, share = entry_shares(walk, chosen, visits)
    del chosen
    weighted = "visits" if visits is not None else "equal"
    walk.findings = [[f.id for f in grp] for grp in walk.findings]  # (fix-first's groups by their ids)
    fixes = fix_inputs(g, walk, findings, weights) if len(entries) else None
    parking = None
    if walk.nodes is not None and len(g) >= parking_module.PARK_URLS and isinstance(findings, list):
        parking = parking_module.Parking(g, findings)
        walk.urls = _Away(walk.n)  # (the node keys, let go before parking: found again by walk.nodes)
        try:
            parking.park()
        except OSError as exc:  # (a full disk: the metrics as before, the graph held)
            logger.warning("funnel metrics: the graph could not be parked (%s): it is held", exc)
            parking, walk.urls = None, _urls_at(g, walk.nodes)
    try:
        walk = read_links(g, walk, plan, owned=True)
        del plan
        n, links = walk.n, walk.links
        removals = [walk.links_of(number, weights=False) for number in range(len(walk.findings))]
        table = walk.table
        walk.removals = None  # (taken)
        chain = Chain(walk, damping)  # (it releases the walk's per-link arrays: none is held from here on)
        logger.debug("funnel metrics: %d pages, %d clickable links, %d entries (%.1f s)", n, links,
                     len(entries), time.monotonic() - started)
        ends = np.zeros((n, len(ENDS)))
        if n:
            ends[:, :EXIT] = chain.solve(chain.ends)
        chain.ends = None  # (solved: the chains fix-first measures have their own)
        ends[:, EXIT] = np.maximum(0.0, 1.0 - ends[:, :EXIT].sum(axis=1))
        b = ends[:, CONVERSION]
        visits = chain.solve(b * ~walk.offers) if n else np.zeros(0)  # (N b)_i: clicks of the converting walks
        depth = conversion_depth(chain)

        site: dict = {"pages": n, "entries": len(entries), "weighted": weighted}
        if len(entries):
            site.update(zip(ENDS, _numbers(share @ ends[entries])))
            converting = float(share @ b[entries])
            site["clicks_to_conversion"] = _number(share @ visits[entries] / converting if converting > 0 else None)
            reachable = depth[entries] >= 0
            site["conversion_depth"] = _number(share[reachable] @ depth[entries][reachable] / share[reachable].sum()
                                               if reachable.any() and share[reachable].sum() > 0 else None)
            site["unreachable_entries"] = int((depth[entries] < 0).sum())
        else:
            site.update(dict.fromkeys((*ENDS, "clicks_to_conversion", "conversion_depth")), unreachable_entries=0)
            logger.info("funnel metrics: no entry page%s", f" matches {entry!r}" if entry is not None else "")
        unreachable = np.flatnonzero((depth < 0) & posts)  # (an empty file is no post)
        site["unreachable_posts"] = None  # (their URLs below, in this place)
        site["damping"], site["weights"] = damping, weights
        effects = []
        y = None
        if len(entries):
            start = np.zeros(n)
            start[entries] = share
            y = chain.solve_transposed(start)  # visits per entry visitor; at an offer: the chance to reach it
            del start
            effects = fix_first(chain, walk.findings, removals, entries, b, share, y, table=table)
            effects += measure_fixes(fixes, chain, walk, entries, b, weights, share, y)
        scores = link_scores(pagerank(chain, damping))
        del chain, removals  # before the per-entry rows: the two never at their peaks at once
    finally:
        if parking is not None:
            parking.unpark()
            walk.urls = _urls_at(g, walk.nodes)
    site["unreachable_posts"] = [walk.urls[i] for i in unreachable.tolist()]
    if values is not None and y is not None:
        site.update(_worth(walk, y, float(share @ b[entries]), values))
    del y
    with np.errstate(divide="ignore", invalid="ignore"):
        clicks = np.where((depth >= 0) & (b > 0), visits / b, np.nan)  # an offer: 0 / 1

    # the per-entry rows and the link scores as columns behind read-only views (analysis.entries):
    # a few bytes a page, not a dict per entry page and a dict entry per page
    from analysis.entries import EntryRows, LinkScores
    per_entry = EntryRows(walk.urls, walk.tiers, entries, ends[entries], clicks[entries], depth[entries],
                          share if weighted == "visits" else None)  # (share: what the report's 100 visitors split by)
    del ends, b, clicks, visits, depth
    from analysis.plan import action_plan
    plan = action_plan(g, findings, {"site": site, "entries": per_entry, "effects": effects})
    logger.debug("funnel metrics done in %.1f s", time.monotonic() - started)
    return {"site": site, "entries": per_entry, "fix_first": plan,
            "link_score": LinkScores(walk.urls, np.round(scores, SCORE_DIGITS))}


def entry_shares(walk: Walk, entries: np.ndarray, visits: dict[str, float] | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The entry pages and the share of the walks each starts: equal shares, or with ``visits``
    (page URL -> entry visits) the pages of ``entries`` with visits, in proportion.

    >>> w = Walk(["a", "b", "c"], ["site"] * 3, np.zeros(3, bool), np.zeros(0, np.int32),
    ...          np.zeros(0, np.int32), np.zeros(0, np.uint8), np.ones(7))
    >>> [x.tolist() for x in entry_shares(w, np.array([0, 2]))]
    [[0, 2], [0.5, 0.5]]
    >>> [x.tolist() for x in entry_shares(w, np.array([0, 1, 2]), {"b": 300, "c": 100, "z": 9})]
    [[1, 2], [0.75, 0.25]]
    """
    if visits is None:
        return entries, np.full(len(entries), 1.0 / len(entries)) if len(entries) else np.zeros(0)
    counts = np.array([float(visits.get(walk.urls[i]) or 0.0) for i in entries.tolist()])
    keep = counts > 0
    entries, counts = entries[keep], counts[keep]
    return entries, counts / counts.sum() if len(counts) else np.zeros(0)


def _worth(walk: Walk, y: np.ndarray, conversion: float, values: dict) -> dict:
    """What an entry visit is worth: the chance to reach each offer page (``y`` there) times its
    value, the conversions off the site (hosted forms) and offers without one at the default."""
    pages, default = values.get("pages") or {}, values.get("default")
    offers = np.flatnonzero(walk.offers)
    reached = y[offers]
    worth = 0.0
    valued = False
    unreached = []
    for i, p in zip(offers.tolist(), reached.tolist()):
        v = pages.get(walk.urls[i], default)
        if v is not None:
            worth += p * v
            valued = True
        if walk.urls[i] in pages and p < 1e-9:
            unreached.append(walk.urls[i])
    elsewhere = max(0.0, conversion - float(reached.sum()))
    if default is not None:
        worth += elsewhere * default
        valued = True
    if not valued:
        return {"value_per_visit": None, "value_per_conversion": None, "unvalued_offers": unreached}
    return {"value_per_visit": _number(worth),
            "value_per_conversion": _number(worth / conversion) if conversion > 0 else default,
            "unvalued_offers": unreached}  # (valued offers no walk reaches first: another offer ends it)


def fix_first(chain: Chain, groups: list, removals: list, entries: np.ndarray, converts: np.ndarray,
              share: np.ndarray | None = None, y: np.ndarray | None = None,
              table: np.ndarray | None = None) -> list[dict]:
    """The rise in site-wide conversion if each group's links (``removals``: ``(src, dst,
    weight)`` arrays, one per group of :func:`removal_groups`; ``(src, dst, region)`` with the
    regions' weights in ``table``) were removed: the chain solved
    again without them (from ``converts``, the baseline answer, as first guess; a list of
    removals is emptied as its groups are measured, each group's arrays let go). An effect
    each (see :func:`fix_effects`): ``measure`` "remove", ``cost`` the rise per 100 entry
    visitors (what the links cost), ``links``, ``conversion`` (site-wide without them), and with
    ``y`` (the visits of :meth:`Chain.solve_transposed`) ``flow``: the clicks on them per entry
    visitor. ``share``: each entry's share of the walks (equal by default). ``groups``: the
    groups' findings, or their ids."""
    if share is None:
        share = np.full(len(entries), 1.0 / len(entries))
    base = float(share @ converts[entries])
    out = []
    for number, grp in enumerate(groups):
        links = removals[number]
        if isinstance(removals, list):
            removals[number] = None  # (each group's links let go once measured: a list given is emptied)
        after, count, flow = base, len(links[0]), 0.0
        if count:
            if table is not None:
                links = (links[0], links[1], table[links[2]])
            src, _, weight = links
            if y is not None:  # (taken before the solve, so the links' arrays are not held through it)
                flow = round(float((y[src] * chain.scale[src] * weight).sum()), DIGITS)
            del src, weight
            other = chain.without(*links, ends=CONVERSION + 1)
            del links
            after = float(share @ np.ravel(other.solve(other.ends[:, CONVERSION], x0=converts))[entries])
            del other  # (before the next group's chain: two chains' per-page arrays never held at once)
        effect = {"ids": [f if isinstance(f, str) else f.id for f in grp], "measure": "remove", "links": count,
                  "conversion": round(after, DIGITS), "cost": round(100 * (after - base), DIGITS - 2)}
        if y is not None:
            effect["flow"] = flow
        out.append(effect)
    return out


# What fix-first measures beyond removals (see fix_effects); rule ids as the rules name them.
REPAIRED_RULES = frozenset({"broken-link", "redirect-loop"})   # a broken target: repaired
LEAD_RULES = frozenset({"lead-form-target"})                   # a lead form posting nowhere
REACH_RULES = {  # rule -> (where the offer link would stand, on which pages: "sources" or "all")
    "buried-offer": ("nav", "all"),
    "dead-end": ("main", "sources"),
    "content-dead-end": ("main", "sources"),
    "social-before-offer": ("main", "sources"),
}
REPAIR_MAX = 50   # broken targets whose repair is measured (the worst first): their links are read again
REACH_MAX = 12    # findings whose added offer link is measured (a chain solve each)
SECTION_MAX = 200  # broken URLs of a missing section whose links are read
TEXTS_MAX = 64     # distinct anchor texts counted per broken target (the most used one is named)


def fix_effects(g, chain: Chain, walk: Walk, findings, entries: np.ndarray, converts: np.ndarray,
                weights: dict[str, float], share: np.ndarray | None = None, y: np.ndarray | None = None) -> list[dict]:
    """What fixing each finding would bring, per 100 entry visitors (``cost``: what the problem
    costs today), beyond the removals of :func:`fix_first`:

    - ``repair``: a broken link (``broken-link``, ``redirect-loop``) whose target were there. A
      click on it ends the walk today; repaired, it leads to an offer when the target is one
      (or its URL or anchor text names one: :func:`analysis.plan.offer_goal`), else to a page
      converting like the average owned page that is not an offer. Conversion rises by
      ``sum y[s] * p[s, t] * value`` over the links (``y`` the visits of :meth:`Chain.solve_transposed`,
      ``p`` a click's chance): one solve for every broken target, its links read again from the
      store for the :data:`REPAIR_MAX` worst only (nothing kept per link). A form posting to a
      broken target (``tag`` form) loses the leads of its page: ``y`` of that page.
    - ``lead``: a lead form whose action or thank-you page does not exist (``lead-form-target``):
      every visitor reaching its pages (the offer) is lost: ``sum y`` over them.
    - ``reach``: an offer link added where :data:`REACH_RULES` says (a call to action on a dead
      end's posts, a buried offer in every page's nav): the chain solved again with it.

    Each effect: ``ids`` (the findings), ``measure``, ``cost``, ``links`` (the clickable links
    read), ``flow`` (the visits per entry visitor the problem touches: clicks on the broken
    links, visits to the form's or the offer-less pages), and for a repair ``offer`` (its goal
    or None), ``text`` (the anchor text most links use), ``region`` (where most of them stand),
    ``forms`` (form links to it). ``share``: each entry's share of the walks (equal by default);
    ``y``: the chain's visits from them, when already solved.

    In two halves: :func:`fix_inputs` reads the nodes, the findings and the broken targets'
    links (no chain needed), :func:`measure_fixes` solves (no node or finding read).
    """
    return measure_fixes(fix_inputs(g, walk, findings, weights), chain, walk, entries, converts, weights, share, y)


def fix_inputs(g, walk: Walk, findings, weights: dict[str, float]) -> dict:
    """What :func:`fix_effects` reads of the graph, the findings and the store, by page number:
    ``repair`` (per broken target: its id, clickable links ``(page, weight)`` and form links' pages
    in stored order, anchor text, region counts, offer goal, owned), ``lead`` (id, offer pages),
    ``reach`` (ids, region, where, pages): the chain's half (:func:`measure_fixes`) needs no more."""
    from analysis.plan import offer_goal
    nodes = g.node_data
    inputs: dict = {"repair": [], "lead": [], "reach": []}
    # the broken links to pages first (a file a page loads is no click), then by pages
    broken = sorted((f for f in findings if f.rule in REPAIRED_RULES),
                    key=lambda f: ((nodes.get(f.target) or {}).get("role") != "page", -f.count))[:REPAIR_MAX]
    if broken:
        table = {region: weights[region] for region in REGIONS}
        facts = {f.target: {"clicks": [], "forms": [], "texts": defaultdict(int), "regions": defaultdict(int)}
                 for f in broken}
        fact_of = {key: facts[f.target] for f in broken  # a missing section: the broken URLs under it
                   for key in (f.detail.get("targets") or ())[:SECTION_MAX] if isinstance(f.detail, dict)}
        fact_of.update(facts)
        for page, key, e in g.links(keys=list(fact_of)):  # one query through the key index
            fact = fact_of.get(key)
            s = _page_number(walk, page)
            if fact is None or s is None:
                continue
            tag = e["tag"]
            if tag == "form":
                fact["forms"].append(s)
                continue
            if tag not in CLICK_TAGS or e["kind"] == IDENTITY:
                continue
            region = e["region"] or "body"
            w = table.get(region, table["body"])
            if w <= 0:
                continue
            fact["clicks"].append((s, w))
            fact["regions"][region] += 1
            text = " ".join((e["text"] or "").split())
            if text and (text in fact["texts"] or len(fact["texts"]) < TEXTS_MAX):
                fact["texts"][text] += 1
        for f in broken:
            fact = facts[f.target]
            text = max(fact["texts"], key=lambda t: (fact["texts"][t], t)) if fact["texts"] else None
            node = nodes.get(f.target) or {}
            tier = node.get("tier") or g.graph["scope"].tier(f.target)
            owned = tier in COMPANY  # (the company's other hosts: an app's sign-up)
            # another site's /contact/ is not the company's offer: only a hosted one (a booking form) is
            goal = offer_goal(f.target, text, node.get("conversion")) if owned else offer_goal(
                "", None, node.get("conversion"))
            inputs["repair"].append({"id": f.id, "clicks": fact["clicks"], "forms": fact["forms"], "text": text,
                                     "goal": goal, "owned": owned,
                                     "region": max(fact["regions"], key=fact["regions"].get) if fact["regions"]
                                     else None})
    for f in findings:
        if f.rule in LEAD_RULES and (f.detail or {}).get("purpose") != "comment":  # a comment is no lead
            pages = [i for i in (_page_number(walk, u) for u in f.sources) if i is not None and walk.offers[i]]
            inputs["lead"].append({"id": f.id, "pages": pages})
    # one fix, one solve: a dead end's posts that also link social before any offer get one
    # call to action (the findings of the same pages and region are one effect)
    same: dict[tuple, list] = {}  # (region, where, the pages' numbers as bytes) -> [pages, ids]
    for f in findings:
        if f.rule in REACH_RULES:
            region, where = REACH_RULES[f.rule]
            numbers = np.zeros(0, np.int32) if where == "all" else np.unique(np.fromiter(
                (i for i in (_page_number(walk, u) for u in f.sources) if i is not None), np.int32))
            same.setdefault((region, where, numbers.tobytes()), [numbers, []])[1].append(f.id)
    inputs["reach"] = [{"ids": ids, "region": region, "where": where, "pages": numbers}  # (4 bytes a page)
                       for (region, where, _), (numbers, ids) in list(same.items())[:REACH_MAX]]
    return inputs


def measure_fixes(inputs: dict, chain: Chain, walk: Walk, entries: np.ndarray, converts: np.ndarray,
                  weights: dict[str, float], share: np.ndarray | None = None, y: np.ndarray | None = None) -> list[dict]:
    """The effects of :func:`fix_effects` from its :func:`fix_inputs`: reads ``walk.offers``
    and the chain, no node, no finding, no URL."""
    n = chain.n
    out: list[dict] = []
    if share is None:
        share = np.full(len(entries), 1.0 / len(entries))
    base = float(share @ converts[entries])
    if y is None:
        visits = np.zeros(n)
        visits[entries] = share
        y = chain.solve_transposed(visits)
    others = ~walk.offers
    average = float(converts[others].mean()) if others.any() else 0.0
    for fact in inputs["repair"]:
        reach = lead = 0.0
        for s, w in fact["clicks"]:
            reach += float(y[s] * chain.scale[s]) * w
        lead_pages: set = set()
        for s in fact["forms"]:
            if walk.offers[s] and s not in lead_pages:
                lead_pages.add(s)
                lead += float(y[s])
        goal, owned = fact["goal"], fact["owned"]
        value = 1.0 if goal else (average if owned else 0.0)
        cost = 100 * (reach * value + lead)
        out.append({"ids": [fact["id"]], "measure": "repair", "links": len(fact["clicks"]),
                    "cost": round(cost, DIGITS - 2), "offer": goal, "text": fact["text"], "forms": len(fact["forms"]),
                    "flow": round(reach + lead, DIGITS), "region": fact["region"]})
    for fact in inputs["lead"]:
        pages = fact["pages"]
        out.append({"ids": [fact["id"]], "measure": "lead", "links": 0,
                    "cost": round(100 * float(y[pages].sum()) if pages else 0.0, DIGITS - 2),
                    "flow": round(float(y[pages].sum()) if pages else 0.0, DIGITS)})
    for fact in inputs["reach"]:
        region, where = fact["region"], fact["where"]
        pages = np.ones(n, bool) if where == "all" else np.zeros(n, bool)
        pages[fact["pages"]] = True
        after = base
        if pages.any() and weights[region] > 0:
            other = chain.with_offer_link(pages, weights[region])
            after = float(share @ np.ravel(other.solve(other.ends[:, CONVERSION], x0=converts))[entries])
            del other
        out.append({"ids": fact["ids"], "measure": "reach", "links": int(pages.sum()), "region": region,
                    "cost": round(100 * (after - base), DIGITS - 2),
                    "flow": round(float(y[pages & ~walk.offers].sum()), DIGITS)})
    return out


class _Away:
    """``Walk.urls`` while the graph's nodes are parked: its length, no URL (the node keys are
    in the parking file; :func:`_urls_at` finds them again)."""
    __slots__ = ("n",)

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        raise LookupError("the walk's URLs are parked with the graph's nodes")

    def __iter__(self):
        raise LookupError("the walk's URLs are parked with the graph's nodes")


def _urls_at(g, positions: np.ndarray) -> list[str]:
    """The keys of the graph's nodes at ``positions`` in its node order.

    >>> from analysis.graph import CrawlGraph
    >>> g = CrawlGraph(None, 0); g.add_target("b", tier="site"); g.add_target("a", tier="site")
    >>> _urls_at(g, np.array([1, 0]))
    ['a', 'b']
    """
    keys = list(g.node_data)
    return [keys[i] for i in positions.tolist()]


def _page_number(walk: Walk, url: str) -> int | None:
    """The number of page ``url`` in the walk (``walk.urls`` is sorted: no index of every page
    held), None if not walked."""
    i = bisect.bisect_left(walk.urls, url)
    return i if i < len(walk.urls) and walk.urls[i] == url else None


def social_entry(g, entries: list[dict]) -> dict | None:
    """Where the visitors of the business's social profiles enter the funnel (social → blog →
    site), from each profile's verdict (:mod:`analysis.profiles`: read, or stated in
    ``[profiles]``): a profile that links to the blog is an entry into the blog (``into_blog``),
    one that links only to the site skips the blog (``skips_blog``), one that links to neither is
    a dead end for its visitors (``dead_end``); the profiles that could not be read (a login wall)
    are named by platform (``not_read``) and counted in none of these; an account that does not
    exist is ``missing``. ``known`` = into_blog + skips_blog + dead_end; the ``*_share`` figures
    are their parts of ``known`` (each profile counted once: no traffic data says which brings
    more visitors). ``conversion``: the chance that a visitor from a known profile, each as likely,
    reaches an offer: the conversion of the page the profile's link lands on (from ``entries``,
    the funnel metrics' entry pages: the blog's pages and the home page), 0 for a dead end; over
    ``conversion_of`` profiles (those whose landing page is an entry page), None without any.
    ``each``: per known profile, its ``lands_on`` page and that page's ``conversion``. None
    without profiles, and the existing figures are left as they are (entries stay the blog and
    the targets).

    >>> from analysis.graph import graph_from
    >>> home, blog, bsky, masto = ("https://a.example/", "https://a.example/blog/", "https://bsky.app/profile/a.example",
    ...                            "https://mastodon.social/@a")
    >>> g = graph_from([{"url": home, "role": "page", "status": 200, "parsed": 1},
    ...     {"url": blog, "role": "page", "status": 200, "parsed": 1},
    ...     {"url": bsky, "role": "profile", "status": 200, "parsed": 1},
    ...     {"url": masto, "role": "profile", "status": 200, "parsed": 1}, {"url": "https://x.com/a", "role": "profile", "status": 200}],
    ...     [(home, bsky, "footer", "profile"), (home, masto, "footer", "profile"), (home, "https://x.com/a", "footer", "profile"),
    ...      (bsky, blog + "?utm_source=bsky", "body", "other"), (masto, home, "body", "other")], site=[home], blog=[blog])
    >>> s = social_entry(g, [{"url": home, "conversion": 0.8}, {"url": blog, "conversion": 0.5}])
    >>> s["into_blog"], s["skips_blog"], s["dead_end"], s["not_read"], s["conversion"]
    (1, 1, 0, ['X'], 0.65)
    >>> [(e["profile"], e["lands_on"]) for e in s["each"]]
    [('https://bsky.app/profile/a.example', 'https://a.example/blog/'), ('https://mastodon.social/@a', 'https://a.example/')]
    """
    from analysis.entries import by_url
    from analysis.profiles import BLOG_, MISSING, NOWHERE, SITE_, UNREADABLE, profile_verdicts

    try:
        verdicts = profile_verdicts(g)
    except KeyError:  # a graph without a scope (graph_from's bare examples)
        return None
    if not verdicts:
        return None
    conversion = by_url(entries, "conversion")  # (of the columns: no dict of every entry page)
    each = []
    for v in verdicts:
        if v.state not in (BLOG_, SITE_, NOWHERE):
            continue
        lands_on, converts = None, 0.0
        if v.state != NOWHERE:
            link = next(l for l in v.links if (l["tier"] == BLOG) == (v.state == BLOG_))
            key = g.graph["key"](link["url"])
            lands_on = landing_page(g, key) if key in g else key
            converts = conversion.get(lands_on)
        each.append({"profile": v.name, "state": v.state, "lands_on": lands_on, "conversion": converts})
    known = len(each)
    count = {s: sum(e["state"] == s for e in each) for s in (BLOG_, SITE_, NOWHERE)}
    rates = [e["conversion"] for e in each if e["conversion"] is not None]
    return {"profiles": len(verdicts), "known": known, "into_blog": count[BLOG_], "skips_blog": count[SITE_],
            "dead_end": count[NOWHERE],
            "not_read": sorted({v.platform for v in verdicts if v.state == UNREADABLE}),
            "missing": sum(v.state == MISSING for v in verdicts),
            **{f"{name}_share": _number(count[s] / known) if known else None
               for name, s in (("blog", BLOG_), ("site", SITE_), ("dead_end", NOWHERE))},
            "conversion": _number(sum(rates) / len(rates)) if rates else None, "conversion_of": len(rates),
            "each": each}
