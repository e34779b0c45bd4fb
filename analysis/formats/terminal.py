"""The terminal report (rich): crawl line, tier summary, findings by severity."""
from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from analysis.findings import SEVERITIES

STYLES = {"high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}
EXAMPLES = 3


def _where(loc: dict) -> str:
    return f"{loc['url']} (line {loc['line']})" if loc.get("line") else loc["url"]


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """Let the caller decide (rich would exit 1): `funnelcheck ... | head` is no error."""
        self.quiet = True
        raise BrokenPipeError


def write(audit, out: TextIO, color: bool | None = None, width: int | None = None) -> None:
    """Render ``audit`` for a human. ``color=None`` lets rich decide (NO_COLOR, not a tty)."""
    # no_color=None lets rich read NO_COLOR from the environment; False would override it.
    console = _Console(file=out, force_terminal=color, no_color=True if color is False else None, width=width,
                      highlight=False, soft_wrap=True)
    crawl, s = audit.crawl, audit.summary
    console.print(Text.assemble(("funnelcheck ", "bold"), f"crawl #{crawl['id']} of {', '.join(crawl['targets'])}",
                                f" — {crawl['status']}, {s['pages_crawled']} pages, {s['urls_checked']} URLs checked, "
                                f"{s['links']} links"))
    limits = crawl.get("limits") or {}
    cut = [f"--{name.replace('_', '-')} left {n} page{'s' if n != 1 else ''} uncrawled"
           for name, n in sorted(limits.items()) if n]
    if cut:
        console.print(Text("partial audit: " + "; ".join(cut), style="yellow"))
    if s.get("network"):
        console.print(Text(s["network"]["message"], style="yellow"))
    tiers = Table(title="Tiers", title_justify="left", show_edge=False, pad_edge=False)
    tiers.add_column("tier")
    tiers.add_column("pages crawled", justify="right")
    tiers.add_column("URLs linked", justify="right")
    for tier in sorted(set(s["urls_by_tier"]) | set(s["pages_by_tier"])):
        tiers.add_row(tier, str(s["pages_by_tier"].get(tier, 0)), str(s["urls_by_tier"].get(tier, 0)))
    console.print(tiers)
    if not audit.findings:
        console.print(Text("No findings.", style="green"))
    for severity in SEVERITIES:
        group = [f for f in audit.findings if f.severity == severity]
        if not group:
            continue
        console.print()
        console.print(Text(f"{severity.upper()} ({len(group)})", style=STYLES[severity]))
        for f in group:
            where = f", {f.region}" if f.region else ""
            console.print(Text.assemble("  ", (f.rule, STYLES[severity]), f"  {f.target}",
                                        (f"  [{f.count} page{'s' if f.count != 1 else ''}{where}]", "dim")))
            console.print(Text(f"      {f.message}"))
            first = list({loc["url"]: loc for loc in reversed(f.locations)}.values())[::-1]  # one per page
            examples = [_where(loc) for loc in first[:EXAMPLES]]
            more = f.count - len(examples)
            if more > 0:
                examples.append(f"… and {more} more")
            if examples:
                console.print(Text("      found on " + ", ".join(examples), style="dim"))
    counts = ", ".join(f"{s['findings'][sev]} {sev}" for sev in SEVERITIES)
    console.print(Text(f"{len(audit.findings)} findings: {counts}", style="bold"))
