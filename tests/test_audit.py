"""End-to-end audits: real servers, the real CLI, the exact findings a user sees.

The fixture company (tests/sites/funnel) has its site on https://www.shop.test,
its blog on a separate host https://blog.shop.test and profiles on Twitter,
Facebook, Instagram and LinkedIn. Each is a local server reached through
``--remap``; the pages use absolute links to their public hosts, so the report
must speak of the public URLs only.
"""
from __future__ import annotations

import re
import json
import sqlite3

import pytest

from conftest import SITES, Route, SiteServer, audit_json, findings_set, run_cli

S = "https://www.shop.test/"
SITE_PAGES = (S, S + "about/", S + "contact/", S + "pricing/")
BLOG = "https://blog.shop.test/"
OK_POST, DEAD_POST = BLOG + "posts/ok/", BLOG + "posts/dead/"
TW, FB, IG, LI = ("https://twitter.com/shop", "https://www.facebook.com/shop", "https://www.instagram.com/shop",
                  "https://www.linkedin.com/company/shop")


# The business names its profiles, as a user of the tool would.
OWN = ("--social", TW, "--social", FB, "--social", IG, "--social", LI)


def remaps(site, blog, social):
    return [
        "--remap", rf"^https://www\.shop\.test/(.*) {site.url}/\1",
        "--remap", rf"^https://blog\.shop\.test/(.*) {blog.url}/\1",
        "--remap", rf"^https://twitter\.com/(.*) {social.url}/twitter/\1",
        "--remap", rf"^https://www\.facebook\.com/(.*) {social.url}/facebook/\1",
        "--remap", rf"^https://www\.instagram\.com/(.*) {social.url}/instagram/\1",
        "--remap", rf"^https://www\.linkedin\.com/(.*) {social.url}/linkedin/\1",
        "--remap", rf"^https://mastodon\.social/(.*) {social.url}/mastodon/\1",
    ]


@pytest.fixture(scope="module")
def funnel(tmp_path_factory):
    """One crawl of the fixture company, shared by the tests of this module."""
    tmp = tmp_path_factory.mktemp("funnel")
    site = SiteServer(SITES / "funnel" / "site")
    blog = SiteServer(SITES / "funnel" / "blog")
    social = SiteServer(SITES / "funnel" / "social", routes={
        # LinkedIn answers crawlers with a non-standard 999.
        "/linkedin/company/shop": Route(999, body="<html><body>Request denied</body></html>"),
    })
    try:
        result, report = audit_json(tmp, S, "--no-check-external", *OWN, *remaps(site, blog, social))
        yield result, report, tmp, (site, blog, social)
    finally:
        for s in (site, blog, social):
            s.close()


EXPECTED = {
    # Follow icons in the header of every site page: high.
    ("backward-social", "high", TW, "header", SITE_PAGES),
    # A follow link in the body of the about page: high.
    ("backward-social", "high", TW, "main", (S + "about/",)),
    # Footer links on pages that offer a purchase (nav -> pricing): medium.
    ("backward-social", "medium", FB, "footer", SITE_PAGES),
    ("backward-social", "medium", IG, "footer", SITE_PAGES),
    # The same footer icon: high on the post that offers nothing, medium on the two that do:
    # one finding, its severity the highest, its pages split by reason.
    ("backward-social", "high", TW, "footer", (BLOG, DEAD_POST, OK_POST)),
    ("backward-social", "high", LI, "main", (DEAD_POST,)),
    # Share intents: low, grouped by endpoint (the shared URL differs per page).
    ("backward-social", "low", "https://twitter.com/intent/tweet", "main", (DEAD_POST,)),
    ("backward-social", "low", "https://www.facebook.com/sharer/sharer.php", "main", (OK_POST,)),
    # rel=me identity link: info.
    ("backward-social", "info", "https://mastodon.social/@shop", "head", (S + "about/",)),
    ("backward-blog", "low", BLOG, "header", SITE_PAGES),
    ("backward-blog", "low", BLOG, "main", (S + "about/",)),
    ("dead-end", "medium", BLOG, None, (DEAD_POST,)),
    ("social-before-offer", "medium", LI, "main", (DEAD_POST,)),
    # X, Facebook, Instagram and LinkedIn are login walls (platforms.toml: readable = false): each
    # profile is checked to exist, never read: one "not checkable" info line per platform (and no
    # untracked-inbound from what their pages show)
    ("stranded-social", "info", TW, None, (BLOG, DEAD_POST, OK_POST, *SITE_PAGES)),
    ("stranded-social", "info", FB, None, SITE_PAGES),
    ("stranded-social", "info", IG, None, SITE_PAGES),
    ("stranded-social", "info", LI, None, (DEAD_POST,)),
    ("broken-link", "high", S + "missing/", None, (S,)),
}


