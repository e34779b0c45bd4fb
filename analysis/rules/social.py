"""Social routing: owned pages sending visitors to social platforms, and profiles that do not send
them back (backward-social, social-before-offer, stranded-social, untracked-inbound)."""
from __future__ import annotations

from collections import defaultdict
from sys import intern
from urllib.parse import urlsplit, urlunsplit

from analysis.findings import RANK, Finding, Location
from analysis.graph import offer_links_ahead, offers
from analysis.rules.common import REGION_WORDS, _Group, _owned_page_tiers, _plural, _tier_keys, rule
from analysis.words import listing
from crawler.scope import (COMMUNITY, CONTENT, IDENTITY, OWNED, PROFILE, SHARE, SOCIAL, _host,
                           names_own_profile, unwrap_redirector)
from crawler.urls import has_tracking, origin


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
    scope = g.graph["scope"]
    for key, grp in groups.items():
        target, region, kind, _ = key
        others = ()
        if kind == "third-party":  # other people's accounts on one platform: named when there is one
            others = sorted(account_name(names[a]) for a in names[key])
            target = others[0] if len(others) == 1 else target
        elif key in names:  # a platform's share endpoints, its community invitations: one finding
            target = account_name(names[key])
        elif target in names:
            target = account_name(names[target])  # twitter.com/acme and twitter.com/acme/ are one account
        sources = grp.pages()
        n = len(sources)
        by_severity = grp.by_severity()
        split = next(iter(by_severity)) if len(by_severity) == 1 else "mixed"
        where = REGION_WORDS.get(region, region)
        if kind == IDENTITY:
            msg = f"identity link (rel=me / sameAs) to {target} on {_plural(n, 'page')}: not a route for visitors"
        elif kind == CONTENT:
            msg = f"{where} links to posts, videos or code on {target} on {_plural(n, 'page')}"
        elif kind == "third-party" and len(others) == 1:
            msg = f"{where} links to a third-party social account {target} on {_plural(n, 'page')}"
        elif kind == "third-party":
            msg = f"{where} links to {len(others)} third-party accounts on {target} ({listing(others)}) on {_plural(n, 'page')}"
        elif kind == SHARE:
            platform = scope.platform(target)
            urls = sorted(names.get(key) or (target,))
            msg = (f"{platform.name if platform else 'share'} share button{'s' if len(urls) > 1 else ''} "
                   f"({', '.join(urls)}) in the {where} on {_plural(n, 'page')} send{'' if len(urls) > 1 else 's'} readers to "
                   "social")
        elif kind == COMMUNITY:
            msg = f"{where} invites visitors to a community ({target}) on {_plural(n, 'page')}"
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
        if len(others) > 1:
            detail["accounts"] = others
        if kind in (SHARE, COMMUNITY) and len(names.get(key, ())) > 1:
            detail["urls"] = sorted(names[key])  # the platform's share endpoints or invitations linked there
        if kind == PROFILE and len(by_severity) == 1:  # (every page one severity: its list is the
            detail["pages_by_severity"] = {split: sources}  # pages' list, not a copy; settle() sorts it)
        elif kind == PROFILE:
            detail["pages_by_severity"] = {sev: sorted(pages) for sev, pages in by_severity.items()}
        yield Finding("backward-social", grp.worst(), target, msg, region, sources,
                      grp.locations, detail)


