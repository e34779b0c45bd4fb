"""A stored crawl as a graph: nodes in memory (networkx), links read from the store.

Nodes are URLs (de-duplication keys): every fetched URL and every link target,
social and external ones included. Node attributes: ``tier``, ``role``
(page, asset, profile, external, or None when never fetched), ``status``,
``verdict`` (see :mod:`analysis.status`), ``title``, ``lead_form``, ``anchors``,
``conversion`` ('purchase', 'lead' or None), ``parsed``, ``signals`` (a dict of
what an HTML page shows, see :mod:`crawler.signals`: only its truthy keys; None
when it shows nothing; shared by the pages that show the same, so never changed in place).
Each link is one edge ``(source, key, data)`` of a :class:`CrawlGraph`, read from
the store when a rule asks, with ``target`` (as written), ``fragment``, ``tag``,
``region``, ``rel``, ``icon``, ``kind``, ``line``, ``pos`` (its index in its page's
document order: what "before" and "after" on a page mean; ``line`` is for display) and ``text``.
"""
from __future__ import annotations

import json
import re
from collections.abc import MutableMapping
from sys import intern
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from analysis.status import BROKEN, UNCHECKED, UNVERIFIED, resolve
from crawler.extract import NAVIGATION_TAGS
from crawler.options import CrawlOptions
from crawler.scope import APP, BLOG, COMPANY, EXTERNAL, OWNED, SITE, Scope, is_download_page
from crawler.urls import dedupe_key

if TYPE_CHECKING:  # networkx is imported where a graph is built: a report that needs none starts faster
    import networkx as nx


def scope_of(options: dict) -> Scope:
    """The :class:`Scope` a crawl was run with (``options`` as stored)."""
    return CrawlOptions.from_json(options).scope()


def build_graph(store, crawl_id: int) -> "CrawlGraph":
    """Read crawl ``crawl_id`` from ``store`` into a :class:`CrawlGraph`.

    >>> import tempfile, os
    >>> from crawler.store import Store
    >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
    >>> cid = s.create_crawl(["https://a.example/"], {"site": ["https://a.example/"]})
    >>> s.write_page(cid, {"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1},
    ...     [("https://a.example/", "https://x.com/a", "https://x.com/a", None, "a", "href", "X", "footer", "", 1, "profile", 3)])
    >>> g = build_graph(s, cid)
    >>> g.nodes["https://x.com/a"]["tier"], g.nodes["https://a.example/"]["verdict"]
    ('social', 'ok')
    >>> [(t, e["region"], e["line"]) for _, t, e in g.out_edges("https://a.example/", data=True)]
    [('https://x.com/a', 'footer', 3)]
    """
    return GraphBuilder(store, crawl_id).finish()


def graph_from(pages: list[dict], links: list[tuple], **options) -> "CrawlGraph":
    """A graph from rows given inline (an in-memory store): for examples and tests.

    ``links`` are ``(source, target, region, kind)`` tuples, or ``(source, target, region,
    kind, tag)`` (tag ``a`` by default; line 1).

    >>> g = graph_from([{"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1}],
    ...                [("https://a.example/", "https://x.com/a", "header", "profile")], site=["https://a.example/"])
    >>> sorted(g.successors("https://a.example/"))
    ['https://x.com/a']
    """
    from crawler.store import Store
    from crawler.urls import origin_aliases

    store = Store(":memory:")
    crawl_id = store.create_crawl(options.get("site", [])[:1], options)
    aliases = origin_aliases([*options.get("site", ()), *options.get("blog", ())])
    store.set_origins(crawl_id, aliases)
    for page in pages:
        rows = [(page["url"], t, dedupe_key(t, aliases), None, (rest or ("a",))[0],
                 "content" if rest and rest[0] == "meta" else "href", "", region, "", 0, kind, 1)
                for source, t, region, kind, *rest in links if source == page["url"]]
        store.write_page(crawl_id, page, rows)
    return build_graph(store, crawl_id)


class LinkRow(tuple):
    """One stored link row read as an edge's data: ``e["region"]``, ``e["line"]``, ... without
    building a dict per link (a rule pass reads millions). ``text`` and ``rel`` read as ``""``
    when empty, ``icon`` as a bool.

    >>> e = LinkRow((7, "https://a.example/", "/x", "https://a.example/x", None, "a", "href", None,
    ...              "footer", None, 1, "other", 3, 41))
    >>> e["target"], e["region"], e["text"], e["icon"], e.get("line"), e["pos"], dict(e)["kind"]
    ('/x', 'footer', '', True, 3, 41, 'other')
    """
    __slots__ = ()
    _INDEX = {"target": 2, "fragment": 4, "tag": 5, "attr": 6, "text": 7, "region": 8, "rel": 9, "icon": 10,
              "kind": 11, "line": 12, "pos": 13}

    def __getitem__(self, name):
        if name.__class__ is not str:
            return tuple.__getitem__(self, name)
        value = tuple.__getitem__(self, self._INDEX[name])
        if name == "icon":
            return bool(value)
        if value is None and (name == "text" or name == "rel"):
            return ""
        return value

    def get(self, name, default=None):
        return self[name] if name in self._INDEX else default

    def keys(self):
        return self._INDEX.keys()


def edge_of(row: tuple) -> tuple[str, str, LinkRow]:
    """``(source, key, data)`` of a stored link row (``(id, *LINK_COLUMNS)``)."""
    # one string per URL, however many rows name it: a finding on 100,000 pages holds each once
    return intern(row[1]), intern(row[3]), LinkRow(row)