def test_exact_findings(funnel):
    result, report, _, _ = funnel
    assert result.exit_code == 1, result.stderr
    assert findings_set(report) == EXPECTED
    footer = next(f for f in report["findings"] if f["target"] == TW and f["region"] == "footer")
    assert footer["detail"]["pages_by_severity"] == {"high": [DEAD_POST], "medium": [BLOG, OK_POST]}
    assert footer["message"] == (f"footer links to social profile {TW} on 3 pages: high on 1 page that offers no "
                                 "purchase and no lead capture; medium on 2 pages that offer something too")
    assert len({f["id"] for f in report["findings"]}) == len(report["findings"])


def test_exit_code_follows_fail_on(funnel, tmp_path):
    """--fail-on never: the same findings, exit 0 (the report re-reads the stored crawl)."""
    _, _, tmp, _ = funnel
    result = run_cli("report", "--db", tmp / "crawls.sqlite", "--fail-on", "never", "--format", "json")
    assert result.exit_code == 0
    assert findings_set(result.json()) == EXPECTED


def test_json_schema(funnel):
    _, report, _, _ = funnel
    assert list(report) == ["crawl", "pages", "links", "findings", "baseline", "metrics", "summary"]
    assert report["baseline"] == {"file": None, "accepted": [], "stale": []}
    assert list(report["metrics"]) == ["site", "entries", "fix_first", "link_score", "social"]
    for f in report["findings"]:
        assert {"rule", "severity", "target", "region", "sources", "count", "message"} <= set(f)
        assert f["count"] == len(f["sources"])
        assert f["message"] and "\n" not in f["message"]
    assert report["crawl"]["status"] == "complete"
    assert report["crawl"]["targets"] == [S]
    assert report["summary"]["pages_crawled"] == 7  # 4 site pages, 3 blog pages (/missing/ is a 404)
    assert report["summary"]["pages_by_tier"] == {"blog": 3, "site": 4}
    assert report["summary"]["uncrawled_by_limits"] == {"depth": 0, "max_pages": 0}


def test_reports_public_urls_only(funnel):
    """Everything is reported under the public hosts, never 127.0.0.1."""
    _, report, _, _ = funnel
    text = json.dumps({k: report[k] for k in ("pages", "links", "findings")})
    assert "127.0.0.1" not in text
    tiers = {p["url"]: p["tier"] for p in report["pages"]}
    assert tiers[S] == "site" and tiers[BLOG] == "blog" and tiers[TW] == "social"


def test_profile_verdicts(funnel):
    _, report, _, _ = funnel
    pages = {p["url"]: p for p in report["pages"]}
    assert pages[LI]["status"] == 999 and pages[LI]["verdict"] == "unverified"
    # /twitter/shop redirects to /twitter/shop/ on the stand-in: the relative Location
    # resolves against the public URL, then is remapped again.
    assert pages[TW]["verdict"] == "ok"
    assert pages[TW]["final_url"] == TW + "/"
    assert pages[TW]["redirects"] == [{"url": TW, "status": 301}]
    assert pages[TW + "/"]["role"] == "profile"


def _link(report, source, target):
    return [l for l in report["links"] if l["source"] == source and l["target"] == target]


def test_link_attributes(funnel):
    _, report, _, _ = funnel
    (header_icon,) = _link(report, S, TW)[:1]
    assert header_icon["region"] == "header" and header_icon["icon"] is True
    assert header_icon["kind"] == "profile" and header_icon["text"] == "Twitter"
    assert header_icon["line"] == 7
    (footer_ig,) = _link(report, S, IG)
    assert footer_ig == {**footer_ig, "region": "footer", "icon": True, "text": "Instagram", "tier": "social"}
    (share,) = [l for l in report["links"] if l["source"] == DEAD_POST and "intent" in l["target"]]
    assert share["kind"] == "share" and share["region"] == "main"
    (me,) = _link(report, S + "about/", "https://mastodon.social/@shop")
    assert me["kind"] == "identity" and me["rel"] == "me" and me["tag"] == "link"
    # the X profile is behind a login wall: checked to exist, its page never read (no link of it stored)
    assert not [l for l in report["links"] if l["source"] in (TW, TW + "/")]


