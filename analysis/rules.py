"""The audit rules: one small function per rule id, each ``graph -> findings``.

:data:`RULES` is the registry (id -> function); :func:`run_rules` runs them all.
Every rule groups what it finds (one finding per target and region, listing
the pages it stands on) so a footer icon on 600 pages is one line, not 600.
"""
from __future__ import annotations

import re
from array import array
from collections import defaultdict
from itertools import chain
from sys import intern
from typing import Callable, Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

from analysis.findings import RANK, SEVERITIES, Finding, Location, Locations
from analysis.graph import CrawlGraph, edge_of, landing_page, offers
from analysis.status import BROKEN, SKIPPED, UNVERIFIED
from crawler.scope import (BLOG, CONTENT, IDENTITY, OWNED, PROFILE, SHARE, SITE, SOCIAL, handle_key, names_own_profile,
                           unwrap_redirector)
from crawler.urls import dedupe_key, has_tracking, origin

NAV_TAGS = frozenset({"a", "area"})
FORWARD_TAGS = NAV_TAGS | {"iframe", "meta"}
IGNORED_FRAGMENTS = frozenset({"", "top"})
REGION_WORDS = {"header": "header", "nav": "navigation", "main": "page body", "body": "page body",
                "aside": "sidebar", "footer": "footer", "head": "page head"}

RuleFn = Callable[[CrawlGraph], Iterable[Finding]]
RULES: dict[str, RuleFn] = {}

# How to fix what each rule finds: one line, shown under every finding of the rule.
FIXES = {
    "backward-social": "move the follow links below the page's offer, and link a product or contact page first",
    "backward-social:profile:header": ("move the follow icons out of the header into the footer, and put a pricing or "
                                       "contact link in their place"),
    "backward-social:profile:nav": ("move the follow icons out of the navigation into the footer, and put a pricing or "
                                    "contact link in their place"),
    "backward-social:profile:main": "move the follow links below the page's call to action, or into the footer",
    "backward-social:profile:aside": ("move the follow icons from the sidebar into the footer, and put a call to action "
                                      "(pricing, contact, a demo) in the sidebar instead"),
    "backward-social:profile:footer": ("keep the follow icons in the footer, and give the pages that offer nothing an "
                                       "offer above it (pricing, contact, a demo); or drop the icons there"),
    "backward-social:profile:head": "nothing to fix for visitors: links in the page head are not shown",
    "backward-social:identity": "nothing to fix: identity markup (rel=me, sameAs) is no route for visitors",
    "backward-social:third-party": "fine where it credits someone; make sure the page links your own offer first",
    "backward-social:share": "keep share buttons below the post's call to action, or drop them",
    "backward-social:content": "embed or quote the post on the page instead of sending readers away",
    "backward-blog": "link the site's own pages (product, pricing, contact) where this link stands, or accept it as a mild step",
    "dead-end": "link each post to a product, pricing or contact page (a call to action)",
    "stranded-social": "add a link to the site or the blog to the profile's bio or header",
    "social-before-offer": "add a purchase or contact offer to these pages, above the social links",
    "untracked-inbound": "add utm_source / utm_medium parameters to the profile's link",
    "broken-link": "fix or remove the link (or restore the page it points to)",
    "broken-link:offer": ("restore the offer page (or 301-redirect its old address to the page that replaced it), "
                          "then click every link to it once"),
    "broken-link:page": "restore the page, 301-redirect its old address to its replacement, or correct the links",
    "broken-link:asset": "restore the file, or correct the src/href in the template that loads it",
    "broken-link:external": "update the link to the other site's new address, or remove it",
    "broken-link:social": "update the profile link (the account moved, was renamed or was deleted), or remove it",
    "broken-link:form": ("create the page the form sends visitors to (its action or thank-you page), or point the form "
                         "at one that exists; then send one test lead"),
    "lead-form-target": ("create the page the form sends visitors to (its action or thank-you page), or point the form "
                         "at one that exists; then send one test lead"),
    "buried-offer": "link the offer from every page's navigation (or header button) and from the posts' calls to action",
    "redirect": "link the final URL directly",
    "redirect-chain": "link the final URL directly, and shorten the chain on the server",
    "redirect-loop": "fix the server's redirect rules: the chain never ends",
    "missing-anchor": "link an id that exists on the page, or add the id",
    "orphan-page": "link the page from the site, or drop it from the sitemap",
    "unverified-link": "check it by hand in a browser",
    "skipped-link": ("nothing to fix; to check it anyway: --ignore-robots (robots.txt), --include (--exclude), "
                     "--allow-private (a private address)"),
    "unsupported-scheme": "nothing to fix unless the link is a mistake",
    "malformed-url": "correct the href: it is not a URL a browser can follow",
    "crawl-trap": "make the pattern's links rel=nofollow or finite (or --exclude it), so crawlers and visitors do not loop",
    "insecure-link": "link https:// (search and replace http:// for the site's own host)",
    "too-many-links": "split the page: past the cap its links were not read, and no visitor reads them either",
}


def rule(rule_id: str):
    """Register a rule function under ``rule_id``."""
    def register(fn: RuleFn) -> RuleFn:
        RULES[rule_id] = fn
        fn.rule_id = rule_id
        return fn
    return register


