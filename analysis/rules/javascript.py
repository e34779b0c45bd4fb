"""Rules on pages built with JavaScript (``--render``, :mod:`crawler.render`): the links only the
rendered page has (crawlers and link previews that read HTML as served do not see them), the
links of the served HTML that rendering removes, and the pages that need JavaScript but were
read as served.

The links of both readings of a rendered page are in the store's ``render_links``
(:meth:`crawler.store.Store.render_links`), page by page; these rules group them per region and
row of links, as a template repeats them: one finding for the footer's follow icons on 240
pages, not 240.
"""
from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from urllib.parse import urlsplit

from analysis.findings import Finding
from analysis.rules.common import REGION_WORDS, _Group, _plural, rule
from crawler.render import template_of
from crawler.scope import SOCIAL

# Links that count: those a visitor follows (a script or a stylesheet a script adds is no route).
VISIBLE_TAGS = frozenset({"a", "area", "form", "iframe"})
SHOWN = 4   # links named in a finding's message; the rest are counted
BODY = frozenset({"main", "body"})  # regions of a page's own content: their links are one finding per region
KEPT = 50   # links of one finding kept for its detail


def label(url: str, text: str) -> str:
    """How a link is named in a message: its text, quoted, else its address without the scheme.

    >>> label("https://a.example/demo", "Book a demo"), label("https://x.com/acme", "")
    ("'Book a demo'", 'x.com/acme')
    """
    text = " ".join((text or "").split())
    if text:
        return f"'{text[:60]}'"
    parts = urlsplit(url)
    return (parts.netloc + parts.path).rstrip("/") or url


def describe(g, links: list[tuple[str, str, str]], more: bool = False) -> str:
    """The links of a row in words: follow icons (social profiles) first, then the others by
    their text, offers (a purchase or lead page) first: never among the "more" (``more``: there
    are more than ``links``).

    >>> from analysis.graph import graph_from
    >>> g = graph_from([], [], site=["https://a.example/"])
    >>> describe(g, [("https://x.com/acme", "a", "X"), ("https://a.example/demo", "a", "Book a demo")])
    "follow icon (x.com/acme) and 'Book a demo'"
    """
    scope = g.graph["scope"]
    social = [url for url, _, _ in links if scope.tier(url) == SOCIAL]
    others = [label(url, text) for url, _, text in sorted((link for link in links if scope.tier(link[0]) != SOCIAL),
                                                          key=lambda link: not _offer(g, link[0]))]
    words = []
    if social:
        names = [label(url, "") for url in social]
        words.append(f"follow icon{'s' if len(names) > 1 else ''} ({', '.join(names[:SHOWN])}"
                     f"{f' and {len(names) - SHOWN} more' if len(names) > SHOWN else ''})")
    if others:
        shown = others[:SHOWN]
        left = len(others) - len(shown)
        words.append(", ".join(shown) + (" and more links" if more else f" and {_plural(left, 'more link')}" if left
                                          else ""))
    return " and ".join(words)


def _rows(g, seen: str):
    """``(page, region, links)`` for each page and region of the crawl's rendered pages: the
    links (``((target, tag), text)``, in document order) only the ``seen`` reading has."""
    page, by_region = None, defaultdict(dict)
    for source, key, tag, region, text, where in g.store.render_links(g.crawl_id):
        if where != seen or tag not in VISIBLE_TAGS:
            continue
        if source != page:
            if page is not None:
                for reg, links in by_region.items():
                    yield page, reg, list(links.items())
            page, by_region = source, defaultdict(dict)
        by_region[region or "body"].setdefault((key, tag), text)
    if page is not None:
        for reg, links in by_region.items():
            yield page, reg, list(links.items())


def _row(links) -> tuple:
    """A row of links as a template repeats it, whatever their order."""
    return tuple(sorted(k for k, _ in links))


def _digest(region: str, links) -> bytes:
    return hashlib.blake2b(repr((region, _row(links))).encode(), digest_size=8).digest()


def _groups(g, seen: str):
    """The pages of each (region, row of links) a template repeats, and, per region, the pages
    whose row is their own (merged: one finding for the page body's own links, not one per page);
    in the page body (:data:`BODY`) every row is the page's own: one finding per region.
    Two passes over the rows: the first counts each row's pages (8 bytes a row), the second groups."""
    counts: dict[bytes, int] = defaultdict(int)
    for _, region, links in _rows(g, seen):
        counts[_digest(region, links)] += 1
    groups: dict[tuple, list] = {}
    for page, region, links in _rows(g, seen):
        shared = counts[_digest(region, links)] > 1 and region not in BODY  # (the page body: one finding)
        key = (region, _row(links)) if shared else (region, None)
        entry = groups.get(key)
        if entry is None:
            entry = groups[key] = [_Group(), {}, False, None]
        entry[0].add(page, None)
        if entry[3] is None or page < entry[3][0]:  # the first page by address leads (not the first read)
            entry[3] = (page, [(url, tag, text) for (url, tag), text in links[:KEPT]])
        for (url, tag), text in links:
            if url not in entry[1] and len(entry[1]) >= KEPT:  # (the pages' own links: named, not all kept)
                entry[2] = True
                break
            entry[1].setdefault(url, (url, tag, text))
    for (region, row), (grp, links, more, (_, first)) in groups.items():
        # in the document order of the group's first page by address, then the others' by address:
        # the order pages were read differs from crawl to crawl, and a scheduled diff would see a
        # new finding where the first link named changed
        named: set = set()
        ordered = [link for link in first if not (link[0] in named or named.add(link[0]))]
        ordered += sorted(link for url, link in links.items() if url not in named)
        yield region, row is not None, grp, ordered[:KEPT], more or len(ordered) > KEPT


