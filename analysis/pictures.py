"""The pictures of the HTML report, as inline SVG drawn with matplotlib.

- :func:`visitor_outcomes` and :func:`funnel_svg`: where 100 visitors go, as a flow
  (Sankey-style) diagram from where they land (the blog, the site) to how their visit ends
  (an offer, a social platform, another site, or they leave); the offer band blue, the social
  one red;
- :func:`section_graph` and :func:`graph_svg`: the owned pages aggregated by section (the
  first folder of their path that holds more than one page) so a 10,000-page site stays
  legible: the largest sections of the blog and of the site drawn, the rest grouped into one
  "+ N smaller sections" node per column, with the social platforms they send visitors to;
  backward edges in red.

Labels never overlap: each column's labels are spread apart (:func:`spread`) and the figure
grows with the rows it draws. The section graph reads the click model's arrays
(:func:`analysis.metrics.walk_graph`: one pass over the stored links into arrays of ints, link
weights by region), never a Python object per link. ``*_figure`` return the matplotlib figure
(the tests measure its labels), ``*_svg`` the SVG text.
"""
from __future__ import annotations

import io
import logging
import re
from collections import Counter
from urllib.parse import quote, unquote_to_bytes, urlsplit

import networkx as nx
import numpy as np

from analysis.formats.safe import safe
from analysis.metrics import ENDS, SOCIAL_LEAK, walk_graph
from crawler.scope import BLOG, SITE, SOCIAL

logger = logging.getLogger(__name__)

FORWARD, BACKWARD = "#2f6db3", "#d62728"            # flows along the funnel, and against it
TIER_COLOURS = {SITE: "#2f6db3", BLOG: "#2ca02c", SOCIAL: "#ff7f0e", "conversion": "#b8860b"}
OUTCOME_COLOURS = {"conversion": "#b8860b", "social_leak": "#ff7f0e", "external": "#9ca3af", "exit": "#d1d5db"}
OUTCOME_WORDS = {"conversion": "reach an offer", "social_leak": "leave for a social platform",
                 "external": "follow a link to another site", "exit": "leave (close the page or go back)"}
MAX_ROWS = 12   # sections drawn per column; past it the smallest are one "+ N smaller sections" node
LABEL_CHARS = 40  # a section's name is cut to this many characters (the table has it whole)
FONT = 8


# --- where 100 visitors go ----------------------------------------------------------------------

def visitor_outcomes(entries: list[dict]) -> dict[str, dict[str, float]]:
    """Of 100 visitors who land on an entry page (each entry page alike, as the click model
    takes them, or each as often as the analytics counts its entries: its ``share``, which
    :func:`analysis.metrics.funnel_metrics` gives with visits), how many land on each tier and
    how each group's visit ends:
    ``{tier: {"visitors": v, "conversion": c, "social_leak": s, "external": x, "exit": e}}``
    with the ends summing to ``v`` (all in visitors of the 100), blog first.

    >>> visitor_outcomes([{"tier": "blog", "conversion": 0.3, "social_leak": 0.1, "external": 0.2, "exit": 0.4},
    ...                   {"tier": "site", "conversion": 0.5, "social_leak": 0.0, "external": 0.0, "exit": 0.5}])
    {'blog': {'visitors': 50.0, 'conversion': 15.0, 'social_leak': 5.0, 'external': 10.0, 'exit': 20.0}, \
'site': {'visitors': 50.0, 'conversion': 25.0, 'social_leak': 0.0, 'external': 0.0, 'exit': 25.0}}

    Weighted by the real entries (1,000 on the home page, 500 on a page that leads nowhere):

    >>> visitor_outcomes([{"tier": "site", "conversion": 0.354167, "exit": 0.645833, "share": 0.666667},
    ...                   {"tier": "site", "conversion": 0.0, "exit": 1.0, "share": 0.333333}])["site"]["conversion"]
    23.6111
    """
    total = len(entries)
    if not total:
        return {}
    out: dict[str, dict[str, float]] = {}
    for e in entries:
        row = out.setdefault(e["tier"], dict.fromkeys(("visitors", *ENDS), 0.0))
        part = e["share"] if e.get("share") is not None else 1 / total
        row["visitors"] += 100 * part
        for end in ENDS:
            row[end] += 100 * (e.get(end) or 0.0) * part
    order = {BLOG: 0, SITE: 1}
    return {t: {k: round(v, 4) for k, v in out[t].items()} for t in sorted(out, key=lambda t: (order.get(t, 2), t))}


