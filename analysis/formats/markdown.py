"""Markdown (GitHub-flavoured), shaped like a GitHub Actions job summary.

``funnelcheck audit … --format markdown >> "$GITHUB_STEP_SUMMARY"``: a heading, the summary
tables (findings per severity, pages crawled per tier), "Fix first" (the first
:data:`FIX_FIRST` items of the action plan, :mod:`analysis.plan`), then the findings grouped by rule,
the worst rule first: a heading per rule with what it checks and how to fix what it finds
(:data:`analysis.rules.FIXES`), and a table of its findings (severity, message, the first
:data:`PAGES` pages as links with the page's title as tooltip, "… and N more", the finding's
stable id). A rule lists
at most :data:`PER_RULE` findings (a job summary holds 1 MiB); the CSV and JSON formats
have them all.

Every crawled string (titles, URLs, messages quoting hrefs) is escaped: control and
bidirectional characters as ``\\x1b`` (:func:`analysis.formats.safe.safe`), ``<``, ``>``
and ``&`` as entities (no raw HTML from a page gets through), and the characters GFM
gives a meaning (``|`` that would split a table cell, backticks, ``*``, ``_``, brackets,
``~``, ``$`` math, a leading ``@`` mention) with a backslash. Links are made only to
http(s) URLs, percent-encoded where Markdown or a table would read them.
"""
from __future__ import annotations

import re
from typing import TextIO
from urllib.parse import quote

from analysis.analytics import traffic_lines
from analysis.blog import blog_line
from analysis.findings import SEVERITIES
from analysis.formats.safe import safe
from analysis.formats.sarif import describe, first_locations, fix_of
from analysis.formats.terminal import funnel_line, social_line
from analysis.plan import plan_of
from analysis.profiles import profile_line
from analysis.rules import FIXES

PAGES = 3
PER_RULE = 50
FIX_FIRST = 10  # action plan items in the "Fix first" table
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MD = re.compile(r"[\\`*_\[\]|~$&<>]|(?<![\w/.+-])@")
_URL_SAFE = "-._~:/?#[]@!$&'*+,;=%"


def md(text) -> str:
    """``text`` as literal Markdown text (in a paragraph, a heading or a table cell).

    >>> md("<script>alert(1)</script> | `x` [a](b) *y* @team a@b.example")
    '&lt;script&gt;alert(1)&lt;/script&gt; \\\\| \\\\`x\\\\` \\\\[a\\\\](b) \\\\*y\\\\* \\\\@team a@b.example'
    >>> md("Evil\\x1b]0;t\\x07\\nnext"), md(None)
    ('Evil\\\\\\\\x1b\\\\]0;t\\\\\\\\x07\\\\\\\\x0anext', '')
    """
    return _MD.sub(lambda m: _ENTITIES.get(m.group()) or "\\" + m.group(), safe(text))


def link(url: str, line: int | None = None, title: str | None = None) -> str:
    """A Markdown link to page ``url`` reading ``URL:LINE``, the page's ``title`` as its tooltip;
    plain text for a URL that is not http(s).

    >>> link("https://a.example/x|y (1)/", 12, 'Say "hi" | <b>')
    '[https://a.example/x\\\\|y (1)/:12](https://a.example/x%7Cy%20%281%29/ "Say \\\\"hi\\\\" \\\\| &lt;b&gt;")'
    >>> link("javascript:alert(1)")
    'javascript:alert(1)'
    """
    text = md(url) + (f":{line}" if line else "")
    if not re.match(r"https?://", url or "", re.I):
        return text
    tip = f' "{md(title).replace(chr(34), chr(92) + chr(34))}"' if title else ""
    return f"[{text}]({quote(url, safe=_URL_SAFE)}{tip})"


def _pages(f, nodes) -> str:
    first = first_locations(f, PAGES)
    more = f.count - len(first)
    if not first:
        return "—"
    return ", ".join(link(url, line, (nodes.get(url) or {}).get("title")) for url, line in first) + (
        f", … and {more} more" if more > 0 else "")


def _groups(findings) -> dict[str, list]:
    """Findings by rule, the rules in the order of their first (worst) finding."""
    groups: dict[str, list] = {}
    for f in findings:
        groups.setdefault(f.rule, []).append(f)
    return groups


def _table(w, header: list, row: list) -> None:
    """A table of one row: the first column a label, the others counts (right-aligned)."""
    w("| " + " | ".join(header) + " |\n|:--|" + "--:|" * (len(header) - 1) + "\n")
    w("| " + " | ".join(map(str, row)) + " |\n\n")


