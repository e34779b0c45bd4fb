"""Crawl traps and pages too big to read: where the crawl had to stop looking."""
from __future__ import annotations

from analysis.findings import Finding, Location
from analysis.rules.common import _owned_pages, _plural, rule


@rule("crawl-trap")
def crawl_trap(g):
    """A URL pattern with endless variants (a calendar, a query that keeps growing, a path that
    nests itself): the crawl followed a bounded number and left the rest."""
    for template, counts in sorted(((g.graph["crawl"].get("limits") or {}).get("traps") or {}).items()):
        yield Finding("crawl-trap", "medium", template,
                      f"crawler trap: {template} has endless variants; {counts['crawled']} were crawled, "
                      f"{counts['left']} more left out", None, [], [], dict(counts))


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
