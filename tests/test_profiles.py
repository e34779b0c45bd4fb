"""Social profiles read the way their platforms let anyone read them (crawler/profiles.py,
analysis/profiles.py): Bluesky's public AppView, Mastodon's account lookup (and the profile page
of an instance that refuses anonymous API calls), GitHub's users API and its hourly limit,
YouTube's page data, and what the user states of the platforms that cannot be read.

Every platform is one local server answering in the platform's real response shapes (errors and
rate-limit answers included), reached through ``--remap``; nothing here touches the internet.
Three crawls in all: the company (``v1``), the same store a week later (``v2``: answers from the
store, GitHub's spent budget remembered, the LinkedIn page gone from the site) and a hostile one.
"""
from __future__ import annotations

import json
import time

import pytest

from conftest import SITES, Route, audit_json, findings_set, run_cli

A = "https://acme.test/"
E = "https://evil.test/"
P = SITES / "profiles"
JSON = {"Content-Type": "application/json; charset=utf-8"}
RESET = str(int(time.time()) + 3600)


def bsky(handle, display, description, did="did:plc:acme123") -> Route:
    """``app.bsky.actor.getProfile``, as public.api.bsky.app answers it."""
    return Route(200, JSON, json.dumps({
        "did": did, "handle": handle, "displayName": display, "description": description,
        "avatar": "https://cdn.bsky.app/img/avatar/plain/did:plc:acme123/x@jpeg", "associated": {"lists": 0},
        "followersCount": 120, "followsCount": 3, "postsCount": 42, "indexedAt": "2024-11-04T10:00:00.000Z",
        "createdAt": "2024-11-01T10:00:00.000Z", "labels": []}))


def mastodon(username, fields, note="<p>Widgets that work.</p>") -> Route:
    """``/api/v1/accounts/lookup``, as a Mastodon instance answers it."""
    return Route(200, JSON, json.dumps({
        "id": "109000000000000001", "username": username, "acct": username, "display_name": "Acme", "locked": False,
        "bot": False, "discoverable": True, "group": False, "created_at": "2022-11-01T00:00:00.000Z", "note": note,
        "url": f"https://mastodon.example/@{username}", "avatar": "", "header": "", "followers_count": 12,
        "following_count": 1, "statuses_count": 5, "last_status_at": "2026-11-30", "emojis": [], "fields": fields}))


def field(name, url, verified) -> dict:
    shown = url.split("://", 1)[1]
    return {"name": name, "value": f'<a href="{url}" target="_blank" rel="nofollow noopener me" translate="no">'
                                   f'<span class="invisible">https://</span><span class="">{shown}</span></a>',
            "verified_at": "2026-11-02T09:14:07.000+00:00" if verified else None}


def github_headers(remaining: int) -> dict:
    return {**JSON, "x-ratelimit-limit": "60", "x-ratelimit-remaining": str(remaining), "x-ratelimit-reset": RESET,
            "x-ratelimit-used": str(60 - remaining), "x-ratelimit-resource": "core"}


YT_PAGE = ('<!doctype html><html><head><title>Acme - YouTube</title></head><body><script>var ytInitialData = '
           + json.dumps({"header": {"pageHeaderRenderer": {"content": {"attribution": {
               "channelExternalLinkViewModel": {"title": {"content": "Our blog"}, "link": {"content": "acme.test/blog/"}}}}}}})
           + ';</script></body></html>')

LOGIN_WALL = ('<!doctype html><html><head><title>{title}</title></head><body><h1>Log in to see more</h1>'
              '<a href="{link}">Log in</a> <a href="https://acme.test/">acme.test</a></body></html>')

