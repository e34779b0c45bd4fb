"""Which URL is what (issue 19 items 4, 8, 9, 10; issue 20 item 8): the company's other hosts,
platforms as data, one account one check, conversion evidence, one page per path.

Each class has its own fixture in ``tests/sites/classify/`` and is audited as a user would (the
real CLI, a directory target, local servers standing in for the other hosts through
``--remap``); the tests assert what the user sees: findings, pages and their conversion, and
the requests made.
"""
from __future__ import annotations

import re

import pytest

from conftest import SITES, Route, audit_json, findings_set

CL = SITES / "classify"
PAGE = "<!doctype html><title>{0}</title><body><p>{0}</p></body>"


def pages_of(report) -> dict[str, dict]:
    return {p["url"]: p for p in report["pages"]}


# -- 1. the company's other hosts --------------------------------------------------------------
@pytest.fixture(scope="module")
def apphosts(module_site_server, tmp_path_factory):
    app = module_site_server(routes={
        "/app/": Route(200, body=PAGE.format("Log in")),
        "/app/sign-up": Route(200, body=PAGE.format("Sign up")),
        "/portal/": Route(200, body=PAGE.format("Portal")),
        "/docs/": Route(200, body=PAGE.format("Docs")),
        "/my/billing/checkout": Route(200, body=PAGE.format("Checkout")),
        "*": Route(404, body=PAGE.format("Not found")),
    })
    tmp = tmp_path_factory.mktemp("apphosts")
    result, report = audit_json(tmp, CL / "apphosts", "--base-url", "https://acme.test/", "--no-check-external",
                                "--remap", rf"^https?://(app|portal|docs|my)\.acme\.test/(.*) {app.url}/\1/\2")
    return result, report, app


def test_the_company_s_other_hosts_are_checked_once_and_never_crawled(apphosts):
    result, report, app = apphosts
    A = "https://acme.test/"
    assert result.exit_code == 1, result.stderr
    pages = pages_of(report)
    # checked (with --no-check-external: they are the company's), each once, HEAD first; never read
    # as site pages; a sign-up route in the fragment is a page of its own
    assert {u: (p["tier"], p["role"], p["status"], p["conversion"]) for u, p in pages.items()
            if p["tier"] == "app"} == {
        "https://app.acme.test/": ("app", "external", 200, None),
        "https://app.acme.test/sign-up": ("app", "external", 200, "lead"),
        "https://app.acme.test/trial/2019": ("app", "external", 404, "lead"),
        "https://portal.acme.test/": ("app", "external", 200, None),
        "https://portal.acme.test/#/signup": ("app", "external", 200, "lead"),
        "https://docs.acme.test/": ("app", "external", 200, None),
        "https://my.acme.test/billing/checkout": ("app", "external", 200, "purchase"),
    }
    asked = sorted(r for r in app.requests if not r[1].endswith("/robots.txt"))
    assert asked == sorted([
        ("HEAD", "/app/"), ("HEAD", "/app/sign-up"), ("HEAD", "/app/trial/2019"), ("GET", "/app/trial/2019"),
        ("HEAD", "/portal/"), ("HEAD", "/portal/?utm_campaign=toploginbutton&utm_source=Toploginbutton"),
        ("HEAD", "/docs/"), ("HEAD", "/my/billing/checkout")])
    assert "https://other.test/" not in pages  # another site: --no-check-external holds
    assert report["summary"]["pages_by_tier"] == {"site": 2}
    # no backward link, no "dead end": the offers are on the app host; its broken trial link is
    # the company's own (high)
    assert findings_set(report) == {
        ("broken-link", "high", "https://app.acme.test/trial/2019", None, (A + "about/",)),
    }
    assert sorted((l["target"], l["fragment"], l["tier"]) for l in report["links"] if "portal" in l["target"]) == [
        ("https://portal.acme.test/", "/signup?utm_source=website&utm_medium=refferal&utm_campaign=menucta", "app"),
        ("https://portal.acme.test/?utm_campaign=toploginbutton&utm_source=Toploginbutton", None, "app")]


def test_offers_on_the_app_host_count_in_the_funnel(apphosts):
    _, report, _ = apphosts
    entries = {e["url"]: e for e in report["metrics"]["entries"]}
    # the sign-up, the portal's sign-up route and checkout are offers (before: links to other sites,
    # no offer at all); log in and the docs are the company's too, no leak to another site
    home = entries["https://acme.test/"]
    assert home["conversion"] > 0.3 and home["social_leak"] == 0 and home["conversion_depth"] == 1