_MISSING = object()
_EMPTY: dict = {}
# The shared attribute dicts handed out (see :class:`NodeData`), by their items; bounded: a
# crawl whose every node differed would share nothing, and holds no more than this many.
_PROFILES: dict = {}
PROFILES_MAX = 20_000


def _share(attrs: dict) -> dict:
    """One dict object for all the nodes whose shared attributes are the same ``attrs``
    (never changed in place). A value that cannot be hashed (a page's signals, themselves shared
    by the pages showing the same) counts by its identity: the dict kept here keeps it alive."""
    if not attrs:
        return _EMPTY
    values = tuple(attrs.values())
    key = (tuple(attrs), tuple(map(type, values)), values)  # (True and 1 are equal: their types are not)
    try:
        found = _PROFILES.get(key)
    except TypeError:
        key = key[:2] + (tuple(v if v.__hash__ is not None else id(v) for v in values),)
        found = _PROFILES.get(key)
    if found is None:
        if len(_PROFILES) >= PROFILES_MAX:
            return attrs
        found = _PROFILES[key] = attrs
    return found


def forget_profiles() -> None:
    """Let go of the table of shared attribute dicts (the nodes keep theirs)."""
    _PROFILES.clear()


class _Attrs(MutableMapping):
    """A URL's attributes as a dict: those named in ``_OWN`` in the subclass's slots, the rest
    in a dict shared by every node with the same (see :class:`NodeData`)."""
    __slots__ = ("_shared",)
    _OWN: frozenset = frozenset()

    def __init__(self, **attrs):
        self._shared = _EMPTY
        if attrs:
            self.update(attrs)

    def __getitem__(self, name):
        if name in self._OWN:
            try:
                return getattr(self, name)
            except AttributeError:
                raise KeyError(name) from None
        return self._shared[name]

    def get(self, name, default=None):
        if name in self._OWN:
            return getattr(self, name, default)
        return self._shared.get(name, default)

    def __setitem__(self, name, value):
        if name in self._OWN:
            setattr(self, name, value)
        elif self._shared.get(name, _MISSING) is not value:
            changed = dict(self._shared)
            changed[name] = value
            self._shared = _share(changed)

    def __delitem__(self, name):
        if name in self._OWN:
            try:
                delattr(self, name)
            except AttributeError:
                raise KeyError(name) from None
        else:
            changed = dict(self._shared)
            del changed[name]
            self._shared = _share(changed)

    def __contains__(self, name):
        return hasattr(self, name) if name in self._OWN else name in self._shared

    def __iter__(self):
        yield from self._shared
        for name in self._OWN:
            if hasattr(self, name):
                yield name

    def __len__(self):
        return len(self._shared) + sum(1 for name in self._OWN if hasattr(self, name))

    def update(self, other=(), **attrs):
        shared = self._shared
        changed = None
        own = self._OWN
        for name, value in (*(other.items() if hasattr(other, "items") else other), *attrs.items()):
            if name in own:
                setattr(self, name, value)
            elif (shared if changed is None else changed).get(name, _MISSING) is not value:
                if changed is None:
                    changed = dict(shared)
                changed[name] = value
        if changed is not None:
            self._shared = _share(changed)


class NodeData(_Attrs):
    """The attributes of a URL, read and written as a dict. The graph holds one per URL (a
    million-page crawl: nearly two million), so it is small: the attributes most URLs share
    with many others (tier, role, status, verdict, conversion, ...: a few hundred combinations
    in a whole crawl) live in one dict shared by all the nodes that have the same (copied on
    write), those that differ from URL to URL (``title``, ``depth``, ``headers``, ``location``,
    ``reason``, ``final_url``, ``chain``) in slots: 96 bytes a node, a fifth of a dict of them.
    An attribute never set reads as missing.

    >>> d = NodeData(tier="site", role="page"); d["verdict"] = "ok"; d["title"] = "Home"
    >>> d["tier"], d.get("depth"), "role" in d, "depth" in d, sorted(d)
    ('site', None, True, False, ['role', 'tier', 'title', 'verdict'])
    >>> e = NodeData(tier="site", role="page", verdict="ok"); e._shared is d._shared
    True
    >>> e["tier"] = "blog"; e._shared is d._shared, d["tier"], len(e)
    (False, 'site', 3)
    """
    __slots__ = ("title", "depth", "headers", "location", "reason", "final_url", "chain")
    _OWN = frozenset(__slots__)


class TargetData(_Attrs):
    """The attributes of a link target never fetched (the same as a page's; a page row that comes
    for it later makes it a :class:`NodeData`): all of them in the shared dict (a target has no
    title, depth, headers, location or reason, and its ``chain`` and ``final_url`` are those of
    every unchecked URL), 40 bytes a node instead of 96 (a million-page crawl: 800,000 targets).

    >>> d = TargetData(tier="social", role=None); d["offline"] = True
    >>> d["tier"], d.get("title"), d["offline"], sorted(d)
    ('social', None, True, ['offline', 'role', 'tier'])
    """
    __slots__ = ()


class NodeView:
    """The nodes of a :class:`CrawlGraph`, read like networkx's ``G.nodes``: ``g.nodes[url]``,
    ``g.nodes(data=True)``, ``url in g.nodes``. A plain dict of :class:`NodeData` behind it:
    a graph without edges needs no adjacency dicts (two per node in a networkx DiGraph)."""
    __slots__ = ("_data",)

    def __init__(self, data: dict):
        self._data = data

    def __call__(self, data: bool = False):
        return iter(self._data.items()) if data else iter(self._data)

    def __getitem__(self, node):
        return self._data[node]

    def get(self, node, default=None):
        return self._data.get(node, default)

    def __contains__(self, node) -> bool:
        return node in self._data

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def items(self):
        return self._data.items()