def _is_owned_page(data) -> bool:
    """An owned HTML page that was read (a ``<meta refresh>`` stub is a redirect, not a page)."""
    return data.get("tier") in OWNED and data.get("role") == "page" and bool(data.get("parsed")) and not data.get("stub")


def _owned_page_tiers(g) -> dict[str, str]:
    """url -> tier of every owned page that was read (kept on the graph: rules ask often)."""
    cached = g.graph.get("owned_pages")
    if cached is None:
        cached = g.graph["owned_pages"] = {url: data.get("tier") for url, data in g.nodes(data=True)
                                           if _is_owned_page(data)}
    return cached


def _tier_keys(g, tier: str) -> list[str]:
    """The nodes of ``tier`` (kept on the graph: several rules select the links into them)."""
    cached = g.graph.setdefault("tier_keys", {})
    if tier not in cached:
        cached[tier] = [url for url, data in g.node_data.items() if data.get("tier") == tier]
    return cached[tier]


def _owned_pages(g):
    nodes = g.node_data
    for url in _owned_page_tiers(g):
        yield url, nodes[url]


class _Group:
    """Collects the sources of one grouped finding: compact columns (a group may stand on
    every page of a site), its sources computed when asked."""
    __slots__ = ("locations", "severities")

    def __init__(self):
        self.locations = Locations()
        self.severities = bytearray()  # a rank (analysis.findings.RANK) per location

    def add(self, source: str, line, severity: str = "info") -> None:
        self.locations.append(source, line)
        self.severities.append(RANK[severity])

    @property
    def sources(self) -> dict[str, None]:
        """The distinct pages, in the order first seen."""
        return dict.fromkeys(self.locations.urls)

    def worst(self) -> str:
        return SEVERITIES[min(self.severities)]

    def by_severity(self) -> dict[str, dict[str, None]]:
        """severity -> its pages, in the order first seen."""
        out: dict[str, dict[str, None]] = {}
        for url, rank in zip(self.locations.urls, self.severities):
            out.setdefault(SEVERITIES[rank], {})[url] = None
        return out


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def share_endpoint(url: str) -> str:
    """A share intent without its query (the page being shared differs on every page).

    >>> share_endpoint("https://twitter.com/intent/tweet?url=https%3A%2F%2Fa.example%2F")
    'https://twitter.com/intent/tweet'
    """
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, p.path, "", ""))


def account_name(urls) -> str:
    """The URL an account is reported under, of the forms pages spell it: https first, then the
    shortest, then the first in order.

    >>> account_name({"http://www.twitter.com/ACME/", "https://twitter.com/acme", "https://x.com/acme"})
    'https://x.com/acme'
    """
    return min(urls, key=lambda u: (not u.startswith("https://"), len(u), u))


def _social_pass(g, part: str):
    """What backward-social (``groups``: the grouped links and the accounts' URL forms) and
    social-before-offer (``bare``: the own profile links of each page that offers nothing)
    read from the links of owned pages into social platforms: one pass over them for both,
    a row per link as a few ids and terms (:meth:`crawler.store.Store.link_facts`), each
    distinct (target, region, kind) judged once. Kept on the graph until its rule takes it.
    """
    cache = g.graph.get("social_pass")
    if cache is None or part not in cache:
        # backward-social reads the pass for both rules (social-before-offer runs next); the
        # other alone reads only the links of the pages that offer nothing
        cache = g.graph["social_pass"] = _read_social(g, groups_too=part == "groups")
    return cache.pop(part)


