"""HTML report for a client: one self-contained file, printable to a short PDF.

Inline CSS, pictures as inline SVG (matplotlib), no script and no external request (a strict
Content-Security-Policy says so to the browser too), readable without JavaScript. Sections:
a summary in words (what works, what costs most, what to do first), the scorecard, where 100
visitors go (the funnel, said as visitors), the link graph by section, the action plan
(ranked by what each problem costs), the findings with their pages, the entry pages.
Branding (``--title``, ``--client``, ``--logo``) comes from ``audit.branding``.

Long lists are cut where a reader stops reading and a printed page would run on: a finding
lists its first pages and "and N more", near-identical findings (one rule, severity, region
and kind) show their first few in full and the rest as one row, the action plan its first
rows, the entry pages the least likely to convert; the JSON report has everything.

Every crawled string goes through Jinja2's autoescaping after its control characters are
escaped (:func:`analysis.formats.safe.safe`); only http(s) URLs become links.
"""
from __future__ import annotations

import base64
import heapq
import mimetypes
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import TextIO

from analysis.findings import SEVERITIES
from analysis.formats.safe import safe
from analysis.formats.sarif import fix_of
from analysis.profiles import profile_line
from crawler.store import funnelcheck_version

# No script at all; styles inline only (matplotlib's SVG styles its shapes with attributes);
# images only from data: URIs (the logo); nothing else from anywhere.
CSP = ("default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src 'none'; "
       "connect-src 'none'; form-action 'none'; base-uri 'none'")
PAGES = 3        # pages listed under each finding before "… and N more"
ALIKE = 3        # near-identical findings shown in full before the rest are one row
ALIKE_LISTED = 8  # of the rest, this many named in that row
PLAN_ROWS = 10   # rows of the action plan
ENTRIES = 15     # entry pages listed (the least likely to convert first)
LOGO_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"}
LOGO_MAX = 2 * 1024 * 1024
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


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


