"""The terminal report: a summary a person reads first, then the findings that matter most.

Layout: the crawl line; a summary (pages per tier, findings per severity, the three most
important problems in one line each); then the findings, worst first, each with what is
wrong, where (the first pages with their lines, then "… and N more") and how to fix it.
Lines wrap between words only; in a terminal, URLs longer than the width are shortened in
the middle. Every crawled string is escaped (:func:`analysis.formats.safe.safe`).
"""
from __future__ import annotations

import textwrap
from typing import TextIO

from rich.console import Console
from rich.text import Text

from analysis.blog import blog_line
from analysis.findings import SEVERITIES
from analysis.formats.safe import safe
from analysis.words import plural
from analysis.formats.sarif import fix_of
from analysis.plan import FIRST, plan_of
from analysis.profiles import profile_line

STYLES = {"high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}
EXAMPLES = 3
# Findings listed per severity before "… and N more" (all of them when the user filtered).
SHOWN = {"high": 25, "medium": 20, "low": 10, "info": 5}
FULL = 30  # a report with this many findings or fewer lists them all


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """Let the caller decide (rich would exit 1): `funnelcheck ... | head` is no error."""
        self.quiet = True
        raise BrokenPipeError


def shorten(url: str, width: int) -> str:
    """``url`` cut in the middle to ``width`` characters (the host and the end are what tell).

    >>> shorten("https://acme.example/blog/2024/01/a-very-long-post-name/", 40)
    'https://acme.example…ery-long-post-name/'
    """
    if len(url) <= width or width < 12:
        return url
    keep = width - 1
    head = keep // 2 + keep % 2
    return url[:head] + "…" + url[len(url) - (keep - head):]


def _where(loc: dict) -> str:
    return f"{safe(loc['url'])}:{loc['line']}" if loc.get("line") else safe(loc["url"])


MAX_URL_SHOWN = 2048   # outside a terminal, longer URLs (only ever skipped ones) are cut in the middle


class _Writer:
    def __init__(self, console: Console, width: int, shorten_urls: bool):
        self.console, self.width, self.shorten = console, width, shorten_urls

    def line(self, text: str = "", style: str | None = None, indent: int = 0) -> None:
        """Print ``text`` wrapped at spaces only (a word or URL is never split)."""
        if not text:
            self.console.print()
            return
        pad = " " * indent
        if not self.width:
            if len(text) > MAX_URL_SHOWN:  # a crawl-trap URL of 100 kB is no line for a file either
                text = " ".join(shorten(w, MAX_URL_SHOWN) if "://" in w else w for w in text.split(" "))
            self.console.print(Text(pad + text, style=style or ""))
            return
        words = text.split(" ")
        if self.shorten:
            words = [shorten(w, self.width - indent - 2) if "://" in w else w for w in words]
        for out in textwrap.wrap(" ".join(words), width=self.width, initial_indent=pad, subsequent_indent=pad + "  ",
                                 break_long_words=False, break_on_hyphens=False) or [pad]:
            self.console.print(Text(out, style=style or ""))


def _pages(summary: dict) -> str:
    tiers = ", ".join(f"{tier} {n}" for tier, n in summary["pages_by_tier"].items())
    rendered = (summary.get("read_as") or {}).get("rendered")  # (--render: pages read in Chromium)
    return (f"{plural(summary['pages_crawled'], 'page')} crawled" + (f" ({tiers})" if tiers else "")
            + (f", {rendered} rendered in Chromium" if rendered else "")
            + f" · {plural(summary['urls_checked'], 'URL')} checked · {plural(summary['links'], 'link')}")


def _headline(f) -> str:
    return safe(f.message)


def _first_per_page(locations, n: int) -> list:
    """The first location of each of the first ``n`` pages (locations come sorted by page and
    line): read from the start, never the whole list of a finding on every page.

    >>> from analysis.findings import Location
    >>> _first_per_page([Location("a", 3), Location("a", 9), Location("b", None), Location("c", 1)], 2)
    [('a', 3), ('b', None)]
    """
    out, seen = [], set()
    for loc in locations:
        if loc["url"] not in seen:
            seen.add(loc["url"])
            out.append(loc)
            if len(out) == n:
                break
    return out


def funnel_line(site: dict) -> str:
    """The funnel metrics in one line.

    >>> funnel_line({"entries": 40, "conversion": 0.312, "social_leak": 0.2, "clicks_to_conversion": 2.04,
    ...              "unreachable_posts": ["a", "b"]})
    'Funnel: 31.2% of visitors from 40 entry pages reach an offer (in 2.0 clicks), 20.0% leak to social; 2 blog pages have no path to one'
    """
    clicks = site.get("clicks_to_conversion")
    weighted = " (weighted by their real entries)" if site.get("weighted") == "visits" else ""
    line = (f"Funnel: {100 * site['conversion']:.1f}% of visitors from {site['entries']} entry "
            f"page{'s' if site['entries'] != 1 else ''}{weighted} reach an offer"
            + (f" (in {clicks:.1f} clicks)" if clicks is not None else "")
            + f", {100 * site['social_leak']:.1f}% leak to social")
    stuck = len(site.get("unreachable_posts") or ())
    if stuck:
        line += f"; {stuck} blog page{'s have' if stuck != 1 else ' has'} no path to one"
    return line


def social_line(social: dict | None) -> str | None:
    """Where the profiles' visitors enter the funnel (:func:`analysis.metrics.social_entry`), in
    one line; None when no profile could be judged.

    >>> social_line({"known": 3, "into_blog": 1, "skips_blog": 1, "dead_end": 1, "conversion": 0.545417,
    ...              "conversion_of": 3})
    'Social visitors: of 3 profiles, 1 brings them into the blog, 1 skips it to the site, 1 is a dead end; 54.5% of them reach an offer'
    """
    if not social or not social.get("known"):
        return None
    n = social["known"]
    parts = [f"{social['into_blog']} bring{'s' if social['into_blog'] == 1 else ''} them into the blog",
             f"{social['skips_blog']} skip{'s' if social['skips_blog'] == 1 else ''} it to the site",
             f"{social['dead_end']} {'is a dead end' if social['dead_end'] == 1 else 'are dead ends'}"]
    line = f"Social visitors: of {n} profile{'s' if n != 1 else ''}, " + ", ".join(parts)
    of = social.get("conversion_of") or 0
    if social.get("conversion") is not None and of == n:
        line += f"; {100 * social['conversion']:.1f}% of them reach an offer"
    elif social.get("conversion") is not None:  # (the others land on a page that is no entry page)
        line += (f"; {100 * social['conversion']:.1f}% of those from the {of} that land on an entry page "
                 "reach an offer")
    return line


def traffic_block(w, analytics: dict | None) -> None:
    """The site's real traffic (``--analytics``): entries, money, model against reality; every
    text from the exports escaped."""
    from analysis.analytics import traffic_lines

    for head, rest in traffic_lines(analytics):
        w.line(safe(head))
        for line in rest:
            w.line(safe(line), "dim", indent=2)


FIX_FIRST = FIRST  # action plan items shown under "Fix first" (analysis.plan.FIRST: they choose its scale)


def fix_first(audit, n: int = FIX_FIRST) -> list[tuple]:
    """The first ``n`` items of the action plan (:mod:`analysis.plan`) as ``(severity, words,
    fix)``: what each costs in conversions, ranked; without funnel metrics, the worst findings."""
    items = plan_of(audit, n)
    if items or (getattr(audit, "metrics", None) or {}).get("fix_first") is not None:
        return [(x["severity"], x["words"], x["fix"]) for x in items]
    baseline = getattr(audit, "baseline", None) or {}
    open_ = [f for f in audit.findings if f.id not in baseline]
    rest = [f for f in open_ if f.severity in ("high", "medium")] or open_
    return [(f.severity, f.message, fix_of(f)) for f in rest[:n]]


def plan_lines(w, title: str, items) -> None:
    """Action plan items ``(severity, words, fix)`` under ``title``, numbered, with their fix
    lines (the audit's "Fix first" and the diff's): nothing at all when there are none."""
    items = list(items)
    if not items:
        return
    w.line()
    w.line(title, "bold")
    for i, (severity, words, fix) in enumerate(items, 1):
        w.line(f"{i}. [{severity}] {safe(words)}", STYLES[severity], indent=2)
        if fix:
            w.line(f"fix: {fix}", indent=len(str(i)) + 4)


def write(audit, out: TextIO, color: bool | None = None, width: int | None = None,
          shown: list | None = None, filtered: bool = False) -> None:
    """Render ``audit`` for a human. ``color=None`` lets rich decide (NO_COLOR, not a tty).

    ``shown`` are the findings to list (default all, ``--severity``/``--rule`` filter them);
    with ``filtered``, every one is listed, else the least important are summed up.
    """
    console = _Console(file=out, force_terminal=color, no_color=True if color is False else None, width=width,
                       highlight=False, soft_wrap=True)
    terminal = console.is_terminal
    # Wrapped to the terminal (or to ``width``); piped or written to a file, one line per item, for grep.
    w = _Writer(console, width or (console.width if terminal else 0), shorten_urls=terminal)
    crawl, s = audit.crawl, audit.summary
    baseline = getattr(audit, "baseline", None) or {}
    findings = [f for f in (audit.findings if shown is None else shown) if f.id not in baseline]
    w.line(f"funnelcheck crawl #{crawl['id']} of {' '.join(safe(t) for t in crawl['targets'])} — {crawl['status']}",
           "bold")
    limits = crawl.get("limits") or {}
    cut = [f"--{name.replace('_', '-')} left {n} page{'s' if n != 1 else ''} uncrawled"
           for name, n in sorted(limits.items()) if n and name not in ("traps", "unrendered")]
    if cut:
        w.line("partial audit: " + "; ".join(cut), "yellow")
    unread = s.get("javascript_unread")
    if unread:  # (--render never, or no Chromium: a site built with JavaScript must not look clean)
        w.line(f"partial audit: this site builds its pages with JavaScript: the audit read {plural(unread['pages'], 'page')} "
               f"as served ({unread['why']}), without the links its scripts add"
               + (": audit with --render auto" if unread["why"] == "--render never" else ""), "yellow")
    failed = s.get("render_failed")
    if failed:  # (a loaded machine's timeouts too: a site whose pages were not rendered must not look clean)
        w.line(f"partial audit: rendering failed on {plural(failed['pages'], 'page')} ({failed['why']}): read as served, "
               "without the links their scripts add", "yellow")
    if s.get("network"):
        w.line(safe(s["network"]["message"]), "yellow")
    w.line(_pages(s))
    if s.get("blog"):
        w.line(safe(blog_line(s["blog"])))
    counts = s["findings"]
    w.line("Findings: " + " · ".join(f"{counts[sev]} {sev}" for sev in SEVERITIES), "bold")
    metrics = getattr(audit, "metrics", None)
    if metrics and metrics["site"].get("conversion") is not None:
        w.line(funnel_line(metrics["site"]))
    profiles = s.get("profiles")
    if profiles:
        w.line("Profiles: " + safe(profiles["line"]))
        for each in profiles["each"]:
            w.line(safe(profile_line(each)), "dim", indent=2)
    social = social_line((metrics or {}).get("social"))
    if social:
        w.line(social)
    traffic_block(w, (metrics or {}).get("analytics") or (metrics or {}).get("analytics_kept"))
    if not audit.findings:
        w.line("No findings.", "green")
        return
    plan_lines(w, "Fix first:", fix_first(audit))  # (none when every finding is accepted in the baseline)
    if filtered:
        w.line()
        w.line(f"Showing {len(findings)} of {len(audit.findings)} findings (filtered).", "dim")
    for severity in SEVERITIES:
        group = [f for f in findings if f.severity == severity]
        if not group:
            continue
        w.line()
        w.line(f"{severity.upper()} ({len(group)})", STYLES[severity])
        limit = len(group) if filtered or len(audit.findings) <= FULL else SHOWN[severity]
        for f in group[:limit]:
            where = f" · {f.region}" if f.region else ""
            w.line(f"{f.rule}{where} · {f.count} page{'s' if f.count != 1 else ''} · {f.id}", STYLES[severity],
                   indent=2)
            w.line(_headline(f), indent=4)
            examples = [_where(loc) for loc in _first_per_page(f.locations, EXAMPLES)] or [
                safe(u) for u in f.sources[:EXAMPLES]]
            more = f.count - len(examples)
            if examples:
                w.line("on " + ", ".join(examples) + (f", … and {more} more" if more > 0 else ""), "dim", indent=4)
            fix = fix_of(f)
            if fix:
                w.line(f"fix: {fix}", indent=4)
        if len(group) > limit:
            w.line(f"… and {len(group) - limit} more {severity} findings (--severity {severity} lists them all; "
                   "--format json has every page)", "dim", indent=2)
    accepted = [f for f in audit.findings if f.id in baseline]
    if accepted:
        w.line()
        w.line(f"ACCEPTED ({len(accepted)}) in {safe(audit.baseline_file)}: listed apart, never failing the run", "dim")
        for f in accepted:
            w.line(f"[{f.severity}] {f.rule} · {f.id}: {_headline(f)}", "dim", indent=2)
            if baseline[f.id]:
                w.line(f"reason: {safe(baseline[f.id])}", "dim", indent=4)
    stale = audit.stale if baseline else []
    if stale:
        w.line()
        w.line(f"{len(stale)} stale baseline entr{'ies' if len(stale) != 1 else 'y'} in {safe(audit.baseline_file)} "
               "match no finding any more (fixed? remove them):", "yellow")
        for fid in stale:
            w.line(f"{fid}" + (f" ({safe(baseline[fid])})" if baseline[fid] else ""), "yellow", indent=2)
    w.line()
    w.line(f"{len(audit.findings)} findings: " + ", ".join(f"{counts[sev]} {sev}" for sev in SEVERITIES), "bold")