ROUTES = {
    "/public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor=acme.test":
        bsky("acme.test", "Acme", "Widgets that work. Our blog: acme.test/blog/"),
    "/public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor=acmeco.bsky.social":
        bsky("acmeco.bsky.social", "Acme news", "News from Acme. Follow @acme.test", "did:plc:acmeco"),
    "/public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor=ghost.bsky.social":
        Route(400, JSON, '{"error":"InvalidRequest","message":"Profile not found"}'),
    "/mastodon.social/api/v1/accounts/lookup?acct=acme":
        mastodon("acme", [field("Website", "https://acme.test/", True)]),
    "/fosstodon.org/api/v1/accounts/lookup?acct=acme":
        mastodon("acme", [field("Blog", "https://acme.test/blog/", False)],
                 '<p>Hi <span class="h-card"><a href="https://mastodon.social/@friend" class="u-url mention">'
                 '@<span>friend</span></a></span> <a href="https://fosstodon.org/tags/widgets" class="mention hashtag"'
                 ' rel="tag">#<span>widgets</span></a></p>'),
    "/hachyderm.io/api/v1/accounts/lookup?acct=acme":
        Route(401, JSON, '{"error":"This API requires an authenticated user"}'),
    "/hachyderm.io/@acme": Route(200, body='<!doctype html><title>Acme (@acme@hachyderm.io)</title><dl><dt>Web</dt>'
                                           '<dd><a href="https://acme.test/" rel="me nofollow noopener">acme.test</a></dd>'
                                           '</dl><a href="https://hachyderm.io/about">About</a>'),
    "/api.github.com/users/acme": Route(200, github_headers(1), json.dumps({
        "login": "acme", "id": 42, "node_id": "O_kgDOAAAAKg", "type": "Organization", "site_admin": False,
        "html_url": "https://github.com/acme", "name": "Acme", "company": None, "blog": "acme.test/blog/",
        "location": None, "email": None, "hireable": None, "bio": "Widgets", "twitter_username": "acme",
        "public_repos": 3, "public_gists": 0, "followers": 9, "following": 0,
        "created_at": "2020-01-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z"})),
    "/api.github.com/users/acme/social_accounts": Route(200, github_headers(0), json.dumps(
        [{"provider": "bluesky", "url": "https://bsky.app/profile/acme.test"}])),
    "/www.youtube.com/@acme": Route(200, body=YT_PAGE),
    "/www.linkedin.com/company/acme": Route(999, body="<html><body>Request denied</body></html>"),
    "/x.com/acme": Route(403, {"cf-mitigated": "challenge", "Server": "cloudflare"}, "Just a moment..."),
    "/twitter.com/acme": Route(403, {"cf-mitigated": "challenge", "Server": "cloudflare"}, "Just a moment..."),
    # login walls as the platforms serve them to a visitor who is not logged in: 200, a page, and
    # none of the profile's own links (a link back on the wall itself is never read as the profile's)
    **{f"/{host}/acmehelp": Route(200, body=LOGIN_WALL.format(title="X. It's what's happening / X",
                                                              link="https://x.com/i/flow/login"))
       for host in ("x.com", "twitter.com")},
    "/www.instagram.com/acme/": Route(200, body=LOGIN_WALL.format(title="Login \u2022 Instagram",
                                                                link="https://www.instagram.com/accounts/login/")),
    # (www.tiktok.com/@acme: 404, the "*" route: the account does not exist)
}

CONFIG = """
[profiles."https://www.linkedin.com/company/acme"]
links = ["https://acme.test/blog/"]
checked = 2026-11-30
"""


def remap(server, own="acme"):
    return ["--remap", rf"^https?://(?!{own}\.test/|10\.)([^/]+)/(.*) {server.url}/\1/\2"]


@pytest.fixture(scope="module")
def acme(module_site_server, tmp_path_factory):
    """The company audited, then audited again a week later into the same store."""
    seen_ua = []

    def ua(handler):
        seen_ua.append(handler.headers.get("User-Agent"))
        return ROUTES["/public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor=acme.test"]

    social = module_site_server(routes={
        **ROUTES, "/public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor=acme.test": ua,
        "*": Route(404, JSON, '{"error":"NotFound"}')})
    tmp = tmp_path_factory.mktemp("profiles")
    config = tmp / "funnel.toml"
    config.write_text(CONFIG)
    first, report = audit_json(tmp, P / "v1", "--base-url", A, "--config", config, "--no-check-external",
                               "--fail-on", "never", *remap(social))
    asked_first = list(social.requests)
    social.requests.clear()
    second = run_cli("audit", P / "v2", "--base-url", A, "--config", config, "--no-check-external",
                     "--fail-on", "never", *remap(social), "--db", tmp / "crawls.sqlite", "--format", "json", "-o", tmp / "second.json")
    later = json.loads((tmp / "second.json").read_text())
    diff = run_cli("diff", "--db", tmp / "crawls.sqlite")
    return {"first": first, "report": report, "asked": asked_first, "second": second, "later": later,
            "asked_later": list(social.requests), "diff": diff, "ua": seen_ua}


def verdicts(report) -> dict:
    return {p["url"]: (p["state"], p["how"], p["verified"], p["reason"]) for p in report["summary"]["profiles"]["each"]}


