"""What is known of each of the business's social profiles: does it send visitors back?

One :class:`ProfileVerdict` per own profile, from what the crawl read (a platform's API through
:mod:`crawler.profiles`, or the profile page) or, for a platform funnelcheck cannot read,
from what the user states in ``funnel.toml``'s ``[profiles]`` table:

============ ================================================================================
blog         it links to the blog: the visitor enters the funnel where it should (social → blog)
site         it links to the site, not the blog: the visitor skips the blog
nowhere      it was read, and links to neither: a dead end for the social visitor
unreadable   the platform could not be read (its hourly limit, an error) and the user stated
             nothing: why is said, once per platform. On a platform that is never read
             (``readable = false`` in ``platforms.toml``: X, LinkedIn, Instagram, Facebook,
             TikTok, Threads) every profile that exists is "not checkable on this platform"
             (``checkable`` False), whatever its page answered: a login wall answers 200 and
             shows no links, which says nothing of the profile's own
missing      the platform says the account does not exist (404, Bluesky's 400 "Profile not
             found"): a broken link. A platform that could not be reached (DNS, a refused
             connection, a timeout) or failed (a 503) is ``unreadable``, "run the audit again
             later" (:func:`analysis.graph.unreachable_profiles`)
============ ================================================================================

``verified``: a link back the platform itself verified both ways (Mastodon's ``verified_at``,
a Bluesky handle that is the company's domain).
"""
from __future__ import annotations

from collections import Counter

from dataclasses import dataclass, field

from analysis.status import BROKEN, OK
from analysis.words import joined, listing
from crawler.scope import APP, BLOG, COMPANY, OWNED, PROFILE, SITE, unwrap_redirector
from crawler.urls import URLError, dedupe_key, normalize

BLOG_, SITE_, NOWHERE, UNREADABLE, MISSING = "blog", "site", "nowhere", "unreadable", "missing"


@dataclass
class ProfileVerdict:
    url: str                      # the profile's node (one per account)
    name: str                     # as the pages write it
    platform: str                 # the platform's name (Bluesky, LinkedIn)
    state: str                    # blog, site, nowhere, unreadable, missing
    how: str = ""                 # read: "through the Bluesky API", "as a page"; stated: "stated by you on DATE"
    links: list[dict] = field(default_factory=list)  # the links back: url, tier, source, verified
    verified: bool = False        # a link back the platform verified both ways
    reason: str | None = None     # why it could not be read
    stated_on: str | None = None  # the date the user checked it ([profiles])
    checkable: bool = True        # False: the platform is never read (a login wall)
    sources: list = field(default_factory=list, repr=False)    # the owned pages linking to it
    locations: list = field(default_factory=list, repr=False)  # (analysis.findings.Location)

    def as_dict(self) -> dict:
        return {"url": self.name, "key": self.url, "platform": self.platform, "state": self.state, "how": self.how,
                "links": self.links, "verified": self.verified, "reason": self.reason,
                "stated_on": self.stated_on, "pages": len(self.sources), "checkable": self.checkable}


def stated_profiles(g) -> dict[str, dict]:
    """``[profiles]`` of the crawl's options, by the key the crawl names each account with."""
    scope = g.graph["scope"]
    out = {}
    for url, entry in ((g.graph.get("crawl") or {}).get("options") or {}).get("profiles", {}).items():
        out[scope.account_key(url) or dedupe_key(url)] = dict(entry, url=url)
    return out


def _links_back(g, links) -> list[dict]:
    """The links among ``links`` (``(url, source, verified)``) that lead to the company."""
    scope = g.graph["scope"]
    out, seen = [], set()
    for url, source, verified in links:
        dest = unwrap_redirector(url)
        try:
            dest = normalize(dest)[0]
        except URLError:
            continue
        tier = _tier_found(g, scope, dest)
        if tier not in COMPANY or dest in seen:
            continue
        seen.add(dest)
        out.append({"url": dest, "tier": tier, "source": source, "verified": bool(verified)})
    return out


