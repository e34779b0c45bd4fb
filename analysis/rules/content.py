"""Blog and content: site pages stepping back to the blog, posts that lead nowhere (backward-blog,
dead-end)."""
from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from sys import intern

import numpy as np

from analysis.blog import LISTING_ARTICLES, _is_archive, _path
from analysis.findings import Finding
from analysis.graph import blank
from analysis.rules.common import (FORWARD_TAGS, NAV_TAGS, REGION_WORDS, _Group, _owned_page_tiers, _owned_pages,
                                   _plural, _tier_keys, id_column, rule)
from analysis.status import BROKEN
from crawler.scope import BLOG, SITE
from crawler.signals import LEAD_PURPOSES
from crawler.urls import URLError, normalize


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
            root = roots[target] = intern(scope.blog_root(target))  # (one string a blog, not one a post)
        key = (root, region or "body")
        groups[key].add(page, line, "low")
        linked[key][target] = None
    for (root, region), grp in groups.items():
        targets = list(linked[(root, region)])
        what = f"the blog ({targets[0]})" if len(targets) == 1 else f"{len(targets)} blog pages"
        yield Finding("backward-blog", "low", root,
                      f"site {REGION_WORDS.get(region, region)} links to {what} on {_plural(len(grp.sources), 'page')}",
                      region, grp.pages(), grp.locations, {"targets": sorted(targets)})


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
             and not data.get("lead_form") and not data.get("conversion")  # a post with a signup form offers something
             and not blank(g, page)]  # an empty file is no post
    site = _tier_keys(g, SITE)
    if not posts:
        return
    forward = np.zeros(len(posts), bool)
    if site:  # at most two queries for all the posts, not one per post; the posts by their store ids
        posts = g.store.select(posts)  # (sent to SQLite once for the two)
        ids = id_column(g.store.url_id_column(posts))
        forward = np.isin(ids, id_column(g.store.linking_source_ids(g.crawl_id, site, posts, sorted(FORWARD_TAGS))))
        rest = [posts[i] for i in np.flatnonzero(~forward).tolist()]
        offers_ = [url for url in site if g.nodes[url].get("conversion")] if rest else ()
        if offers_:  # a form that signs up or buys (a comment form leads nowhere)
            forward |= np.isin(ids, id_column(g.store.linking_source_ids(g.crawl_id, offers_, rest, ["form"])))
        del ids
    for i in np.flatnonzero(~forward).tolist():
        page = posts[i]
        groups[scope.blog_root(page)].add(page, None, "medium")
    for root, grp in groups.items():
        n = len(grp.sources)
        yield Finding("dead-end", "medium", root, f"{_plural(n, 'blog page')} with no link to the site: no call "
                      "to action", None, grp.pages(), grp.locations)


# The company's own pages a post's text can lead to: the site, and the company's other hosts
# (the app, docs: tier "app"); a blog page only when it is an offer.
FORWARD_TIERS = frozenset({SITE, "app"})
# A link in a post's region without landmarks ("body") that this share of the posts carry, to the
# same page, is the template's (a breadcrumb, a menu without <nav>), not the post's text.
TEMPLATE_SHARE = 0.5
TEMPLATE_MIN_POSTS = 3
CONTENT_REGIONS = ("main", "body")




def _offering_in_text(g, posts: dict) -> set[str]:
    """Those of ``posts`` that offer something in their text: a conversion page itself, or a lead
    or newsletter form in the page body (a newsletter form in every page's footer is the
    template's). A lead form whose place is unknown (no action, no thank-you page: drawn and
    sent by script) counts as in the text. One query for the forms' links."""
    key_of = g.graph["key"]
    out, lead_keys, located = set(), set(), []
    for page, data in posts.items():
        if data.get("conversion"):
            out.add(page)
            continue
        if not data.get("lead_form"):
            continue
        targets = [form.get(attr) for form in (data.get("signals") or {}).get("forms") or ()
                   if form.get("purpose") in LEAD_PURPOSES for attr in ("action", "next")]
        keys = set()
        for target in filter(None, targets):
            try:
                keys.add(key_of(normalize(target)[0]))
            except (URLError, ValueError):
                continue
        if not keys:
            out.add(page)  # (or an e-mail field outside any form)
        else:
            lead_keys |= keys
            located.append(page)
    if located:
        for source, _, e in g.links(tag="form", keys=lead_keys, sources=located):
            if (e["region"] or "body") in CONTENT_REGIONS:
                out.add(source)
    return out