def test_each_profile_is_read_through_its_platform_and_said_in_the_summary(acme):
    report = acme["report"]
    assert acme["first"].exit_code == 0, acme["first"].stderr
    profiles = report["summary"]["profiles"]
    assert profiles["line"] == (
        "5 of your 13 profiles send visitors to your blog; 2 send them to the site, skipping the blog; 1 (Bluesky) "
        "links to neither: a dead end for its visitors; Instagram and 2 X profiles could not be read; "
        "https://bsky.app/profile/ghost.bsky.social and https://www.tiktok.com/@acme do not exist")
    x_wall = "not checkable on X (login wall: X shows profiles only to logged-in visitors)"
    assert verdicts(report) == {
        "https://bsky.app/profile/acme.test": ("blog", "through the Bluesky API", True, None),
        "https://bsky.app/profile/acmeco.bsky.social": ("nowhere", "through the Bluesky API", False, None),
        "https://bsky.app/profile/ghost.bsky.social": ("missing", "", False, "Bluesky answers 400: Profile not found"),
        "https://fosstodon.org/@acme": ("blog", "through the Mastodon API", False, None),
        "https://github.com/acme": ("blog", "through the GitHub API", False, None),
        "https://hachyderm.io/@acme": ("site", "from its profile page (the instance refuses anonymous API calls)",
                                       False, None),
        "https://www.linkedin.com/company/acme": ("blog", "stated by you on 2026-11-30", False,
                                                  "not checkable on LinkedIn (login wall: LinkedIn shows company pages "
                                                  "and profiles only to its members)"),
        "https://mastodon.social/@acme": ("site", "through the Mastodon API", True, None),
        # a login wall, whatever it answers: a challenge (403) or a page (200) whose link back is the wall's
        "https://x.com/acme": ("unreadable", "", False, x_wall),
        "https://twitter.com/acmehelp": ("unreadable", "", False, x_wall),
        "https://www.instagram.com/acme/": ("unreadable", "", False, "not checkable on Instagram (login wall: "
                                                                     "Instagram shows profiles only to logged-in visitors)"),
        # a 404 is still a 404 behind a login wall: the account does not exist
        "https://www.tiktok.com/@acme": ("missing", "", False, "it answers 404"),
        "https://www.youtube.com/@acme": ("blog", "from its page", False, None),
    }
    each = {p["url"]: p for p in profiles["each"]}
    # the source of each link back and whether the platform verified it
    assert each["https://bsky.app/profile/acme.test"]["links"] == [
        {"url": "https://acme.test/", "tier": "site", "source": "handle", "verified": True},
        {"url": "https://acme.test/blog/", "tier": "blog", "source": "bio", "verified": False}]
    assert each["https://github.com/acme"]["links"] == [
        {"url": "https://acme.test/blog/", "tier": "blog", "source": "website", "verified": False}]
    assert each["https://mastodon.social/@acme"]["links"] == [
        {"url": "https://acme.test/", "tier": "site", "source": "field", "verified": True}]
    assert (profiles["to_blog"], profiles["to_site"], profiles["nowhere"], profiles["unreadable"],
            profiles["missing"], profiles["stated"], profiles["verified"]) == (5, 2, 1, ["Instagram", "X"], 2, 1, 2)
    # the funnel metrics: where the visitors of the 8 profiles judged enter the funnel
    social = report["metrics"]["social"]
    assert {k: v for k, v in social.items() if k != "each"} == {
        "profiles": 13, "known": 8, "into_blog": 5, "skips_blog": 2, "dead_end": 1, "not_read": ["Instagram", "X"],
        "missing": 2, "blog_share": 0.625, "site_share": 0.25, "dead_end_share": 0.125, "conversion": 0.345375,
        "conversion_of": 8}
    blog_in = next(e["conversion"] for e in report["metrics"]["entries"] if e["url"] == A + "blog/")
    home_in = next(e["conversion"] for e in report["metrics"]["entries"] if e["url"] == A)
    assert social["conversion"] == round((5 * blog_in + 2 * home_in + 0) / 8, 6)
    assert [p["url"] for p in profiles["each"] if not p["checkable"]] == [
        "https://www.instagram.com/acme/", "https://www.linkedin.com/company/acme", "https://twitter.com/acmehelp",
        "https://x.com/acme"]
    # a login wall's page is checked to exist and never read: none of its links is the profile's
    pages = {p["url"]: p for p in report["pages"]}
    assert (pages["https://www.instagram.com/acme"]["status"], pages["https://www.instagram.com/acme"]["reason"]) == (
        200, "not read: login wall: Instagram shows profiles only to logged-in visitors")
    assert not [l for l in report["links"] if l["source"] in ("https://www.instagram.com/acme", "https://twitter.com/acmehelp")]


def test_findings_say_what_is_known(acme):
    report = acme["report"]
    social = findings_set(report, {"stranded-social", "rel-me-missing"})
    every = (A, A + "blog/", A + "pricing/")
    assert social == {
        ("stranded-social", "medium", "https://bsky.app/profile/acmeco.bsky.social", None, (A,)),
        # one line per platform behind a login wall, never "links to neither" (X's two accounts: one line)
        ("stranded-social", "info", "https://twitter.com/acmehelp", None, (A,)),
        ("stranded-social", "info", "https://www.instagram.com/acme/", None, (A,)),
        ("rel-me-missing", "low", "https://fosstodon.org/@acme", None, (A,)),
    }
    messages = {f["target"]: f["message"] for f in report["findings"] if f["rule"] in ("stranded-social",
                                                                                    "rel-me-missing")}
    assert messages == {
        "https://bsky.app/profile/acmeco.bsky.social": "social profile https://bsky.app/profile/acmeco.bsky.social "
                                                       "links to neither the blog nor the site (through the Bluesky API)",
        "https://twitter.com/acmehelp": "could not verify that 2 X profiles link back (https://twitter.com/acmehelp, "
                                        "https://x.com/acme): not checkable on X (login wall: X shows profiles only "
                                        "to logged-in visitors)",
        "https://www.instagram.com/acme/": "could not verify that https://www.instagram.com/acme/ links back: not "
                                           "checkable on Instagram (login wall: Instagram shows profiles only to "
                                           "logged-in visitors)",
        "https://fosstodon.org/@acme": "Mastodon does not verify https://acme.test/blog/ on https://fosstodon.org/@acme:"
                                       " the site's link to the profile has no rel=\"me\" (add rel=me to the footer's "
                                       "Mastodon link and the platform will verify it)",
    }
    # the stated LinkedIn page is no finding: it links to the blog, as the user says
    assert not [f for f in report["findings"] if "linkedin" in (f["target"] or "") and f["rule"] == "stranded-social"]
    # the account that does not exist is a broken link, once
    ghost = [f for f in report["findings"] if f["target"] == "https://bsky.app/profile/ghost.bsky.social"
             and f["rule"] == "broken-link"]
    assert len(ghost) == 1
    assert ("broken-link", "medium", "https://www.tiktok.com/@acme", None, (A,)) in findings_set(report)
    walled = [f for f in report["findings"] if f["rule"] == "stranded-social" and f["severity"] == "info"]
    assert [f["detail"]["verdict"] for f in walled] == ["not-checkable"] * 2
    # the login wall's link to acme.test is not the profile's: no untracked-inbound from it
    inbound = {f["sources"][0]: f for f in report["findings"] if f["rule"] == "untracked-inbound"}
    assert sorted(inbound) == ["https://bsky.app/profile/acme.test", "https://fosstodon.org/@acme",
                               "https://github.com/acme", "https://hachyderm.io/@acme", "https://mastodon.social/@acme",
                               "https://www.youtube.com/@acme"]
    # one untracked-inbound per profile, however many of the company's pages it links
    assert (inbound["https://bsky.app/profile/acme.test"]["message"],
            inbound["https://bsky.app/profile/acme.test"]["detail"]["links"]) == (
        "https://bsky.app/profile/acme.test links to 2 of your pages without utm_ parameters (https://acme.test/, "
        "https://acme.test/blog/): visits cannot be tied to revenue", ["https://acme.test/", "https://acme.test/blog/"])
    assert every  # (the LinkedIn page is linked from every page: see the diff test)


