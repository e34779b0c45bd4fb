"""HTML report for a client: one self-contained file.

Inline CSS, pictures as inline SVG (matplotlib), no script and no external request (a strict
Content-Security-Policy says so to the browser too), readable without JavaScript, printable
to PDF. Sections: scorecard, the funnel picture, the link graph by section, what to fix first
(the action plan, ranked by what each problem costs in conversions), the findings with their pages, the entry pages.
Branding (``--title``, ``--client``, ``--logo``) comes from ``audit.branding``.

Every crawled string goes through Jinja2's autoescaping after its control characters are
escaped (:func:`analysis.formats.safe.safe`); only http(s) URLs become links.
"""
from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import TextIO

from functools import cache

from analysis.findings import SEVERITIES
from analysis.formats.safe import safe
from analysis.formats.sarif import fix_of
from analysis.plan import plan_of
from crawler.store import funnelcheck_version

# No script at all; styles inline only (matplotlib's SVG styles its shapes with attributes);
# images only from data: URIs (the logo); nothing else from anywhere.
CSP = ("default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src 'none'; "
       "connect-src 'none'; form-action 'none'; base-uri 'none'")
PAGES = 10       # pages listed under each finding before "… and N more"
ENTRIES = 200    # entry pages listed (the least likely to convert first)
LOGO_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"}
LOGO_MAX = 2 * 1024 * 1024

@cache
def _template():
    """The report's Jinja2 template (jinja2 loaded when a report is written, not at every start)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("analysis.formats", "templates"), autoescape=select_autoescape(["html"]))
    return env.get_template("report.html")


def logo_data_uri(path: str | Path) -> str:
    """A logo file as a ``data:`` URI (PNG, JPEG, GIF, WebP or SVG, up to 2 MiB); ValueError
    with a readable reason otherwise.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "logo.svg"); _ = open(p, "w").write("<svg/>")
    >>> logo_data_uri(p)
    'data:image/svg+xml;base64,PHN2Zy8+'
    """
    path = Path(path)
    kind = mimetypes.guess_type(path.name)[0]
    if kind not in LOGO_TYPES:
        raise ValueError(f"--logo {path}: not a PNG, JPEG, GIF, WebP or SVG image")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"--logo {path}: {exc.strerror}") from None
    if len(data) > LOGO_MAX:
        raise ValueError(f"--logo {path}: larger than 2 MiB")
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def _href(url: str) -> str | None:
    return url if url.startswith(("http://", "https://")) and url.isprintable() else None


def _pct(p) -> str:
    return "—" if p is None else f"{100 * p:.1f}%"


def _pp(gain) -> str:
    return "—" if gain is None else f"{100 * gain:+.2f} pts"


def _finding(f, g) -> dict:
    pages, seen = [], set()
    for loc in f.locations:
        if loc["url"] in seen:
            continue
        seen.add(loc["url"])
        node = g.nodes.get(loc["url"]) or {}
        pages.append({"url": safe(loc["url"]), "href": _href(loc["url"]), "line": loc["line"],
                      "title": safe(node.get("title"))})
        if len(pages) == PAGES:
            break
    if not pages:
        pages = [{"url": safe(u), "href": _href(u), "line": None, "title": None} for u in f.sources[:PAGES]]
    return {"severity": f.severity, "rule": f.rule, "message": safe(f.message), "pages": pages,
            "more": max(0, f.count - len(pages)), "fix": fix_of(f)}


def write(audit, out: TextIO) -> None:
    """Write ``audit`` as one self-contained HTML document to ``out``."""
    from analysis.metrics import funnel_metrics, walk_graph
    from analysis.pictures import funnel_svg, graph_svg, is_backward, section_graph, tier_flows

    g, crawl = audit.graph, audit.crawl
    metrics = getattr(audit, "metrics", None) or funnel_metrics(g, audit.findings)
    weights = metrics["site"]["weights"]
    walk = walk_graph(g, (), weights)  # the links read once for both pictures
    flows = tier_flows(g, weights, walk=walk)
    sections = section_graph(g, weights, walk=walk)
    del walk
    branding = getattr(audit, "branding", None) or {}
    targets = [safe(t) for t in crawl.get("targets") or []]
    shown = {f.id for f in audit.findings}
    fix_rows = []
    for x in plan_of(audit) if getattr(audit, "metrics", None) else metrics["fix_first"]:  # the action plan
        if not any(i in shown for i in x.get("ids") or (x["id"],)):
            continue  # filtered out of what is shown (--severity / --rule)
        fix_rows.append({"severity": x["severity"], "message": safe(x["words"]), "words": safe(x["words"]),
                         "fix": x["fix"], "pages": x["pages"], "cost": x["cost"], "rule": x["rule"],
                         "region": x["region"], "kind": x["kind"], "target": safe(x["target"]),
                         "gain": x["cost"] / 100})  # (gain: the template's points column)
    scores = metrics["link_score"]
    entries = sorted(metrics["entries"], key=lambda e: (e["conversion"] if e["conversion"] is not None else 2,
                                                          e["url"]))[:ENTRIES]
    entries = [{**e, "url": safe(e["url"]), "title": safe((g.nodes.get(e["url"]) or {}).get("title")),
                "score": scores.get(e["url"], "—")} for e in entries]
    html = _template().render(
        csp=CSP, title=safe(branding.get("title") or f"Funnel audit: {', '.join(targets) or 'crawl'}"),
        client=safe(branding.get("client")) if branding.get("client") else None, logo=branding.get("logo"),
        targets=targets, started=safe(crawl.get("started")), crawl_id=crawl.get("id"), status=safe(crawl.get("status")),
        version=funnelcheck_version(), site=metrics["site"], summary=audit.summary, severities=SEVERITIES,
        weights=weights, funnel_svg=funnel_svg(flows), graph_svg=graph_svg(sections),
        flows=[{"source": a, "target": b, "weight": w, "backward": is_backward(a, b)} for (a, b), w in flows.items()],
        sections=sum(1 for _, d in sections.nodes(data=True) if d["tier"] != "social"),
        fix_first=fix_rows, findings=[_finding(f, g) for f in audit.findings], entries=entries,
        entries_total=len(metrics["entries"]), pct=_pct, pp=_pp)
    out.write(html)