def _read_social(g, groups_too: bool) -> dict:
    owned = _owned_page_tiers(g)
    bare = {page for page in owned if not offers(g, page)}
    groups: dict[tuple, _Group] = defaultdict(_Group)
    names: dict[tuple, set[str]] = defaultdict(set)  # one account, however its URLs are written
    bare_links: dict[str, list] = defaultdict(list)
    bare_names: dict = defaultdict(set)
    out = {"bare": (bare_links, bare_names)}
    if groups_too:
        out["groups"] = (groups, names)
    keys = _tier_keys(g, SOCIAL)
    sources = owned if groups_too else bare
    if not keys or not sources:
        return out
    # The links, in the order the key index gives them (by target, then as stored): a page,
    # a line and the number of a distinct (target, as written, region, kind, rel) each,
    # the page checked here rather than by SQLite (a selection of every owned page costs more).
    combo_of: dict[tuple, int] = {}
    pages: list[str] = []
    combo_ids, lines = array("l"), array("l")
    for page, key, written, region, kind, line, rel in g.store.link_facts(
            g.crawl_id, keys, None, kinds=(PROFILE, SHARE, IDENTITY, CONTENT), urls=True, rel=True):
        # (an embedded video or widget script is not a link a visitor follows: not read)
        if page not in sources:
            continue
        combo = (key, written, region, kind, rel)
        i = combo_of.get(combo)
        if i is None:
            i = combo_of[combo] = len(combo_of)
        pages.append(intern(page))
        combo_ids.append(i)
        lines.append(line or 0)
    if groups_too and "own_profiles" not in g.graph:  # what kinds of link lead where, from the same rows
        own_profiles(g, kinds={(key, kind, region, rel) for key, _, region, kind, rel in combo_of})
    own = own_profiles(g)
    scope = g.graph["scope"]
    own_accounts = {scope.profile_id(u) or u for u in own}
    accounts: dict[str, object] = {}
    endpoints: dict[str, str] = {}  # a share intent's URL up to its query -> share_endpoint()

    def judge(target, written, region, kind, _rel) -> tuple:
        """How one distinct link is grouped: a footer icon is one target on every page."""
        target = intern(target)
        region = region or "body"
        account = bare_account = None
        key_url = target
        if kind in (PROFILE, IDENTITY):
            account = accounts.get(target)
            if account is None:  # named once
                account = accounts[target] = scope.profile_id(target) or target
                names[account].add(target)
            if kind == PROFILE and target in own:
                bare_account = account
                bare_names[account].add(target)
            target = account
        severity = "low"
        if kind == IDENTITY:
            severity, key = "info", (target, region, kind, "")
        elif kind == SHARE:  # (every page shares itself: one endpoint, the query dropped)
            url = written or key_url
            head = url.partition("?")[0].partition("#")[0]
            endpoint = endpoints.get(head)
            if endpoint is None:
                endpoint = endpoints[head] = share_endpoint(url)
            key = (endpoint, region, kind, "")
        elif kind == CONTENT:  # a post, video or hashtag: grouped per platform, not per URL
            platform = scope.platform(target)
            key = (f"https://{platform.hosts[0]}/" if platform else origin(target) + "/", region, kind, "")
        elif target not in own_accounts:  # someone else's account (an author, a customer, a partner)
            key = (target, region, "third-party", "")
        else:
            severity, key = None, (target, region, PROFILE, "")  # by the page's offer: see below
        if not groups_too:
            return None, None, None, None, bare_account, region
        grp = groups[key]  # (its columns appended to directly: _Group.add, inlined)
        return (grp.locations.urls.append, grp.locations.lines.append, grp.severities.append,
                None if severity is None else RANK[severity], bare_account, region)

    judged = [judge(*combo) for combo in combo_of]  # (in the order first linked)
    del combo_of
    high, medium, low = RANK["high"], RANK["medium"], RANK["low"]
    for page, i, line in zip(pages, combo_ids, lines):
        add_url, add_line, add_rank, rank, bare_account, region = judged[i]
        if bare_account is not None and page in bare:
            bare_links[page].append((line, region, bare_account))
        if add_url is None:
            continue
        if rank is None:  # the business's own profile: how bad depends on what the page offers
            if region in ("footer", "aside", "head") and page not in bare:  # (bare: the pages that offer nothing)
                rank = medium if region != "head" else low
            elif region in ("main", "body") and offers(g, page, before_line=line):
                rank = medium  # after the page's offer, as DOMAIN.md's order asks
            else:
                rank = high
        add_url(page)
        add_line(line)
        add_rank(rank)
    return out


@rule("backward-social")
def backward_social(g):
    """Owned page -> social platform: the visitor leaves for a page you do not control.

    >>> from analysis.graph import graph_from
    >>> g = graph_from([{"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1}],
    ...     [("https://a.example/", "https://x.com/a", "header", "profile")], site=["https://a.example/"])
    >>> [(f.severity, f.target, f.region, f.sources) for f in backward_social(g)]
    [('high', 'https://x.com/a', 'header', ['https://a.example/'])]

    One finding per (target, region); a footer, sidebar or head link is split by
    severity, because the same footer icon weighs more on a page that offers
    nothing else (high) than on one that offers a purchase or a form (medium).
    """
    groups, names = _social_pass(g, "groups")
    for (target, region, kind, _), grp in groups.items():
        if target in names:
            target = account_name(names[target])  # twitter.com/acme and twitter.com/acme/ are one account
        sources = list(grp.sources)
        n = len(sources)
        by_severity = grp.by_severity()
        split = next(iter(by_severity)) if len(by_severity) == 1 else "mixed"
        where = REGION_WORDS.get(region, region)
        if kind == IDENTITY:
            msg = f"identity link (rel=me / sameAs) to {target} on {_plural(n, 'page')}: not a route for visitors"
        elif kind == CONTENT:
            msg = f"{where} links to posts or videos on {target} on {_plural(n, 'page')}"
        elif kind == "third-party":
            msg = f"{where} links to a third-party social account {target} on {_plural(n, 'page')}"
        elif kind == SHARE:
            msg = f"share button ({target}) in the {where} on {_plural(n, 'page')} sends readers to social"
        elif split == "high" and region in ("footer", "aside", "head"):
            msg = (f"{where} links to social profile {target} on {_plural(n, 'page')} offering no purchase "
                   "and no lead capture: rowing backward")
        elif split == "medium" and region in ("main", "body"):
            msg = (f"{where} links to social profile {target} on {_plural(n, 'page')}, after the page's "
                   "offer: rowing backward last")
        elif split == "mixed":
            def why(sev: str, k: int) -> str:
                s_ = "s" if k == 1 else ""  # "1 page that offers", "2 pages that offer"
                if sev == "high":
                    return (f"that offer{s_} no purchase and no lead capture" if region in ("footer", "aside", "head")
                            else "above any offer")
                return f"that offer{s_} something too" if region not in ("main", "body") else "below the offer"

            parts = [f"{sev} on {_plural(len(by_severity[sev]), 'page')} {why(sev, len(by_severity[sev]))}"
                     for sev in ("high", "medium", "low") if sev in by_severity]
            msg = f"{where} links to social profile {target} on {_plural(n, 'page')}: " + "; ".join(parts)
        else:
            msg = f"{where} links to social profile {target} on {_plural(n, 'page')}: rowing backward"
        detail = {"kind": kind}
        if kind == PROFILE:
            detail["pages_by_severity"] = {sev: sorted(pages) for sev, pages in by_severity.items()}
        yield Finding("backward-social", grp.worst(), target, msg, region, sources,
                      grp.locations, detail)


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