def per_hundred(outcomes: dict[str, dict[str, float]], tier: str) -> dict[str, float]:
    """The ends of the visitors landing on ``tier`` as numbers of 100 such visitors.

    >>> per_hundred({"blog": {"visitors": 50.0, "conversion": 15.0, "social_leak": 5.0, "external": 10.0,
    ...                       "exit": 20.0}}, "blog")
    {'conversion': 30.0, 'social_leak': 10.0, 'external': 20.0, 'exit': 40.0}
    """
    row = outcomes[tier]
    return {end: round(100 * row[end] / row["visitors"], 4) if row["visitors"] else 0.0 for end in ENDS}


def spread(ys: list[float], gap: float, lo: float | None = None, hi: float | None = None) -> list[float]:
    """Label positions as near ``ys`` as can be with at least ``gap`` between neighbours (the
    order kept), kept within ``lo``..``hi`` where given.

    >>> spread([0.0, 0.1, 0.15, 2.0], gap=0.5)
    [-0.416667, 0.083333, 0.583333, 2.0]
    >>> spread([0.0, 0.1], gap=0.5, lo=0.0)
    [0.0, 0.5]
    """
    order = sorted(range(len(ys)), key=ys.__getitem__)
    pos = [ys[i] for i in order]
    # runs of labels too close together are centred on their mean, then merged while they collide
    blocks: list[list] = []  # [first index, count, start]
    for k, y in enumerate(pos):
        blocks.append([k, 1, y])
        while len(blocks) > 1 and blocks[-2][2] + blocks[-2][1] * gap > blocks[-1][2]:
            b = blocks.pop()
            a = blocks[-1]
            mean = (sum(pos[a[0]:a[0] + a[1]]) + sum(pos[b[0]:b[0] + b[1]])) / (a[1] + b[1])
            a[1] += b[1]
            a[2] = mean - (a[1] - 1) * gap / 2
    out = [start + j * gap for _, count, start in blocks for j in range(count)]
    if lo is not None and out and out[0] < lo:
        out = [max(y, lo + k * gap) for k, y in enumerate(out)]
    if hi is not None and out and out[-1] > hi:
        shift = out[-1] - hi
        out = [y - shift for y in out]
    result = [0.0] * len(ys)
    for i, y in zip(order, out):
        result[i] = round(y, 6)
    return result


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
    plt.rcParams["font.family"] = "DejaVu Sans"
    return plt.subplots(figsize=(width, height))


