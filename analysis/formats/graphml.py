"""GraphML: the link graph of page pairs, for yEd, Gephi, Cytoscape or networkx.

One node per URL with the scalar attributes :data:`NODE_ATTRS` (those it has: a link
target never fetched has no ``status``), one edge per (page, target) pair from
:meth:`analysis.graph.CrawlGraph.aggregated` with its link counts (``links``,
``links_<region>``, ``kind_<kind>``). Written by :func:`networkx.generate_graphml`,
so ``nx.read_graphml`` reads it back. The graph holds the crawl's ``crawl_id``,
``targets`` and the ``funnelcheck_version`` that wrote it.

XML 1.0 cannot carry most control characters (a title holding ESC makes the whole file
unreadable), so every string goes through :func:`xml_safe` first.
"""
from __future__ import annotations

import re
from typing import TextIO

from typing import TYPE_CHECKING

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
    """The aggregated graph of ``audit`` with the attributes the graph formats write: node
    attributes :data:`NODE_ATTRS`, edge link counts, strings made XML-safe (node ids too).

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
    g = audit.graph.aggregated()  # changed in place: a big crawl's graph is not held twice
    for _, data in g.nodes(data=True):
        attrs = {name: data[name] for name in NODE_ATTRS if data.get(name) is not None}
        data.clear()
        data.update((k, xml_safe(v) if isinstance(v, str) else v) for k, v in attrs.items())
    unsafe = {node: xml_safe(node) for node in g if _NOT_XML.search(node)}
    if unsafe:
        import networkx as nx

        nx.relabel_nodes(g, unsafe, copy=False)
    g.graph.update(crawl_id=audit.crawl.get("id"), targets=xml_safe(" ".join(audit.crawl.get("targets") or ())),
                   funnelcheck_version=funnelcheck_version())
    return g


def write(audit, out: TextIO) -> None:
    """Write ``audit``'s aggregated link graph to ``out`` as GraphML."""
    import networkx as nx  # (imported by the formats that use it: the others start faster)

    for line in nx.generate_graphml(export_graph(audit), encoding="utf-8", prettyprint=True):
        out.write(line + "\n")
