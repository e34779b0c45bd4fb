"""GraphML: the link graph of page pairs, for yEd, Gephi, Cytoscape or networkx.

One node per URL with the scalar attributes :data:`NODE_ATTRS` (those it has: a link
target never fetched has no ``status``), one edge per (page, target) pair with its link
counts (``links``, ``links_<region>``, ``kind_<kind>``: what
:meth:`analysis.graph.CrawlGraph.aggregated` gives). The graph holds the crawl's
``crawl_id``, ``targets`` and the ``funnelcheck_version`` that wrote it; ``nx.read_graphml``
reads it back. Written as it is produced: the nodes from the graph, the edges from one pass
over the store's links in page order (:func:`edges`), never a graph of the links in memory
(a million-page crawl has 30 million pairs).

XML 1.0 cannot carry most control characters (a title holding ESC makes the whole file
unreadable), so every string goes through :func:`xml_safe` first.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterator, TextIO
from xml.sax.saxutils import escape

from crawler.store import funnelcheck_version

if TYPE_CHECKING:
    import networkx as nx

NODE_ATTRS = ("tier", "role", "verdict", "status", "title", "conversion")
# What XML 1.0 forbids (C0 controls but tab, newline, CR; lone surrogates; U+FFFE/U+FFFF),
# and DEL and the C1 controls it discourages.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text) -> str:
    """``text`` with every character XML 1.0 cannot hold (or discourages) written as an
    escape (``\\x1b``, ``\\ufffe``), as the terminal report shows them; None gives ''.

    >>> xml_safe("Evil\\x1b]0;pwned\\x07 tab\\tok")
    'Evil\\\\x1b]0;pwned\\\\x07 tab\\tok'
    >>> xml_safe("caf\\u00e9 \\ufffe"), xml_safe(None), xml_safe(3)
    ('café \\\\ufffe', '', '3')
    """
    if text is None:
        return ""
    text = str(text)
    return _NOT_XML.sub(_escape, text)


def _escape(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def export_graph(audit) -> nx.DiGraph:
    """The aggregated graph of ``audit`` with the attributes the graph formats write, as a
    networkx DiGraph (built whole in memory: for a script on a small crawl; the formats stream):
    node attributes :data:`NODE_ATTRS`, edge link counts, strings made XML-safe (node ids too).

    >>> from analysis.graph import graph_from
    >>> from analysis.report import Audit
    >>> g = graph_from([{"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1,
    ...                  "title": "Home\\x1b"}], [("https://a.example/", "https://x.com/a", "header", "profile")],
    ...                site=["https://a.example/"])
    >>> G = export_graph(Audit(g.store, g.graph["crawl"], g, [], {}))
    >>> G.nodes["https://a.example/"]
    {'tier': 'site', 'role': 'page', 'verdict': 'ok', 'status': 200, 'title': 'Home\\\\x1b'}
    >>> G.edges["https://a.example/", "https://x.com/a"]
    {'links': 1, 'links_header': 1, 'kind_profile': 1}
    """
    import networkx as nx

    g = nx.DiGraph()
    for node, attrs in nodes(audit.graph):
        g.add_node(node, **attrs)
    for source, key, counts in edges(audit.graph):
        g.add_edge(source, key, **counts)
    g.graph.update(graph_attrs(audit))
    return g


def graph_attrs(audit) -> dict:
    return {"crawl_id": audit.crawl.get("id"), "targets": xml_safe(" ".join(audit.crawl.get("targets") or ())),
            "funnelcheck_version": funnelcheck_version()}


def nodes(g) -> Iterator[tuple[str, dict]]:
    """``(id, attributes)`` of every node: :data:`NODE_ATTRS` it has, strings XML-safe."""
    for url, data in g.nodes(data=True):
        attrs = {}
        for name in NODE_ATTRS:
            value = data.get(name)
            if value is not None:
                attrs[name] = xml_safe(value) if isinstance(value, str) else value
        yield xml_safe(url), attrs


# The crawl's links in page order (the source index: no sort), ends and terms by their ids.
_LINK_ENDS = {
    1: "SELECT l.source, l.target_key, l.region, l.kind FROM links l WHERE l.crawl_id = ? ORDER BY l.source, l.id",
    2: "SELECT l.source_id, l.key_id, l.region, l.kind FROM links l WHERE l.crawl_id = ? ORDER BY l.source_id, l.id",
}
_TERMS = {1: "SELECT NULL, NULL WHERE 0", 2: "SELECT id, term FROM terms"}
_URL = {1: "SELECT ?", 2: "SELECT url FROM urls WHERE id = ?"}
_EDGE_NAMES = {
    1: "SELECT DISTINCT l.region, l.kind FROM links l WHERE l.crawl_id = ?",
    2: "SELECT DISTINCT rg.term, kd.term FROM (SELECT DISTINCT region, kind FROM links WHERE crawl_id = ?) l"
       " LEFT JOIN terms rg ON rg.id = l.region LEFT JOIN terms kd ON kd.id = l.kind",
}


def edge_names(g) -> list[str]:
    """The names of the edge attributes the crawl's links give: ``links``, then the
    ``links_<region>`` and ``kind_<kind>`` counts, sorted (one pass over the links)."""
    regions, kinds = set(), set()
    for region, kind in g.store.read(_EDGE_NAMES, (g.crawl_id,)):
        regions.add(f"links_{region or 'body'}")
        kinds.add(f"kind_{kind or 'other'}")
    return ["links", *sorted(regions), *sorted(kinds)]


def edges(g) -> Iterator[tuple[str, str, dict]]:
    """``(source, key, counts)`` per (page, target) pair, ``counts`` as
    :meth:`analysis.graph.CrawlGraph.aggregated` gives them, ids XML-safe: read from the store
    in page order, one page's targets held at a time.

    >>> from analysis.graph import graph_from
    >>> g = graph_from([{"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1}],
    ...     [("https://a.example/", "https://x.com/a", "header", "profile"),
    ...      ("https://a.example/", "https://a.example/b", "main", "other"),
    ...      ("https://a.example/", "https://x.com/a", "footer", "profile")], site=["https://a.example/"])
    >>> for edge in edges(g): print(edge)
    ('https://a.example/', 'https://x.com/a', {'links': 2, 'links_header': 1, 'kind_profile': 2, 'links_footer': 1})
    ('https://a.example/', 'https://a.example/b', {'links': 1, 'links_main': 1, 'kind_other': 1})
    """
    store = g.store
    url_of = store.url_table(g.node_data)
    if url_of is None:  # a store of schema 1 names URLs by their text
        url_of = _Same()
    term = dict(store.read(_TERMS))
    names: dict = {}  # (region id, kind id) -> the two names

    def url(i):
        found = url_of[i]
        if found is None:  # (a link end the graph has no node for: never in a store the crawler wrote)
            found = next(iter(store.read(_URL, (i,))))[0]
        return xml_safe(found)

    source, pairs = None, {}
    for s, k, region, kind in store.read(_LINK_ENDS, (g.crawl_id,)):
        if s != source:
            if pairs:
                name = url(source)
                for key, counts in pairs.items():
                    yield name, url(key), counts
            source, pairs = s, {}
        counts = pairs.get(k)
        if counts is None:
            counts = pairs[k] = {"links": 0}
        counts["links"] += 1
        both = names.get((region, kind))
        if both is None:
            both = names[region, kind] = (f"links_{term.get(region, region) or 'body'}",
                                          f"kind_{term.get(kind, kind) or 'other'}")
        for name in both:
            counts[name] = counts.get(name, 0) + 1
    if pairs:
        name = url(source)
        for key, counts in pairs.items():
            yield name, url(key), counts


class _Same:
    __slots__ = ()

    def __getitem__(self, key):
        return key


def _attr(value) -> str:
    return escape(str(value), {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#09;"})


_TYPES = {"status": "long"}  # the other node attributes are strings


def write(audit, out: TextIO) -> None:
    """Write ``audit``'s aggregated link graph to ``out`` as GraphML, streamed."""
    g = audit.graph
    keys: dict[tuple[str, str], str] = {}

    def key(kind, name, xml_type):
        keys[kind, name] = ident = f"d{len(keys)}"
        out.write(f'  <key id="{ident}" for="{kind}" attr.name="{name}" attr.type="{xml_type}" />\n')

    out.write('<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
              'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
              'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
              'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n')
    attrs = graph_attrs(audit)
    for name, value in attrs.items():
        key("graph", name, "long" if isinstance(value, int) else "string")
    for name in NODE_ATTRS:
        key("node", name, _TYPES.get(name, "string"))
    for name in edge_names(g):
        key("edge", name, "long")
    out.write('  <graph edgedefault="directed">\n')
    for node, data in nodes(g):
        out.write(f'    <node id="{_attr(node)}">\n')
        for name, value in data.items():
            out.write(f'      <data key="{keys["node", name]}">{escape(str(value))}</data>\n')
        out.write("    </node>\n")
    for source, target, counts in edges(g):
        out.write(f'    <edge source="{_attr(source)}" target="{_attr(target)}">\n')
        for name, value in counts.items():
            out.write(f'      <data key="{keys["edge", name]}">{value}</data>\n')
        out.write("    </edge>\n")
    for name, value in attrs.items():
        if value is not None:
            out.write(f'    <data key="{keys["graph", name]}">{escape(str(value))}</data>\n')
    out.write("  </graph>\n</graphml>\n")