class CrawlGraph:
    """The link graph of one stored crawl: its nodes in memory, its links in the store.

    The store is the graph of record: a link is read when a rule asks for the links of a
    node (an indexed query), never held, so memory grows with the number of URLs, not of
    links. Nodes are a networkx graph's (``g.nodes[url]`` with the attributes listed in the
    module docstring); the edge methods are the subset of networkx's MultiDiGraph API
    the rules use, each link one ``(source, key, data)`` edge. :meth:`aggregated` builds
    the networkx DiGraph of page pairs (link counts by region and kind) for the graph
    formats and algorithms.
    """

    def __init__(self, store, crawl_id: int, **attr):
        self.store, self.crawl_id = store, crawl_id
        self.node_data: dict[str, NodeData] = {}  # url -> NodeData, the plain dict behind ``nodes``
        self.nodes = NodeView(self.node_data)
        self.graph = dict(attr)

    def __contains__(self, node) -> bool:
        return node in self.node_data

    def __iter__(self):
        return iter(self.node_data)

    def __len__(self) -> int:
        return len(self.node_data)

    def add_node(self, node, **attr) -> None:
        data = self.node_data.get(node)
        if data is None:
            self.node_data[node] = NodeData(**attr)
        else:
            if type(data) is TargetData and attr.get("role"):  # fetched after all
                data = self.node_data[node] = NodeData(**dict(data))
            data.update(attr)

    def add_target(self, node, **attr) -> None:
        """Add a link target not (yet) fetched, in a :class:`TargetData`; a page row that comes
        for it later (a crawl followed as it runs) makes it a :class:`NodeData`.

        >>> g = CrawlGraph(None, 0); g.add_target("https://a.example/x", tier="site", role=None)
        >>> type(g.nodes["https://a.example/x"]).__name__
        'TargetData'
        >>> g.add_node("https://a.example/x", role="page", title="X")
        >>> d = g.nodes["https://a.example/x"]; type(d).__name__, d["tier"], d["role"], d["title"]
        ('NodeData', 'site', 'page', 'X')
        """
        if node in self.node_data:
            self.add_node(node, **attr)
        else:
            self.node_data[node] = TargetData(**attr)

    def number_of_nodes(self) -> int:
        return len(self.node_data)

    def number_of_edges(self) -> int:
        return self.store.count_links(self.crawl_id)

    def links(self, **where):
        """Edges matching ``where`` (see :meth:`crawler.store.Store.link_rows`: ``source``, ``key``,
        ``tag``, ``fragment``, ``written_prefix``), one query."""
        for row in self.store.link_rows(self.crawl_id, **where):
            yield edge_of(row)

    def edges(self, data: bool = False):
        for source, key, e in self.links():
            yield (source, key, e) if data else (source, key)

    def out_edges(self, node, data: bool = False):
        for source, key, e in self.links(source=node):
            yield (source, key, e) if data else (source, key)

    def in_edges(self, node, data: bool = False):
        for source, key, e in self.links(key=node):
            yield (source, key, e) if data else (source, key)

    def successors(self, node):
        return iter(dict.fromkeys(key for _, key, _ in self.links(source=node)))

    def predecessors(self, node):
        return iter(dict.fromkeys(source for source, _, _ in self.links(key=node)))

    def aggregated(self, nodes=None) -> nx.DiGraph:
        """One edge per (source, key) pair, among ``nodes`` (default all), with scalar attributes:
        ``links`` and ``links_<region>`` / ``kind_<kind>`` counts (GraphML and GEXF take it as it is).

        >>> g = graph_from([{"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1}],
        ...     [("https://a.example/", "https://x.com/a", "header", "profile"),
        ...      ("https://a.example/", "https://x.com/a", "footer", "profile")], site=["https://a.example/"])
        >>> dict(g.aggregated().edges["https://a.example/", "https://x.com/a"])
        {'links': 2, 'links_header': 1, 'kind_profile': 2, 'links_footer': 1}
        """
        import networkx as nx

        keep = None if nodes is None else set(nodes)
        out = nx.DiGraph()
        for node, data in self.nodes(data=True):
            if keep is None or node in keep:
                out.add_node(node, **{k: v for k, v in data.items() if isinstance(v, (str, int, float, bool))})
        for source, key, e in self.links():
            if keep is not None and (source not in keep or key not in keep):
                continue
            if out.has_edge(source, key):
                attrs = out.edges[source, key]
            else:
                out.add_edge(source, key)
                attrs = out.edges[source, key]
            attrs["links"] = attrs.get("links", 0) + 1
            for name in (f"links_{e['region'] or 'body'}", f"kind_{e['kind'] or 'other'}"):
                attrs[name] = attrs.get(name, 0) + 1
        return out


# a list's subscribe address is a signup; its unsubscribe address (listed beside it) is not
_SUBSCRIBE = re.compile(r"^mailto:(?![^@?]*unsubscribe)[^@?]*(subscribe|signup|sign-up|join)[^@?]*@", re.I)