@rule("stranded-social")
def stranded_social(g):
    """A social profile that does not link back to the blog or the site.

    Profiles owned pages link to are checked, and the business's own (``--social``, and those
    stated in ``[profiles]``) even where no page links to them. Only a profile that was read
    (or whose links the user stated) can be stranded; a platform that could not be read is one
    info line per platform, with the reason (see analysis/profiles.py).

    LinkedIn and X are never read (a login wall: ``readable = false`` in platforms.toml): a 999, or
    a page that answers 200 and shows no link (X's login wall), is one line per platform, not
    checkable there, never a profile that links to neither.

    >>> from analysis.graph import graph_from

    >>> home, li, x = "https://a.example/", "https://www.linkedin.com/company/", "https://x.com/a"
    >>> g = graph_from([{"url": home, "role": "page", "status": 200, "parsed": 1},
    ...     {"url": li + "a", "role": "profile", "status": 999}, {"url": li + "a-labs", "role": "profile", "status": 999},
    ...     {"url": x, "role": "profile", "status": 200, "parsed": 1}],
    ...     [(home, li + "a", "footer", "profile"), (home, li + "a-labs", "footer", "profile"),
    ...      (home, x, "footer", "profile")], site=[home])
    >>> [(f.severity, f.message) for f in stranded_social(g)]  # doctest: +NORMALIZE_WHITESPACE
    [('info', 'could not verify that 2 LinkedIn profiles link back (https://www.linkedin.com/company/a,
      https://www.linkedin.com/company/a-labs): not checkable on LinkedIn (login wall: LinkedIn shows company pages
      and profiles only to its members)'),
     ('info', 'could not verify that https://x.com/a links back: not checkable on X (login wall: X shows profiles
      only to logged-in visitors)')]
    """
    from analysis.profiles import NOWHERE, UNREADABLE, profile_verdicts

    unreadable: dict[tuple, list] = defaultdict(list)
    for v in profile_verdicts(g):
        if v.state == UNREADABLE and not v.stated_on:
            unreadable[(v.platform, v.reason, v.checkable)].append(v)
        elif v.state == NOWHERE:
            how = "" if v.how == "from its page" else f" ({v.how})"
            yield Finding("stranded-social", "medium", v.name,
                          f"social profile {v.name} links to neither the blog nor the site{how}", None,
                          v.sources, v.locations, {"verdict": "stranded", "how": v.how})
    for (platform, reason, checkable), vs in unreadable.items():
        names = sorted(v.name for v in vs)
        sources = list(dict.fromkeys(s_ for v in vs for s_ in v.sources))
        locations = [loc for v in vs for loc in v.locations]
        if len(vs) == 1:
            msg = f"could not verify that {names[0]} links back: {reason}"
        else:
            msg = f"could not verify that {len(vs)} {platform} profiles link back ({listing(names)}): {reason}"
        detail = {"verdict": "unverified", "reason": reason, "platform": platform}
        if not checkable:  # a login wall: only the user can look (its fix: analysis/rules/fixes.py)
            detail["verdict"] = "not-checkable"  # (no "kind": the finding's id stays the one it had)
        if len(vs) > 1:
            detail["profiles"] = names
        yield Finding("stranded-social", "info", names[0], msg, None, sources, locations, detail)


@rule("rel-me-missing")
def rel_me_missing(g):
    """An own Mastodon profile whose field links the site, unverified because the site's own
    link to the profile lacks ``rel="me"`` (Mastodon verifies a field when the linked page
    links back with rel=me)."""
    from analysis.profiles import profile_verdicts

    for v in profile_verdicts(g):
        if v.platform != "Mastodon" or not v.links or not v.how.startswith("through"):
            continue  # (only the API says which fields are verified)
        unverified = [l for l in v.links if l["source"] == "field" and not l["verified"]]
        if not unverified or any(l["source"] == "field" and l["verified"] for l in v.links):
            continue
        rels = [(s_, e) for s_, _, e in g.in_edges(v.url, data=True) if g.nodes[s_].get("tier") in OWNED]
        if any("me" in (e["rel"] or "").lower().split() for _, e in rels):
            continue  # the site says rel=me: Mastodon checks again when the profile is next saved
        where = REGION_WORDS.get(rels[0][1]["region"], rels[0][1]["region"]) if rels else None
        fix_where = f"the {where}'s Mastodon link" if where else "a link to the profile on the home page"
        yield Finding("rel-me-missing", "low", v.name,
                      f"Mastodon does not verify {unverified[0]['url']} on {v.name}: the site's link to the profile "
                      f"has no rel=\"me\" (add rel=me to {fix_where} and the platform will verify it)",
                      None, v.sources, v.locations, {"links": [l["url"] for l in unverified]})