def _band(ax, x0, x1, bottom0, top0, bottom1, top1, colour, alpha):
    """A band from the span ``bottom0..top0`` at ``x0`` to ``bottom1..top1`` at ``x1``."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    mid = (x0 + x1) / 2
    verts = [(x0, top0), (mid, top0), (mid, top1), (x1, top1), (x1, bottom1), (mid, bottom1), (mid, bottom0),
             (x0, bottom0), (x0, top0)]
    codes = [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4, Path.LINETO, Path.CURVE4, Path.CURVE4, Path.CURVE4,
             Path.CLOSEPOLY]
    ax.add_patch(PathPatch(Path(verts, codes), facecolor=colour, edgecolor="none", alpha=alpha, zorder=2))


def people(x: float | None) -> str:
    """A number of visitors out of 100 in whole people ("under 1" for a trace).

    >>> people(31.2), people(1.6), people(0.3), people(0), people(None)
    ('31', '2', 'under 1', '0', '—')
    """
    if x is None:
        return "—"
    if x <= 0:
        return "0"
    return "under 1" if x < 0.5 else f"{x:,.0f}"


def funnel_figure(outcomes: dict[str, dict[str, float]]):
    """Where 100 visitors go: where they land (left) to how their visit ends (right)."""
    from matplotlib.patches import Rectangle

    fig, ax = _figure(9, 4.2)
    ax.set_xlim(-0.75, 1.75)
    ax.set_ylim(-0.08, 1.08)
    ax.axis("off")
    if not outcomes:
        ax.text(0.5, 0.5, "no entry page: no visitor to follow", ha="center", fontsize=10, color="#555")
        return fig
    gap, bar = 0.03, 0.04
    tiers = [t for t in outcomes if outcomes[t]["visitors"] > 0]
    ends = [e for e in ENDS if sum(outcomes[t][e] for t in tiers) > 0]
    scale = (1 - gap * (len(tiers) - 1)) / 100, (1 - gap * (max(1, len(ends)) - 1)) / 100
    left, y = {}, 1.0
    for t in tiers:  # top to bottom
        h = outcomes[t]["visitors"] * scale[0]
        left[t] = (y - h, y)
        y -= h + gap
    right, y = {}, 1.0
    for e in ends:
        h = sum(outcomes[t][e] for t in tiers) * scale[1]
        right[e] = (y - h, y)
        y -= h + gap
    out_cursor = {t: left[t][1] for t in tiers}
    in_cursor = {e: right[e][1] for e in ends}
    for t in tiers:
        for e in ends:
            v = outcomes[t][e]
            if v <= 0:
                continue
            h0, h1 = v * scale[0], v * scale[1]
            top0, top1 = out_cursor[t], in_cursor[e]
            colour, alpha = {"conversion": (FORWARD, 0.55), "social_leak": (BACKWARD, 0.55)}.get(e, ("#9ca3af", 0.3))
            _band(ax, bar, 1 - bar, top0 - h0, top0, top1 - h1, top1, colour, alpha)
            out_cursor[t] -= h0
            in_cursor[e] -= h1
    for t, (b, top) in left.items():
        ax.add_patch(Rectangle((0, b), bar, top - b, color=TIER_COLOURS.get(t, "#777"), zorder=3))
    for e, (b, top) in right.items():
        ax.add_patch(Rectangle((1 - bar, b), bar, top - b, color=OUTCOME_COLOURS[e], zorder=3))
    step = 0.11  # two lines of 9-point text in this axes' units
    ys = spread([sum(left[t]) / 2 for t in tiers], step)
    for t, y in zip(tiers, ys):
        ax.text(-0.03, y, f"{people(outcomes[t]['visitors'])} land on the {t}", ha="right", va="center",
                fontsize=9, color=TIER_COLOURS.get(t, "#333"), fontweight="bold")
    ys = spread([sum(right[e]) / 2 for e in ends], step / 2 + 0.01)
    for e, y in zip(ends, ys):
        total = sum(outcomes[t][e] for t in tiers)
        colour = {"conversion": TIER_COLOURS["conversion"], "social_leak": BACKWARD}.get(e, "#4b5563")
        ax.text(1.03, y, f"{people(total)} {OUTCOME_WORDS[e]}", ha="left", va="center", fontsize=9, color=colour,
                fontweight="bold" if e in ("conversion", "social_leak") else "normal")
    ax.text(0.02, 1.07, "where 100 visitors land", ha="center", va="bottom", fontsize=9, color="#4b5563")
    ax.text(0.98, 1.07, "how their visit ends", ha="center", va="bottom", fontsize=9, color="#4b5563")
    return fig


def funnel_svg(outcomes: dict[str, dict[str, float]]) -> str:
    """:func:`funnel_figure` as SVG."""
    return _svg(funnel_figure(outcomes))


# --- the link graph by section ------------------------------------------------------------------

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


_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def readable(url: str) -> str:
    """``url`` as a person reads it: percent-escaped UTF-8 letters shown as letters (never an
    escaped space, slash, punctuation or other character that would change what the URL says).

    >>> readable("https://a.example/%CE%B1%CE%B2/x%20y%2F")
    'https://a.example/αβ/x%20y%2F'
    >>> readable("https://a.example/%D5%AB%D5%B6%D5%B9%D5%BA%D5%A5%D5%9E%D5%BD-%FF")
    'https://a.example/ինչպե%D5%9Eս-%FF'
    """
    def letters(m):
        try:
            text = unquote_to_bytes(m.group()).decode("utf-8")
        except UnicodeDecodeError:
            return m.group()
        return "".join(c if c.isalnum() and not c.isascii() else quote(c, safe="") for c in text)

    return _ESCAPES.sub(letters, url)


def _cut(text: str, size: int = LABEL_CHARS) -> str:
    """
    >>> _cut("abcdefghij", 6)
    'abcde…'
    """
    return text if len(text) <= size else text[:size - 1] + "…"


def section_graph(g, weights: dict[str, float] | None = None, max_rows: int = MAX_ROWS,
                  walk=None) -> nx.DiGraph:
    """Owned pages aggregated by section: :func:`section_of`, a folder holding a single page
    counted with its host's top-level pages. Per column (the blog's sections, the site's) the
    ``max_rows`` largest are kept, or ``max_rows - 1`` and one ``+ N smaller sections`` node;
    plus one ``social`` node for the platforms they link to. Node attributes ``tier``,
    ``pages``, ``conversion`` (pages that are offers), ``sections`` (how many it holds) and
    ``label``; edge ``weight`` (the link weight), ``links`` and ``backward`` (to social, or site
    to blog).

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
    counts = Counter(names)
    names = [name if counts[name] > 1 or name.endswith(".") else name.split("/", 1)[0] + "/" for name in names]
    tiers = Counter(zip(names, walk.tiers))
    tier_of: dict[str, str] = {}
    for (name, tier), k in sorted(tiers.items(), key=lambda kv: -kv[1]):
        tier_of.setdefault(name, tier)
    size = Counter(names)
    column = lambda name: BLOG if tier_of[name] == BLOG else SITE
    kept: list[str] = []
    rest: dict[str, list[str]] = {}
    for col in (BLOG, SITE):
        ranked = sorted((s for s in size if column(s) == col), key=lambda s: (-size[s], s))
        if len(ranked) > max_rows:
            kept += ranked[:max_rows - 1]
            rest[col] = ranked[max_rows - 1:]
        else:
            kept += ranked
    hosts = {col: {s.split("/", 1)[0] for s in size if column(s) == col} for col in (BLOG, SITE)}
    if len(set().union(*hosts.values())) > 1:  # the column's title names its one host
        out.graph["hosts"] = {col: next(iter(h)) for col, h in hosts.items() if len(h) == 1}
    labels = list(kept)
    show = {s: (s[s.index("/"):] if len(hosts[column(s)]) == 1 else s) for s in kept}
    show = {s: "/ (top-level pages)" if v == "/" else readable(v) for s, v in show.items()}
    for col, smaller in rest.items():
        node = f"+ {len(smaller)} smaller {col} sections"
        labels.append(node)
        show[node] = f"+ {len(smaller)} smaller sections"
    index = {name: i for i, name in enumerate(labels)}
    for col, smaller in rest.items():
        for s in smaller:
            index[s] = labels.index(f"+ {len(smaller)} smaller {col} sections")
    social = len(labels)
    labels.append("social")
    sec = np.array([index[name] for name in names], dtype=np.int32)
    for i, label in enumerate(labels[:-1]):
        members = np.flatnonzero(sec == i)
        merged = len(rest.get(BLOG if label.endswith(" blog sections") else SITE, ())) if label.startswith("+ ") else 1
        out.add_node(label, tier=tier_of.get(label, BLOG if label.endswith(" blog sections") else SITE),
                     pages=int(len(members)), conversion=int(walk.offers[members].sum()), sections=merged,
                     label=show[label])
    dst = np.full(len(walk.dst), -1, dtype=np.int32)
    pages = walk.dst < n
    dst[pages] = sec[walk.dst[pages]]
    dst[walk.dst == n + SOCIAL_LEAK] = social
    keep = (dst >= 0) & (dst != sec[walk.src])
    src = sec[walk.src][keep]
    dst, w = dst[keep], walk.weight(keep)
    count = len(labels)
    weight = np.zeros((count, count))
    links = np.zeros((count, count), dtype=np.int64)
    np.add.at(weight, (src, dst), w)
    np.add.at(links, (src, dst), 1)
    if links[:, social].any():
        out.add_node("social", tier=SOCIAL, pages=0, conversion=0, sections=0, label="social platforms")
    for i, j in zip(*np.nonzero(links)):
        a, b = labels[i], labels[j]
        back = b == "social" or (out.nodes[a]["tier"] == SITE and out.nodes[b]["tier"] == BLOG)
        out.add_edge(a, b, weight=round(float(weight[i, j]), 3), links=int(links[i, j]), backward=back)
    return out


