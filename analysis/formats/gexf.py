"""GEXF 1.2: the link graph of page pairs, for Gephi.

The same graph as :mod:`analysis.formats.graphml` (node attributes ``tier``, ``role``,
``verdict``, ``status``, ``title``, ``conversion``; edge link counts ``links``,
``links_<region>``, ``kind_<kind>``), each node labelled with its URL and each edge
weighted by its number of links (Gephi draws and lays out by weight). Written by
:func:`networkx.generate_gexf`, so ``nx.read_gexf`` reads it back; strings are made
XML-safe (:func:`analysis.formats.graphml.xml_safe`).
"""
from __future__ import annotations

from typing import TextIO

from analysis.formats.graphml import export_graph


def write(audit, out: TextIO) -> None:
    """Write ``audit``'s aggregated link graph to ``out`` as GEXF."""
    import networkx as nx

    g = export_graph(audit)
    for _, _, data in g.edges(data=True):
        data["weight"] = data["links"]
    for line in nx.generate_gexf(g, encoding="utf-8", prettyprint=True, version="1.2draft"):
        out.write(line + "\n")