def test_one_request_per_account_through_robots_and_an_honest_user_agent(acme):
    asked = [p for _, p in acme["asked"]]
    # bsky.app/profile/acme.test and BSKY.app/profile/Acme.Test/?ref=blog: one account, one call
    assert asked.count("/public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor=acme.test") == 1
    # the APIs' own hosts' robots.txt are read; the profile pages of API platforms are never asked ...
    assert {"/public.api.bsky.app/robots.txt", "/api.github.com/robots.txt", "/mastodon.social/robots.txt"} <= set(asked)
    assert not [p for p in asked if p.startswith(("/bsky.app/", "/github.com/", "/mastodon.social/@",
                                                  "/fosstodon.org/@"))]
    # ... except the page of the instance that refuses anonymous API calls
    assert [p for p in asked if p.startswith("/hachyderm.io/") and "robots" not in p] == [
        "/hachyderm.io/api/v1/accounts/lookup?acct=acme", "/hachyderm.io/@acme"]
    assert [p for p in asked if p.startswith("/api.github.com/users")] == [
        "/api.github.com/users/acme", "/api.github.com/users/acme/social_accounts"]
    assert acme["ua"] == ["funnelcheck/0.1 (+https://github.com/funnelcheck/funnelcheck; link and funnel audit)"]
    links = {(l["source"], l["target"]): l for l in acme["report"]["links"]}
    bio = links[("https://bsky.app/profile/acme.test", "https://acme.test/blog/")]
    assert (bio["attr"], bio["rel"], bio["kind"]) == ("bio", "", "other")
    handle = links[("https://bsky.app/profile/acme.test", "https://acme.test/")]
    assert (handle["attr"], handle["rel"]) == ("handle", "verified")
    # the site's own rel="me" link to its Mastodon profile is kept in the link rows
    assert links[(A, "https://mastodon.social/@acme")]["rel"] == "me"


def test_a_week_later_answers_come_from_the_store_and_the_hourly_limit_is_remembered(acme):
    assert acme["second"].exit_code == 0, acme["second"].stderr
    later = acme["later"]
    asked = [p for _, p in acme["asked_later"]]
    # every working API answer of last week is younger than --cache-age (1d): only the errors are asked again
    assert sorted(p for p in asked if "/api/" in p or "xrpc" in p or "/users/" in p) == [
        "/hachyderm.io/api/v1/accounts/lookup?acct=acme",
        "/public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor=ghost.bsky.social"], asked
    got = verdicts(later)
    assert got["https://github.com/acme"][:2] == ("blog", "through the GitHub API")
    assert got["https://github.com/acme-labs"] == (
        "unreadable", "", False, "not checked: GitHub's hourly limit for anonymous requests was reached")
    assert ("stranded-social", "info", "https://github.com/acme-labs", None, (A,)) in findings_set(later)
    # the LinkedIn page is not linked any more: still stated, on no page
    assert got["https://www.linkedin.com/company/acme"] == ("blog", "stated by you on 2026-11-30", False, None)
    pages = {p["url"]: p["pages"] for p in later["summary"]["profiles"]["each"]}
    assert (pages["https://www.linkedin.com/company/acme"], pages["https://github.com/acme-labs"]) == (0, 1)


def test_diff_notices_a_stated_profile_gone_from_the_site(acme):
    out = acme["diff"].stdout
    assert ("The site no longer links to your LinkedIn profile https://www.linkedin.com/company/acme (it did on 3 "
            "pages); you stated its links on 2026-11-30: remove it from [profiles] in funnel.toml if the account is "
            "gone, or link it again.") in out, out