@rule("social-before-offer")
def social_before_offer(g):
    """Pages that link to the business's social profiles but offer no purchase and no lead
    capture: one finding per template (the region and the row of profiles the pages share).

    >>> from analysis.graph import graph_from
    >>> page = "https://a.example/about/"
    >>> g = graph_from([{"url": page, "role": "page", "status": 200, "parsed": 1}],
    ...     [(page, "https://x.com/a", "footer", "profile")], site=["https://a.example/"])
    >>> [(f.target, f.region, f.sources, f.message) for f in social_before_offer(g)]  # doctest: +NORMALIZE_WHITESPACE
    [('https://x.com/a', 'footer', ['https://a.example/about/'],
      '1 page links to social (https://x.com/a, footer) but offers no purchase and no lead capture')]
    >>> g = graph_from([{"url": page, "role": "page", "status": 200, "parsed": 1}],
    ...     [(page, "https://x.com/a", "footer", "profile"), (page, "https://a.example/pricing/", "nav", "other")],
    ...     site=["https://a.example/"])
    >>> list(social_before_offer(g))
    []
    """
    bare_links, names = _social_pass(g, "bare")  # the pages that offer nothing: only they can be findings
    groups: dict[tuple, _Group] = defaultdict(_Group)
    for page, links in sorted(bare_links.items()):  # pages without an offer and their own profile links
        links.sort()  # in document order
        region = links[0][1]  # where the page first sends visitors to social
        row = tuple(sorted({account_name(names[a]) for _, r, a, _ in links if r == region}))
        groups[(region, row)].add(page, links[0][3] or None, "medium")
    for (region, row), grp in groups.items():
        n = len(grp.sources)
        names = listing(row)
        yield Finding("social-before-offer", "medium", row[0],
                      f"{_plural(n, 'page')} link{'s' if n == 1 else ''} to social ({names}, {REGION_WORDS.get(region, region)})"
                      f" but offer{'s' if n == 1 else ''} no purchase and no lead capture", region, grp.pages(), grp.locations,
                      {"profiles": list(row)})


@rule("untracked-inbound")
def untracked_inbound(g):
    """A social profile links to the site or blog without campaign (utm_) parameters: one finding
    per profile, its untagged links in ``detail.links`` (a profile listing 100 pages is one thing
    to fix). A platform that is never read (a login wall) has no links of its own to judge.

    >>> from analysis.graph import graph_from
    >>> p, home = "https://bsky.app/profile/a.example", "https://a.example/"
    >>> g = graph_from([{"url": home, "role": "page", "status": 200, "parsed": 1},
    ...     {"url": p, "role": "profile", "status": 200, "parsed": 1}],
    ...     [(home, p, "footer", "profile"), (p, home, "body", "other"), (p, home + "blog/", "body", "other"),
    ...      (p, home + "x/?utm_source=bsky", "body", "other")], site=[home])
    >>> [(f.target, f.message, f.detail) for f in untracked_inbound(g)]  # doctest: +NORMALIZE_WHITESPACE
    [('https://a.example/', 'https://bsky.app/profile/a.example links to 2 of your pages without utm_ parameters
      (https://a.example/, https://a.example/blog/): visits cannot be tied to revenue',
      {'links': ['https://a.example/', 'https://a.example/blog/'], 'profile': 'https://bsky.app/profile/a.example'})]
    """
    scope = g.graph["scope"]
    for url, data in g.nodes(data=True):
        if data.get("role") != "profile" or not data.get("parsed"):
            continue
        platform = scope.platform(url)
        if platform is not None and platform.reader is not None and not platform.reader.readable:
            continue  # (a store written before: the login wall's own links)
        untagged: dict[str, dict] = {}
        for _, target, e in g.out_edges(url, data=True):
            dest = unwrap_redirector(e["target"])  # youtube.com/redirect?q=..., l.facebook.com/l.php?u=...
            if scope.tier(dest) in OWNED and not has_tracking(dest):
                untagged.setdefault(dest, e)
        if not untagged:
            continue
        dest, e = next(iter(untagged.items()))
        if len(untagged) == 1:
            msg = f"{url} links to {dest} without utm_ parameters: visits cannot be tied to revenue"
        else:
            msg = (f"{url} links to {len(untagged)} of your pages without utm_ parameters ({listing(list(untagged))}): "
                   "visits cannot be tied to revenue")
        yield Finding("untracked-inbound", "low", dest, msg, e["region"], [url], [Location(url, e["line"])],
                      {"links": list(untagged), "profile": url})


def share_endpoint(url: str) -> str:
    """A share intent without its query (the page being shared differs on every page).

    >>> share_endpoint("https://twitter.com/intent/tweet?url=https%3A%2F%2Fa.example%2F")
    'https://twitter.com/intent/tweet'
    """
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, p.path, "", ""))


def share_head(scope, url: str | None, hosts: dict[str, bool]) -> str | None:
    """A share intent's URL up to its query, where that changes nothing its finding says: the
    endpoint (:func:`share_endpoint`) and the platform, which depends on the host alone except on
    a platform whose pages are only some of its host's (``hosts`` caches which are which).

    >>> from crawler.scope import Scope
    >>> share_head(Scope(), "https://twitter.com/intent/tweet?url=https%3A%2F%2Fa.example%2F", {})
    'https://twitter.com/intent/tweet'
    """
    if url is None:
        return None
    head = url.partition("?")[0].partition("#")[0]
    if head is url or head == url:
        return url
    host = _host(head)
    whole = hosts.get(host)
    if whole is None:
        platform = scope._platform_of_host(host)
        whole = hosts[host] = platform is None or platform.only is None
    return intern(head) if whole else url