def conversion_of(scope: Scope, url: str, tier: str, role: str | None, signals: dict | None = None) -> str | None:
    """'purchase', 'lead' or None for a node: an owned page by its address (a shop's page name,
    ``/products/``, only with purchase evidence in its ``signals``: a price, a buy or cart
    button or link); a page of the company's other hosts by its route (a sign-up, log-in or
    trial is a lead, a checkout or billing page a purchase, the route in the path or in a
    ``#/route`` fragment); another site only when it is a hosted booking or form service or
    matches ``--conversion``; a ``mailto:`` to a list's subscribe address (a newsletter
    signup). Files a page loads are never offers.

    >>> s = Scope(site=("https://a.example/",))
    >>> conversion_of(s, "https://a.example/pricing/", "site", "page"), conversion_of(s, "https://a.example/pricing/", "site", "asset")
    ('purchase', None)
    >>> conversion_of(s, "https://a.example/products/", "site", "page"), conversion_of(s, "https://a.example/products/", "site", "page", {"price": True})
    (None, 'purchase')
    >>> conversion_of(s, "https://app.a.example/#/signup", "app", "external"), conversion_of(s, "https://app.a.example/cart", "app", None)
    ('lead', 'purchase')
    >>> conversion_of(s, "https://b.example/contact", "external", "external"), conversion_of(s, "mailto:news-subscribe@a.example", "contact", None)
    (None, 'lead')
    >>> conversion_of(s, "mailto:news-unsubscribe@a.example", "contact", None) is None
    True
    """
    if role not in (None, "page", "external", "form"):  # (form: where a form posts or sends the visitor)
        return None
    if tier in OWNED:  # a blog's /category/newsletter is a listing: address words count on the site only
        evidence = bool(signals and (signals.get("price") or signals.get("buy")))
        return scope.conversion_kind(url, paths=tier != BLOG, evidence=evidence)
    if tier == APP:
        return scope.app_conversion(url)
    if tier == EXTERNAL:
        if scope.hosted_conversion(url):
            return "lead"
        return "purchase" if any(r.search(url) for r in scope._conversion_res) else None
    if tier == "contact" and _SUBSCRIBE.match(url):
        return "lead"
    return None


# An empty frozenset is a new object of 216 bytes each time: the 80,000 link targets of a big
# crawl that are never fetched share this one.
NO_ANCHORS: frozenset[str] = frozenset()


def _shared(value: str | None) -> str | None:
    """One string object for each of the few values a column repeats on every row (``page``,
    ``text/html``), not one per row."""
    return None if value is None else intern(value)


def _update_shared(data: _Attrs, memo: dict, values: tuple, **attrs) -> None:
    """``data.update(**attrs)`` for a node among many given the same ``attrs`` but for ``chain``
    and ``final_url`` (a :class:`NodeData`'s own, set on it; a :class:`TargetData` shares them too,
    so there it goes the long way unless they are ``()`` and None): ``values``
    are the others' values, with the type of any that may be a bool or an int. The shared dict an
    update made is remembered in ``memo`` by the shared dict it started from, the node's type and
    ``values``: the next node needs no dict copied and no :func:`_share` lookup. (The starting dict
    is kept in ``memo`` too: its id is never another dict's while it is there.)

    >>> a, b = NodeData(tier="site"), NodeData(tier="site"); memo = {}
    >>> for d, chain in ((a, ()), (b, (("x", 301),))):
    ...     _update_shared(d, memo, ("ok",), verdict="ok", chain=chain, final_url=None)
    >>> b._shared is a._shared, dict(b) == {"tier": "site", "verdict": "ok", "chain": (("x", 301),), "final_url": None}
    (True, True)
    """
    kind = data.__class__
    if kind is TargetData and (attrs.get("chain") != () or attrs.get("final_url") is not None):
        data.update(attrs)
        return
    key = (id(data._shared), kind, values)
    done = memo.get(key)
    if done is None:
        before = data._shared
        data.update(attrs)
        if len(memo) < PROFILES_MAX:
            memo[key] = (before, data._shared)
        return
    data._shared = done[1]
    if kind is NodeData:
        data.chain, data.final_url = attrs["chain"], attrs["final_url"]


# The page columns the graph builder reads (Store.page_columns), in this order.
_PAGE_READ = ("id", "url", "role", "status", "error_kind", "reason", "title", "lead_form", "parsed", "anchors",
              "location", "content_type", "depth", "headers", "signals", "read_as")
_new_node, _new_target = NodeData.__new__, TargetData.__new__