def _tier_found(g, scope, url: str) -> str | None:
    """What a profile's link leads to, as the crawl found it: a page it fetched is what it
    answered (None: broken), through its redirects; one it never fetched is a page of the blog
    only when the blog the crawl found (or ``--blog``) covers it, not for its ``/blog/`` path
    alone (a site with no blog: "Blog: none found"), else of whatever host it is on."""
    from analysis.graph import landing_page

    key = g.graph["key"](url) if "key" in g.graph else url
    node = g.nodes.get(key)
    if node is not None and node.get("role"):  # fetched
        if node.get("verdict") == BROKEN:
            return None
        return g.nodes[landing_page(g, key)].get("tier") or node.get("tier")
    tier = (node or {}).get("tier") or scope.tier(url)
    if tier == BLOG and not scope.blog:
        found = g.graph.get("blog")
        if not (found and (found.covers(url) or url.startswith(tuple(found.named)))):
            tier = SITE
    return tier


def _state(links: list[dict]) -> str:
    if any(l["tier"] == BLOG for l in links):
        return BLOG_
    if any(l["tier"] in (SITE, APP) for l in links):
        return SITE_
    return NOWHERE


def _how(data: dict, platform) -> str:
    """How a profile was read: through its platform's API (a JSON answer), from its profile page
    (an instance refusing anonymous API calls), or as a page."""
    reader = platform.reader if platform else None
    if "read from the profile page" in (data.get("reason") or ""):
        return "from its profile page (the instance refuses anonymous API calls)"
    if reader and "json" in (data.get("content_type") or ""):
        return f"through the {reader.label} API"
    return "from its page"


def profile_verdicts(g) -> list[ProfileVerdict]:
    """Every own profile's verdict, in the order of their names (kept on the graph)."""
    if "profile_verdicts" in g.graph:
        return g.graph["profile_verdicts"]
    from analysis.findings import Location
    from analysis.rules.social import _spelling, account_name, own_profiles

    scope = g.graph["scope"]
    given = {scope.account_key(u) or dedupe_key(u): u for u in scope.social}
    stated = stated_profiles(g)
    own = own_profiles(g) | set(given) | set(stated)
    out = []
    done = set()
    for url, data in g.nodes(data=True):
        if data.get("role") != "profile":
            continue
        if url not in own and not (scope.social and scope.is_own_profile(url)):
            continue  # someone else's account is not the business's to fix
        owned_in = [(s, e) for s, _, e in g.in_edges(url, data=True) if g.nodes[s].get("tier") in OWNED]
        # the pages that send visitors there (profile links); identity markup only if that is all
        routes = [(s, e) for s, e in owned_in if e["kind"] == PROFILE] or owned_in
        if not routes and url not in given and url not in stated:
            continue  # only reached as a redirect hop: judged under the URL the pages link to
        done.add(url)
        name = account_name({_spelling(e["target"] or url) for _, e in routes}) if routes else \
            given.get(url) or stated.get(url, {}).get("url") or url
        platform = scope.platform(url)
        label = platform.label if platform else "its site"
        verdict = data.get("verdict")
        v = ProfileVerdict(url, name, label, UNREADABLE, sources=list(dict.fromkeys(s for s, _ in routes)),
                           locations=[Location(s, e["line"]) for s, e in routes])
        final = data.get("final_url") or url
        node = g.nodes[final] if final in g else data
        reader = platform.reader if platform else None
        if reader is not None and not reader.readable and verdict != BROKEN and not data.get("unreachable"):
            # a login wall: only whether the profile exists was checked (its page is never read)
            v.checkable, v.reason = False, f"not checkable on {label} ({reader.wall or 'not readable'})"
        elif verdict == OK and node.get("parsed"):
            links = [(e["target"] or t, e["attr"], "verified" in (e["rel"] or "").split())
                     for _, t, e in g.out_edges(final, data=True)]
            v.links = _links_back(g, links)
            v.state, v.how = _state(v.links), _how(node, platform)
            v.verified = any(l["verified"] for l in v.links)
            if (node.get("reason") or "").startswith(("read the first ", "read without ")):  # what was left unread
                v.reason = node["reason"]
        elif verdict == BROKEN:
            status = data.get("status")
            v.state, v.reason = MISSING, data.get("reason") or (f"it answers {status}" if status else data.get("label"))
        else:
            v.reason = data.get("label") or data.get("reason") or "not read"
            if verdict == OK:  # answered, and nothing could be read of it
                v.reason = data.get("reason") or "its answer could not be read"
            if platform and platform.reader and platform.reader.wall and data.get("status") is not None:
                v.reason = f"{v.reason}; {platform.reader.wall}"  # the platform answered: its wall
        if v.state in (UNREADABLE, MISSING) and url in stated:
            _stated(g, v, stated[url])
        out.append(v)
    for key, entry in stated.items():  # stated, and not fetched (no page links it, or --no-check-social)
        if key in done or (key in g and g.nodes[key].get("role") == "profile"):
            continue
        platform = scope.platform(entry["url"])
        v = ProfileVerdict(key, entry["url"], platform.label if platform else "its site", UNREADABLE)
        _stated(g, v, entry)
        out.append(v)
    out.sort(key=lambda v: (v.platform.lower(), v.name))
    g.graph["profile_verdicts"] = out
    return out