# -- 2. platforms as data ----------------------------------------------------------------------
P = "https://plat.test/"
POSTS = (P + "blog/first-post/", P + "blog/second-post/")
SHARE_PATHS = re.compile(r"/intent/|/sharer|/shareArticle|/sharing/|/send\?|\?text=|/share(/|\?|$)|/pin/create/"
                         r"|/submit|addtoany")


@pytest.fixture(scope="module")
def platforms(module_site_server, tmp_path_factory):
    back = '<!doctype html><title>{0}</title><a href="https://plat.test/">plat.test</a>'
    json_ = {"Content-Type": "application/json; charset=utf-8"}
    social = module_site_server(routes={
        "/github.com/plat": Route(200, body=back.format("Plat on GitHub")),
        # GitHub is read through its API, in its real shapes (crawler/profiles.py)
        "/api.github.com/users/plat": Route(200, json_, '{"login": "plat", "id": 1, "type": "Organization", '
                                            '"html_url": "https://github.com/plat", "name": "Plat", '
                                            '"blog": "https://plat.test/", "twitter_username": null}'),
        "/api.github.com/users/plat/social_accounts": Route(200, json_, "[]"),
        "*": Route(200, body=PAGE.format("elsewhere")),
    })
    tmp = tmp_path_factory.mktemp("platforms")
    result, report = audit_json(tmp, CL / "platforms", "--base-url", P, "--social", "https://github.com/plat",
                                "--remap", rf"^https?://(?!plat\.test/)([^/]+)/(.*) {social.url}/\1/\2")
    return result, report, social


def test_videos_posts_and_repositories_are_content_and_share_intents_are_never_fetched(platforms):
    result, report, social = platforms
    assert result.exit_code == 0, result.stderr
    kinds = {l["target"]: l["kind"] for l in report["links"] if l["tier"] == "social"}
    assert {t: k for t, k in kinds.items() if k != "share"} == {
        "https://youtu.be/dQw4w9WgXcQ": "content",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42": "content",
        "https://x.com/someone/status/1234567890": "content",
        "https://www.instagram.com/p/Cabc123/": "content",
        "https://www.linkedin.com/posts/someone_launch-activity-1234": "content",
        "https://github.com/plat/widget": "content",
        "https://github.com/plat/widget/blob/main/README.md": "content",
        "https://github.com/plat/widget/issues/3": "content",
        "https://github.com/plat/widget/commit/0a1b2c3": "content",
        "https://gist.github.com/plat/5f6e7d": "content",
        "https://github.com/plat": "profile",
        "https://join.slack.com/t/plat/shared_invite/zt-abc": "community",
        "https://discord.gg/platchat": "community",
        "https://bsky.app/profile/plat.bsky.social": "profile",
        "https://mastodon.social/@plat": "profile",
    }
    assert sum(l["kind"] == "share" for l in report["links"]) == 22  # 11 on each post
    # every other link was checked; not one share intent was asked for
    asked = [path for _, path in social.requests]
    assert len(asked) > 20 and not [p for p in asked if SHARE_PATHS.search(p)]
    # the business's profile (--social) is read once, through GitHub's API (its page is never asked);
    # its repositories are content, checked as links
    assert [(m, p) for m, p in social.requests if p.startswith(("/github.com/plat?", "/api.github.com/"))
            or p == "/github.com/plat"] == [("GET", "/api.github.com/robots.txt"), ("GET", "/api.github.com/users/plat"),
                                             ("GET", "/api.github.com/users/plat/social_accounts")]
    pages = pages_of(report)
    assert pages["https://github.com/plat"]["role"] == "profile"
    assert pages["https://github.com/plat/widget"]["role"] == "external"
    assert not any("intent" in u or "sharer" in u or "whatsapp" in u for u in pages)