class GraphBuilder:
    """Builds the graph of a crawl as its rows arrive.

    :meth:`update` reads the rows written since the last call, so a caller
    watching a running crawl can build the graph while the crawler works;
    :meth:`finish` reads the rest and gives every node its verdict.
    """

    def __init__(self, store, crawl_id: int):
        self.store, self.crawl_id = store, crawl_id
        crawl = store.crawl(crawl_id)
        self.scope = scope_of(crawl["options"])
        self.accept = frozenset(CrawlOptions.from_json(crawl["options"]).accept)
        self.key = partial(dedupe_key, aliases=crawl.get("origins") or None)
        self.g = CrawlGraph(store, crawl_id, crawl=crawl, scope=self.scope, key=self.key)
        self.last_page = self.last_link = 0
        self.anchor_sets: dict[str, frozenset[str]] = {}
        self.signal_sets: dict[str, dict] = {}
        self.page_profiles: dict[tuple, dict] = {}    # a new page's shared attributes by their values
        self.target_profiles: dict[tuple, dict] = {}  # a new target's, by (tier, conversion)

    def _target_node(self, key: str) -> None:
        tier = self.scope.tier(key)
        conversion = conversion_of(self.scope, key, tier, None)
        if key in self.g.node_data:
            self.g.add_target(key, tier=tier, role=None, status=None, parsed=False, lead_form=False,
                              anchors=NO_ANCHORS, conversion=conversion)
            return
        # a new target's attributes are all shared (TargetData): one dict per (tier, conversion), found
        # without making the dict :func:`_share` would be given for every target
        shared = self.target_profiles.get((tier, conversion))
        if shared is None:
            shared = _share({"tier": tier, "role": None, "status": None, "parsed": False, "lead_form": False,
                             "anchors": NO_ANCHORS, "conversion": conversion})
            if len(self.target_profiles) < PROFILES_MAX:
                self.target_profiles[tier, conversion] = shared
        data = _new_target(TargetData)
        data._shared = shared
        self.g.node_data[key] = data

    def _page_profile(self, tier, role, status, error_kind, lead_form, parsed, anchors, content_type, conversion,
                      signals, read_as) -> dict:
        """The shared attribute dict of a new page node (see :class:`NodeData`): the one
        ``add_node`` and setting ``signals`` and ``read_as`` would end with, in the same key order,
        found by its values (a few hundred combinations in a crawl) without building it per page."""
        key = (tier, role, status, status.__class__, error_kind, lead_form, parsed, anchors, content_type, conversion,
               id(signals) if signals else None, read_as)  # (the dict kept holds the signals: its id stays its own)
        shared = self.page_profiles.get(key)
        if shared is None:
            shared = _share({"tier": tier, "role": role, "status": status, "error_kind": error_kind,
                             "lead_form": lead_form, "parsed": parsed, "anchors": anchors,
                             "content_type": content_type, "conversion": conversion})
            if signals:
                shared = _share({**shared, "signals": signals})
            if read_as:
                shared = _share({**shared, "read_as": read_as})
            if len(self.page_profiles) < PROFILES_MAX:
                self.page_profiles[key] = shared
        return shared

    def _anchors(self, raw: str | None) -> frozenset[str]:
        """The ids of a page as one frozenset shared by every page with the same ones (pages of
        one template often have the same: a 100,000-page site holds each set once)."""
        if not raw:
            return NO_ANCHORS
        found = self.anchor_sets.get(raw)
        if found is None:
            if len(self.anchor_sets) >= 10_000:  # a site whose every page differs: no point keeping them
                return frozenset(map(intern, json.loads(raw)))
            found = self.anchor_sets[raw] = frozenset(map(intern, json.loads(raw)))
        return found

    def _signals(self, raw: str | None) -> dict | None:
        """A page's signals as one dict shared by every page that shows the same (the pages of a
        template mostly do), None when it shows nothing (no dict per page for that).

        >>> b = GraphBuilder.__new__(GraphBuilder); b.signal_sets = {}
        >>> one, two = b._signals('{"feed": true}'), b._signals('{"feed": true}')
        >>> one, one is two, b._signals(None), b._signals("{}")
        ({'feed': True}, True, None, None)
        """
        if not raw or raw == "{}":
            return None
        found = self.signal_sets.get(raw)
        if found is None:
            found = json.loads(raw)
            if len(self.signal_sets) < 10_000:  # a site whose every page differs: no point keeping them
                self.signal_sets[raw] = found
        return found

    def update(self) -> None:
        """Add the pages stored since the last call, and a node for every new link's target."""
        g, scope = self.g, self.scope
        # a big crawl's link ends are sorted by a helper process while the pages are read here
        ahead = getattr(self.store, "link_ends_ahead", None)
        ahead = ahead(self.crawl_id, after=self.last_link) if ahead is not None else None
        nodes = g.node_data
        # (a store of schema 2 has no signals column, one before 5 no read_as: they read None)
        for (self.last_page, url, role, status, error_kind, reason, title, lead_form, parsed, anchors, location,
             content_type, depth, headers, signals, read_as) in self.store.page_columns(
                self.crawl_id, _PAGE_READ, after=self.last_page):
            url = intern(url)
            tier = scope.tier(url)
            signals = self._signals(signals)
            conversion = conversion_of(scope, url, tier, role, signals)
            role, error_kind, content_type, anchors = _shared(role), _shared(error_kind), _shared(content_type), \
                self._anchors(anchors)
            read_as = _shared(read_as) or None  # how an owned HTML page was read: raw or rendered (--render)
            if url in nodes:  # (a target met in an earlier update: it becomes a page)
                g.add_node(url, tier=tier, role=role, status=status, error_kind=error_kind, reason=reason, title=title,
                           lead_form=bool(lead_form), parsed=bool(parsed), anchors=anchors, location=location,
                           content_type=content_type, depth=depth, headers=headers, conversion=conversion)
                if signals:
                    nodes[url]["signals"] = signals
                if read_as:
                    nodes[url]["read_as"] = read_as
                continue
            data = _new_node(NodeData)  # what add_node would make, its shared dict found by its values
            data._shared = self._page_profile(tier, role, status, error_kind, bool(lead_form), bool(parsed), anchors,
                                              content_type, conversion, signals, read_as)
            data.reason, data.title, data.location, data.depth, data.headers = reason, title, location, depth, headers
            nodes[url] = data
        self.last_link, ends = ahead or self.store.link_ends(self.crawl_id, after=self.last_link)  # one query, sorted
        for key in ends:
            if key not in nodes:
                self._target_node(intern(key))  # a source's page row, if it had none yet, comes in the next update

    def _find_blog(self) -> None:
        """Without ``--blog``, find the blog from the pages (:func:`analysis.blog.detect_blog`):
        the site URLs it covers become tier ``blog``, and the graph's scope says so."""
        from analysis.blog import BlogScope, DetectedBlog, detect_blog

        g, scope = self.g, self.scope
        if scope.blog:
            g.graph["blog"] = DetectedBlog(given=tuple(scope.blog))
            return
        found = g.graph["blog"] = detect_blog(
            ((url, d.get("signals"), d.get("conversion")) for url, d in g.nodes(data=True)
             if d.get("role") == "page" and d.get("parsed") and d.get("tier") in OWNED), scope.site,
            lambda _, canonical: scope.tier(canonical) in COMPANY)  # (rule canonical-elsewhere's test)
        if not found:
            return
        g.graph["scope"] = self.scope = BlogScope(scope, found)
        for url, data in g.nodes(data=True):
            if data.get("tier") == SITE and found.covers(url):
                data["tier"] = BLOG  # an address word on a blog page is a listing's, not an offer
                data["conversion"] = conversion_of(self.scope, url, BLOG, data.get("role"), data.get("signals"))

    def finish(self) -> CrawlGraph:
        """Read what is left and judge every node (verdict, redirect chain)."""
        self.update()
        g = self.g
        visited_files(g)
        self._find_blog()
        rows = {url: data for url, data in g.nodes(data=True) if data.get("role")}  # what was fetched
        g.graph["crawl"] = crawl = self.store.crawl(self.crawl_id)
        # A target that answered with its www. or https:// form renamed the site mid-crawl.
        g.graph["key"] = self.key = partial(dedupe_key, aliases=crawl.get("origins") or None)
        platform_of = self.scope.platform
        judged: dict = {}  # (shared dict's id, node type, verdict's shared values) -> (that dict, the one after)
        for url, data in g.nodes(data=True):
            if url not in rows:
                _update_shared(data, judged, (), verdict=UNCHECKED, label="not checked", chain=(), final_url=None,
                               loop=False, permanent=False)
                continue
            v = resolve(url, rows, self.accept, platform_of, self.key)
            _update_shared(data, judged, (v.verdict, v.label, v.loop, v.permanent, v.status, v.status.__class__,
                                          v.error_kind),
                           verdict=v.verdict, label=v.label, chain=v.chain or (), final_url=v.final_url, loop=v.loop,
                           permanent=v.permanent, final_status=v.status, final_error=v.error_kind)
            if v.final_url and v.final_url in rows and v.verdict == "ok":
                data["lead_form"] = data["lead_form"] or bool(rows[v.final_url].get("lead_form"))
        del judged
        for data in rows.values():
            data["headers"] = None  # judged: the verdict is what the rules read
        del rows
        g.graph["network"] = no_network(g)
        unreachable_profiles(g)
        for url, data in g.nodes(data=True):
            if data.get("parsed") and data.get("tier") in OWNED and data.get("role") == "page":
                refresh = refresh_target(g, url)
                if refresh is not None and refresh != url:
                    data["stub"] = refresh  # <meta refresh>: a redirect a browser follows, not a page
        _download_offers(g)
        for url, data in g.nodes(data=True):
            if data.get("stub"):
                final = g.nodes[landing_page(g, url)]
                data.update(conversion=final.get("conversion"), lead_form=final.get("lead_form", False))
        for url, data in g.nodes(data=True):
            if data.get("parsed") and data.get("tier") in OWNED and not data.get("conversion") and is_contact_page(
                    url, data.get("title") or "") and any(t.startswith("mailto:") for t in g.successors(url)):
                data["conversion"] = "lead"  # a mailto: on a contact page is lead capture
        forget_profiles()  # (the nodes keep theirs; a change from here on shares anew)
        self.page_profiles, self.target_profiles = {}, {}
        return g