# The links of a post's text (regions main and body) into the company's pages, page by page
# (the region as 1 for body, 0 for main: every value an integer, read into arrays).
_TEXT_LINKS = ("SELECT l.source_id, l.key_id, rg.term = 'body' FROM links l JOIN terms rg ON rg.id = l.region"
               " WHERE l.crawl_id = ? AND l.source_id IN (SELECT u.id FROM {sources} x JOIN urls u ON u.url = x.url)"
               " AND +l.key_id IN (SELECT u.id FROM {keys} x JOIN urls u ON u.url = x.url)"
               " AND l.tag IN (SELECT id FROM terms WHERE term IN ({tags}))"
               " AND rg.term IN ({regions}) ORDER BY l.source_id, l.id")


def _text_links(g, posts, keys):
    """``(source, key, in body)`` of the links in the text of ``posts`` (regions
    :data:`CONTENT_REGIONS`) to one of ``keys``, page by page, as three arrays (sources and keys
    by their store ids: a store of schema 1 names them by URL, in object arrays): the header's
    and footer's links, most of a post's, are never read (one query, through the source index)."""
    import numpy as np

    store = g.store
    tags = sorted(NAV_TAGS)
    if store.version < 2:  # (a store of schema 1: the general read, every region)
        rows = [(source, key, (region or "body") == "body")
                for source, key, _, region, _, _ in store.link_facts(g.crawl_id, keys, list(posts), tags=tags,
                                                                      by_source=True)
                if (region or "body") in CONTENT_REGIONS]
        return (np.array([r[0] for r in rows], object), np.array([r[1] for r in rows], object),
                np.array([r[2] for r in rows], bool))
    from itertools import chain

    sql = _TEXT_LINKS.format(sources=store._selection(posts), keys=store._selection(keys),
                             tags=", ".join("?" * len(tags)), regions=", ".join("?" * len(CONTENT_REGIONS)))
    cur = store.db.execute(sql, (g.crawl_id, *tags, *CONTENT_REGIONS))
    cur.row_factory = None
    # (9 bytes a link: ids are 32-bit; each column grown in place, never copied whole)
    sources, keys, body = array("i"), array("i"), bytearray()
    while True:
        batch = cur.fetchmany(1 << 14)
        if not batch:
            break
        rows = np.fromiter(chain.from_iterable(batch), np.int64, 3 * len(batch)).reshape(-1, 3)
        sources.frombytes(rows[:, 0].astype(np.int32).tobytes())
        keys.frombytes(rows[:, 1].astype(np.int32).tobytes())
        body += (rows[:, 2] == 1).tobytes()
    if not sources:
        return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, bool)
    return np.frombuffer(sources, np.int32), np.frombuffer(keys, np.int32), np.frombuffer(body, bool)


def _in_text(sources, keys, body, floor: float):
    """The sources of ``_text_links``' links that lead somewhere, each once (an array, sorted): a
    link to another page that is not one the template puts in the body of most posts (a key linked
    from the body of at least ``floor`` posts).

    >>> import numpy as np
    >>> s, k = np.array([1, 1, 2, 2, 3, 3]), np.array([9, 8, 9, 9, 9, 3])
    >>> body = np.array([True, True, True, True, True, False])
    >>> _in_text(s, k, body, 3).tolist(), _in_text(s.astype(str).astype(object), k.astype(str).astype(object), body, 3).tolist()
    ([1], ['1'])
    """
    import numpy as np

    if not len(sources):
        return sources
    # each key: the posts that link it in their body (a post linking it twice counts once)
    if sources.dtype == object:  # (URLs: a store of schema 1)
        per_key = Counter(key for _, key in set(zip(sources[body].tolist(), keys[body].tolist())))
        template = {key for key, n in per_key.items() if n >= floor}
        hit = np.fromiter((key in template for key in keys.tolist()), bool, len(keys))
    else:
        # a key linked from ``floor`` posts has at least ``floor`` links: only those few keys'
        # posts counted (no array of every (key, post) pair)
        linked = keys[body]
        linked.sort()
        last = np.append(np.flatnonzero(linked[1:] != linked[:-1]), len(linked) - 1) if len(linked) else linked
        counts = np.diff(last, prepend=-1)
        candidates = linked[last[counts >= floor]].tolist()
        del linked, last, counts
        template = [key for key in candidates if len(np.unique(sources[body & (keys == key)])) >= floor]
        hit = np.isin(keys, template)
    moving = (keys != sources) & ~(body & hit)  # (a self link: "skip to content")
    moved = sources[moving]
    del moving, hit
    if moved.dtype != object and len(moved) and (moved[1:] >= moved[:-1]).all():  # (read by source: sorted)
        return moved[np.append(True, moved[1:] != moved[:-1])]
    return np.unique(moved)


