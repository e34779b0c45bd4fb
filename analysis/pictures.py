"""The pictures of the HTML report, as inline SVG drawn with matplotlib.

- :func:`tier_flows` and :func:`funnel_svg`: the funnel as a flow (Sankey-style) diagram of
  link weight between social, blog, site and conversion pages, forward flows in one colour
  and backward ones in red;
- :func:`section_graph` and :func:`graph_svg`: the owned pages aggregated by section (the
  first folder of their path) so a 10,000-page site stays legible, coloured by tier, with the
  social platforms they send visitors to; backward edges in red.

Both read the click model's arrays (:func:`analysis.metrics.walk_graph`: one pass over the
stored links into arrays of ints, link weights by region), never a Python object per link.
"""
from __future__ import annotations

import io
import logging
from urllib.parse import urlsplit

import networkx as nx
import numpy as np

from analysis.formats.safe import safe
from analysis.metrics import CONVERSION, ENDS, REGIONS, SOCIAL_LEAK, walk_graph
from crawler.scope import BLOG, SITE, SOCIAL

logger = logging.getLogger(__name__)

STAGES = ("social", "blog", "site", "conversion")  # the funnel's order, left to right
FORWARD, BACKWARD = "#2f6db3", "#d62728"            # flows along the funnel, and against it
TIER_COLOURS = {SITE: "#2f6db3", BLOG: "#2ca02c", SOCIAL: "#ff7f0e", "conversion": "#b8860b"}
MAX_SECTIONS = 24  # sections drawn; the smaller ones are merged into "other"


def _stage_of_pages(walk) -> np.ndarray:
    """The funnel stage (index in :data:`STAGES`) of each page of ``walk``."""
    stage = np.array([STAGES.index(t) if t in STAGES else STAGES.index(SITE) for t in walk.tiers], dtype=np.int8)
    stage[walk.offers] = STAGES.index("conversion")
    return stage


def tier_flows(g, weights: dict[str, float] | None = None, walk=None) -> dict[tuple[str, str], float]:
    """Link weight (summed region weights of clickable links) between the funnel's stages:
    ``{(from, to): weight}`` for ``from != to``, owned pages' links and the links of the social
    profiles that were read. Links among one stage's own pages are left out (no flow), and so
    are the links of conversion pages (their visitors have converted).

    >>> from analysis.graph import graph_from
    >>> home = "https://a.example/"
    >>> g = graph_from([{"url": home, "role": "page", "status": 200, "parsed": 1}],
    ...     [(home, home + "pricing/", "main", "other"), (home, "https://x.com/a", "footer", "profile")],
    ...     site=[home])
    >>> tier_flows(g)
    {('site', 'social'): 0.2, ('site', 'conversion'): 1.0}

    ``walk``: the :func:`analysis.metrics.walk_graph` of ``g`` if one was read already.
    """
    walk = walk if walk is not None else walk_graph(g, (), weights)
    n = walk.n
    if n == 0:
        return {}
    stage = _stage_of_pages(walk)
    src_stage = stage[walk.src]
    dst_stage = np.full(len(walk.dst), -1, dtype=np.int8)
    pages = walk.dst < n
    dst_stage[pages] = stage[walk.dst[pages]]
    dst_stage[walk.dst == n + CONVERSION] = STAGES.index("conversion")
    dst_stage[walk.dst == n + SOCIAL_LEAK] = STAGES.index("social")
    # a visitor on an offer page has converted: where its links lead is no part of the funnel
    keep = (dst_stage >= 0) & (dst_stage != src_stage) & (src_stage != STAGES.index("conversion"))
    sums = np.zeros((len(STAGES), len(STAGES)))
    np.add.at(sums, (src_stage[keep], dst_stage[keep]), walk.weight(keep))
    flows = {(STAGES[i], STAGES[j]): float(sums[i, j]) for i, j in zip(*np.nonzero(sums))}
    table = dict(zip(REGIONS, walk.table))
    for url, data in g.nodes(data=True):  # social profiles that were read: their links into the funnel
        if data.get("role") != "profile" or not data.get("parsed"):
            continue
        for _, key, e in g.out_edges(url, data=True):
            t = g.nodes[key] if key in g else {}
            to = "conversion" if (t.get("conversion") or t.get("lead_form")) else t.get("tier")
            if to in (SITE, BLOG, "conversion") and e["tag"] in ("a", "area"):
                w = float(table.get(e["region"] or "body", 1.0))
                flows[("social", to)] = flows.get(("social", to), 0.0) + w
    return dict(sorted(flows.items(), key=lambda kv: (STAGES.index(kv[0][0]), STAGES.index(kv[0][1]))))