@rule("stranded-social")
def stranded_social(g):
    """A social profile that does not link back to the blog or the site.

    Profiles owned pages link to are checked, and the business's own (``--social``)
    even where no page links to them.
    """
    scope = g.graph["scope"]
    own = {dedupe_key(u) for u in scope.social}
    own_set = own_profiles(g) | own
    for url, data in g.nodes(data=True):
        if data.get("role") != "profile":
            continue
        if url not in own_set and not (scope.social and scope.is_own_profile(url)):
            continue  # someone else's account is not the business's to fix
        owned_in = [(s, e) for s, _, e in g.in_edges(url, data=True) if g.nodes[s].get("tier") in OWNED]
        # The pages that send visitors there (profile links); identity markup only if that is all.
        routes = [(s, e) for s, e in owned_in if e["kind"] == PROFILE] or owned_in
        sources = list(dict.fromkeys(s for s, _ in routes))
        locations = [Location(s, e["line"]) for s, e in routes]
        if not sources and url not in own:
            continue  # only reached as a redirect hop: judged under the URL the pages link to
        verdict = data.get("verdict")
        if verdict == UNVERIFIED or verdict == SKIPPED:
            yield Finding("stranded-social", "info", url,
                          f"could not verify that {url} links back: {data.get('label')}", None, sources, locations,
                          {"verdict": "unverified", "reason": data.get("label")})
            continue
        if verdict != "ok":
            continue  # a broken profile is a broken-link finding
        final = data.get("final_url") or url
        node = g.nodes[final] if final in g else data
        if not node.get("parsed"):
            continue
        if not any(g.nodes[t].get("tier") in OWNED or scope.tier(unwrap_redirector(e["target"])) in OWNED
                   for _, t, e in g.out_edges(final, data=True)):
            yield Finding("stranded-social", "medium", url,
                          f"social profile {url} links to neither the blog nor the site", None, sources, locations,
                          {"verdict": "stranded"})


@rule("social-before-offer")
def social_before_offer(g):
    """Pages that link to the business's social profiles but offer no purchase and no lead
    capture: one finding per template (the region and the row of profiles the pages share).

    >>> from analysis.graph import graph_from
    >>> page = "https://a.example/about/"
    >>> g = graph_from([{"url": page, "role": "page", "status": 200, "parsed": 1}],
    ...     [(page, "https://x.com/a", "footer", "profile")], site=["https://a.example/"])
    >>> [(f.target, f.region, f.sources) for f in social_before_offer(g)]
    [('https://x.com/a', 'footer', ['https://a.example/about/'])]
    >>> g = graph_from([{"url": page, "role": "page", "status": 200, "parsed": 1}],
    ...     [(page, "https://x.com/a", "footer", "profile"), (page, "https://a.example/pricing/", "nav", "other")],
    ...     site=["https://a.example/"])
    >>> list(social_before_offer(g))
    []
    """
    bare_links, names = _social_pass(g, "bare")  # the pages that offer nothing: only they can be findings
    groups: dict[tuple, _Group] = defaultdict(_Group)
    for page, links in sorted(bare_links.items()):  # pages without an offer and their own profile links
        links.sort()
        region = links[0][1]  # where the page first sends visitors to social
        row = tuple(sorted({account_name(names[a]) for _, r, a in links if r == region}))
        groups[(region, row)].add(page, links[0][0] or None, "medium")
    for (region, row), grp in groups.items():
        n = len(grp.sources)
        names = ", ".join(row[:3]) + (f" and {len(row) - 3} more" if len(row) > 3 else "")
        yield Finding("social-before-offer", "medium", row[0],
                      f"{_plural(n, 'page')} link to social ({names}, {REGION_WORDS.get(region, region)}) but offer "
                      "no purchase and no lead capture", region, list(grp.sources), grp.locations,
                      {"profiles": list(row)})


def own_profiles(g, kinds=None) -> frozenset[str]:
    """The business's own social profiles: ``--social`` if given, else inferred.

    Given: the listed accounts, matched in any case, scheme, ``www.`` or platform alias
    (x.com is twitter.com). Inferred: profiles linked from the site-wide chrome (header,
    nav, footer, sidebar), by identity markup (rel=me, sameAs) or by a visible
    ``<a rel="me">``, and, wherever they are linked, accounts whose handle is the brand
    (``acme`` for acme.example) or a handle the business already uses on another platform.
    Any other profile linked only from the body of a page (an author, a customer) is
    someone else's.

    ``kinds``: the distinct ``(target, kind, region, rel)`` of the links from owned pages into
    social platforms, when the caller has read them already (else one query).
    """
    if "own_profiles" in g.graph:
        return g.graph["own_profiles"]
    scope = g.graph["scope"]
    if scope.social:
        own = frozenset(u for u, d in g.nodes(data=True) if d.get("tier") == SOCIAL and scope.is_own_profile(u))
    else:
        found, others = set(), set()
        keys = _tier_keys(g, SOCIAL)
        # what kinds of link lead where: one row per distinct (target, kind, region, rel), not per link
        if kinds is None:
            kinds = g.store.link_kinds(g.crawl_id, keys, _owned_page_tiers(g)) if keys else ()
        for target, kind, region, rel in kinds:
            if kind not in (PROFILE, IDENTITY):
                continue
            if names_own_profile(kind, region or "body", rel or ""):
                found.add(target)
            else:
                others.add(target)
        known = frozenset(handle_key(pid[1]) for pid in map(scope.profile_id, found) if pid)
        found.update(t for t in others if scope.is_brand_profile(t, known))
        own = frozenset(found)
    g.graph["own_profiles"] = own
    return own