def when(stamp: str | None) -> str:
    """An ISO time stamp as people write it, in UTC.

    >>> when("2026-12-06T17:53:09+00:00"), when("2026-12-06T18:53:09+01:00"), when(None)
    ('6 December 2026, 17:53 UTC', '6 December 2026, 17:53 UTC', '')
    >>> when("yesterday")
    'yesterday'
    """
    if not stamp:
        return ""
    try:
        t = datetime.fromisoformat(stamp)
    except ValueError:
        return safe(stamp)
    t = (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    return f"{t.day} {MONTHS[t.month - 1]} {t.year}, {t:%H:%M} UTC"


def visitors(x: float | None) -> str:
    """A number of visitors out of 100, as people say it.

    >>> visitors(31.2), visitors(2.46), visitors(0.04), visitors(0), visitors(None)
    ('31', '2.5', 'under 0.1', '0', '—')
    """
    if x is None:
        return "—"
    if x <= 0:
        return "0"
    if x < 0.05:
        return "under 0.1"
    return f"{x:.1f}" if x < 9.95 else f"{x:,.0f}"




def _say(x: float, plural: str, singular: str, rest: str = "") -> str:
    """
    >>> _say(31.2, "reach", "reaches", "an offer"), _say(1.2, "reach", "reaches", "an offer"), _say(0.2, "leave", "leaves")
    ('31 reach an offer', '1 reaches an offer', 'under 1 leaves')
    """
    from analysis.pictures import people

    count = people(x)
    return f"{count} {plural if count not in ('1', 'under 1') else singular}{' ' + rest if rest else ''}"


def _href(url: str) -> str | None:
    return url if url.startswith(("http://", "https://")) and url.isprintable() else None


def _url(url: str) -> dict:
    """A URL for the template: shown readable (:func:`analysis.pictures.readable`), linked as is."""
    from analysis.pictures import readable

    return {"url": safe(readable(url)), "href": _href(url)}


def _pct(p) -> str:
    return "—" if p is None else f"{100 * p:.1f}%"


def _kind(f) -> str | None:
    return f.detail.get("kind") if isinstance(f.detail, dict) else None


def _finding(f, g) -> dict:
    pages, seen = [], set()
    for loc in f.locations:
        if loc["url"] in seen:
            continue
        seen.add(loc["url"])
        node = g.nodes.get(loc["url"]) or {}
        pages.append({**_url(loc["url"]), "line": loc["line"], "title": safe(node.get("title"))})
        if len(pages) == PAGES:
            break
    if not pages:
        pages = [{**_url(u), "line": None, "title": None} for u in f.sources[:PAGES]]
    from analysis.pictures import readable
    return {"severity": f.severity, "rule": f.rule, "message": safe(readable(f.message)), "pages": pages,
            "more": max(0, f.count - len(pages)), "fix": fix_of(f)}


def finding_rows(findings, g) -> list[dict]:
    """The findings table: each finding with its first pages; of near-identical findings (one
    rule, severity, region and kind) the first :data:`ALIKE` in full and the rest as one row
    (``alike``: their messages, the first :data:`ALIKE_LISTED`, and ``more``), in the order given."""
    from analysis.pictures import readable

    groups: dict[tuple, list] = {}
    for f in findings:
        groups.setdefault((f.severity, f.rule, f.region, _kind(f)), []).append(f)
    rows = []
    for group in groups.values():
        rows += [_finding(f, g) for f in group[:ALIKE]]
        rest = group[ALIKE:]
        if len(rest) == 1:
            rows.append(_finding(rest[0], g))
        elif rest:
            f = rest[0]
            rows.append({"severity": f.severity, "rule": f.rule, "alike": [safe(readable(x.message))
                                                                           for x in rest[:ALIKE_LISTED]],
                         "more": max(0, len(rest) - ALIKE_LISTED), "count": len(rest), "fix": fix_of(f)})
    return rows


def plan_rows(audit) -> list[dict]:
    """The action plan as the report shows it, ranked as given: the metrics' ``fix_first`` (the
    action plan of :mod:`analysis.plan`); each row with ``cost`` (offers missed per 100 entry
    visitors), ``words`` and ``fix``. An item none of whose findings is shown (``--severity``,
    ``--rule``, accepted in the baseline) is left out."""
    by_id = {f.id: f for f in audit.findings}
    rows = []
    for x in (audit.metrics or {}).get("fix_first") or ():
        f = next((by_id[i] for i in x.get("ids") or (x["id"],) if i in by_id), None)
        if f is None:
            continue
        rows.append({"id": x["id"], "severity": x.get("severity") or f.severity, "rule": x.get("rule") or f.rule,
                     "region": x.get("region", f.region), "kind": x.get("kind", _kind(f)),
                     "target": _url(x.get("target") or f.target or ""), "pages": x.get("pages", f.count),
                     "cost": float(x["cost"]), "words": safe(x["words"]),
                     "fix": x.get("fix") or fix_of(f),
                     "costed": "measure" not in x or x["measure"] is not None,
                     "visits": x.get("visits"), "money": x.get("money")})
    return rows


def traffic_view(metrics: dict) -> dict | None:
    """The site's real traffic (``--analytics``) as the report shows it: the sentence, the files
    and what did not match, model against reality, real clicks; every imported text escaped by
    the template (and control characters by :func:`safe`)."""
    from analysis.analytics import about, money

    a = metrics.get("analytics")
    if not a:
        return None
    currency = a.get("currency") or "$"
    return {"sentence": safe(a["sentence"][:1].upper() + a["sentence"][1:]),
            "files": [{k: safe(v) for k, v in f.items()} for f in a.get("files") or ()],
            "period": a.get("period") or {},
            "unmatched": [safe(x) for x in a["unmatched"].get("examples") or ()],
            "monthly": about(a["monthly_entries"]) if a.get("monthly_entries") else None,
            "value": money(a["monthly_value"], currency) if a.get("monthly_value") is not None else None,
            "value_label": ("a month: what the conversions are worth (the model, at the conversions your exports "
                            "observed)" if a.get("rate") is not None else "a month: what the visits reaching an offer "
                            "are worth (the model, if every one converts)"),
            "entries": [{**e, **_url(e["url"]), "visits": about(e["visits"])} for e in a.get("entries") or ()][:ENTRIES],
            "behaviour": [safe(r["words"]) for r in a.get("behaviour") or ()],
            "fit": a.get("fitted_weights"), "currency": currency,
            "money": lambda v: money(v, currency), "about": about}


def grouped_plan(rows: list[dict], limit: int = PLAN_ROWS) -> tuple[list[dict], int]:
    """The plan's rows with near-identical ones (one rule, severity, region, kind and fix) as
    one row whose ``alike`` names the others, the first ``limit`` of them; and how many rows
    were left out.

    >>> r = lambda i, t: {"id": i, "rule": "r", "severity": "low", "region": "footer", "kind": None,
    ...                   "fix": "f", "target": {"url": t}, "cost": 1.0}
    >>> rows, left = grouped_plan([r("a", "x"), r("b", "y"), {**r("c", "z"), "region": "nav"}], limit=1)
    >>> [(x["id"], [y["target"]["url"] for y in x["alike"]]) for x in rows], left
    ([('a', ['y'])], 1)
    """
    out: list[dict] = []
    at: dict[tuple, dict] = {}
    for row in rows:
        key = (row["rule"], row["severity"], row["region"], row["kind"], row["fix"])
        if key in at:
            at[key]["alike"].append(row)
            continue
        at[key] = {**row, "alike": []}
        out.append(at[key])
    return out[:limit], max(0, len(out) - limit)


def summary_words(audit, plan: list[dict], outcomes: dict) -> dict:
    """The summary on top of the report, in words: ``lead`` (where 100 visitors go, per
    landing tier), ``works`` (what works, up to four sentences), ``costs`` (what costs most)
    and ``first`` (what to do first: the fix lines of the plan's first three rows)."""
    from analysis.pictures import per_hundred

    site = (audit.metrics or {}).get("site") or {}
    rules = {f.rule for f in audit.findings}
    by_rule_severity = {(f.rule, f.severity) for f in audit.findings}
    summary = audit.summary
    lead = []
    for tier in outcomes:
        ends = per_hundred(outcomes, tier)
        where = "the blog" if tier == "blog" else "the home page or another site page" if tier == "site" else tier
        parts = [_say(ends["conversion"], "reach", "reaches", "an offer")]
        if ends["social_leak"] > 0:
            parts.append(_say(ends["social_leak"], "leave", "leaves", "for a social platform"))
        if ends["external"] > 0:
            parts.append(_say(ends["external"], "follow", "follows", "a link to another site"))
        parts.append(_say(ends["exit"], "leave", "leaves"))
        lead.append(f"Of 100 visitors who land on {where}, " + ", ".join(parts[:-1]) + f" and {parts[-1]}.")
    profiles = []
    if summary.get("profiles"):  # where the business's social profiles send their visitors (analysis.profiles)
        lead.append(safe(f"Social profiles: {summary['profiles']['line']}."))
        profiles = [safe(profile_line(each)) for each in summary["profiles"].get("each") or ()]
    works = []
    blog_pages = (summary.get("pages_by_tier") or {}).get("blog", 0)
    if "broken-link" not in rules:
        works.append(f"No broken link: every link checked on the {summary['pages_crawled']:,} pages answers.")
    if blog_pages and not site.get("unreachable_posts") and site.get("conversion") is not None:
        clicks = site.get("clicks_to_conversion")
        works.append(f"Every one of the {blog_pages:,} blog pages has a path to an offer"
                     + (f", {clicks:.1f} clicks on average for the visitors who take one." if clicks else "."))
    if not any(r in rules for r in ("dead-end", "content-dead-end")) and blog_pages:
        works.append("Every blog post links on to the site.")
    if not ({("backward-social", "high")} & by_rule_severity) and "backward-social" in rules:
        works.append("No high-severity link to a social platform: the social links sit where they cost little.")
    if not any(f.severity == "high" for f in audit.findings):
        works.append("No high-severity problem.")
    costs = None
    if plan:
        # (the plan puts a broken path to an offer first; with analytics, what costs most is in money)
        top = max(plan, key=lambda row: (row.get("money") or 0.0, row["cost"]))
        costs = {"words": top["words"]}
    first = [{"fix": row["fix"], "what": what_of(row["words"]), "alike": len(row.get("alike") or ())}
             for row in plan[:3]]
    return {"lead": lead, "profiles": profiles, "works": works[:4], "costs": costs, "first": first}


def what_of(words: str) -> str:
    """What a plan item is about: its words up to the first colon (what follows says the cost).

    >>> what_of("1 page links /contact/; it answers 404: of 100 visitors who land on the blog, about 3 ...")
    '1 page links /contact/; it answers 404'
    >>> what_of("share button (https://twitter.com/intent/tweet) on 531 pages")
    'share button (https://twitter.com/intent/tweet) on 531 pages'
    """
    return words.split(": ", 1)[0]


def entry_rows(metrics: dict, g, scores: dict) -> list[dict]:
    """The entry pages least likely to convert, :data:`ENTRIES` of them."""
    # (sorted(...)[:ENTRIES], holding ENTRIES rows at a time: the rows are built one by one from the columns)
    entries = heapq.nsmallest(ENTRIES, metrics["entries"], key=lambda e: (
        e["conversion"] if e["conversion"] is not None else 2, e["url"]))
    return [{**e, **_url(e["url"]), "title": safe((g.nodes.get(e["url"]) or {}).get("title")),
             "score": scores.get(e["url"], "—")} for e in entries]


def render(audit) -> str:
    """``audit`` as one self-contained HTML document."""
    from analysis.metrics import funnel_metrics, walk_graph
    from analysis.pictures import funnel_svg, graph_svg, people, per_hundred, section_graph, visitor_outcomes

    g, crawl = audit.graph, audit.crawl
    metrics = getattr(audit, "metrics", None) or funnel_metrics(g, audit.findings)
    audit = audit if getattr(audit, "metrics", None) else _with_metrics(audit, metrics)
    weights = metrics["site"]["weights"]
    walk = walk_graph(g, (), weights)
    sections = section_graph(g, weights, walk=walk)
    del walk
    outcomes = visitor_outcomes(metrics["entries"])
    branding = getattr(audit, "branding", None) or {}
    targets = [safe(t) for t in crawl.get("targets") or []]
    plan = plan_rows(audit)
    plan_shown, plan_left = grouped_plan(plan)
    shown = [d for _, d in sections.nodes(data=True) if d["tier"] != "social"]
    return _template().render(
        csp=CSP, title=safe(branding.get("title") or f"Funnel audit: {', '.join(targets) or 'crawl'}"),
        client=safe(branding.get("client")) if branding.get("client") else None, logo=branding.get("logo"),
        targets=targets, started=when(crawl.get("started")), crawl_id=crawl.get("id"), status=safe(crawl.get("status")),
        version=funnelcheck_version(), site=metrics["site"], summary=audit.summary, severities=SEVERITIES,
        words=summary_words(audit, plan_shown, outcomes), weights=weights,
        funnel_svg=funnel_svg(outcomes), graph_svg=graph_svg(sections),
        outcomes=[{"tier": t, "visitors": people(row["visitors"]),
                   **{k: people(v) for k, v in per_hundred(outcomes, t).items()}} for t, row in outcomes.items()],
        sections=sum(d["sections"] for d in shown), sections_drawn=sum(1 for d in shown if d["sections"] == 1),
        plan=plan_shown, plan_left=plan_left, plan_total=len(plan),
        findings=finding_rows(audit.findings, g), findings_total=len(audit.findings),
        entries=entry_rows(metrics, g, metrics["link_score"]), entries_total=len(metrics["entries"]),
        traffic=traffic_view(metrics), pct=_pct, visitors=visitors)


def _with_metrics(audit, metrics):
    from dataclasses import replace

    return replace(audit, metrics=metrics)


def write(audit, out: TextIO) -> None:
    """Write ``audit`` as one self-contained HTML document to ``out``."""
    out.write(render(audit))
