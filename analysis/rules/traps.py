"""Crawl traps and pages too big to read: where the crawl had to stop looking."""
from __future__ import annotations

from analysis.findings import Finding, Location
from analysis.rules.common import _owned_pages, _plural, rule


def trap_family(template: str) -> str:
    """The trap a crawled pattern belongs to: patterns of numbers under one folder are one trap
    (a calendar's months and its days); any other pattern is its own.

    >>> trap_family("https://a.example/cal/{n}/{n}/{n}"), trap_family("https://a.example/cal?day=…")
    ('https://a.example/cal/…', 'https://a.example/cal?day=…')
    """
    cut = template.find("{n}")
    if cut < 0:
        return template
    return template[: template.rfind("/", 0, cut) + 1] + "…"


@rule("crawl-trap")
def crawl_trap(g):
    """A URL pattern with endless variants (a calendar whose URLs differ only in numbers or
    dates, a query that keeps growing, a path that nests itself): the crawl followed a bounded
    number of each pattern and left the rest. One finding per trap: a calendar's month and day
    patterns are one."""
    families: dict[str, dict] = {}
    for template, counts in sorted(((g.graph["crawl"].get("limits") or {}).get("traps") or {}).items()):
        families.setdefault(trap_family(template), {})[template] = counts
    for family, patterns in sorted(families.items()):
        target = next(iter(patterns)) if len(patterns) == 1 else family
        crawled = sum(c["crawled"] for c in patterns.values())
        left = sum(c["left"] for c in patterns.values())
        example = next((c["example"] for c in patterns.values() if c.get("example")), None)
        numbered = [t for t in patterns if "{n}" in t]
        what = ""
        if numbered:
            what = (" (URLs that differ only in numbers or dates" +
                    (f": {', '.join(patterns)}" if len(patterns) > 1 else "") + ")")
        detail = {"crawled": crawled, "left": left, "patterns": patterns}
        if example:
            detail["example"] = example
        yield Finding("crawl-trap", "medium", target,
                      f"crawler trap: {target} has endless variants{what}; {crawled:,} were crawled, {left:,} more "
                      f"left out" + (f" (the first: {example})" if example else ""), None, [], [], detail)


@rule("too-many-links")
def too_many_links(g):
    """Pages with more links than the crawl reads (``FUNNEL_MAX_LINKS_PER_PAGE``, 10,000): the
    rest were not read, so findings about them may be missing."""
    pages = sorted(url for url, data in _owned_pages(g) if (data.get("reason") or "").startswith("read the first"))
    if pages:
        reason = g.nodes[pages[0]]["reason"]
        yield Finding("too-many-links", "low", pages[0], f"{_plural(len(pages), 'page')} with more links than are "
                      f"read ({reason} on {pages[0]})", None, pages, [Location(p, None) for p in pages],
                      {"reason": reason})
