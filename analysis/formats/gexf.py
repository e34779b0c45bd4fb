"""GEXF 1.2: the link graph of page pairs, for Gephi.

The same graph as :mod:`analysis.formats.graphml` (node attributes ``tier``, ``role``,
``verdict``, ``status``, ``title``, ``conversion``; edge link counts ``links``,
``links_<region>``, ``kind_<kind>``), each node labelled with its URL and each edge
weighted by its number of links (Gephi draws and lays out by weight); ``nx.read_gexf``
reads it back. Strings are made XML-safe (:func:`analysis.formats.graphml.xml_safe`).
Streamed like the GraphML: nodes from the graph, edges from one pass over the store.
"""
from __future__ import annotations

import datetime
from typing import TextIO
from xml.sax.saxutils import escape

from analysis.formats.graphml import NODE_ATTRS, _attr, edge_names, edges, nodes
from crawler.store import funnelcheck_version

_TYPES = {"status": "long"}  # the other node attributes are strings


def write(audit, out: TextIO) -> None:
    """Write ``audit``'s aggregated link graph to ``out`` as GEXF, streamed."""
    g = audit.graph
    out.write('<gexf xmlns="http://www.gexf.net/1.2draft" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
              'xsi:schemaLocation="http://www.gexf.net/1.2draft http://www.gexf.net/1.2draft/gexf.xsd" '
              'version="1.2">\n')
    out.write(f'  <meta lastmodifieddate="{datetime.date.today().isoformat()}">\n'
              f"    <creator>funnelcheck {escape(funnelcheck_version())}</creator>\n  </meta>\n")
    out.write('  <graph defaultedgetype="directed" mode="static" name="">\n')
    node_ids = {name: str(i) for i, name in enumerate(NODE_ATTRS)}
    edge_ids = {name: str(i) for i, name in enumerate(edge_names(g), len(node_ids))}
    out.write('    <attributes mode="static" class="edge">\n')
    for name, ident in edge_ids.items():
        out.write(f'      <attribute id="{ident}" title="{name}" type="long" />\n')
    out.write('    </attributes>\n    <attributes mode="static" class="node">\n')
    for name, ident in node_ids.items():
        out.write(f'      <attribute id="{ident}" title="{name}" type="{_TYPES.get(name, "string")}" />\n')
    out.write("    </attributes>\n    <nodes>\n")
    for node, data in nodes(g):
        ident = _attr(node)
        out.write(f'      <node id="{ident}" label="{ident}">\n')
        if data:
            out.write("        <attvalues>\n")
            for name, value in data.items():
                out.write(f'          <attvalue for="{node_ids[name]}" value="{_attr(value)}" />\n')
            out.write("        </attvalues>\n")
        out.write("      </node>\n")
    out.write("    </nodes>\n    <edges>\n")
    for number, (source, target, counts) in enumerate(edges(g)):
        out.write(f'      <edge source="{_attr(source)}" target="{_attr(target)}" id="{number}" '
                  f'weight="{counts["links"]}">\n        <attvalues>\n')
        for name, value in counts.items():
            out.write(f'          <attvalue for="{edge_ids[name]}" value="{value}" />\n')
        out.write("        </attvalues>\n      </edge>\n")
    out.write("    </edges>\n  </graph>\n</gexf>\n")