COLUMN_X = {SOCIAL: 0.0, BLOG: 1.1, SITE: 2.5}


def graph_figure(sg: nx.DiGraph):
    """The section graph: social platforms on the left, the blog's sections in the middle, the
    site's on the right (the funnel's direction, read backward), node size by pages, edge width
    by link weight, backward edges red; links between two sections of one column left out."""
    columns: dict[str, list[str]] = {}
    for node, data in sg.nodes(data=True):
        columns.setdefault(data["tier"] if data["tier"] in COLUMN_X else SITE, []).append(node)
    rows = max((len(v) for v in columns.values()), default=1)
    fig, ax = _figure(9, max(2.6, 0.36 * rows + 1.2))
    fig.subplots_adjust(left=0.01, right=0.99, top=0.99, bottom=0.01)
    ax.axis("off")
    if sg.number_of_nodes() == 0:
        ax.text(0.5, 0.5, "no owned pages", ha="center")
        return fig
    pos = {}
    for col, nodes in columns.items():
        nodes.sort(key=lambda s: (s.startswith("+ "), -sg.nodes[s]["pages"], s))
        for k, node in enumerate(nodes):
            pos[node] = (COLUMN_X[col], (len(nodes) - 1) / 2 - k)
    top = (rows - 1) / 2
    ax.set_xlim(-0.35, 3.95)
    ax.set_ylim(-top - 0.7, top + 1.5)
    biggest = max(1, max(d["pages"] for _, d in sg.nodes(data=True)))
    sizes = {node: (7 + 15 * (data["pages"] / biggest) ** 0.5) ** 2 if data["pages"] else 120
             for node, data in sg.nodes(data=True)}
    drawn = [(a, b) for a, b, d in sg.edges(data=True) if pos[a][0] != pos[b][0]]
    heaviest = max((sg.edges[e]["weight"] for e in drawn), default=1.0) or 1.0
    for backward in (False, True):
        edges = [e for e in drawn if sg.edges[e]["backward"] == backward]
        if edges:
            nx.draw_networkx_edges(sg, pos, edgelist=edges, ax=ax, edge_color=BACKWARD if backward else "#8aa9cf",
                                   width=[0.5 + 4 * sg.edges[e]["weight"] / heaviest for e in edges], alpha=0.7,
                                   arrows=True, arrowsize=7, connectionstyle="arc3,rad=0.08",
                                   nodelist=list(sg.nodes), node_size=[sizes[s] for s in sg.nodes])
    nodes = list(sg.nodes)
    colours = [TIER_COLOURS["conversion"] if sg.nodes[s].get("conversion") and sg.nodes[s]["tier"] != SOCIAL
               else TIER_COLOURS.get(sg.nodes[s]["tier"], "#777") for s in nodes]
    drawn_nodes = nx.draw_networkx_nodes(sg, pos, nodelist=nodes, ax=ax, node_size=[sizes[s] for s in nodes],
                                         node_color=colours, alpha=[0.5 if s.startswith("+ ") else 0.95 for s in nodes],
                                         linewidths=0)
    drawn_nodes.set_zorder(4)  # above the arrows that end on them
    texts = {}
    for node, data in sg.nodes(data=True):
        x, y = pos[node]
        if data["tier"] == SOCIAL:
            continue  # its column's title names it
        texts[node] = ax.text(x + 0.09, y, _section_label(data), ha="left", va="center", fontsize=FONT, zorder=5,
                              color="#111827" if not node.startswith("+ ") else "#4b5563",
                              bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none",
                                    "alpha": 0.8})
    _fit_labels(fig, ax, sg, texts, pos)
    hosts = sg.graph.get("hosts") or {}
    for name, col in (("social platforms", SOCIAL), ("blog", BLOG), ("site", SITE)):
        ax.text(COLUMN_X[col], top + 0.75, name, ha="center", va="bottom", fontsize=10, fontweight="bold",
                color=TIER_COLOURS.get(col, "#333"))
        if col in hosts:
            ax.text(COLUMN_X[col], top + 0.7, _cut(safe(readable(hosts[col])), 28), ha="center", va="top",
                    fontsize=FONT, color="#4b5563")
    return fig