def _targets(g) -> frozenset[str]:
    """The crawl's targets (their de-duplication keys): findings about them need no linking page."""
    if "targets" not in g.graph:
        g.graph["targets"] = frozenset(g.graph["key"](t) for t in g.graph["crawl"]["targets"])
    return g.graph["targets"]


def _in_sources(g, url) -> _Group | None:
    """The owned pages that link to ``url``; None when none does and it is not a target either
    (a finding about a URL needs a page to stand on, or to be about what the user asked for)."""
    # Pages first; a <meta refresh> stub, then a sitemap, only when no page links to the URL.
    ranked = (_Group(), _Group(), _Group())
    for s, _, e in g.in_edges(url, data=True):
        node = g.nodes[s]
        if node.get("tier") in OWNED:
            ranked[2 if node.get("role") == "sitemap" else 1 if node.get("stub") else 0].add(s, e["line"])
    grp = next((r for r in ranked if r.sources), ranked[0])
    return grp if grp.sources or url in _targets(g) else None


# A path segment that is a host name typed without its scheme (href="www.example.com"), or an
# e-mail address typed without mailto: (the TLDs that make "name.tld" look like a host).
HOST_LIKE = re.compile(r"^(www\d?\.[a-z0-9-]+(\.[a-z0-9-]+)+|[a-z0-9-]+(\.[a-z0-9-]+)*\.(com|org|net|io|dev|co|app|ai|"
                       r"example|edu|gov|info|biz|me|us|uk|de|fr|eu|ca|au|nl|ch|es|it|se|no|jp|in|xyz|tech|site|"
                       r"online|shop|store|cloud))$", re.I)
EMAIL_LIKE = re.compile(r"^[^@/\s]+@[a-z0-9-]+(\.[a-z0-9-]+)+$", re.I)


def url_hint(url: str, sources) -> str | None:
    """What a link that answers 404 probably meant, when its href lacks a scheme.

    >>> url_hint("https://a.example/about/www.example.com", ["https://a.example/about/"])
    'did you mean https://www.example.com/?'
    >>> url_hint("https://a.example/info@a.example", ["https://a.example/"])
    'an e-mail address without mailto: (write mailto:info@a.example)'
    >>> url_hint("https://a.example/p/(https://b.example/)", ["https://a.example/p/"])
    'did you mean https://b.example/?'
    >>> url_hint("https://a.example/docs/v1.2/", ["https://a.example/"]) is None
    True
    """
    for source in sources:
        folder = source[: source.rfind("/") + 1]
        if url.startswith(folder):
            rest = url[len(folder):]
        elif url.startswith(origin(source) + "/"):
            rest = url[len(origin(source)) + 1:]
        else:
            continue
        embedded = re.search(r"https?:/+[^\s()\[\]<>\"']+", unquote(rest))
        if embedded:  # href="(https://example.org/)": an absolute URL wrapped in something
            fixed = re.sub(r"^(https?:)/+", r"\1//", embedded.group())
            return f"did you mean {fixed}?"
        first, slash, tail = unquote(rest.split("?", 1)[0]).partition("/")
        if EMAIL_LIKE.match(first) and not tail:
            return f"an e-mail address without mailto: (write mailto:{first})"
        if HOST_LIKE.match(first):
            return f"did you mean https://{first.lower()}/{tail}?"
        return None
    return None


def page_relative(url: str, sources) -> str | None:
    """The href every source would have written for ``url`` when it is the same folder-relative
    path under each of them (``_/js/app.js`` on /a/ and /b/c/), else None.

    >>> page_relative("https://a.example/b/_/x.js", ["https://a.example/b/", "https://a.example/b/index"])
    '_/x.js'
    """
    rel = None
    for source in sources:
        folder = source[: source.rfind("/") + 1]
        if not url.startswith(folder) or url == folder:
            return None
        here = url[len(folder):]
        if rel is not None and here != rel:
            return None
        rel = here
    return rel


TEMPLATE_MIN = 3  # distinct broken URLs that make one template's page-relative link


