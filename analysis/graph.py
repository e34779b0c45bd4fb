"""A stored crawl as a networkx graph.

Nodes are URLs (de-duplication keys): every fetched URL and every link target,
social and external ones included. Node attributes: ``tier``, ``role``
(page, asset, profile, external, or None when never fetched), ``status``,
``verdict`` (see :mod:`analysis.status`), ``title``, ``lead_form``, ``anchors``,
``conversion`` ('purchase', 'lead' or None), ``parsed``. Each link is one edge
of a :class:`networkx.MultiDiGraph` with ``target`` (as written), ``fragment``,
``tag``, ``region``, ``rel``, ``icon``, ``kind``, ``line`` and ``text``.
"""
from __future__ import annotations

import json

import networkx as nx

from analysis.status import UNCHECKED, resolve
from analysis.tiers import OWNED, Scope


def scope_of(options: dict) -> Scope:
    """The :class:`Scope` a crawl was run with."""
    return Scope(site=tuple(options.get("site", ())), blog=tuple(options.get("blog", ())),
                 social=tuple(options.get("social", ())), conversion=tuple(options.get("conversion", ())))


def build_graph(store, crawl_id: int) -> nx.MultiDiGraph:
    """Read crawl ``crawl_id`` from ``store`` into a MultiDiGraph.

    >>> import tempfile, os
    >>> from crawler.store import Store
    >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
    >>> cid = s.create_crawl(["https://a.example/"], {"site": ["https://a.example/"]})
    >>> s.write_page(cid, {"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1},
    ...     [("https://a.example/", "https://x.com/a", "https://x.com/a", None, "a", "href", "X", "footer", "", 1, "profile", 3)])
    >>> g = build_graph(s, cid)
    >>> g.nodes["https://x.com/a"]["tier"], g.nodes["https://a.example/"]["verdict"]
    ('social', 'ok')
    """
    crawl = store.crawl(crawl_id)
    options = crawl["options"]
    scope = scope_of(options)
    accept = frozenset(options.get("accept") or ())
    g = nx.MultiDiGraph(crawl=crawl, scope=scope)
    rows: dict[str, dict] = {}
    for row in store.pages(crawl_id):
        rows[row["url"]] = row
    for url, row in rows.items():
        tier = scope.tier(url)
        g.add_node(url, tier=tier, role=row["role"], status=row["status"],
                   error_kind=row["error_kind"], reason=row["reason"], title=row["title"],
                   lead_form=bool(row["lead_form"]), parsed=bool(row["parsed"]),
                   anchors=frozenset(json.loads(row["anchors"])) if row["anchors"] else frozenset(),
                   location=row["location"], content_type=row["content_type"], depth=row["depth"],
                   conversion=scope.conversion_kind(url) if tier in OWNED else None)
    add_edge = g.add_edge
    for (source, target, key, fragment, tag, attr, text, region, rel, icon, kind, line) in store.link_rows(crawl_id):
        if key not in g:
            tier = scope.tier(key)
            g.add_node(key, tier=tier, role=None, status=None, parsed=False, lead_form=False, anchors=frozenset(),
                       conversion=scope.conversion_kind(key) if tier in OWNED else None)
        add_edge(source, key, target=target, fragment=fragment, tag=tag, attr=attr, region=region, rel=rel,
                 icon=bool(icon), kind=kind, line=line, text=text)
    platform_of = scope.platform
    for url, data in g.nodes(data=True):
        if data.get("role") is None and url not in rows:
            data["verdict"], data["label"], data["chain"], data["final_url"] = UNCHECKED, "not checked", [], None
            data["loop"] = data["permanent"] = False
            continue
        v = resolve(url, rows, accept, platform_of)
        data.update(verdict=v.verdict, label=v.label, chain=v.chain, final_url=v.final_url, loop=v.loop,
                    permanent=v.permanent, final_status=v.status, final_error=v.error_kind)
        if v.final_url and v.final_url in rows and v.verdict == "ok":
            final = rows[v.final_url]
            data["lead_form"] = data["lead_form"] or bool(final["lead_form"])
    return g


def offers(g: nx.MultiDiGraph, page: str) -> bool:
    """Does ``page`` offer a purchase or lead capture (itself, a lead form, or a link to one)?"""
    node = g.nodes[page]
    if node.get("conversion") or node.get("lead_form"):
        return True
    for _, target, data in g.out_edges(page, data=True):
        if data["tag"] not in ("a", "area", "form", "meta", "iframe"):
            continue
        t = g.nodes[target]
        if t.get("conversion") or t.get("lead_form"):
            return True
    return False