# -- hostile profiles ------------------------------------------------------------------------------
def fifty_megabytes():
    yield b'{"id": "1", "username": "evil", "acct": "evil", "note": "", "fields": ['
    chunk = b'{"name": "x", "value": "' + b"A" * 65_000 + b'", "verified_at": null},'
    for _ in range(800):  # 52 MB if it were all read; --max-size 1 stops it after one
        yield chunk
    yield b'{"name": "end", "value": "", "verified_at": null}]}'


@pytest.fixture(scope="module")
def evil(module_site_server, tmp_path_factory):
    # 10,000 fields (under 1 MiB in all), each named with terminal escapes
    fields = [{"name": "\x1b[31m!", "value": f'<a href="https://evil.test/{i}/">x</a>', "verified_at": None}
              for i in range(10_000)]
    social = module_site_server(routes={
        "/public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor=evil.test":
            bsky("evil.test", "\x1b[31mEvil\x1b[0m\x07", "\x1b]0;pwned\x07 visit https://evil.test/pricing/ \x1b[2J"),
        "/public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor=away.bsky.social":
            Route(302, {"Location": "http://10.1.2.3/xrpc/app.bsky.actor.getProfile?actor=away"}),
        "/public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor=gone.bsky.social":
            Route(400, JSON, json.dumps({"error": "InvalidRequest", "message": "Profile not found"})),
        # the platform failing is no missing account (its message escaped like any crawled text)
        "/public.api.bsky.app/xrpc/app.bsky.actor.getProfile?actor=down.bsky.social":
            Route(500, JSON, json.dumps({"error": "InternalServerError", "message": "Internal \x1b[2JServer Error\x07"})),
        "/mas.to/api/v1/accounts/lookup?acct=evil": mastodon("evil", fields),
        "/mstdn.social/api/v1/accounts/lookup?acct=evil": Route(200, JSON, fifty_megabytes),
        "/mastodon.online/api/v1/accounts/lookup?acct=nobody": Route(404, JSON, '{"error":"Record not found"}'),
        "/api.github.com/users/evil": Route(403, github_headers(0), json.dumps({
            "message": "API rate limit exceeded for 203.0.113.7. (But here's the good news: Authenticated requests get "
                       "a higher rate limit. Check out the documentation for more details.)",
            "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"})),
        "*": Route(404, JSON, '{"error":"NotFound"}')})
    tmp = tmp_path_factory.mktemp("evil")
    result, report = audit_json(tmp, P / "evil", "--base-url", E, "--no-check-external", "--max-size", "1",
                                "--fail-on", "never", *remap(social, "evil"))
    text = run_cli("report", "--db", tmp / "crawls.sqlite")
    for fmt in ("markdown", "html"):
        run_cli("report", "--db", tmp / "crawls.sqlite", "--format", fmt, "-o", tmp / f"report.{fmt}")
    return result, report, text, social, {fmt: (tmp / f"report.{fmt}").read_text() for fmt in ("markdown", "html")}


def test_a_hostile_profile_is_bounded_and_escaped(evil):
    result, report, text, social, _ = evil
    assert result.exit_code == 0, result.stderr
    got = verdicts(report)
    assert got["https://bsky.app/profile/away.bsky.social"] == ("unreadable", "", False, "skipped (private address)")
    assert got["https://mstdn.social/@evil"][0] == "unreadable"
    assert got["https://mstdn.social/@evil"][3].startswith("too large (over 1 MiB")
    assert got["https://github.com/evil"] == (
        "unreadable", "", False, "not checked: GitHub's hourly limit for anonymous requests was reached")
    assert got["https://bsky.app/profile/gone.bsky.social"][0] == "missing"
    assert got["https://mas.to/@evil"][:2] == ("site", "through the Mastodon API")
    pages = {p["url"]: p for p in report["pages"]}
    assert pages["https://mas.to/@evil"]["reason"] == "read the first 100 of 10,000 links"
    assert sum(l["source"] == "https://mas.to/@evil" for l in report["links"]) == 100
    assert pages["https://bsky.app/profile/evil.test"]["title"] == "\x1b[31mEvil\x1b[0m\x07"  # JSON: exact
    # the terminal never gets a control character from a profile: escaped
    assert "\x1b" not in text.stdout and "\x07" not in text.stdout
    assert "Bluesky answers 500: Internal \\x1b[2JServer Error\\x07 (the platform failed" in text.stdout, text.stdout
    # a platform failing (500) is not a missing account, and the profile's URL was never asked: no broken link
    assert got["https://bsky.app/profile/down.bsky.social"][0] == "unreadable"
    assert not [f for f in report["findings"] if f["rule"] == "broken-link" and "down.bsky.social" in f["target"]]
    # no request ever reached the private address; the 50 MB answer was cut by --max-size
    assert not [p for _, p in social.requests if "10.1.2.3" in p]