def test_share_intents_are_one_finding_per_platform_and_region_and_github_is_one_profile(platforms):
    _, report, _ = platforms
    F = P + "blog/first-post/"
    every = (P, *POSTS, P + "pricing/")
    assert findings_set(report, {"backward-social"}) == {
        # --social https://github.com/plat: that account alone is the business's profile ...
        ("backward-social", "medium", "https://github.com/plat", "footer", every),
        # ... so the other accounts in the footer are someone else's (not named with --social)
        ("backward-social", "low", "https://bsky.app/profile/plat.bsky.social", "footer", every),
        ("backward-social", "low", "https://mastodon.social/@plat", "footer", every),
        # invitations to a community
        ("backward-social", "low", "https://discord.gg/platchat", "footer", every),
        ("backward-social", "low", "https://join.slack.com/t/plat/shared_invite/zt-abc", "footer", every),
        # videos, posts and code: one finding per platform
        ("backward-social", "low", "https://github.com/", "main", (F,)),
        ("backward-social", "low", "https://instagram.com/", "main", (F,)),
        ("backward-social", "low", "https://linkedin.com/", "main", (F,)),
        ("backward-social", "low", "https://twitter.com/", "main", (F,)),
        ("backward-social", "low", "https://youtube.com/", "main", (F,)),
        # share intents: one finding per platform and region, whatever endpoints it uses
        ("backward-social", "low", "https://x.com/intent/post", "aside", POSTS),
        ("backward-social", "low", "https://www.facebook.com/sharer/sharer.php", "aside", POSTS),
        ("backward-social", "low", "https://www.linkedin.com/shareArticle", "aside", POSTS),
        ("backward-social", "low", "https://wa.me/", "aside", POSTS),
        ("backward-social", "low", "https://t.me/share/url", "aside", POSTS),
        ("backward-social", "low", "https://pinterest.com/pin/create/button/", "aside", POSTS),
        ("backward-social", "low", "https://www.reddit.com/submit", "aside", POSTS),
        ("backward-social", "low", "https://www.addtoany.com/share", "aside", POSTS),
    }
    messages = {f["target"]: f["message"] for f in report["findings"]}
    assert messages["https://x.com/intent/post"] == (
        "twitter share buttons (https://twitter.com/intent/tweet, https://x.com/intent/post) in the sidebar on "
        "2 pages send readers to social")
    assert messages["https://wa.me/"] == (
        "whatsapp share buttons (https://api.whatsapp.com/send, https://wa.me/) in the sidebar on 2 pages send "
        "readers to social")
    assert messages["https://github.com/"] == "page body links to posts, videos or code on https://github.com/ on 1 page"
    # the profile links back: not stranded; no repository became a "profile"
    assert not [f for f in report["findings"] if f["rule"] == "stranded-social"]


# -- 3. one account, one check -----------------------------------------------------------------
def test_one_account_written_four_ways_is_fetched_once_and_judged_once(site_server, tmp_path):
    social = site_server(routes={"*": Route(403, {"cf-mitigated": "challenge", "Server": "cloudflare"}, "Just a moment")})
    C = "https://acme.test/"
    result, report = audit_json(tmp_path, CL / "accounts", "--base-url", C, "--no-check-external",
                                "--remap", rf"^https?://(?!acme\.test/)([^/]+)/(.*) {social.url}/\1/\2")
    assert result.exit_code == 0, result.stderr
    asked = [(m, p) for m, p in social.requests if not p.endswith("/robots.txt")]
    # twitter.com/AcmeCo, www.twitter.com/acmeco/, x.com/acmeco?ref=footer, http://mobile.twitter.com/ACMECO:
    # one GET; the LinkedIn company page in four spellings (uk., a ?trk= query, case): one GET. Each
    # is named as the pages write it (the shortest https form)
    assert sorted("linkedin" if "linkedin" in p else "twitter" for _, p in asked) == ["linkedin", "twitter"]
    assert [m for m, _ in asked] == ["GET", "GET"]
    every = (C, C + "a/", C + "b/", C + "c/")
    assert findings_set(report, {"stranded-social", "backward-social"}) == {
        ("backward-social", "medium", "https://x.com/acmeco", "footer", every),
        ("backward-social", "medium", "https://linkedin.com/company/Acme-Co", "footer", every),
        ("stranded-social", "info", "https://x.com/acmeco", None, every),
        ("stranded-social", "info", "https://linkedin.com/company/Acme-Co", None, every),
    }
    stranded = {f["target"]: f["message"] for f in report["findings"] if f["rule"] == "stranded-social"}
    assert stranded["https://x.com/acmeco"] == (
        "could not verify that https://x.com/acmeco links back: not checkable on X (login wall: X shows profiles only "
        "to logged-in visitors)")
    profiles = [p for p in report["pages"] if p["role"] == "profile"]
    assert sorted(p["url"] for p in profiles) == ["https://twitter.com/acmeco",
                                                   "https://www.linkedin.com/company/acme-co"]