def _stated(g, v: ProfileVerdict, entry: dict) -> None:
    v.links = _links_back(g, [(u, "stated", False) for u in entry.get("links", ())])
    v.state, v.stated_on = _state(v.links), entry.get("checked")
    v.how = f"stated by you on {v.stated_on}"


def profiles_summary(verdicts: list[ProfileVerdict]) -> dict | None:
    """The profiles in numbers and one sentence for the report's summary.

    >>> vs = [ProfileVerdict("a", "a", "Bluesky", "blog"), ProfileVerdict("b", "b", "GitHub", "blog"),
    ...       ProfileVerdict("c", "c", "LinkedIn", "unreadable"), ProfileVerdict("d", "d", "X", "unreadable")]
    >>> profiles_summary(vs)["line"]
    '2 of your 4 profiles send visitors to your blog; LinkedIn and X could not be read'
    >>> profiles_summary([ProfileVerdict("a", "a", "GitHub", "site"), ProfileVerdict("b", "b", "Mastodon", "nowhere")])["line"]
    '0 of your 2 profiles send visitors to your blog; 1 sends them to the site, skipping the blog; 1 (Mastodon) links to neither: a dead end for its visitors'
    >>> profiles_summary([ProfileVerdict("c", "c", "LinkedIn", "unreadable"), ProfileVerdict("d", "d", "X", "unreadable")])["line"]
    'none of your 2 profiles could be read (LinkedIn and X): whether they send visitors to your blog is unknown'

    One profile is "your profile", never "1 of your 1 profile":

    >>> profiles_summary([ProfileVerdict("a", "a", "GitHub", "blog")])["line"]
    'your profile sends visitors to your blog'
    >>> profiles_summary([ProfileVerdict("a", "a", "GitHub", "site")])["line"]
    'your profile does not send visitors to your blog; it sends them to the site, skipping the blog'
    >>> profiles_summary([ProfileVerdict("a", "a", "Mastodon", "nowhere")])["line"]
    'your profile does not send visitors to your blog; it (Mastodon) links to neither: a dead end for its visitors'
    """
    if not verdicts:
        return None
    counts = {s: sum(v.state == s for v in verdicts) for s in (BLOG_, SITE_, NOWHERE, UNREADABLE, MISSING)}
    n = len(verdicts)
    parts = [f"{counts[BLOG_]} of your {n} profiles send{'s' if counts[BLOG_] == 1 else ''} visitors to your blog"
             if n > 1 else f"your profile {'sends' if counts[BLOG_] else 'does not send'} visitors to your blog"]
    if not counts[BLOG_] + counts[SITE_] + counts[NOWHERE]:  # none read: "0 of them send…" would be a finding
        parts = []
    one = "it" if n == 1 else "1"   # (your one profile: "it sends them to the site")
    if counts[SITE_]:
        parts.append(f"{one if counts[SITE_] == 1 else counts[SITE_]} send{'s' if counts[SITE_] == 1 else ''} them to "
                     "the site, skipping the blog")
    if counts[NOWHERE]:
        names = listing(sorted({v.platform for v in verdicts if v.state == NOWHERE}))
        parts.append(f"{one if counts[NOWHERE] == 1 else counts[NOWHERE]} ({names}) link{'s' if counts[NOWHERE] == 1 else ''}"
                     " to neither: a dead end for its visitors")
    unread = sorted({v.platform for v in verdicts if v.state == UNREADABLE})
    if unread:
        # "X could not be read" names the platform; where another profile of it was read, or more
        # than one was not, the count says which: "1 Bluesky profile", "2 Mastodon profiles"
        read = {v.platform for v in verdicts if v.state in (BLOG_, SITE_, NOWHERE)}
        per = Counter(v.platform for v in verdicts if v.state == UNREADABLE)
        which = joined([f"{per[p]} {p} profile{'s' if per[p] > 1 else ''}" if per[p] > 1 or p in read else p
                        for p in unread])
        if parts:
            parts.append(which + " could not be read")
        else:
            k, m = counts[UNREADABLE], n - counts[MISSING]   # (a profile that does not exist is no doubt)
            whose = (f"none of your {m} profiles could" if k == m > 1 else "your profile could not" if m == 1
                     else f"{k} of your {m} profiles could not")
            parts.append(f"{whose} be read ({which}): whether "
                         f"{'it sends' if k == 1 else 'they send'} visitors to your blog is unknown")
    missing = sorted({v.name for v in verdicts if v.state == MISSING})
    if missing:
        parts.append(f"{joined(missing) if len(missing) <= 3 else listing(missing)} "
                     f"{'does' if len(missing) == 1 else 'do'} not exist")
    stated = sum(1 for v in verdicts if v.stated_on)
    return {"profiles": n, "to_blog": counts[BLOG_], "to_site": counts[SITE_], "nowhere": counts[NOWHERE],
            "unreadable": unread, "missing": counts[MISSING], "stated": stated,
            "verified": sum(1 for v in verdicts if v.verified), "line": "; ".join(parts),
            "each": [v.as_dict() for v in verdicts]}