# The links that send a visitor to a URL (the crawler fetches an owned URL first met in one as a page:
# crawler.spiders.funnel's plan) and a sitemap's entries (listed pages).
VISITED_TAGS = (*sorted(NAVIGATION_TAGS), "sitemap")
_VISITED = {
    1: "SELECT DISTINCT l.target_key FROM links l WHERE l.crawl_id = ? AND l.target_key IN (SELECT url FROM {files})"
       " AND l.tag IN ({tags})",
    2: "SELECT x.url FROM {files} x JOIN urls u ON u.url = x.url WHERE EXISTS (SELECT 1 FROM links l"
       " WHERE l.crawl_id = ? AND l.key_id = u.id AND l.tag IN (SELECT id FROM terms WHERE term IN ({tags})))",
}


def visited_files(g) -> None:
    """An owned URL that a visitor is sent to (an ``<a>``, an ``<area>``, a frame, a sitemap entry)
    is a ``page``, one that pages only load (an ``<img>``, a ``<link>``, a script) an ``asset``,
    whatever link the crawl happened to read first: it fetched the URL once, with the role that
    first link gave (the file ``img/logo.png`` is an ``asset`` in one crawl and a ``page`` in the
    next when a post both shows it and links it). The assets with such a link become pages (one
    query). An asset that answered with HTML was read as a page already; a style sheet is read as
    one (its ``url()``s), whichever link named it first, and stays an asset.

    >>> s = "https://a.example/"
    >>> rows = [{"url": s, "role": "page", "status": 200, "parsed": 1},
    ...         {"url": s + "logo.png", "role": "asset", "status": 200, "content_type": "image/png"},
    ...         {"url": s + "icon.png", "role": "asset", "status": 200, "content_type": "image/png"}]
    >>> g = graph_from(rows, [(s, s + "logo.png", "main", "other", "a"), (s, s + "logo.png", "main", "other", "img"),
    ...                       (s, s + "icon.png", "main", "other", "img")], site=[s])
    >>> g.nodes[s + "logo.png"]["role"], g.nodes[s + "icon.png"]["role"]
    ('page', 'asset')
    """
    files = [url for url, data in g.nodes(data=True) if data.get("role") == "asset" and data.get("tier") in OWNED
             and not data.get("parsed")]  # (a style sheet, read as one, stays a file)
    if not files:
        return
    tags = ", ".join(f"'{tag}'" for tag in VISITED_TAGS)  # (constants: no placeholder per tag)
    queries = {version: sql.replace("{tags}", tags) for version, sql in _VISITED.items()}
    scope = g.graph["scope"]
    for (url,) in g.store.read(queries, (g.crawl_id,), files=files):
        data = g.nodes[url]
        data["role"] = "page"
        data["conversion"] = conversion_of(scope, url, data["tier"], "page", data.get("signals"))