def is_backward(source: str, target: str) -> bool:
    """A flow against the funnel's order (site -> social, site -> blog, ...).

    >>> is_backward("site", "social"), is_backward("blog", "site")
    (True, False)
    """
    return STAGES.index(target) < STAGES.index(source)


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # inline: no XML declaration or DOCTYPE


def _figure(width: float, height: float):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text as <text> (selectable, small), escaped by matplotlib
    plt.rcParams["svg.hashsalt"] = "funnelcheck"  # the same crawl draws the same file
    return plt.subplots(figsize=(width, height))


def funnel_svg(flows: dict[tuple[str, str], float]) -> str:
    """The funnel picture: the four stages as columns, each flow a band as wide as its share
    of the link weight; forward bands blue above, backward bands red below."""
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path

    fig, ax = _figure(9, 4.2)
    ax.set_xlim(-0.4, len(STAGES) - 0.6)
    ax.set_ylim(-1.25, 1.25)
    ax.axis("off")
    total = sum(flows.values()) or 1.0
    for i, stage in enumerate(STAGES):
        ax.add_patch(Rectangle((i - 0.06, -0.35), 0.12, 0.7, color=TIER_COLOURS.get(stage, "#777"), zorder=3))
        ax.text(i, 0, stage, ha="center", va="center", rotation=90, color="white", fontsize=10, zorder=4,
                fontweight="bold")
    for (a, b), w in flows.items():
        i, j = STAGES.index(a), STAGES.index(b)
        back = j < i
        width = max(0.015, 0.5 * w / total)
        lift = -1 if back else 1
        top = lift * (0.45 + 0.18 * abs(j - i))
        x0, x1 = (i - 0.06, j + 0.06) if back else (i + 0.06, j - 0.06)
        y0 = lift * 0.3
        verts = [(x0, y0), (x0, top), (x1, top), (x1, y0),
                 (x1, y0 + lift * width), (x1, top + lift * width), (x0, top + lift * width), (x0, y0 + lift * width),
                 (x0, y0)]
        codes = [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4, Path.LINETO, Path.CURVE4, Path.CURVE4,
                 Path.CURVE4, Path.CLOSEPOLY]
        colour = BACKWARD if back else FORWARD
        ax.add_patch(PathPatch(Path(verts, codes), facecolor=colour, edgecolor="none", alpha=0.55, zorder=2))
        ax.text((x0 + x1) / 2, top + lift * (width + 0.06), f"{a} \u2192 {b}: {w:,.1f}", ha="center",
                va="bottom" if not back else "top", fontsize=8, color=colour)
    ax.text(-0.4, 1.2, "along the funnel", color=FORWARD, fontsize=9, va="top")
    ax.text(-0.4, -1.2, "against it (rowing backward)", color=BACKWARD, fontsize=9, va="bottom")
    if not flows:
        ax.text(1.5, 0.8, "no links between the stages", ha="center", fontsize=10, color="#555")
    return _svg(fig)