@rule("broken-link")
def broken_link(g):
    """A link whose target answered 4xx/5xx or could not be reached (redirect loops have their own rule).

    A page-relative href in a template (``./_/js/search.js`` in every page's head) resolves
    to a different URL under each folder and 404s on each: one finding for the href, listing
    the pages, instead of one per folder.
    """
    template: dict[tuple, list] = defaultdict(list)
    missing: list[tuple[str, _Group]] = []  # owned 404s: one by one, or a whole missing section
    for url, data in g.nodes(data=True):
        if data.get("verdict") != BROKEN or data.get("loop"):
            continue
        grp = _in_sources(g, url)
        if grp is None:
            continue
        status = data.get("final_status")
        if status == 404 and data.get("tier") in OWNED and not data.get("chain"):
            rel = page_relative(url, grp.sources)
            if rel is not None:
                template[(origin(url), rel)].append((url, grp))
            else:
                missing.append((url, grp))
            continue
        yield _broken(g, url, data, grp)
    rest: list[tuple[str, _Group]] = []
    for (site, rel), hits in template.items():
        if len(hits) < TEMPLATE_MIN:
            rest.extend(hits)
            continue
        merged = _merged(hits)
        n = len(merged.sources)
        yield Finding("broken-link", "high", rel,
                      f"page-relative link '{rel}' is broken on {_plural(n, 'page')}: it resolves under each page's "
                      f"own folder ({len(hits)} URLs, each answering 404); write it relative to the site root",
                      None, list(merged.sources), merged.locations,
                      {"status": 404, "error_kind": None, "label": "client error", "cause": "page-relative",
                       "targets": sorted(u for u, _ in hits)})
    yield from _missing_sections(g, rest + missing)


def _merged(hits: list[tuple[str, _Group]]) -> _Group:
    """One group of the pages behind several broken URLs that share a cause."""
    merged = _Group()
    for _, grp in hits:
        for loc in grp.locations:
            merged.add(loc["url"], loc["line"], "high")
    return merged


SECTION_MIN = 5  # broken URLs under one folder where nothing answers: one missing section


def _section(url: str) -> str:
    """The folder two levels down a URL's path (``/manual/latest/``), or its first folder."""
    head, _, path = url.partition("://")[2].partition("/")
    parts = path.split("/")[:-1][:2]
    return url.split("://")[0] + "://" + head + "/" + "".join(p + "/" for p in parts)


def _missing_sections(g, broken: list[tuple[str, _Group]]):
    """Owned 404s one by one, except where five or more lie under one folder that holds no page
    that answers (a section left out of the build, a removed manual): one finding for it."""
    by_section: dict[str, list] = defaultdict(list)
    for url, grp in broken:
        by_section[_section(url)].append((url, grp))
    alive = {_section(u) for u, d in g.nodes(data=True) if d.get("verdict") == "ok" and d.get("role") == "page"}
    alive |= {u for u, d in g.nodes(data=True) if d.get("verdict") == "ok" and d.get("role") == "page"}
    for section, hits in by_section.items():
        if len(hits) < SECTION_MIN or section in alive or section.count("/") <= 3:
            for url, grp in hits:
                yield _broken(g, url, g.nodes[url], grp)
            continue
        merged = _merged(hits)
        yield Finding("broken-link", "high", section,
                      f"{len(hits)} broken links into {section} on {_plural(len(merged.sources), 'page')}: nothing "
                      "under it answers (a section missing from the site?)", None, list(merged.sources),
                      merged.locations, {"status": 404, "error_kind": None, "label": "client error",
                                         "cause": "missing-section", "targets": sorted(u for u, _ in hits)})


def _broken(g, url: str, data: dict, grp: _Group) -> Finding:
    status = data.get("final_status")
    what = f"{status}" if status else (data.get("label") or "error")
    if data.get("chain"):
        what = f"redirects to {data.get('final_url')}, which answers {what}"
    elif status:
        what = f"answers {status} ({data.get('label')})"
    severity = "high" if data.get("tier") in OWNED else "medium"
    hint = url_hint(url, grp.sources) if status == 404 else None
    detail = {"status": status, "error_kind": data.get("final_error") or data.get("error_kind"),
              "label": data.get("label")}
    if hint:
        detail["hint"] = hint
    return Finding("broken-link", severity, url, f"broken link: {url} {what}" + (f": {hint}" if hint else ""),
                   None, list(grp.sources), grp.locations, detail)


@rule("redirect")
def redirect(g):
    """An owned page links to a URL that redirects permanently: link the final URL instead.

    Links that redirect only to add a trailing slash (``/docs`` -> ``/docs/``) share one
    cause and one fix: one finding per site lists them all.
    """
    slash: dict[str, _Group] = defaultdict(_Group)
    slashed: dict[str, list] = defaultdict(list)
    for url, data in g.nodes(data=True):
        if not data.get("permanent") or data.get("loop") or data.get("tier") not in OWNED:
            continue
        grp = _in_sources(g, url)
        if grp is None:
            continue
        final = landing_page(g, url)  # through <meta refresh> stubs too: the page a visitor ends on
        if final == url.split("?", 1)[0] + "/" + ("?" + url.split("?", 1)[1] if "?" in url else "") \
                and len(data.get("chain") or []) == 1:
            site = origin(url) + "/"
            for loc in grp.locations:
                slash[site].add(loc["url"], loc["line"], "low")
            slashed[site].append({"url": url, "final_url": final})
            continue
        yield Finding("redirect", "low", url,
                      f"{url} redirects permanently to {final}: link the final URL", None,
                      list(grp.sources), grp.locations, {"final_url": final,
                                                         "redirects": len(data.get("chain") or [])})
    for site, grp in slash.items():
        urls = sorted(slashed[site], key=lambda r: r["url"])
        yield Finding("redirect", "low", site,
                      f"{_plural(len(urls), 'link target')} on {_plural(len(grp.sources), 'page')} redirect only to add "
                      f"a trailing slash (e.g. {urls[0]['url']} -> {urls[0]['final_url']}): link the / form",
                      None, list(grp.sources), grp.locations, {"cause": "trailing-slash", "redirects": urls})