# Failures that say nothing about the link, only about the way to it (no DNS, no route, a proxy).
NETWORK_ERRORS = frozenset({"dns", "refused", "timeout", "connection"})
WORDS = {"dns": "DNS", "refused": "connection refused", "timeout": "timed out", "connection": "connection failed"}


def no_network(g) -> dict | None:
    """When (nearly) every other host failed to answer at all, the machine is offline or behind a
    proxy: those links are marked ``unverified`` ("not checked: no network"), never broken.

    Offline means every host failed (two or more), or at least 95% of twenty or more. One
    failing host among working ones is a broken link. Returns what the report says, or None.
    """
    hosts: dict[str, bool] = {}   # host -> every URL on it failed with a network error
    kinds: Counter = Counter()
    for url, data in g.nodes(data=True):
        if data.get("role") not in ("external", "profile") or data.get("tier") in OWNED:
            continue
        status = data.get("final_status") if data.get("chain") else data.get("status")
        kind = data.get("final_error") if data.get("chain") else data.get("error_kind")
        failed = status is None and kind in NETWORK_ERRORS
        if failed:
            kinds[kind] += 1
        host = urlsplit(url).hostname or ""
        hosts[host] = hosts.get(host, True) and failed
    total, failed = len(hosts), sum(hosts.values())
    if not (total >= 2 and failed == total) and not (total >= 20 and failed >= 0.95 * total):
        return None
    for url, data in g.nodes(data=True):
        if hosts.get(urlsplit(url).hostname or "") and data.get("role") in ("external", "profile"):
            data.update(verdict=UNVERIFIED, label="not checked: no network", offline=True)
        elif (data.get("tier") in OWNED and data.get("status") is None and not data.get("chain")
              and data.get("error_kind") in NETWORK_ERRORS):  # the company's other host, unreachable offline too
            data.update(verdict=UNVERIFIED, label="not checked: no network", offline=True)
    error = kinds.most_common(1)[0][0] if kinds else "connection"
    return {"offline": True, "hosts": total, "failed": failed, "error": error,
            "message": f"external links not checked: no network — {failed} of {total} hosts failed "
                       f"({WORDS.get(error, error)})"}


def unreachable_profiles(g) -> None:
    """A profile whose platform could not be reached (no DNS, a refused connection, a timeout) or
    failed (its page answers 503) says nothing of the account: ``unverified`` ("could not be
    read … run the audit again later"), never broken. Only the platform's own "no such account"
    is: a 404 or 410, or the API's error naming it (Bluesky's 400 "Profile not found",
    :func:`crawler.profiles.says_missing`). ``unreachable``: no answer at all."""
    from crawler.profiles import says_missing

    for data in g.node_data.values():
        if data.get("role") != "profile" or data.get("verdict") != BROKEN or data.get("loop"):
            continue
        status = data.get("final_status")
        message = (data.get("reason") or "").rpartition(": ")[2]
        if status is not None and says_missing(status, message):  # (404 and 410 among them)
            continue
        if status is None:
            why = (f"{data.get('label') or 'connection failed'} (the platform could not be reached: nothing is known "
                   "of the account; run the audit again later)")
        else:
            why = f"it answers {status} (the platform failed, not the account: run the audit again later)"
        data.update(verdict=UNVERIFIED, label=why, unreachable=status is None)


_CONTACT = re.compile(r"contact|get[ -]in[ -]touch|kontakt|talk to us|reach us", re.I)


# What a download page's path holds (crawler.scope.DOWNLOAD): a URL without it is none (no split).
_MAYBE_DOWNLOAD = re.compile(r"download|get-it|install", re.I)


def _download_offers(g) -> None:
    """A project that sells nothing (no purchase page, no price on a page of its site; a blog post
    may discuss others' prices: an open-source project) offers its download: its download or
    install pages (:func:`crawler.scope.is_download_page`) are its conversion, ``download`` (hop's
    ``./download/``, answer's ``/download``).

    >>> s = "https://a.example/"
    >>> page = lambda url, **kw: {"url": url, "role": "page", "status": 200, "parsed": 1, **kw}
    >>> rows = [page(s), page(s + "download/"), page(s + "blog/alternatives/", signals='{"price": true}')]
    >>> g = graph_from(rows, [(s, s + "download/", "nav", "other")], site=[s])
    >>> g.nodes[s + "download/"]["conversion"]
    'download'
    >>> g = graph_from(rows + [page(s + "pricing/")], [(s, s + "download/", "nav", "other")], site=[s])
    >>> g.nodes[s + "download/"]["conversion"] is None
    True
    """
    downloads = [url for url, data in g.nodes(data=True) if data.get("tier") in OWNED and not data.get("conversion")
                 and data.get("role") in (None, "page") and _MAYBE_DOWNLOAD.search(url) and is_download_page(url)]
    if not downloads or any(data.get("conversion") == "purchase" or (
            data.get("tier") == SITE and ((data.get("signals") or {}).get("price") or (data.get("signals") or {}).get("buy")))
                            for _, data in g.nodes(data=True)):
        return
    for url in downloads:
        g.nodes[url]["conversion"] = "download"


