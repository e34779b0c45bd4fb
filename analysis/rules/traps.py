"""Crawl traps and pages too big to read: where the crawl had to stop looking."""
from __future__ import annotations

from analysis.findings import Finding, Location
from analysis.rules.common import _owned_pages, _plural, rule
from crawler.urls import trap_family  # noqa: F401 (a calendar's month and day patterns are one trap)


CUT_ORDER = ("session", "repeating", "deep", "wide")  # what a family of patterns is called when they were cut for different reasons


@rule("crawl-trap")
def crawl_trap(g):
    """A URL pattern the crawl stopped following (``crawler.extensions.CrawlLimits``): a trap by
    its shape (a path that nests itself, a session id in the URL), a deep one (a calendar whose
    pages were each found from the one before and lead nowhere new), or one past the safety cap
    for one pattern (a wide explosion of filter combinations, or a very large catalogue no
    sitemap lists). The rest of the pattern was left out. One finding per trap: a calendar's
    month and day patterns are one; ``detail["kind"]`` says which cut it (its fix says what to do)."""
    families: dict[str, dict] = {}
    for template, counts in sorted(((g.graph["crawl"].get("limits") or {}).get("traps") or {}).items()):
        families.setdefault(trap_family(template), {})[template] = counts
    for family, patterns in sorted(families.items()):
        target = next(iter(patterns)) if len(patterns) == 1 else family
        crawled = sum(c["crawled"] for c in patterns.values())
        left = sum(c["left"] for c in patterns.values())
        example = next((c["example"] for c in patterns.values() if c.get("example")), None)
        cuts = {c.get("cut") for c in patterns.values()}
        kind = next((k for k in CUT_ORDER if k in cuts), None)  # (None: a crawl stored before the cut was said)
        levels = max((c.get("levels") or 0 for c in patterns.values()), default=0)
        numbered = [t for t in patterns if "{n}" in t]
        what = ""
        if kind == "session":
            what = " (a session id in the URL: every visit makes new URLs)"
        elif numbered:
            what = (" (URLs that differ only in numbers or dates" +
                    (f": {', '.join(patterns)}" if len(patterns) > 1 else "") + ")")
        detail = {"crawled": crawled, "left": left, "patterns": patterns}
        if kind:
            detail["kind"] = kind
        if levels:
            detail["levels"] = levels
        if example:
            detail["example"] = example
        first = f" (the first: {example})" if example else ""
        if kind == "wide":
            message = (f"URL pattern too large to crawl whole: {target} has more variants than the safety cap for one "
                       f"pattern{what}; {crawled:,} were crawled, {left:,} more left out{first}")
        elif kind == "deep":
            message = (f"crawler trap: {target} has endless variants{what}, each found from the one before: "
                       f"{levels:,} links deep, none leading to a new page; {crawled:,} were crawled, {left:,} more "
                       f"left out{first}")
        else:
            message = (f"crawler trap: {target} has endless variants{what}; {crawled:,} were crawled, {left:,} more "
                       f"left out{first}")
        yield Finding("crawl-trap", "medium", target, message, None, [], [], detail)


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