@rule("redirect-chain")
def redirect_chain(g):
    """More than two redirect hops before the final answer."""
    for url, data in g.nodes(data=True):
        chain = data.get("chain") or []
        if len(chain) <= 2 or data.get("loop"):
            continue
        grp = _in_sources(g, url)
        if grp is not None:
            yield Finding("redirect-chain", "medium", url, f"{url} takes {len(chain)} redirects to reach "
                          f"{data.get('final_url')}", None, list(grp.sources), grp.locations,
                          {"redirects": [{"url": u, "status": s} for u, s in chain]})


@rule("redirect-loop")
def redirect_loop(g):
    """A redirect chain that comes back to a URL it already visited."""
    for url, data in g.nodes(data=True):
        if not data.get("loop"):
            continue
        grp = _in_sources(g, url)
        if grp is not None:
            chain = data.get("chain") or []
            yield Finding("redirect-loop", "high", url, f"redirect loop: {' -> '.join(u for u, _ in chain)} -> "
                          f"{data.get('final_url')}", None, list(grp.sources), grp.locations,
                          {"redirects": [{"url": u, "status": s} for u, s in chain]})


@rule("missing-anchor")
def missing_anchor(g):
    """A #fragment link to an owned HTML page that has no such id or name.

    The fragment is looked for on the page the link lands on (after redirects and
    ``<meta refresh>`` stubs); text fragments (``#:~:text=``) name no element and are fine.
    """
    groups: dict[tuple, _Group] = defaultdict(_Group)
    owned = _owned_page_tiers(g)
    for page, target, e in g.links(fragment=True):  # one query: the links with a fragment
        if page not in owned:
            continue
        frag = (e["fragment"] or "").split(":~:", 1)[0]  # a text fragment directive is no element
        if not frag.strip("#") or frag.lower() in IGNORED_FRAGMENTS or frag.startswith(("/", "!")):
            continue
        t = g.nodes[target]
        if t.get("tier") not in OWNED or t.get("verdict") != "ok":
            continue
        final = landing_page(g, target)
        node = g.nodes[final]
        if node.get("parsed") and frag not in node.get("anchors", ()):
            groups[(target, frag, final)].add(page, e["line"], "medium")
    for (target, frag, final), grp in groups.items():
        via = f" (the page {target} leads to)" if final != target else ""
        yield Finding("missing-anchor", "medium", f"{target}#{frag}",
                      f"no element with id or name '{frag}' on {final}{via}", None, list(grp.sources),
                      grp.locations, {"page": final} if final != target else {})


@rule("untracked-inbound")
def untracked_inbound(g):
    """A social profile links to the site or blog without campaign (utm_) parameters."""
    for url, data in g.nodes(data=True):
        if data.get("role") != "profile" or not data.get("parsed"):
            continue
        scope = g.graph["scope"]
        for _, target, e in g.out_edges(url, data=True):
            dest = unwrap_redirector(e["target"])  # youtube.com/redirect?q=..., l.facebook.com/l.php?u=...
            if scope.tier(dest) in OWNED and not has_tracking(dest):
                yield Finding("untracked-inbound", "low", dest,
                              f"{url} links to {dest} without utm_ parameters: visits cannot be tied to revenue",
                              e["region"], [url], [Location(url, e["line"])])


@rule("unverified-link")
def unverified_link(g):
    """An external link the platform would not let us check (blocked, login wall, rate limited)."""
    for url, data in g.nodes(data=True):
        if data.get("verdict") != UNVERIFIED or data.get("role") == "profile" or data.get("offline"):
            continue  # links left unchecked for want of a network are one line in the summary
        grp = _in_sources(g, url)
        if grp is not None:
            yield Finding("unverified-link", "info", url, f"could not verify {url}: {data.get('label')}", None,
                          list(grp.sources), grp.locations, {"reason": data.get("label")})


@rule("skipped-link")
def skipped_link(g):
    """A link funnelcheck did not fetch on purpose (robots.txt, --exclude)."""
    for url, data in g.nodes(data=True):
        if data.get("verdict") != SKIPPED or data.get("role") == "profile":
            continue
        grp = _in_sources(g, url)
        if grp is not None:
            yield Finding("skipped-link", "info", url, f"{url} {data.get('label')}", None, list(grp.sources),
                          grp.locations, {"reason": data.get("label")})


@rule("unsupported-scheme")
def unsupported_scheme(g):
    """A link with a well-formed scheme funnelcheck cannot check (ftp:, file:, ...)."""
    yield from _unfetchable(g, malformed=False)


@rule("malformed-url")
def malformed_url(g):
    """A link that is not a URL at all (``http:/x``, ``http://``, an unbalanced ``[``): a typo
    every visitor hits."""
    yield from _unfetchable(g, malformed=True)