def test_the_terminal_summary_names_each_profile_and_its_verdict(evil):
    text = evil[2].stdout
    start = text.index("Profiles:")
    assert text[start:text.index("\n\n", start)].splitlines() == [
        "Profiles: 0 of your 8 profiles send visitors to your blog; 2 send them to the site, skipping the blog; "
        "2 Bluesky profiles, GitHub and 1 Mastodon profile could not be read; https://bsky.app/profile/gone.bsky.social and "
        "https://mastodon.online/@nobody do not exist",
        "  https://bsky.app/profile/away.bsky.social could not be read: skipped (private address)",
        "  https://bsky.app/profile/down.bsky.social could not be read: Bluesky answers 500: Internal \\x1b[2JServer "
        "Error\\x07 (the platform failed, not the account: run the audit again later)",
        "  https://bsky.app/profile/evil.test links back to the site (https://evil.test/, its handle, verified both "
        "ways); read through the Bluesky API",
        "  https://bsky.app/profile/gone.bsky.social does not exist: Bluesky answers 400: Profile not found",
        "  https://github.com/evil could not be read: GitHub's hourly limit for anonymous requests was reached",
        "  https://mas.to/@evil links back to the site (https://evil.test/0/, a profile field); read through the "
        "Mastodon API (read the first 100 of 10,000 links)",
        "  https://mastodon.online/@nobody does not exist: Mastodon answers 404: Record not found",
        "  https://mstdn.social/@evil could not be read: too large (over 1 MiB)",
        # (the funnel metrics: mas.to's link lands on /0/, no entry page; the home page has no offer)
        "Social visitors: of 2 profiles, 0 bring them into the blog, 2 skip it to the site, 0 are dead ends; 0.0% "
        "of those from the 1 that land on an entry page reach an offer"]
    # one info line per platform that could not be read
    # what a profile that could not be read asks of the user: never "add a link to the bio"
    lines = text.splitlines()
    fixes = {lines[i + 2].strip() for i, l in enumerate(lines) if "could not verify" in l and "links back" in l}
    assert fixes == {"fix: nothing is known against the profile: funnelcheck could not read it (the reason says why); "
                     "look at it yourself, or run the audit again later"}, fixes
    findings = [l for l in text.splitlines() if "could not verify" in l]
    assert findings == [
        "    could not verify that https://bsky.app/profile/away.bsky.social links back: skipped (private address)",
        "    could not verify that https://bsky.app/profile/down.bsky.social links back: Bluesky answers 500: Internal "
        "\\x1b[2JServer Error\\x07 (the platform failed, not the account: run the audit again later)",
        "    could not verify that https://github.com/evil links back: not checked: GitHub's hourly limit for "
        "anonymous requests was reached",
        "    could not verify that https://mstdn.social/@evil links back: too large (over 1 MiB)"], text


# -- the funnel metrics use the verdicts (analysis.metrics.social_entry) -----------------------------
def test_social_visitors_enter_the_funnel_where_their_profile_links_worked_out_by_hand():
    """Pages (d = 0.85): the home page links /pricing/ (an offer) only: it converts with d = 0.85.
    The blog's front page links /pricing/ and the home page (main, 1 each): d * (1/2 + 1/2 * 0.85)
    = 0.78625. The post links the blog's front page only: d * 0.78625 = 0.6683125. The profiles
    are linked as identity markup (weight 0: the walk is as without them).

    Profiles: Bluesky links the post (an entry into the blog: 0.6683125), Mastodon the home page
    (skips the blog: 0.85), GitHub a site of someone else's (a dead end: 0); X answers 200 with a
    page linking the home page: a login wall, never read, counted in none of them; a Bluesky account
    that answers 404 is missing. A visitor of one of the 3 judged profiles, each as likely, reaches
    an offer with (0.6683125 + 0.85 + 0) / 3 = 0.50610416..."""
    from analysis.graph import graph_from
    from analysis.metrics import funnel_metrics, social_entry
    from analysis.rules import run_rules

    s = "https://a.example/"
    blog, post, pricing = s + "blog/", s + "blog/post/", s + "pricing/"
    bsky, masto, gh, x, ghost = ("https://bsky.app/profile/a.example", "https://mastodon.social/@a",
                                 "https://github.com/a", "https://x.com/a", "https://bsky.app/profile/ghost.bsky.social")
    page = {"role": "page", "status": 200, "parsed": 1}
    profile = {"role": "profile", "status": 200, "parsed": 1}
    g = graph_from(
        [{"url": s, **page}, {"url": blog, **page}, {"url": post, **page}, {"url": bsky, **profile},
         {"url": masto, **profile}, {"url": gh, **profile}, {"url": x, **profile},
         {"url": ghost, "role": "profile", "status": 404}],
        [(s, pricing, "main", "other"), (blog, pricing, "main", "other"), (blog, s, "main", "other"),
         (post, blog, "main", "other"),
         *[(s, p, "head", "identity", "link") for p in (bsky, masto, gh, x, ghost)],
         (bsky, post + "?utm_source=bluesky", "body", "other"), (masto, s, "body", "other"),
         (gh, "https://elsewhere.example/", "body", "other"), (x, s, "body", "other")],
        site=[s], blog=[blog])
    m = funnel_metrics(g, run_rules(g))
    assert {e["url"]: e["conversion"] for e in m["entries"]} == {s: 0.85, blog: 0.78625, post: 0.668312}
    social = social_entry(g, m["entries"])
    assert {k: v for k, v in social.items() if k != "each"} == {
        "profiles": 5, "known": 3, "into_blog": 1, "skips_blog": 1, "dead_end": 1, "not_read": ["X"], "missing": 1,
        "blog_share": 0.333333, "site_share": 0.333333, "dead_end_share": 0.333333,
        "conversion": 0.506104, "conversion_of": 3}
    assert social["each"] == [
        {"profile": bsky, "state": "blog", "lands_on": post, "conversion": 0.668312},
        {"profile": gh, "state": "nowhere", "lands_on": None, "conversion": 0.0},
        {"profile": masto, "state": "site", "lands_on": s, "conversion": 0.85}]
    from analysis.formats.terminal import social_line
    assert social_line(social) == ("Social visitors: of 3 profiles, 1 brings them into the blog, 1 skips it to the "
                                   "site, 1 is a dead end; 50.6% of them reach an offer")


