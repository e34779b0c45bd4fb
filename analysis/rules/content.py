"""Blog and content: site pages stepping back to the blog, posts that lead nowhere (backward-blog,
dead-end)."""
from __future__ import annotations

from collections import defaultdict
from sys import intern

from analysis.findings import Finding
from analysis.rules.common import (FORWARD_TAGS, NAV_TAGS, REGION_WORDS, _Group, _owned_page_tiers, _owned_pages,
                                   _plural, _tier_keys, rule)
from crawler.scope import BLOG, SITE


@rule("backward-blog")
def backward_blog(g):
    """Site page -> blog: a mild step back (less control over the visit). One finding per
    region of the site (a "latest posts" list on 300 pages is one finding), the blog URLs
    linked in ``detail``."""
    groups: dict[tuple, _Group] = defaultdict(_Group)
    linked: dict[tuple, dict[str, None]] = defaultdict(dict)
    scope = g.graph["scope"]
    roots: dict[str, str] = {}
    keys = _tier_keys(g, BLOG)
    pages = [url for url, tier in _owned_page_tiers(g).items() if tier == SITE]
    # the site pages' links, read page by page (not the blog's million links among its own posts)
    for page, target, _, region, _, line in (g.store.link_facts(g.crawl_id, keys, pages, tags=sorted(NAV_TAGS),
                                                                by_source=True, urls=True) if keys and pages else ()):
        page, target = intern(page), intern(target)
        root = roots.get(target)
        if root is None:
            root = roots[target] = scope.blog_root(target)
        key = (root, region or "body")
        groups[key].add(page, line, "low")
        linked[key][target] = None
    for (root, region), grp in groups.items():
        targets = list(linked[(root, region)])
        what = f"the blog ({targets[0]})" if len(targets) == 1 else f"{len(targets)} blog pages"
        yield Finding("backward-blog", "low", root,
                      f"site {REGION_WORDS.get(region, region)} links to {what} on {_plural(len(grp.sources), 'page')}",
                      region, list(grp.sources), grp.locations, {"targets": sorted(targets)})


@rule("dead-end")
def dead_end(g):
    """Blog pages with no link forward to the site (no call to action): one finding per blog.

    >>> from analysis.graph import graph_from
    >>> post = "https://a.example/blog/p/"
    >>> g = graph_from([{"url": post, "role": "page", "status": 200, "parsed": 1}],
    ...     [(post, "https://a.example/blog/", "main", "other")], site=["https://a.example/"])
    >>> [(f.rule, f.target, f.sources) for f in dead_end(g)]
    [('dead-end', 'https://a.example/blog/', ['https://a.example/blog/p/'])]
    """
    groups: dict[str, _Group] = defaultdict(_Group)
    scope = g.graph["scope"]
    posts = [page for page, data in _owned_pages(g) if data["tier"] == BLOG and data.get("verdict") == "ok"
             and not data.get("lead_form") and not data.get("conversion")]  # a post with a signup form offers something
    site = _tier_keys(g, SITE)
    forward = set()
    if posts and site:  # at most two queries for all the posts, not one per post
        forward = g.store.linking_sources(g.crawl_id, site, posts, sorted(FORWARD_TAGS))
        rest = [page for page in posts if page not in forward]
        offers_ = [url for url in site if g.nodes[url].get("conversion")] if rest else ()
        if offers_:  # a form that signs up or buys (a comment form leads nowhere)
            forward |= g.store.linking_sources(g.crawl_id, offers_, rest, ["form"])
    for page in posts:
        if page not in forward:
            groups[scope.blog_root(page)].add(page, None, "medium")
    for root, grp in groups.items():
        n = len(grp.sources)
        yield Finding("dead-end", "medium", root, f"{_plural(n, 'blog page')} with no link to the site: no call "
                      "to action", None, list(grp.sources), grp.locations)