# -- 4. conversion evidence --------------------------------------------------------------------
def test_a_page_name_alone_is_no_purchase_and_careers_are_no_lead(tmp_path):
    E = "https://evidence.test/"
    result, report = audit_json(tmp_path, CL / "evidence", "--base-url", E, "--no-check-external")
    assert result.exit_code in (0, 1), result.stderr
    assert {p["url"]: p["conversion"] for p in report["pages"] if p["role"] == "page"} == {
        E: None,
        E + "products/": None,             # a product page without a price, a buy or cart button
        E + "pricing/": "purchase",
        E + "careers/": None,
        E + "careers/apply/": None,        # a job application is no lead capture
        E + "jobs/engineer/apply/": None,
    }


@pytest.mark.parametrize("url, signals, kind", [
    ("https://a.example/products/", None, None),
    ("https://a.example/products/", {"price": True}, "purchase"),
    ("https://a.example/shop/widget/", {"buy": True}, "purchase"),
    ("https://a.example/store/", {"articles": 3}, None),
    ("https://a.example/products/pricing/", None, "purchase"),   # a pricing path is evidence enough
    ("https://a.example/careers/apply/", None, None),
    ("https://a.example/jobs/42/apply", None, None),
    ("https://a.example/apply/", None, "lead"),                 # a programme's application elsewhere
    ("https://app.a.example/sign-up", None, "lead"),
    ("https://portal.a.example/#/signup", None, "lead"),
    ("https://app.a.example/login", None, "lead"),
    ("https://my.a.example/billing/", None, "purchase"),
    ("https://docs.a.example/getting-started/", None, None),
])
def test_conversion_by_address_and_evidence(url, signals, kind):
    from analysis.graph import conversion_of
    from crawler.scope import Scope

    s = Scope(site=("https://a.example/",))
    assert conversion_of(s, url, s.tier(url), "page" if s.tier(url) != "app" else "external", signals) == kind


# -- 5. one page per path ----------------------------------------------------------------------
def test_double_slashes_are_one_page_and_no_false_orphan(tmp_path):
    S = "https://slash.test/"
    result, report = audit_json(tmp_path, CL / "slashes", "--base-url", S, "--no-check-external")
    assert result.exit_code == 0, result.stderr
    assert sorted(p["url"] for p in report["pages"] if p["role"] == "page") == [S, S + "about/", S + "docs/guide/"]
    assert report["summary"]["pages_crawled"] == 3
    assert findings_set(report) == set()  # no duplicate page, no orphan, nothing broken
    # each link still says how it was written
    assert sorted(l["target"] for l in report["links"] if l["source"] == S and l["tag"] == "a") == [
        S + "/about/", S + "about/", S + "docs//guide/"]


def test_other_people_s_accounts_are_one_finding_per_platform_and_region():
    from analysis.graph import graph_from
    from analysis.rules.social import backward_social

    a, b = "https://a.example/blog/one/", "https://a.example/blog/two/"
    pages = [{"url": u, "role": "page", "status": 200, "parsed": 1} for u in (a, b)]
    g = graph_from(pages, [(a, "https://twitter.com/jane", "main", "profile"), (a, "https://x.com/Bob", "main", "profile"),
                           (b, "https://twitter.com/carol", "main", "profile"),
                           (b, "https://github.com/dave", "main", "profile")], site=["https://a.example/"])
    found = {(f.target, f.region, tuple(f.sources)): (f.message, f.detail) for f in backward_social(g)}
    assert found == {
        ("https://twitter.com/", "main", (a, b)): (
            "page body links to 3 third-party accounts on https://twitter.com/ (https://twitter.com/carol, "
            "https://twitter.com/jane, https://x.com/Bob) on 2 pages",
            {"kind": "third-party", "accounts": ["https://twitter.com/carol", "https://twitter.com/jane",
                                                 "https://x.com/Bob"]}),
        ("https://github.com/dave", "main", (b,)): (
            "page body links to a third-party social account https://github.com/dave on 1 page", {"kind": "third-party"}),
    }