def _spelling(url: str) -> str:
    """An account's URL as a page writes it, for the report: without its query (``?ref=nav``)
    unless the query names the account (``profile.php?id=``).

    >>> _spelling("https://x.com/AcmeCo?ref=nav"), _spelling("https://facebook.com/profile.php?id=4")
    ('https://x.com/AcmeCo', 'https://facebook.com/profile.php?id=4')
    """
    head, _, query = url.partition("?")
    return url if query and head.endswith(".php") else head


def account_name(urls) -> str:
    """The URL an account is reported under, of the forms pages spell it: https first, then the
    shortest, then the one with fewest capitals (a handle as the platform writes it), then the
    first in order.

    >>> account_name({"http://www.twitter.com/ACME/", "https://twitter.com/acme", "https://x.com/acme"})
    'https://x.com/acme'
    >>> account_name({"https://bsky.app/profile/ACME.TEST", "https://bsky.app/profile/acme.test"})
    'https://bsky.app/profile/acme.test'
    """
    return min(urls, key=lambda u: (not u.startswith("https://"), len(u), sum(c.isupper() for c in u), u))


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
    if groups_too:  # (every owned page read: which offer nothing is asked after, its query run meanwhile)
        if owned:  # (none: no page is asked about, no helper started)
            offer_links_ahead(g)
        bare = None
    else:
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
        if bare is None:
            bare = {page for page in owned if not offers(g, page)}
        return out
    # The links, in the order the key index gives them (by target, then as stored): a page, a
    # line (shown), a position in document order (what "before the offer" compares; -1: unknown)
    # and a distinct (target, as written, region, kind, rel) each, the page checked here rather
    # than by SQLite (a selection of every owned page costs more), each link grouped as it is
    # read (never a column of every link: six million links at a million pages). Which profiles
    # are the business's own is asked first (own_profiles' own query: one row per distinct kind of
    # link); each distinct combination is judged when first read.
    scope = g.graph["scope"]
    hosts: dict[str, bool] = {}

    if bare is None:
        bare = {page for page in owned if not offers(g, page)}
    keys = g.store.select(keys)  # (sent to SQLite once: own_profiles' query, then the links)
    own = own_profiles(g, keys=keys)
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
            spelling = intern(_spelling(written or target))  # as the page writes it (x.com/AcmeCo)
            names[account].add(spelling)
            if kind == PROFILE and target in own:
                bare_account = account
                bare_names[account].add(spelling)
            target = account
        severity = "low"
        if kind == IDENTITY:
            severity, key = "info", (target, region, kind, "")
        elif kind == SHARE or kind == COMMUNITY:
            # every page shares itself: one finding per platform and region, its endpoints (the
            # query dropped) or its invitations listed
            url = written or key_url
            head = url.partition("?")[0].partition("#")[0]
            endpoint = endpoints.get(head)
            if endpoint is None:
                endpoint = endpoints[head] = share_endpoint(url) if kind == SHARE else _spelling(url)
            platform = scope.platform(key_url)
            key = (f"https://{platform.hosts[0]}/" if platform else origin(key_url) + "/", region, kind, "")
            names[key].add(endpoint)
        elif kind == CONTENT:  # a post, video or hashtag: grouped per platform, not per URL
            platform = scope.platform(target)
            key = (f"https://{platform.hosts[0]}/" if platform else origin(target) + "/", region, kind, "")
        elif target not in own_accounts:  # someone else's account (an author, a customer, a partner):
            platform = scope.platform(key_url)  # one finding per platform and region, the accounts listed
            key = (f"https://{platform.hosts[0]}/" if platform else origin(key_url) + "/", region, "third-party", "")
            names[key].add(target)
        else:
            severity, key = None, (target, region, PROFILE, "")  # by the page's offer: see below
        if not groups_too:
            return None, None, None, None, bare_account, region
        grp = groups[key]  # (its columns appended to directly: _Group.add, inlined)
        return (grp.locations.urls.append, grp.locations.lines.append, grp.severities.append,
                None if severity is None else RANK[severity], bare_account, region)

    judged: dict[tuple, tuple] = {}  # (in the order first linked)
    high, medium, low = RANK["high"], RANK["medium"], RANK["low"]
    # (an embedded video or widget script is not a link a visitor follows: not read)
    for page, key, written, region, kind, line, rel, pos in g.store.link_facts(
            g.crawl_id, keys, None, kinds=(PROFILE, SHARE, IDENTITY, CONTENT, COMMUNITY), urls=True, rel=True,
            pos=True):
        if page not in sources:
            continue
        if kind == SHARE:  # every page shares itself: its query named a new combination each
            key, written = share_head(scope, key, hosts), share_head(scope, written, hosts)
        combo = (key, written, region, kind, rel)
        page, line, pos = intern(page), line or 0, -1 if pos is None else pos
        verdict = judged.get(combo)
        if verdict is None:
            verdict = judged[combo] = judge(*combo)
        add_url, add_line, add_rank, rank, bare_account, region = verdict
        if bare_account is not None and page in bare:
            bare_links[page].append((pos, region, bare_account, line))
        if add_url is None:
            continue
        if rank is None:  # the business's own profile: how bad depends on what the page offers
            if region in ("footer", "aside", "head") and page not in bare:  # (bare: the pages that offer nothing)
                rank = medium if region != "head" else low
            elif region in ("main", "body") and offers(g, page, before_pos=pos):
                rank = medium  # after the page's offer, as DOMAIN.md's order asks
            else:
                rank = high
        add_url(page)
        add_line(line)
        add_rank(rank)
    # no rule after the social ones asks what a page offers: the offer pages' cache dropped
    # (read again if asked; settle() drops it anyway)
    g.graph.pop("offer_links", None)
    return out