# -- what the crawl could not reach is no account that does not exist -------------------------------
def test_an_unreachable_profile_host_is_not_a_missing_account():
    """Only the platform's own "no such account" (404, Bluesky's 400 "Profile not found") is
    missing: a refused connection, a timeout, a profile page failing (503) say nothing of the
    account. They are "could not be read" (an info line), no broken link, and the funnel model
    still sends the visitors who click them to social."""
    from analysis.graph import graph_from
    from analysis.metrics import funnel_metrics
    from analysis.profiles import profile_verdicts, verdict_line
    from analysis.rules import run_rules

    s = "https://a.example/"
    x, bsky, yt, tiktok, ghost = ("https://x.com/acme", "https://bsky.app/profile/a.example", "https://www.youtube.com/@a",
                                  "https://www.tiktok.com/@a", "https://bsky.app/profile/ghost.bsky.social")
    g = graph_from(
        [{"url": s, "role": "page", "status": 200, "parsed": 1},
         {"url": x, "role": "profile", "status": None, "error_kind": "refused"},
         {"url": bsky, "role": "profile", "status": None, "error_kind": "timeout"},
         {"url": yt, "role": "profile", "status": 503},
         {"url": tiktok, "role": "profile", "status": 404},
         {"url": ghost, "role": "profile", "status": 400, "reason": "Bluesky answers 400: Profile not found"}],
        [(s, p, "footer", "profile") for p in (x, bsky, yt, tiktok, ghost)], site=[s])
    again = "run the audit again later"
    assert [verdict_line(v) for v in profile_verdicts(g)] == [
        f"https://bsky.app/profile/a.example could not be read: timed out (the platform could not be reached: "
        f"nothing is known of the account; {again})",
        "https://bsky.app/profile/ghost.bsky.social does not exist: Bluesky answers 400: Profile not found",
        "https://www.tiktok.com/@a does not exist: it answers 404",
        f"https://x.com/acme could not be read: connection refused (the platform could not be reached: nothing is "
        f"known of the account; {again})",
        f"https://www.youtube.com/@a could not be read: it answers 503 (the platform failed, not the account: {again})"]
    findings = run_rules(g)
    assert sorted((f.rule, f.severity, f.target) for f in findings if f.rule in ("broken-link", "stranded-social")) == [
        ("broken-link", "medium", ghost), ("broken-link", "medium", tiktok),
        ("stranded-social", "info", bsky), ("stranded-social", "info", yt), ("stranded-social", "info", x)]
    # the footer's five icons: the three that could not be read still take the visitors to social
    assert funnel_metrics(g, findings)["site"]["social_leak"] == round(0.85 * 3 / 5, 6)


def test_a_mastodon_account_is_its_user_at_its_instance():
    """@acme on mastodon.social and @acme on fosstodon.org are two accounts (user@instance): two
    footer icons, two findings; and an @acme on a third instance linked from a post is not the
    business's because its footer links the other two (only its brand would make it so)."""
    from analysis.graph import graph_from
    from analysis.rules import run_rules
    from analysis.rules.social import own_profiles
    from crawler.scope import Scope

    s = Scope()
    assert (s.profile_id("https://mastodon.social/@Acme"), s.profile_id("https://fosstodon.org/users/acme/"),
            s.profile_id("https://x.com/Acme")) == (
        ("mastodon", "acme@mastodon.social"), ("mastodon", "acme@fosstodon.org"), ("twitter", "acme"))
    home, post = "https://widgets.example/", "https://widgets.example/post/"
    masto, foss, other = "https://mastodon.social/@acme", "https://fosstodon.org/@acme", "https://mas.to/@acme"
    page = {"role": "page", "status": 200, "parsed": 1}
    g = graph_from([{"url": home, **page}, {"url": post, **page}],
                   [(home, masto, "footer", "profile"), (home, foss, "footer", "profile"), (home, post, "main", "other"),
                    (post, other, "main", "profile")], site=[home])
    assert sorted(own_profiles(g)) == [foss, masto]
    assert sorted((f.target, f.region) for f in run_rules(g) if f.rule == "backward-social") == [
        (foss, "footer"), (other, "main"), (masto, "footer")]