def verdict_line(v: ProfileVerdict) -> str:
    """One profile's verdict in words, as the report lists it.

    >>> v = ProfileVerdict("k", "https://bsky.app/profile/acme.example", "Bluesky", "blog", "through the Bluesky API",
    ...     [{"url": "https://acme.example/", "tier": "site", "source": "handle", "verified": True},
    ...      {"url": "https://blog.acme.example/", "tier": "blog", "source": "bio", "verified": False}], True)
    >>> verdict_line(v)
    'https://bsky.app/profile/acme.example links back to the blog (https://blog.acme.example/, in its bio) and the site (https://acme.example/, its handle, verified both ways); read through the Bluesky API'
    """
    def where(l):
        source = {"bio": "in its bio", "field": "a profile field", "website": "its website field",
                  "account": "a listed account", "handle": "its handle", "page": "on its page",
                  "stated": "stated"}.get(l["source"] or "", "on its page")
        return f"{l['url']}, {source}" + (", verified both ways" if l["verified"] else "")

    if v.state in (BLOG_, SITE_):
        blog = [l for l in v.links if l["tier"] == BLOG]
        site = [l for l in v.links if l["tier"] != BLOG]
        parts = []
        if blog:
            parts.append(f"the blog ({where(blog[0])})")
        if site:
            parts.append(f"the site ({where(site[0])})")
        note = f" ({v.reason})" if v.reason and v.stated_on is None else ""
        return f"{v.name} links back to {' and '.join(parts)}; {'read ' if v.stated_on is None else ''}{v.how}{note}"
    if v.state == NOWHERE:
        note = f" ({v.reason})" if v.reason and v.stated_on is None else ""
        return f"{v.name} links to neither the blog nor the site; {'read ' if v.stated_on is None else ''}{v.how}{note}"
    if v.state == MISSING:
        return f"{v.name} does not exist: {v.reason}"
    if not v.checkable:
        return f"{v.name}: {v.reason}; state what it links to in funnel.toml's [profiles]"
    return f"{v.name} could not be read: {(v.reason or '').removeprefix('not checked: ')}"


def profile_line(each: dict) -> str:
    """A profile's verdict from the report's summary (:meth:`ProfileVerdict.as_dict`) in words."""
    v = ProfileVerdict(each["url"], each["url"], each["platform"], each["state"], each["how"], each["links"],
                       each["verified"], each["reason"], each["stated_on"], each.get("checkable", True))
    return verdict_line(v)


__all__ = ["ProfileVerdict", "profile_line", "profile_verdicts", "profiles_summary", "stated_profiles", "verdict_line"]