def _funnel(w, s: dict, metrics: dict) -> None:
    """The blog found, the funnel in one line, the profiles (each on a line of a list) and where
    their visitors enter: the lines the terminal report has under its header."""
    paragraphs = []
    if s.get("blog"):
        paragraphs.append(md(blog_line(s["blog"])))
    if (metrics.get("site") or {}).get("conversion") is not None:
        paragraphs.append(md(funnel_line(metrics["site"])))
    profiles = s.get("profiles")
    if profiles:
        paragraphs.append("**Profiles:** " + md(profiles["line"]))
        if profiles.get("each"):
            paragraphs.append("\n".join("- " + md(profile_line(each)) for each in profiles["each"]))
    social = social_line(metrics.get("social"))
    if social:
        paragraphs.append(md(social))
    if paragraphs:
        w("\n" + "\n\n".join(paragraphs) + "\n")


def write(audit, out: TextIO) -> None:
    """Write ``audit`` to ``out`` as a GitHub-flavoured Markdown job summary."""
    crawl, s = audit.crawl, audit.summary
    w = out.write
    targets = " ".join(md(t) for t in crawl.get("targets") or ())
    w(f"## funnelcheck: crawl #{crawl.get('id')} of {targets}\n\n")
    counts = s.get("findings") or {}
    total = sum(counts.values())
    _table(w, ["Findings", *SEVERITIES], [total, *(counts.get(sev, 0) for sev in SEVERITIES)])
    tiers = s.get("pages_by_tier") or {}
    _table(w, ["Pages crawled", *map(md, tiers)], [s.get("pages_crawled", 0), *tiers.values()])
    notes = [f"Crawl {md(crawl.get('status'))}: {s.get('urls_checked', 0)} URLs checked, {s.get('links', 0)} links."]
    cut = [f"--{name.replace('_', '-')} left {n} page{'s' if n != 1 else ''} uncrawled"
           for name, n in sorted((s.get("uncrawled_by_limits") or {}).items()) if n]
    if cut:
        notes.append("**Partial audit:** " + md("; ".join(cut)) + ".")
    if s.get("network"):
        notes.append("**" + md(s["network"].get("message")) + "**")
    metrics = getattr(audit, "metrics", None) or {}
    traffic = traffic_lines(metrics.get("analytics") or metrics.get("analytics_kept"))
    if traffic:  # the site's real traffic (--analytics): the Traffic line
        notes.append("**" + md(traffic[0][0]) + "**")
    if len(audit.findings) != total:
        notes.append(f"Showing {len(audit.findings)} of {total} findings (filtered by --severity or --rule).")
    w("\n".join(notes) + "\n")
    _funnel(w, s, metrics)
    if not audit.findings:
        w("\nNo findings.\n" if not total else "")
        return
    shown = {f.id for f in audit.findings}
    plan = [x for x in plan_of(audit) if any(i in shown for i in x.get("ids") or (x["id"],))][:FIX_FIRST]
    if plan:  # the action plan: what each problem costs in conversions, the costliest first
        w("\n### Fix first\n\n| # | Severity | What it costs | Fix | Pages |\n|--:|:--|:--|:--|--:|\n")
        for i, x in enumerate(plan, 1):
            w(f"| {i} | {x['severity']} | {md(x['words'])} | {md(x['fix'])} | {x['pages']} |\n")
    for rule_id, group in _groups(audit.findings).items():
        per = ", ".join(f"{n} {sev}" for sev in SEVERITIES if (n := sum(1 for f in group if f.severity == sev)))
        w(f"\n### {md(rule_id)}: {len(group)} finding{'s' if len(group) != 1 else ''} ({per})\n\n")
        w(md(describe(rule_id)) + "\n\n")
        if FIXES.get(rule_id):
            w(f"**Fix:** {md(FIXES[rule_id])}\n")
        w("\n| Severity | Finding | Pages | ID |\n|:--|:--|:--|:--|\n")
        for f in group[:PER_RULE]:
            message = md(f.message)
            fix = fix_of(f)
            if fix and fix != FIXES.get(rule_id):
                message += f" (fix: {md(fix)})"
            w(f"| {f.severity} | {message} | {_pages(f, audit.graph.nodes)} | `{f.id}` |\n")
        if len(group) > PER_RULE:
            w(f"\n… and {len(group) - PER_RULE} more {md(rule_id)} findings (`--format csv` lists them all).\n")