def is_contact_page(url: str, title: str) -> bool:
    """A page about contacting the business, by its address or title.

    >>> is_contact_page("https://a.example/about/", "Get in touch | A"), is_contact_page("https://a.example/x", "X")
    (True, False)
    """
    return bool(_CONTACT.search(url.rsplit("/", 2)[-2] if url.endswith("/") else url.rsplit("/", 1)[-1])
                or _CONTACT.search(title))


def refresh_target(g, url: str) -> str | None:
    """Where a page's ``<meta http-equiv=refresh>`` sends the browser, if it has one."""
    return refreshes(g).get(url)


def refreshes(g) -> dict[str, str]:
    """page -> where its ``<meta http-equiv=refresh>`` sends the browser, for every such page (kept
    on the graph: one query for the whole crawl, the few <meta> links there are)."""
    refresh = g.graph.get("refresh")
    if refresh is None:
        refresh = g.graph["refresh"] = {}
        for source, key, _ in g.links(tag="meta"):
            refresh.setdefault(source, key)
    return refresh


def blank(g, url: str) -> bool:
    """A page read with nothing on it: no title and no link (a WordPress export's tag page that
    holds a single space). No visitor's page and no post: no entry of the funnel, no dead end.

    >>> g = graph_from([{"url": "https://a.example/tag/x/", "role": "page", "status": 200, "parsed": 1},
    ...                 {"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1, "title": "Home"}],
    ...                [], site=["https://a.example/"])
    >>> blank(g, "https://a.example/tag/x/"), blank(g, "https://a.example/")
    (True, False)
    """
    data = g.nodes[url]
    if not data.get("parsed") or (data.get("title") or "").strip():
        return False
    return next(iter(g.out_edges(url)), None) is None


def landing_page(g, url: str, hops: int = 5) -> str:
    """The page a visitor ends up on from ``url``: through 3xx redirects and ``<meta refresh>`` stubs.

    >>> from analysis.graph import graph_from
    >>> stub, post = "https://a.example/old/", "https://a.example/new/"
    >>> g = graph_from([{"url": stub, "role": "page", "status": 200, "parsed": 1}],
    ...                [(stub, post, "head", "other", "meta")], site=["https://a.example/"])
    >>> landing_page(g, stub)
    'https://a.example/new/'
    """
    for _ in range(hops):
        node = g.nodes[url]
        final = node.get("final_url")
        if final and final in g:
            url, node = final, g.nodes[final]
        refresh = refresh_target(g, url)
        if refresh is None or refresh == url or not node.get("parsed"):
            return url
        url = refresh
    return url


def offer_links(g) -> dict[str, int | None]:
    """For every page linking to an offer: the position in document order (``pos``) of its first
    body link to one (None: none in the body, only elsewhere or by a form, an iframe or a refresh).
    One query for all the offer pages, never one per page; kept on the graph.
    """
    cached = g.graph.get("offer_links")
    if cached is not None:
        return cached
    rows = g.graph.pop("offer_links_ahead", None)
    if rows is None:
        rows = _offer_link_rows(g, ahead=False)
    out: dict[str, int | None] = {}
    for page, pos in rows:
        out[intern(page)] = pos
    g.graph["offer_links"] = out
    return out


OFFER_TAGS = {"tags": ("a", "area", "form", "meta", "iframe"), "line_tags": ("a", "area"), "line_regions": ("main", "body")}
AHEAD_URLS = 50_000  # a graph of at least this many URLs reads its offer links in a helper process


def offer_links_ahead(g) -> None:
    """Start reading :func:`offer_links` now, in a helper process (a big crawl in a file: see
    :meth:`crawler.store.Store.first_positions_ahead`), for the first rule that asks later."""
    if "offer_links" not in g.graph and "offer_links_ahead" not in g.graph and len(g) >= AHEAD_URLS:
        rows = _offer_link_rows(g, ahead=True)
        if rows is not None:
            g.graph["offer_links_ahead"] = rows


def _offer_link_rows(g, ahead: bool):
    targets = [url for url, t in g.nodes(data=True) if t.get("conversion") or t.get("lead_form")]
    if not targets:
        return ()
    # one query for every offer page (a blog whose posts each hold a form has thousands), grouped by SQLite
    read = getattr(g.store, "first_positions_ahead", None) if ahead else g.store.first_positions
    return read(g.crawl_id, targets, **OFFER_TAGS) if read is not None else None


def offers(g: CrawlGraph, page: str, before_pos: int | None = None) -> bool:
    """Does ``page`` offer a purchase or lead capture (itself, a lead form, or a link to one)?

    With ``before_pos``, only a link in the page body that comes before that position in
    document order counts (the page itself being a conversion page or holding a lead form
    still does); a link whose position is unknown passes -1 (nothing comes before it).

    >>> s, p = "https://a.example/", "https://a.example/pricing/"
    >>> g = graph_from([{"url": s, "role": "page", "status": 200, "parsed": 1}],
    ...                [(s, p, "main", "other")], site=[s])
    >>> offers(g, s), offers(g, s, before_pos=-1)
    (True, False)
    """
    node = g.nodes[page]
    if node.get("conversion") or node.get("lead_form"):
        return True
    links = offer_links(g)
    if page not in links:
        return False
    if before_pos is None:
        return True
    first = links[page]
    return first is not None and first < before_pos