def _section_label(data: dict, size: int = LABEL_CHARS) -> str:
    pages = f"{data['pages']:,} page{'' if data['pages'] == 1 else 's'}"
    return f"{safe(_cut(data['label'], size))} · {pages}"


def _fit_labels(fig, ax, sg, texts: dict, pos: dict) -> None:
    """Cut the section names of a column whose labels would reach the next column's nodes (or
    the picture's right edge) until they fit, measured by matplotlib's renderer."""
    renderer = fig.canvas.get_renderer()
    to_data = ax.transData.inverted()
    edges = sorted(set(COLUMN_X.values()))
    for node, text in texts.items():
        x = pos[node][0]
        limit = next((e - 0.14 for e in edges if e > x + 0.01), ax.get_xlim()[1])
        size = LABEL_CHARS
        while size > 8:
            right = to_data.transform(text.get_window_extent(renderer).corners()[-1])[0]
            if right <= limit:
                break
            size -= 2
            text.set_text(_section_label(sg.nodes[node], size))


def graph_svg(sg: nx.DiGraph) -> str:
    """:func:`graph_figure` as SVG."""
    return _svg(graph_figure(sg))


__all__ = ["ENDS", "visitor_outcomes", "per_hundred", "funnel_figure", "funnel_svg", "section_of",
           "readable", "section_graph", "graph_figure", "graph_svg", "spread"]