def _offer(g, url: str) -> bool:
    """Is the link's target an offer (a purchase or lead page, a page holding a lead form)?"""
    key = url if url in g else g.graph["key"](url)
    node = g.nodes[key] if key in g else {}
    return bool(node.get("conversion") or node.get("lead_form"))


def _region_words(region: str) -> str:
    return REGION_WORDS.get(region, region)


@rule("javascript-links")
def javascript_links(g):
    """Links that exist only once JavaScript has run (a rendered page has them, its served HTML
    does not): crawlers and link previews that read the HTML do not see them. Medium when an
    offer (a purchase, a demo, a sign-up, a lead form's page) is among them, else low.

    >>> from analysis.graph import graph_from
    >>> g = graph_from([{"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1}],
    ...                [("https://a.example/", "https://a.example/pricing/", "footer", "other")], site=["https://a.example/"])
    >>> list(javascript_links(g))  # (no page was rendered)
    []
    """
    unrendered = (g.graph["crawl"].get("limits") or {}).get("unrendered") or {}  # (past the re-render bound)
    for region, shared, grp, links, more in _groups(g, "js"):
        n = len(grp.sources)
        offer = any(_offer(g, url) for url, _, _ in links)
        verb = "exists" if len(links) == 1 and shared else "exist"
        if shared:
            message = f"the {_region_words(region)}'s {describe(g, links, more)} {verb} only after JavaScript"
        else:
            message = (f"links in the {_region_words(region)} ({describe(g, links, more)}) exist only after "
                       "JavaScript")
        message += f" on {_plural(n, 'page')}: crawlers and link previews do not see them"
        templates = {template_of(url) for url in grp.sources} if unrendered else set()
        left = sum(unrendered.get(t, 0) for t in templates)
        if left:
            message += (f"; {_plural(left, 'more page')} of {'this template' if len(templates) == 1 else 'these templates'} "
                        f"{'was' if left == 1 else 'were'} read as served before this showed, and not rendered")
        yield Finding("javascript-links", "medium" if offer else "low", links[0][0], message, region,
                      grp.pages(), grp.locations,
                      {"kind": "template" if shared else "page", "links": [url for url, _, _ in links]})


@rule("javascript-removed")
def javascript_removed(g):
    """Links in the HTML as served that rendering removes (a placeholder menu, a ``<noscript>``
    fallback): crawlers follow links that visitors never see."""
    for region, shared, grp, links, more in _groups(g, "raw"):
        n = len(grp.sources)
        what = (f"the {_region_words(region)}'s {describe(g, links, more)}" if shared else
                f"links in the {_region_words(region)} ({describe(g, links, more)})")
        verb = "is" if len(links) == 1 and shared else "are"
        message = (f"{what} in the HTML as served {verb} gone once JavaScript runs, on {_plural(n, 'page')}: crawlers "
                   "follow links that visitors never see")
        yield Finding("javascript-removed", "low", links[0][0], message, region, grp.pages(), grp.locations,
                      {"kind": "template" if shared else "page", "links": [url for url, _, _ in links]})


NO_CHROMIUM = "no Chromium"


_FAILURES = (("MiB", "used more memory than a page may"), ("did not", "did not load in time"))


def failures(whys: list[str]) -> str:
    """Why rendering failed, counted: from the pages' ``render_why``.

    >>> failures(["rendering failed (the page's scripts used more than 128 MiB ...)",
    ...           "rendering failed (the page did not load in 4 s, --timeout)", "rendering failed (x)"])
    '1 used more memory than a page may, 1 did not load in time, 1 failed in the browser'
    """
    counts = Counter(next((words for mark, words in _FAILURES if mark in why), "failed in the browser") for why in whys)
    order = [words for _, words in _FAILURES] + ["failed in the browser"]
    return ", ".join(f"{counts[words]} {words}" for words in order if counts[words])


@rule("javascript-unrendered")
def javascript_unrendered(g):
    """Pages whose served HTML shows they are built with JavaScript (an empty app root, a
    ``<noscript>`` asking for it, scripts and almost no links or text), read as served: there
    was no Chromium to render them, or rendering failed. Their links may be missing from the
    report. Info: a fact about this audit, not about the site."""
    read = g.store.read_as(g.crawl_id)
    groups: dict[str, _Group] = defaultdict(_Group)
    whys: dict[str, list[str]] = defaultdict(list)
    for url, why in read["unrendered"]:
        kind = "no-chromium" if NO_CHROMIUM in why else "failed"
        if kind == "failed" and not why.startswith("rendering failed"):
            continue
        groups[kind].add(url, None)
        whys[kind].append(why)
    for kind, grp in groups.items():
        n = len(grp.sources)
        if kind == "no-chromium":
            one = n == 1
            message = (f"{_plural(n, 'page')} {'needs' if one else 'need'} JavaScript to show {'its' if one else 'their'}"
                       f" links and {'was' if one else 'were'} read as served: no Chromium to render "
                       f"{'it' if one else 'them'} (install chromium, or give --chromium PATH)")
        else:
            message = (f"rendering failed on {_plural(n, 'page')} ({failures(whys[kind])}): read as served, "
                       "their links may be missing")
        sources = list(grp.sources)
        yield Finding("javascript-unrendered", "info", sources[0], message, None, sources, grp.locations,
                      {"kind": kind})


__all__ = ["describe", "javascript_links", "javascript_removed", "javascript_unrendered", "label"]