def test_a_profile_links_back_only_to_what_the_crawl_found():
    """On a site with no blog ("Blog: none found"), a channel linking https://a.example/blog/
    (never fetched) links to the site, not "back to the blog"; a profile whose only link to the
    company is a page that answers 404 links back to nothing."""
    from analysis.graph import graph_from
    from analysis.profiles import profile_verdicts, verdict_line

    s = "https://a.example/"
    yt, bsky = "https://www.youtube.com/@a", "https://bsky.app/profile/a.example"
    g = graph_from(
        [{"url": s, "role": "page", "status": 200, "parsed": 1}, {"url": s + "gone/", "role": "page", "status": 404},
         {"url": yt, "role": "profile", "status": 200, "parsed": 1},
         {"url": bsky, "role": "profile", "status": 200, "parsed": 1, "content_type": "application/json"}],
        [(s, yt, "footer", "profile"), (s, bsky, "footer", "profile"), (s, s + "gone/", "main", "other"),
         (yt, s + "blog/", "body", "other"), (bsky, s + "gone/", "body", "other")], site=[s])
    assert g.graph["blog"].as_dict()["prefixes"] == [] and not g.graph["blog"].named
    assert [verdict_line(v) for v in profile_verdicts(g)] == [
        "https://bsky.app/profile/a.example links to neither the blog nor the site; read through the Bluesky API",
        "https://www.youtube.com/@a links back to the site (https://a.example/blog/, on its page); read from its page"]


def test_html_and_markdown_name_each_profile_escaped(evil):
    """The per-profile lines the terminal has, in the HTML and Markdown reports too (with the
    Blog, Funnel and Profiles lines Markdown had none of), crawled text escaped."""
    markdown, html = evil[4]["markdown"], evil[4]["html"]
    lines = markdown.splitlines()
    assert lines[lines.index("Blog: none found (no dated posts, post markup or post listings)") + 2].startswith("Funnel: ")
    assert ("**Profiles:** 0 of your 8 profiles send visitors to your blog; 2 send them to the site, skipping the "
            "blog; 2 Bluesky profiles, GitHub and 1 Mastodon profile could not be read; "
            "https://bsky.app/profile/gone.bsky.social and https://mastodon.online/@nobody do not exist") in lines
    assert [line for line in lines if line.startswith("- ")][:2] == [
        "- https://bsky.app/profile/away.bsky.social could not be read: skipped (private address)",
        "- https://bsky.app/profile/down.bsky.social could not be read: Bluesky answers 500: Internal "
        "\\\\x1b\\[2JServer Error\\\\x07 (the platform failed, not the account: run the audit again later)"]
    assert "- https://mas.to/@evil links back to the site (https://evil.test/0/, a profile field); read through " \
           "the Mastodon API (read the first 100 of 10,000 links)" in lines
    assert "\x1b" not in markdown and "\x1b" not in html
    assert ("<li>https://bsky.app/profile/down.bsky.social could not be read: Bluesky answers 500: Internal "
            "\\x1b[2JServer Error\\x07 (the platform failed, not the account: run the audit again later)</li>") in html
    assert html.count("<li>https://") - html.count("<li>https://evil.test") == 8  # (every profile, once)


@pytest.mark.parametrize("table, error", [
    ('[profiles."https://acme.test/about/"]\nlinks = []\nchecked = 2026-11-30\n',
     '[profiles] "https://acme.test/about/" is a page of your site, not a social profile: [profiles] states what a '
     'profile funnelcheck cannot read links to'),
    ('[profiles."https://x.com/acme"]\nlinks = []\nchecked = 2999-01-01\n',
     '[profiles] "https://x.com/acme": checked = 2999-01-01 is in the future: give the day you looked at the profile'),
])
def test_profiles_table_refuses_a_site_page_and_a_future_date(tmp_path, table, error):
    config = tmp_path / "funnel.toml"
    config.write_text(table)
    result = run_cli("audit", P / "v1", "--base-url", A, "--config", config, "--db", tmp_path / "crawls.sqlite")
    assert (result.exit_code, result.stderr) == (2, f"funnelcheck: error: {error}\n")


def test_a_missing_account_is_named_as_the_pages_write_it():
    """The crawl keys x.com/Gone as twitter.com/gone (one account, however written): its broken
    link says the address the page links."""
    from analysis.graph import build_graph
    from analysis.rules import run_rules
    from crawler.store import Store

    store, home = Store(":memory:"), "https://a.example/"
    crawl = store.create_crawl([home], {"site": [home]})
    store.write_page(crawl, {"url": home, "role": "page", "status": 200, "parsed": 1},
                     [(home, "https://x.com/Gone", "https://twitter.com/gone", None, "a", "href", "", "footer", "", 1,
                       "profile", 9, 0)])
    store.write_page(crawl, {"url": "https://twitter.com/gone", "role": "profile", "status": 404}, [])
    assert [f.message for f in run_rules(build_graph(store, crawl)) if f.rule == "broken-link"] == [
        "broken link: https://x.com/Gone answers 404 (client error)"]