def section_of(url: str) -> str:
    """The section a page belongs to: its host and the first folder of its path.

    >>> section_of("https://a.example/blog/2024/post/"), section_of("https://a.example/pricing.html")
    ('a.example/blog/', 'a.example/')
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    first, slash, _ = parts.path.lstrip("/").partition("/")
    return f"{parts.netloc}/" + (first + "/" if slash else "")


def section_graph(g, weights: dict[str, float] | None = None, max_sections: int = MAX_SECTIONS,
                  walk=None) -> nx.DiGraph:
    """Owned pages aggregated by :func:`section_of` (the ``max_sections`` biggest; the rest
    as ``other``), plus one ``social`` node for the platforms they link to. Node attributes
    ``tier``, ``pages``, ``conversion`` (pages that are offers); edge ``weight`` (the link
    weight), ``links`` and ``backward`` (to social, or site to blog).

    >>> from analysis.graph import graph_from
    >>> home = "https://a.example/"
    >>> g = graph_from([{"url": home, "role": "page", "status": 200, "parsed": 1}],
    ...     [(home, "https://x.com/a", "footer", "profile")], site=[home])
    >>> sorted(section_graph(g).edges(data="backward"))
    [('a.example/', 'social', True)]
    """
    walk = walk if walk is not None else walk_graph(g, (), weights)
    n = walk.n
    out = nx.DiGraph()
    if n == 0:
        return out
    names = [section_of(u) for u in walk.urls]
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    kept = sorted(counts, key=lambda s: (-counts[s], s))[:max_sections]
    index = {name: i for i, name in enumerate(kept)}
    other = len(kept)
    sec = np.array([index.get(name, other) for name in names], dtype=np.int32)
    labels = [*kept, "other", "social"]
    social = other + 1
    for i, label in enumerate(labels[:-1]):
        members = np.flatnonzero(sec == i)
        if len(members) == 0:
            continue
        tiers = [walk.tiers[m] for m in members]
        tier = max(set(tiers), key=tiers.count)
        out.add_node(label, tier=tier, pages=int(len(members)), conversion=int(walk.offers[members].sum()))
    dst = np.full(len(walk.dst), -1, dtype=np.int32)
    pages = walk.dst < n
    dst[pages] = sec[walk.dst[pages]]
    dst[walk.dst == n + SOCIAL_LEAK] = social
    keep = (dst >= 0) & (dst != sec[walk.src])
    src = sec[walk.src][keep]
    dst, w = dst[keep], walk.weight(keep)
    size = len(labels)
    weight = np.zeros((size, size))
    links = np.zeros((size, size), dtype=np.int64)
    np.add.at(weight, (src, dst), w)
    np.add.at(links, (src, dst), 1)
    if links[:, social].any():
        out.add_node("social", tier=SOCIAL, pages=0, conversion=0)
    for i, j in zip(*np.nonzero(links)):
        a, b = labels[i], labels[j]
        back = b == "social" or (out.nodes[a]["tier"] == SITE and out.nodes[b]["tier"] == BLOG)
        out.add_edge(a, b, weight=round(float(weight[i, j]), 3), links=int(links[i, j]), backward=back)
    return out


def graph_svg(sg: nx.DiGraph) -> str:
    """The section graph: social on the left, blog in the middle, site on the right (the
    funnel's direction), node size by pages, edge width by link weight, backward edges red."""
    fig, ax = _figure(9, 5.5)
    ax.axis("off")
    if sg.number_of_nodes() == 0:
        ax.text(0.5, 0.5, "no owned pages", ha="center")
        return _svg(fig)
    columns = {SOCIAL: 0, BLOG: 1, SITE: 2}
    by_column: dict[int, list[str]] = {}
    for node, data in sg.nodes(data=True):
        by_column.setdefault(columns.get(data["tier"], 2), []).append(node)
    pos = {}
    for col, nodes in by_column.items():
        nodes.sort(key=lambda s: (-sg.nodes[s]["pages"], s))
        for k, node in enumerate(nodes):
            pos[node] = (col, -k + (len(nodes) - 1) / 2)
    top = max((w for *_, w in sg.edges(data="weight")), default=1.0) or 1.0
    for backward in (False, True):
        edges = [(a, b) for a, b, back in sg.edges(data="backward") if back == backward]
        if edges:
            nx.draw_networkx_edges(sg, pos, edgelist=edges, ax=ax, edge_color=BACKWARD if backward else "#8aa9cf",
                                   width=[0.6 + 5 * sg.edges[e]["weight"] / top for e in edges], alpha=0.8,
                                   arrows=True, arrowsize=8, connectionstyle="arc3,rad=0.12", node_size=600)
    sizes = [200 + 1800 * (data["pages"] / max(1, max(d["pages"] for _, d in sg.nodes(data=True))))
             for _, data in sg.nodes(data=True)]
    colours = [TIER_COLOURS["conversion"] if data.get("conversion") and data["tier"] != SOCIAL
               else TIER_COLOURS.get(data["tier"], "#777") for _, data in sg.nodes(data=True)]
    nx.draw_networkx_nodes(sg, pos, ax=ax, node_size=sizes, node_color=colours, alpha=0.9)
    labels = {node: f"{safe(node)}\n{data['pages']} page{'' if data['pages'] == 1 else 's'}" if data["pages"]
              else safe(node) for node, data in sg.nodes(data=True)}
    nx.draw_networkx_labels(sg, pos, labels=labels, ax=ax, font_size=7)
    for name, col in (("social", 0), ("blog", 1), ("site", 2)):
        ax.text(col, max((y for x, y in pos.values()), default=0) + 0.9, name, ha="center", fontsize=10,
                fontweight="bold", color=TIER_COLOURS.get(name, "#333"))
    ax.margins(0.15)
    return _svg(fig)


__all__ = ["STAGES", "ENDS", "tier_flows", "funnel_svg", "section_of", "section_graph", "graph_svg", "is_backward"]