def _unfetchable(g, malformed: bool):
    cached = g.graph.get("unfetchable")
    if cached is None:  # one pass for both rules: malformed and unsupported links
        cached = g.graph["unfetchable"] = {True: defaultdict(_Group), False: defaultdict(_Group)}
        nodes, owned = g.nodes, _owned_page_tiers(g)
        other = [url for url, d in g.node_data.items() if d.get("tier") == "other"
                 and not url.startswith(("http://", "https://"))]  # ftp:, javascript:, ...
        malformed_rows = list(g.store.link_rows(g.crawl_id, kind="malformed"))  # a few: typos
        seen = {row[0] for row in malformed_rows}
        rows = chain(malformed_rows, (row for row in (g.store.link_rows(g.crawl_id, keys=other) if other else ())
                                      if row[0] not in seen))
        for page, target, e in map(edge_of, rows):  # malformed, or not http(s): two queries
            data = nodes[target]
            if data.get("role") is not None:
                continue  # fetched, so neither unsupported nor malformed
            bad = e["kind"] == "malformed"
            if (data.get("tier") == "other" or bad) and page in owned:
                cached[bad][target].add(page, e["line"])
    groups = cached[malformed]
    for target, grp in groups.items():
        if malformed:
            yield Finding("malformed-url", "medium", target, f"malformed URL {target!r}: not a link a browser can "
                          "follow", None, list(grp.sources), grp.locations)
        else:
            yield Finding("unsupported-scheme", "info", target, f"cannot check {target}: unsupported scheme",
                          None, list(grp.sources), grp.locations)


@rule("insecure-link")
def insecure_link(g):
    """``http://`` links to the business's own https site: one finding per site, listing the pages.

    >>> from analysis.graph import graph_from
    >>> g = graph_from([{"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1}],
    ...     [("https://a.example/", "http://a.example/x", "main", "other"),
    ...      ("https://a.example/", "http://www.a.example/y", "main", "other")], site=["https://a.example/"])
    >>> [(f.target, f.sources, f.detail["links"]) for f in insecure_link(g)]
    [('https://a.example/', ['https://a.example/'], 2)]
    """
    groups: dict[str, _Group] = defaultdict(_Group)
    written: dict[str, dict[str, None]] = defaultdict(dict)
    nodes, owned = g.nodes, _owned_page_tiers(g)
    for page, target, e in g.links(written_prefix="http://", key_prefix="https://", rewritten=True):  # one query
        if page in owned:
            if target.startswith("https://") and nodes[target].get("tier") in OWNED:
                site = origin(target) + "/"
                groups[site].add(page, e["line"], "low")
                written[site].setdefault(e["target"], None)
    for site, grp in groups.items():
        n = len(grp.locations)
        yield Finding("insecure-link", "low", site,
                      f"{_plural(n, 'link')} on {_plural(len(grp.sources), 'page')} use http:// for {site}: "
                      "link https:// (visitors are sent through a redirect, or see a warning)", None,
                      list(grp.sources), grp.locations, {"links": n, "examples": list(written[site])[:5]})


@rule("orphan-page")
def orphan_page(g):
    """A page listed in a sitemap that no crawled page links to (directly or through a redirect)."""
    targets = _targets(g)
    pages = [url for url, data in g.nodes(data=True) if data.get("role") == "page" and data.get("tier") in OWNED
             and data.get("verdict") == "ok" and url not in targets]
    # linked by a crawled page: one probe of the key index per page, then one per URL that
    # redirects to a page no page links to
    unlinked = set(pages) - g.store.linked_among(g.crawl_id, pages, except_tag="sitemap", from_role="page")
    hops = [url for url, data in g.nodes(data=True) if data.get("final_url") in unlinked] if unlinked else []
    if hops:
        unlinked -= {g.nodes[t]["final_url"] for t in
                     g.store.linked_among(g.crawl_id, hops, except_tag="sitemap", from_role="page")}
    for url in pages:
        if url not in unlinked:
            continue
        sitemaps = sorted({s for s, _, e in g.in_edges(url, data=True) if e["tag"] == "sitemap"})
        if sitemaps:
            yield Finding("orphan-page", "low", url, f"{url} is in the sitemap but no crawled page links to it",
                          None, sitemaps, [Location(s, None) for s in sitemaps])


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


def run_rules(g, only: Iterable[str] | None = None) -> list[Finding]:
    """Run every registered rule (or those in ``only``); findings sorted worst first."""
    findings: list[Finding] = []
    for rule_id, fn in RULES.items():
        if only is None or rule_id in only:
            findings.extend(fn(g))
    settle(g, findings)
    return findings


def settle(g, findings: list[Finding]) -> None:
    """What follows the rules: each finding's pages and locations sorted, then the findings
    worst first (the same crawl gives the same report, whatever order its pages arrived in),
    and the caches the rules shared dropped (read again if asked; nothing after the rules
    asks: 10 MiB at 100,000 pages)."""
    for name in RULE_CACHES:
        g.graph.pop(name, None)
    for f in findings:
        f.sources.sort()
        f.locations.sort(key=lambda loc: (loc["url"], loc["line"] or 0))
        if isinstance(f.locations, Locations) and f.locations.urls == f.sources:
            f.locations.urls = f.sources  # one location a page: one list of 100,000 URLs, not two
    findings.sort(key=Finding.sort_key)


# What the rules keep on the graph while they run (each read once for several rules).
RULE_CACHES = ("owned_pages", "tier_keys", "offer_links", "social_pass", "unfetchable")