# The distinct (target, kind, region, rel) of the profile and identity links from the asked
# sources to the asked keys: what kinds of link lead where, a row per kind of link rather than per
# link (own_profiles' own query, which judges only those two kinds; crawler.store.Store.read runs
# it). Share buttons and links to posts are not read.
LINK_KINDS = {
    1: "SELECT DISTINCT l.target_key, l.kind, l.region, l.rel FROM links l WHERE l.crawl_id = ?"
       " AND l.target_key IN (SELECT url FROM {keys}) AND l.source IN (SELECT url FROM {sources})"
       " AND l.kind IN ('profile', 'identity')",
    2: "SELECT k.url, kd.term, rg.term, l.rel FROM (SELECT DISTINCT l.key_id, l.kind, l.region, l.rel"
       " FROM links l WHERE l.crawl_id = ? AND l.key_id IN (SELECT u.id FROM {keys} x JOIN urls u ON u.url = x.url)"
       " AND l.source_id IN (SELECT u.id FROM {sources} x JOIN urls u ON u.url = x.url)"
       " AND l.kind IN (SELECT id FROM terms WHERE term IN ('profile', 'identity'))) l"
       " JOIN urls k ON k.id = l.key_id LEFT JOIN terms kd ON kd.id = l.kind LEFT JOIN terms rg ON rg.id = l.region",
}


def own_profiles(g, keys=None) -> frozenset[str]:
    """The business's own social profiles: ``--social`` if given, else inferred.

    Given: the listed accounts, matched in any case, scheme, ``www.`` or platform alias
    (x.com is twitter.com). Inferred: profiles linked from the site-wide chrome (header,
    nav, footer, sidebar), by identity markup (rel=me, sameAs) or by a visible
    ``<a rel="me">``, and, wherever they are linked, accounts whose handle is the brand
    (``acme`` for acme.example) or a handle the business already uses on another platform.
    Any other profile linked only from the body of a page (an author, a customer) is
    someone else's.

    ``keys``: the social platforms' URLs as the caller selected them
    (:meth:`crawler.store.Store.select`).
    """
    if "own_profiles" in g.graph:
        return g.graph["own_profiles"]
    scope = g.graph["scope"]
    if scope.social:
        own = frozenset(u for u, d in g.nodes(data=True) if d.get("tier") == SOCIAL and scope.is_own_profile(u))
    else:
        found, others = set(), set()
        keys = _tier_keys(g, SOCIAL) if keys is None else keys
        # what kinds of link lead where: one row per distinct (target, kind, region, rel), not per link
        kinds = g.store.read(LINK_KINDS, (g.crawl_id,), keys=keys, sources=_owned_page_tiers(g)) if keys else ()
        for target, kind, region, rel in kinds:
            if kind not in (PROFILE, IDENTITY):
                continue
            if names_own_profile(kind, region or "body", rel or ""):
                found.add(target)
            else:
                others.add(target)
        known = frozenset(k for t in found for k in scope.handle_keys(t))
        found.update(t for t in others if scope.is_brand_profile(t, known))
        own = frozenset(found)
    g.graph["own_profiles"] = own
    return own