def _is_post(scope, url: str, data, root: str | None = None) -> bool:
    """A blog page that is a post: not a listing (the blog's index, an archive, a page of
    ``<article>`` excerpts). ``root``: its blog's root, when the caller has it."""
    signals = data.get("signals") or {}
    return ((root or scope.blog_root(url)) != url and not _is_archive(_path(url))
            and (signals.get("articles") or 0) < LISTING_ARTICLES)


HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def is_file(data) -> bool:
    """Is a node a file, not a page: one pages load (an ``asset``), or one that answered with
    something else than HTML (an image or a PDF a link opens)?

    >>> is_file({"role": "asset"}), is_file({"role": "page", "status": 200, "content_type": "image/png"})
    (True, True)
    >>> is_file({"role": "page", "status": 200, "content_type": "text/html"}), is_file({"role": None})
    (False, False)
    """
    if data.get("role") == "asset":
        return True
    status, ctype = data.get("status"), data.get("content_type")
    return bool(status and 200 <= status < 300 and ctype and ctype not in HTML_TYPES)


@rule("content-dead-end")
def content_dead_end(g):
    """Posts whose text (the page body, not the template's header, nav, footer or sidebar) links
    to nothing of the company's: the template's nav is their only way on. One finding per blog.
    Posts with no link to the site at all are ``dead-end``'s; a post that is an offer, or holds a
    lead form, offers something.

    >>> from analysis.graph import graph_from
    >>> b, site = "https://a.example/blog/", "https://a.example/"
    >>> pages = [{"url": u, "role": "page", "status": 200, "parsed": 1} for u in (site, b + "p/", b + "q/")]
    >>> g = graph_from(pages, [(b + "p/", site, "header", "other"), (b + "q/", site, "header", "other"),
    ...                        (b + "q/", site + "pricing/", "main", "other")], site=[site])
    >>> [(f.rule, f.target, f.message, f.sources) for f in content_dead_end(g)]
    [('content-dead-end', 'https://a.example/blog/', "1 of 2 posts links to nothing of yours in its text; the template's nav is its only way on", ['https://a.example/blog/p/'])]
    """
    scope = g.graph["scope"]
    posts: list[str] = []
    totals: Counter = Counter()  # blog root -> its posts (each post's root named once)
    for page, data in _owned_pages(g):
        if data["tier"] == BLOG and data.get("verdict") == "ok":
            root = scope.blog_root(page)
            if _is_post(scope, page, data, root):
                posts.append(page)
                totals[root] += 1
    if not posts:
        return
    nodes = g.node_data
    # A blog page holding a lead form is an offer, unless most posts hold one: the template's
    # newsletter form (a post linking another post has not led anywhere).
    forms = sum(1 for page in posts if nodes[page].get("lead_form")) < TEMPLATE_SHARE * len(posts)
    # (a broken link or a file is no way on: an image a post links as well as shows, a PDF)
    forward = [url for url, data in nodes.items() if (data.get("tier") in FORWARD_TIERS or (
        data.get("tier") == BLOG and (data.get("conversion") or (forms and data.get("lead_form")))))
        and data.get("verdict") != BROKEN and not is_file(data)]
    if not forward:
        return
    # which body links the template puts on most posts, then each post's text: one query read
    # twice, the links in the text only, by the URLs' ids (no string read per link); the posts as
    # an array of their ids, in their order, masked (only the posts found become strings)
    posts, forward = g.store.select(posts), g.store.select(forward)  # (sent to SQLite once for the three reads)
    moving = _in_text(*_text_links(g, posts, forward), max(TEMPLATE_MIN_POSTS, TEMPLATE_SHARE * len(posts)))
    ids = id_column(g.store.url_id_column(posts))
    dead = np.isin(ids, id_column(g.store.linking_source_ids(g.crawl_id, forward, posts, sorted(NAV_TAGS))))
    dead &= ~np.isin(ids, moving)
    del ids, moving, forward
    found = np.flatnonzero(dead).tolist()
    offering = _offering_in_text(g, {posts[i]: nodes[posts[i]] for i in found})
    groups: dict[str, _Group] = defaultdict(_Group)
    for i in found:
        page = posts[i]
        if page not in offering:
            groups[scope.blog_root(page)].add(intern(page), None, "medium")
    for root, grp in groups.items():
        n, total = len(grp.sources), totals[root]
        one = n == 1
        yield Finding("content-dead-end", "medium", root,
                      f"{n} of {_plural(total, 'post')} link{'s' if one else ''} to nothing of yours in "
                      f"{'its' if one else 'their'} text; the template's nav is {'its' if one else 'their'} "
                      "only way on", None, grp.pages(), grp.locations, {"posts": total})