def test_a_handle_quoted_in_a_testimonial_or_embedded_tweet_is_no_follow_link():
    """nozzle's testimonials: a customer's tweet embedded as ``<blockquote class="twitter-tweet">``
    mentions @nozzleio; a blog post quotes a client in a ``wp-block-quote``. Someone else's words,
    not follow links the company placed: no backward-social finding (it was high, "page body links
    to social profile https://twitter.com/nozzleio on 8 pages"); the footer's icon still is one."""
    from analysis.graph import graph_from
    from analysis.rules.social import backward_social
    from crawler.extract import extract
    from crawler.scope import Scope

    s = "https://nozzle.test/"
    page = s + "testimonials/"
    html = (b'<main><article><blockquote class="twitter-tweet"><p>I use <a href="https://twitter.com/acme?ref_src=tw">'
            b'@acme</a> daily <a href="https://twitter.com/hashtag/SERPs">#SERPs</a></p>&mdash; Mike '
            b'<a href="https://twitter.com/mike/status/1447442870089228294">Oct 2021</a></blockquote>'
            b'<blockquote class="wp-block-quote"><p>Thanks <a href="https://twitter.com/acme">@acme</a></p></blockquote>'
            b'<p>Follow <a href="https://x.com/acme">us</a></p></article></main>'
            b'<footer><a href="https://twitter.com/acme"><img alt="X"></a></footer>')
    scope = Scope(site=(s,))
    links = extract(html, page).links
    assert [(l.url, l.region, l.quoted, scope.link_kind(l.url, l.rel, l.sameas, l.tag, l.quoted)) for l in links] == [
        ("https://twitter.com/acme?ref_src=tw", "main", True, "quote"),
        ("https://twitter.com/hashtag/SERPs", "main", True, "quote"),
        ("https://twitter.com/mike/status/1447442870089228294", "main", True, "quote"),
        ("https://twitter.com/acme", "main", True, "quote"),
        ("https://x.com/acme", "main", False, "profile"),
        ("https://twitter.com/acme", "footer", False, "profile")]
    pages = [{"url": page, "role": "page", "status": 200, "parsed": 1}]
    rows = [(page, l.url, l.region, scope.link_kind(l.url, l.rel, l.sameas, l.tag, l.quoted)) for l in links]
    found = {(f.target, f.region, f.severity, f.message) for f in backward_social(graph_from(pages, rows, site=[s]))}
    assert found == {
        ("https://x.com/acme", "main", "high", "page body links to social profile https://x.com/acme on 1 page: "
                                               "rowing backward"),
        ("https://x.com/acme", "footer", "high", "footer links to social profile https://x.com/acme on 1 page offering "
                                                 "no purchase and no lead capture: rowing backward")}


def test_a_page_s_own_canonical_through_a_redirect_is_no_incoming_link():
    """nozzle: nothing links /nozzle-serp-rank-tracker-free-trial/ ("Free 14-Day Trial") or /agency/,
    but each page's own ``<link rel="canonical" href="/agency">`` redirects to ``/agency/``, itself,
    and was counted as an incoming link: no orphan-page finding named them. A page's link to itself
    (directly, through a redirect or a stub) is none; a stub another page links to still leads on."""
    from analysis.graph import graph_from
    from analysis.rules.links import orphan_page

    s = "https://nozzle.test/"
    agency, trial, about, old, moved = s + "agency/", s + "trial/", s + "about/", s + "old-about/", s + "moved/"
    page = lambda u, **kw: {"url": u, "role": "page", "status": 200, "parsed": 1, **kw}
    g = graph_from(
        [page(s), page(agency), page(trial), page(about), page(old), page(moved),
         {"url": s + "agency", "role": "page", "status": 301, "location": agency},
         {"url": s + "trial", "role": "page", "status": 301, "location": trial}],
        [(s, about, "nav", "other"),
         (agency, s + "agency", "head", "other", "link"),                  # its own canonical, without the slash
         (trial, s + "trial", "head", "other", "link"), (trial, trial, "main", "other"),
         (about, old, "main", "other"), (old, moved, "head", "other", "meta"),  # a stub a page links to
         (moved, old, "main", "other")],
        site=[s], directories={s: "/srv/nozzle"})
    assert sorted((f.target, f.severity, f.message) for f in orphan_page(g)) == [
        (agency, "low", f"{agency} is a file in the audited folder, but no page links to it"),
        (trial, "low", f"{trial} is a file in the audited folder, but no page links to it")]
