"""CSV, one row per link of the crawl (every link on every fetched page), for a spreadsheet.

Columns (:data:`COLUMNS`): ``source`` (the page), ``target`` (as written, tracking
parameters kept), ``tier`` of the target, ``tag``, ``region``, ``kind``, ``rel``, ``line``,
``text`` (the anchor text), ``fragment``, then what the target answered: ``status``,
``verdict`` and ``title``. Rows are streamed from the store as they are read (a big crawl
has millions of links; none is held), cells made safe like the findings CSV
(:func:`analysis.formats.csv.cell`: control characters escaped, formulas defused).
"""
from __future__ import annotations

from typing import TextIO

from analysis.formats.csv import cell, writer

COLUMNS = ("source", "target", "tier", "tag", "region", "kind", "rel", "line", "text", "fragment",
           "status", "verdict", "title")


def write(audit, out: TextIO) -> None:
    """Write every link of ``audit``'s crawl to ``out``, one CSV row each, after a header row."""
    g = audit.graph
    nodes = g.node_data
    w = writer(out)
    w.writerow(COLUMNS)
    empty: dict = {}
    for (_, source, target, key, fragment, tag, _attr, text, region, rel, _icon, kind,
         line, *_) in g.store.link_rows(g.crawl_id):  # streamed from the store, never held
        node = nodes.get(key) or empty
        w.writerow([cell(source), cell(target), cell(node.get("tier")), cell(tag), cell(region), cell(kind),
                    cell(rel), cell(line), cell(text), cell(fragment), cell(node.get("status")),
                    cell(node.get("verdict")), cell(node.get("title"))])
