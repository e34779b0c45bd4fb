"""Everything a report needs from one stored crawl: graph, findings, summary.

Formats (``analysis/formats/``) render a :class:`Audit`; none of them reads the
store except to stream rows that are too many to hold (the JSON ``links``).
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from analysis.findings import SEVERITIES, Finding, at_or_above
from analysis.graph import CrawlGraph, GraphBuilder, build_graph
from analysis.metrics import funnel_metrics
from analysis.rules import run_rules
from analysis.rules.javascript import failures
from crawler.malloc import release_free_memory

logger = logging.getLogger(__name__)


@dataclass
class Audit:
    store: object
    crawl: dict
    graph: CrawlGraph  # nodes in memory, links in the store
    findings: list[Finding]
    summary: dict
    metrics: dict | None = None   # analysis.metrics.funnel_metrics: site, entries, fix_first, link_score
    branding: dict = field(default_factory=dict)  # the HTML report's title, client and logo (a data: URI)
    baseline: dict = field(default_factory=dict)  # accepted id -> reason (analysis.baseline)
    baseline_file: str | None = None
    links: str | None = None  # which links the JSON report lists: all, broken, none (None: see formats.json)

    def failing(self, threshold: str) -> list[Finding]:
        """Findings at or above ``threshold`` (the ``--fail-on`` level); accepted ones never fail."""
        return [f for f in self.findings if at_or_above(f.severity, threshold) and f.id not in self.baseline]

    @property
    def plan(self) -> list[dict]:
        """The action plan (:mod:`analysis.plan`): what to fix, the costliest first, without the
        items of findings accepted in the baseline; empty without funnel metrics."""
        from analysis.plan import plan_of
        return plan_of(self)

    @property
    def accepted(self) -> list[Finding]:
        return [f for f in self.findings if f.id in self.baseline]

    @property
    def stale(self) -> list[str]:
        """Baseline ids that match no finding of this crawl (fixed, or the page changed)."""
        ids = {f.id for f in self.findings}
        return sorted(i for i in self.baseline if i not in ids)


def javascript_unread(unrendered) -> dict | None:
    """The pages that need JavaScript and were read as served, and why: ``{"pages": n, "why":
    "--render never" or "no Chromium"}`` (None: none). ``unrendered``: ``(url, render_why)``.

    >>> javascript_unread([("https://a.example/", "needs JavaScript: an empty app root (#root); read as served: "
    ...                     "--render never")])
    {'pages': 1, 'why': '--render never'}
    """
    whys = [why.rsplit("read as served: ", 1)[-1] for _, why in unrendered
            if why.startswith("needs JavaScript") and "read as served: " in why]
    return {"pages": len(whys), "why": Counter(whys).most_common(1)[0][0]} if whys else None


def render_failed(unrendered) -> dict | None:
    """The pages Chromium did not render (a timeout, a crash), read as served, and why, counted:
    ``{"pages": n, "why": "3 did not load in time"}`` (None: none). ``unrendered``: ``(url, render_why)``.

    >>> render_failed([("https://a.example/", "a sample of its template: rendering failed (the page did not finish "
    ...                 "rendering in 30 s (...)): read as served"), ("https://a.example/b", "--render never")])
    {'pages': 1, 'why': '1 did not load in time'}
    """
    whys = [why for _, why in unrendered if "rendering failed (" in why]
    return {"pages": len(whys), "why": failures(whys)} if whys else None


def summarize(g: CrawlGraph, findings: list[Finding], crawl: dict) -> dict:
    """Counts for the report header: pages per tier, verdicts, findings per severity and rule."""
    # pages crawled = owned HTML pages read; 404s, redirect hops and skipped URLs are URLs checked
    pages_by_tier, urls_by_tier, verdicts = Counter(), Counter(), Counter()
    for d, count in _alike(g):
        if d.get("role") == "page" and d.get("parsed") and not d.get("stub"):
            pages_by_tier[d["tier"]] += count
        urls_by_tier[d["tier"]] += count
        if d.get("role"):
            verdicts[d.get("verdict")] += count
    read_as = g.store.read_as(g.crawl_id)
    return {
        "status": crawl["status"],
        "uncrawled_by_limits": {k: v for k, v in (crawl.get("limits") or {}).items() if k not in ("traps", "unrendered")},
        "pages_crawled": sum(pages_by_tier.values()),
        "pages_by_tier": dict(sorted(pages_by_tier.items())),
        "urls_by_tier": dict(sorted(urls_by_tier.items())),
        "urls_checked": sum(verdicts.values()),
        "verdicts": dict(sorted(verdicts.items())),
        "links": g.number_of_edges(),
        "findings": {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES},
        "findings_by_rule": dict(sorted(Counter(f.rule for f in findings).items())),
        "network": g.graph.get("network"),
        "blog": g.graph["blog"].as_dict() if g.graph.get("blog") is not None else None,
        # how the owned HTML pages were read: as served, or rendered in Chromium (--render)
        "read_as": {k: v for k, v in read_as.items() if k != "unrendered"},
        # pages whose HTML shows they are built with JavaScript, read as served (never, no Chromium)
        "javascript_unread": javascript_unread(read_as["unrendered"]),
        # pages whose rendering failed (read as served): the header says so
        "render_failed": render_failed(read_as["unrendered"]),
        "profiles": _profiles(g),
    }


def _alike(g) -> list[tuple[object, int]]:
    """The graph's nodes grouped by their shared attribute dict (:class:`analysis.graph.NodeData`:
    tier, role, parsed, stub, verdict ... are all in it; a few hundred in a crawl of millions of
    URLs): ``(a node of the group, how many)``; a node without one (a plain dict) is its own group.

    >>> from analysis.graph import NodeData
    >>> a, b = NodeData(tier="site", title="A"), NodeData(tier="site", title="B")
    >>> class G: node_data = {"a": a, "b": b, "c": {"tier": "blog"}}
    >>> [(d["tier"], n) for d, n in _alike(G)]
    [('site', 2), ('blog', 1)]
    """
    groups: dict[int, list] = {}
    for d in g.node_data.values():
        shared = getattr(d, "_shared", None)
        group = groups.get(id(d) if shared is None else id(shared))
        if group is None:
            groups[id(d) if shared is None else id(shared)] = [d, 1]
        else:
            group[1] += 1
    return [(d, count) for d, count in groups.values()]


def _profiles(g) -> dict | None:
    """The business's profiles: which send visitors to the blog, the site, nowhere, or could not
    be read (:mod:`analysis.profiles`)."""
    from analysis.profiles import profile_verdicts, profiles_summary

    try:
        return profiles_summary(profile_verdicts(g))
    except KeyError:  # a graph without a scope (graph_from's bare examples)
        return None


def audit(store, crawl_id: int | None = None, builder: GraphBuilder | None = None,
          weights: dict[str, float] | None = None, entry: str | None = None, analytics: dict | None = None) -> Audit:
    """Analyse a stored crawl (the latest by default): graph, findings, summary and funnel
    metrics (``weights`` and ``entry`` as :func:`analysis.metrics.funnel_metrics` takes them;
    with ``analytics``, the exports :func:`analysis.analytics.load` read, weighted by the site's
    real traffic: :func:`analysis.analytics.traffic_metrics`).

    ``builder`` is a :class:`GraphBuilder` that already read part of the crawl
    while it ran (see :class:`LiveAudit`); it reads the rest.
    """
    g = builder.finish() if builder is not None else build_graph(store, store.crawl(crawl_id)["id"])
    release_free_memory()  # each stage frees what it built to get there (see crawler.malloc)
    crawl = g.graph["crawl"]
    findings = run_rules(g)
    summary = summarize(g, findings, crawl)
    release_free_memory()
    try:
        if analytics:
            from analysis.analytics import traffic_metrics
            metrics = traffic_metrics(g, findings, analytics, weights, entry)
        else:
            metrics = funnel_metrics(g, findings, weights, entry)
    except MemoryError:  # the report without them rather than none
        logger.warning("funnel metrics left out: out of memory")
        metrics = None
    if metrics is not None:  # where the social profiles' visitors enter the funnel (issue 22)
        from analysis.metrics import social_entry
        metrics["social"] = social_entry(g, metrics["entries"])
    if metrics is not None and not analytics and hasattr(store, "analytics"):
        from analysis.analytics import kept_line  # an earlier audit's traffic, kept with the crawl
        line = kept_line(store.analytics(crawl["id"]))
        if line:
            metrics["analytics_kept"] = {"kept": line}
    release_free_memory()
    return Audit(store, crawl, g, findings, summary, metrics)


# Past this many URLs a live graph would hold, in the parent, memory the crawl process needs:
# the analysis then waits for the crawl to end (the two never hold their peaks at once).
LIVE_LIMIT = 20_000


class LiveAudit:
    """Follows a running crawl: reads its new rows at most every ``interval`` seconds.

    The graph is then mostly built when the crawl ends, on the core the crawl
    process does not use. A crawl bigger than ``limit`` URLs is analysed after it
    ends instead, so memory stays flat.
    """

    def __init__(self, store, crawl_id: int, interval: float = 1.0, limit: int = LIVE_LIMIT):
        self.store, self.crawl_id, self.interval, self.limit = store, crawl_id, interval, limit
        self.builder: GraphBuilder | None = GraphBuilder(store, crawl_id)
        self.last = time.monotonic()

    def update(self) -> None:
        if self.builder is not None and time.monotonic() - self.last >= self.interval:
            self.builder.update()
            self.last = time.monotonic()
            if len(self.builder.g) > self.limit:
                self.builder = None  # let it go: built again from the store at the end
                release_free_memory()

    def audit(self, **metrics_options) -> Audit:
        return audit(self.store, self.crawl_id, self.builder, **metrics_options)


def unreachable_targets(a: Audit) -> list[tuple[str, str]]:
    """Targets the audit could not start from: no HTTP answer at all (DNS, refused, timeout,
    TLS), robots.txt forbids them, or the host blocked the crawler (challenge, 999, rate limit).
    A target answering 404 or looping is reachable: that is a finding.
    """
    out = []
    for target in a.crawl["targets"]:
        node = a.graph.nodes.get(a.graph.graph["key"](target))
        if node is None or node.get("role") is None:
            out.append((target, "not crawled"))
        elif node.get("error_kind") == "robots":
            out.append((target, "robots.txt disallows it (--ignore-robots to crawl anyway)"))
        elif node.get("status") is None and node.get("error_kind") != "excluded":
            out.append((target, node.get("label") or node.get("error_kind")))
        elif node.get("verdict") == "unverified" and node.get("role") == "page":
            out.append((target, node.get("label")))  # blocked or rate limited: nothing was read
    return out