def test_store_is_streamed_sqlite(funnel):
    """The crawl is in a real SQLite file in WAL mode, with every page and link."""
    _, report, tmp, _ = funnel
    db = sqlite3.connect(tmp / "crawls.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    (status, finished) = db.execute("SELECT status, finished FROM crawls").fetchone()
    assert status == "complete" and finished
    assert db.execute("SELECT count(*) FROM links").fetchone()[0] == len(report["links"])
    assert db.execute("SELECT count(*) FROM frontier WHERE state = 'queued'").fetchone()[0] == 0


def test_terminal_report(funnel):
    _, _, tmp, _ = funnel
    result = run_cli("report", "--db", tmp / "crawls.sqlite")
    assert result.exit_code == 1
    out = result.stdout
    assert "HIGH (" in out and "backward-social" in out and "dead-end" in out
    assert re.search(r"https://www\.shop\.test/about/:\d+", out)  # URL:LINE, one token
    assert "findings:" in out and "\x1b[" not in out  # NO_COLOR and not a tty: plain text
    assert result.stderr == ""


def test_clean_site_exits_0(site_server, tmp_path):
    srv = site_server(SITES / "clean")
    result, report = audit_json(tmp_path, srv.url + "/")
    assert result.exit_code == 0, result.stderr
    assert report["findings"] == []
    assert report["summary"]["pages_crawled"] == 2


def test_directory_target_with_base_url(tmp_path):
    """A directory is served on 127.0.0.1 for the crawl and reported under --base-url."""
    result, report = audit_json(tmp_path, SITES / "clean", "--base-url", "https://clean.test")
    assert result.exit_code == 0, result.stderr
    assert sorted(p["url"] for p in report["pages"] if p["role"] == "page") == [
        "https://clean.test/", "https://clean.test/pricing/"]


def test_directory_target_stands_for_the_address_its_home_page_names(tmp_path):
    """A built site whose links name its public host (a WordPress or Simply Static export:
    ``https://www.acme.test/request-a-demo/`` in every header) is audited as that host without
    --base-url: its own absolute links are its pages, not other sites'; the user is told, once."""
    site = tmp_path / "public"
    for folder in ("request-a-demo", "thanks"):
        (site / folder).mkdir(parents=True)
    (site / "thanks" / "index.html").write_text("<html><head><title>Thanks</title></head><body>Thanks</body></html>")
    (site / "index.html").write_text(
        '<html><head><title>Acme</title><meta property="og:url" content="https://www.acme.test/"></head>'
        '<body><header><a href="https://www.acme.test/request-a-demo/">Request a demo</a></header>'
        '<main><a href="http://acme.test/request-a-demo">book a demo</a></main></body></html>')
    (site / "request-a-demo" / "index.html").write_text(
        '<html><head><title>Demo</title></head><body><main><h1>Request a demo</h1>'
        '<form method="post" action="/thanks"><input name="email" type="email"><button>Send</button></form>'
        '<a href="https://www.acme.test/">home</a></main></body></html>')
    result, report = audit_json(tmp_path, site, "--no-check-external", "--no-check-social")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (f"funnelcheck: {site} is audited as https://www.acme.test/ "
                             "(its og:url in index.html; --base-url to change it)\n")
    assert sorted(p["url"] for p in report["pages"] if p["role"] == "page" and p["status"] == 200) == [
        "https://www.acme.test/", "https://www.acme.test/request-a-demo/", "https://www.acme.test/thanks/"]
    assert not [p for p in report["pages"] if p["role"] == "external"]
    # http://acme.test/request-a-demo is the site's own page, linked the long way round
    assert sorted((f["rule"], f["severity"]) for f in report["findings"]) == [("insecure-link", "low"), ("redirect", "low")]

    # a Simply Static export: relative links and canonical, but its posts link the site by its name
    (site / "index.html").write_text(
        '<html><head><title>Acme</title><link rel="canonical" href="/"></head><body><a href="/request-a-demo/">demo</a>'
        '<main><a href="https://acme.test/request-a-demo/">Book one</a> <a href="https://acme.test/thanks/">t</a>'
        ' <a href="https://acme.test/">home</a> <a href="https://app.acme.test/sign-up">Sign up</a></main></body></html>')
    (site / "request-a-demo" / "index.html").write_text('<html><head><title>Demo</title></head><body>'
                                                        '<a href="https://acme.test/thanks/">thanks</a> '
                                                        '<a href="https://acme.test/about">About us</a></body></html>')
    (site / "about").mkdir()
    (site / "about" / "index.html").write_text("<html><head><title>About</title></head><body>About</body></html>")
    (tmp_path / "export").mkdir()
    result, report = audit_json(tmp_path / "export", site, "--no-check-external", "--no-check-social")
    assert result.stderr == (f"funnelcheck: {site} is audited as https://acme.test/ (its own links to 3 pages of "
                             "https://acme.test/ are files of this folder; --base-url to change it)\n")

    assert sorted(p["url"] for p in report["pages"] if p["role"] == "page" and p["status"] == 200) == [
        "https://acme.test/", "https://acme.test/about/", "https://acme.test/request-a-demo/",
        "https://acme.test/thanks/"]
    (site / "about" / "index.html").unlink()
    (site / "about").rmdir()

    # a site that names no address of its own is audited as http://localhost/, without a word
    (site / "index.html").write_text('<html><head><title>Acme</title></head><body>'
                                     '<a href="/request-a-demo/">demo</a></body></html>')
    (tmp_path / "again").mkdir()
    result, report = audit_json(tmp_path / "again", site)
    assert result.stderr == "" and result.exit_code == 0
    assert sorted(p["url"] for p in report["pages"] if p["role"] == "page") == [
        "http://localhost/", "http://localhost/request-a-demo/", "http://localhost/thanks/"]


def test_depth_and_max_pages(funnel, tmp_path):
    site, blog, social = funnel[3]
    result, report = audit_json(tmp_path, S, "--no-check-external", "--no-check-social", "--depth", "0",
                                *remaps(site, blog, social))
    assert [p["url"] for p in report["pages"] if p["role"] == "page"] == [S]
    result, report = audit_json(tmp_path, S, "--no-check-external", "--no-check-social", "--max-pages", "3",
                                *remaps(site, blog, social))
    assert len([p for p in report["pages"] if p["role"] == "page"]) == 3


UNREACHABLE = "http://nonexistent.invalid/"


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory):
    """One audit of a host that does not resolve: (its result, its store)."""
    db = tmp_path_factory.mktemp("unreachable") / "c.sqlite"
    return run_cli("audit", UNREACHABLE, "--db", db), db


@pytest.mark.parametrize("args, message", [
    (["http://exa mple.com/"], "malformed URL"),
    (["ftp://files.example/"], "not an http(s) URL"),
    (["no/such/dir"], "neither an http(s) URL nor an existing directory"),
    ([UNREACHABLE], "cannot reach http://nonexistent.invalid/: DNS lookup failed"),
    (["https://a.example/", "--remap", "([ x"], "--remap"),
    (["https://a.example/", "--fail-on", "severe"], "Invalid value for '--fail-on'"),
])
def test_errors_exit_2(tmp_path, args, message, request):
    if args == [UNREACHABLE]:  # the same command as test_unreachable_host_keeps_the_crawl: one audit for both
        result, _ = request.getfixturevalue("unreachable")
    else:
        result = run_cli("audit", *args, "--db", tmp_path / "c.sqlite")
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_unreadable_config_exits_2(tmp_path):
    bad = tmp_path / "funnel.toml"
    bad.write_text("site = [unclosed\n")
    result = run_cli("audit", "https://a.example/", "--config", bad, "--db", tmp_path / "c.sqlite")
    assert result.exit_code == 2
    assert result.stderr.startswith("funnelcheck: error: ") and "invalid TOML" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = run_cli("audit", "https://a.example/", "--config", tmp_path / "none.toml")
    assert result.exit_code == 2 and "config file not found" in result.stderr


def test_unreachable_host_keeps_the_crawl(unreachable):
    """An error exit still leaves the crawl in the store for later reports."""
    result, db = unreachable
    assert result.exit_code == 2
    rows = sqlite3.connect(db).execute("SELECT u.url, p.error_kind FROM pages p JOIN urls u ON u.id = p.url_id").fetchall()
    assert ("http://nonexistent.invalid/", "dns") in rows


def test_help_and_version():
    result = run_cli("--version")
    assert result.exit_code == 0 and "funnelcheck, version" in result.stdout
    result = run_cli("audit", "--help")
    assert result.exit_code == 0
    for option in ("--site", "--blog", "--social", "--conversion", "--remap", "--max-pages", "--depth",
                   "--config", "--base-url", "--format", "--output", "--fail-on", "--db"):
        assert option in result.stdout


def test_own_profiles_are_checked_even_when_not_linked(site_server, tmp_path):
    """--social profiles are fetched although no page links to them: this one (on Pinterest, a
    platform read as a page) links elsewhere."""
    srv = site_server(SITES / "clean")
    social = site_server(SITES / "funnel" / "social")
    pin = "https://www.pinterest.com/shop"
    result, report = audit_json(tmp_path, srv.url + "/", "--social", pin,
                                "--remap", rf"^https://www\.pinterest\.com/(.*) {social.url}/twitter/\1")
    assert result.exit_code == 0  # medium is below the default --fail-on high
    assert findings_set(report) == {("stranded-social", "medium", pin, None, ())}
