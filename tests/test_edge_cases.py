"""Hard cases found by review: hostile links, embeds, redirects, limits, bad targets, bad input."""
from __future__ import annotations

import io
import sqlite3

import pytest

from conftest import SITES, audit_json, findings_set, run_cli

from analysis.formats import terminal
from analysis.graph import graph_from
from analysis.report import audit
from analysis.rules.social import stranded_social, untracked_inbound
from crawler.store import Store

EDGE = SITES / "edge"
E = "https://edge.test/"


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("edge")
    return (*audit_json(tmp, EDGE / "site", "--base-url", E, "--no-check-external"), tmp / "crawls.sqlite")


def test_edge_site_findings(edge):
    result, report, _ = edge
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert findings_set(report) == {
        # A malformed URL and an ftp: link are reported, never a traceback.
        ("malformed-url", "medium", "http://[broken", None, (E,)),
        ("unsupported-scheme", "info", "ftp://files.edge.test/x", None, (E,)),
        ("redirect", "low", E + "old/", None, (E,)),
        # /new/ is reached through the /old/ redirect: not an orphan. /lonely/ is.
        ("orphan-page", "low", E + "lonely/", None, (E + "sitemap.xml",)),
    }


def test_embeds_are_not_routes_to_social(edge):
    _, report, _ = edge
    kinds = {l["target"]: l["kind"] for l in report["links"] if l["source"] == E}
    assert kinds["https://www.youtube.com/embed/abc"] == "embed"
    assert kinds["https://platform.twitter.com/widgets.js"] == "embed"
    assert not [f for f in report["findings"] if f["rule"] in ("backward-social", "social-before-offer")]


def test_owned_page_first_seen_in_link_alternate_is_crawled(edge):
    _, report, _ = edge
    pages = {p["url"]: p for p in report["pages"]}
    assert pages[E + "fr/"]["role"] == "page" and pages[E + "fr/about/"]["role"] == "page"


def test_every_target_origin_is_owned_and_crawled(tmp_path):
    result, report = audit_json(tmp_path, EDGE / "site", EDGE / "docs", "--base-url", E,
                                "--base-url", "https://docs.edge.test/", "--no-check-external", "--no-sitemaps")
    pages = {p["url"]: (p["tier"], p["role"]) for p in report["pages"]}
    assert pages["https://docs.edge.test/guide/"] == ("site", "page")
    assert report["crawl"]["options"]["site"] == [E, "https://docs.edge.test/"]


def test_target_forbidden_by_robots_is_an_error(tmp_path):
    result = run_cli("audit", EDGE / "closed", "--base-url", "https://closed.test/", "--db", tmp_path / "c.sqlite")
    assert result.exit_code == 2
    assert result.stderr == ("funnelcheck: error: cannot reach https://closed.test/: robots.txt disallows it "
                             "(--ignore-robots to crawl anyway)\n")


def test_target_answering_404_is_a_finding(site_server, tmp_path):
    srv = site_server(SITES / "clean")
    result, report = audit_json(tmp_path, srv.url + "/nope/", "--no-sitemaps")
    assert result.exit_code == 1
    assert findings_set(report) == {("broken-link", "high", srv.url + "/nope/", None, ())}


def test_partial_audit_is_said(site_server, tmp_path):
    srv = site_server(SITES / "clean")
    result, report = audit_json(tmp_path, srv.url + "/", "--max-pages", "1", "--no-sitemaps")
    assert report["summary"]["uncrawled_by_limits"] == {"depth": 0, "max_pages": 1}
    text = run_cli("report", "--db", tmp_path / "crawls.sqlite").stdout
    assert "partial audit: --max-pages left 1 page uncrawled" in text


def test_profile_linking_back_through_a_redirector():
    """youtube.com/redirect?q=... is the platform's wrapper around a link back: not stranded."""
    profile = "https://www.youtube.com/@a"
    back = "https://www.youtube.com/redirect?q=https%3A%2F%2Fa.example%2F&v=1"
    g = graph_from([{"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1},
                    {"url": profile, "role": "profile", "status": 200, "parsed": 1}],
                   [("https://a.example/", profile, "footer", "profile"), (profile, back, "main", "other")],
                   site=["https://a.example/"])
    assert list(stranded_social(g)) == []
    assert [(f.rule, f.target) for f in untracked_inbound(g)] == [("untracked-inbound", "https://a.example/")]


@pytest.mark.parametrize("toml, message", [
    ("targets = [1]\n", "targets must be a list of strings, got [1]"),
    ('targets = ["https://a.example/"]\nsite = [1]\n', "site must be a list of strings, got [1]"),
    ('targets = ["https://a.example/"]\ncheck_external = "no"\n', "check_external must be true or false"),
    ('targets = ["https://a.example/"]\ntimeout = 0\n', "--timeout must be a number > 0"),
    ('targets = ["https://a.example/"]\nconcurrency = 0\n', "--concurrency must be >= 1"),
])
def test_config_type_errors(tmp_path, toml, message):
    cfg = tmp_path / "funnel.toml"
    cfg.write_text(toml)
    result = run_cli("audit", "--config", cfg, "--db", tmp_path / "c.sqlite")
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("command", ["report", "crawls"])
def test_foreign_database_is_an_error(tmp_path, command):
    db = tmp_path / "other.sqlite"
    sqlite3.connect(db).execute("CREATE TABLE t (x)")
    result = run_cli(command, "--db", db)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"funnelcheck: error: {db} is not a funnelcheck crawl store")
    not_sqlite = tmp_path / "text.sqlite"
    not_sqlite.write_text("hello\n" * 100)
    result = run_cli(command, "--db", not_sqlite)
    assert result.exit_code == 2 and "is not a funnelcheck crawl store" in result.stderr


def test_no_color_is_honoured_on_a_terminal(monkeypatch, tmp_path):
    store = Store(tmp_path / "c.sqlite")
    cid = store.create_crawl(["https://a.example/"], {"site": ["https://a.example/"]})
    store.write_page(cid, {"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1},
                     [("https://a.example/", "https://x.com/a", "https://x.com/a", None, "a", "href", "X",
                       "header", "", 0, "profile", 3)])
    store.finish_crawl(cid, "complete")
    monkeypatch.setenv("FORCE_COLOR", "1")  # as if on a terminal
    out = io.StringIO()
    terminal.write(audit(store, cid), out)
    assert "\x1b[1;31m" in out.getvalue()  # red HIGH on a terminal...
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    terminal.write(audit(store, cid), out)
    assert "31m" not in out.getvalue()  # ...but no colour with NO_COLOR


def test_robots_and_sitemap_behind_redirects_are_followed(tmp_path):
    """robots.txt and sitemap.xml that redirect (http -> https, apex -> www) are still read."""
    M = "https://moved.test/"
    result, report = audit_json(tmp_path, EDGE / "moved", "--base-url", M)
    assert result.exit_code == 0, result.stderr
    assert findings_set(report) == {
        ("skipped-link", "info", M + "private/", None, (M,)),          # robots-real.txt disallows it
        ("orphan-page", "low", M + "unlinked/", None, (M + "sitemap.xml",)),  # as requested, before its 301
    }


def test_a_sitemap_that_fails_is_recorded(site_server, tmp_path):
    """A sitemap that times out or answers 5xx is kept in the store with its verdict (it used to
    be logged at INFO only); the crawl goes on through the links."""
    from conftest import Route

    home = '<html><head><title>Home</title></head><body><main><a href="/a/">a</a></main></body></html>'
    srv = site_server(routes={
        "/": Route(body=home), "/a/": Route(body="<html><body><main>a</main></body></html>"),
        "/robots.txt": Route(headers={"Content-Type": "text/plain"}, body="Sitemap: /broken-sitemap.xml\n"),
        "/broken-sitemap.xml": Route(500, body="oops"), "/sitemap.xml": Route(404)})
    result, report = audit_json(tmp_path, srv.url + "/")
    assert result.exit_code == 0, result.stderr
    rows = {p["url"].removeprefix(srv.url): (p["role"], p["status"], p["verdict"]) for p in report["pages"]}
    assert rows["/broken-sitemap.xml"] == ("sitemap", 500, "broken")
    assert "/sitemap.xml" not in rows  # a 404 only says there is none
    assert rows["/a/"] == ("page", 200, "ok")


def _loop_and_blocked():
    from conftest import Route

    return {
        "/loop1": Route(302, {"Location": "/loop2"}),
        "/loop2": Route(302, {"Location": "/loop1"}),
        "/blocked": Route(403, {"cf-mitigated": "challenge"}, "<html>Just a moment...</html>"),
    }


def test_target_in_a_redirect_loop_is_a_finding(site_server, tmp_path):
    srv = site_server(routes=_loop_and_blocked())
    result, report = audit_json(tmp_path, srv.url + "/loop1", "--no-sitemaps")
    assert result.exit_code == 1
    assert findings_set(report) == {("redirect-loop", "high", srv.url + "/loop1", None, ())}


def test_blocked_target_is_an_error(site_server, tmp_path):
    srv = site_server(routes=_loop_and_blocked())
    result = run_cli("audit", srv.url + "/blocked", "--no-sitemaps", "--db", tmp_path / "c.sqlite")
    assert result.exit_code == 2
    assert result.stderr == f"funnelcheck: error: cannot reach {srv.url}/blocked: blocked (Cloudflare challenge)\n"


def test_robots_of_the_public_host_apply_through_a_remap(site_server, tmp_path):
    """A copy served under /acme/ on a local server obeys https://acme.example/robots.txt."""
    (tmp_path / "acme" / "private").mkdir(parents=True)
    (tmp_path / "acme" / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    (tmp_path / "acme" / "index.html").write_text('<a href="/private/">p</a> <a href="/pricing/">p</a>')
    (tmp_path / "acme" / "private" / "index.html").write_text("<title>private</title>")
    srv = site_server(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    result, report = audit_json(out, "https://acme.example/", "--no-sitemaps",
                                "--remap", rf"^https://acme\.example/(.*) {srv.url}/acme/\1")
    assert findings_set(report) == {
        ("skipped-link", "info", "https://acme.example/private/", None, ("https://acme.example/",)),
        ("broken-link", "high", "https://acme.example/pricing/", None, ("https://acme.example/",)),
    }
    assert ("GET", "/acme/private/") not in srv.requests


def test_owned_page_behind_a_head_refusing_server_is_crawled(site_server, tmp_path):
    from conftest import Route

    pages = {"/": '<link rel="alternate" href="/feed/"><a href="/pricing/">p</a>',
             "/feed/": '<a href="/hidden/">hidden</a>', "/hidden/": "<title>hidden</title>",
             "/pricing/": "<title>pricing</title>"}

    def answer(handler):
        if handler.command == "HEAD":
            return Route(405)
        path = handler.path
        return Route(200, body=pages[path]) if path in pages else Route(404)

    srv = site_server(routes={"*": answer})
    result, report = audit_json(tmp_path, srv.url + "/", "--no-sitemaps", "--ignore-robots")
    roles = {p["url"]: p["role"] for p in report["pages"]}
    assert roles[srv.url + "/feed/"] == "page" and roles[srv.url + "/hidden/"] == "page"
    assert result.exit_code == 0 and report["findings"] == []


def test_only_own_profiles_are_judged_when_social_is_given(site_server, tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text(
        '<main><a href="/pricing/">Buy</a> Thanks to <a href="https://twitter.com/partner">@partner</a></main>')
    (tmp_path / "site" / "pricing").mkdir()
    (tmp_path / "site" / "pricing" / "index.html").write_text("<title>Pricing</title>")
    social = site_server(SITES / "funnel" / "social")
    result, report = audit_json(tmp_path, tmp_path / "site", "--base-url", "https://own.test/", "--no-check-external",
                                "--social", "https://twitter.com/shop",
                                "--remap", rf"^https://twitter\.com/(.*) {social.url}/twitter/\1")
    roles = {p["url"]: p["role"] for p in report["pages"]}
    assert "https://twitter.com/partner" not in roles           # someone else's account: a plain link
    assert roles["https://twitter.com/shop"] == "profile"       # ours: checked (X's login wall: not read)
    assert ("stranded-social", "info", "https://twitter.com/shop", None, ()) in findings_set(report)


def test_a_blog_post_with_a_signup_form_is_no_dead_end():
    post = "https://a.example/blog/p/"
    g = graph_from([{"url": post, "role": "page", "status": 200, "parsed": 1, "lead_form": 1}],
                   [(post, "https://a.example/blog/", "main", "other")], site=["https://a.example/"])
    from analysis.rules.content import dead_end

    assert list(dead_end(g)) == []


def test_piped_terminal_report_keeps_its_exit_code(edge):
    import subprocess
    import sys

    from conftest import ROOT

    db = edge[2]  # any stored crawl: the module's audit of the edge site
    # `true` exits before the report is written: every write meets a closed pipe.
    for fmt in ("terminal", "json"):
        script = (f"set -o pipefail; {sys.executable} -m cli report --db {db} "
                  f"--format {fmt} --fail-on never | true")
        proc = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True,
                              env={"PYTHONPATH": str(ROOT), "NO_COLOR": "1", "PATH": "/usr/bin:/bin"})
        assert (proc.returncode, proc.stderr) == (0, "")


def test_realistic_social_markup(tmp_path):
    """CMS-style markup: a visible rel=me icon, embedded tweets, a customer's account, share
    widgets, a hosted booking link as the offer, a follow link below a contact form, and a
    comment form that is no lead capture."""
    R = "https://real.test/"
    result, report = audit_json(tmp_path, EDGE / "real", "--base-url", R, "--no-check-external", "--no-check-social",
                                "--no-sitemaps")
    assert findings_set(report) == {
        # A visible icon with rel="me" is a follow link in the header: high, not "identity".
        ("backward-social", "high", "https://x.com/realco", "header", (R,)),
        # The same profile in the body, below the Calendly offer: medium.
        ("backward-social", "medium", "https://x.com/realco", "main", (R, R + "contact/")),
        # An embedded tweet (a <blockquote class="twitter-tweet">) is a quote on the page, its
        # links someone else's words: no finding (they were a low one per platform).
        # A customer's account is not the business's profile: low, and never fetched.
        ("backward-social", "low", "https://www.instagram.com/sam.brews/", "main", (R,)),
        # Share widgets: WhatsApp and AddToAny are shares, not profiles.
        ("backward-social", "low", "https://wa.me/", "main", (R,)),
        ("backward-social", "low", "https://www.addtoany.com/add_to/facebook", "main", (R,)),
        # A post whose only form is the comment form offers nothing.
        ("dead-end", "medium", R + "blog/", None, (R + "blog/post/",)),
        # The comment form's endpoint is checked (HEAD, then GET): a static export has none. A
        # comment form is no lead capture: low, and lead plumbing's, not a broken link as well.
        ("lead-form-target", "low", R + "wp-comments-post.php", None, (R + "blog/post/",)),
        ("backward-blog", "low", R + "blog/", "header", (R,)),
    }
    kinds = {l["target"]: l["kind"] for l in report["links"]}
    assert kinds["https://twitter.com/realco/status/123?ref_src=twsrc%5Etfw"] == "quote"
    assert kinds["https://twitter.com/hashtag/coffee"] == "quote"
    pages = {p["url"]: p for p in report["pages"]}
    assert pages[R + "blog/post/"]["lead_form"] is False and pages[R + "contact/"]["lead_form"] is True
    [comment] = [f for f in report["findings"] if f["rule"] == "lead-form-target"]
    assert comment["message"] == ("the comment form on /blog/post/ posts to /wp-comments-post.php, which answers 404: "
                                  "comments sent there are lost (a static export has no comment endpoint)")


def test_a_blog_host_given_as_a_target_stays_the_blog(site_server, tmp_path):
    site = site_server(SITES / "clean")
    blog = site_server(SITES / "funnel" / "blog")
    result, report = audit_json(tmp_path, "https://www.shop.test/", "https://blog.shop.test/", "--no-sitemaps",
                                "--no-check-external", "--no-check-social",
                                "--remap", rf"^https://www\.shop\.test/(.*) {site.url}/\1",
                                "--remap", rf"^https://blog\.shop\.test/(.*) {blog.url}/\1")
    tiers = {p["url"]: p["tier"] for p in report["pages"] if p["role"] == "page"}
    assert tiers["https://blog.shop.test/"] == "blog" and tiers["https://www.shop.test/"] == "site"


def test_two_profiles_linking_the_same_page_untagged_are_two_findings_with_two_ids():
    """`accept` takes a finding by id: two profiles' untracked-inbound findings about the same page
    must not share one, or accepting one accepts both."""
    home = "https://a.example/"
    profiles = ["https://bsky.app/profile/a.example", "https://mastodon.social/@a"]
    g = graph_from([{"url": home, "role": "page", "status": 200, "parsed": 1}]
                   + [{"url": p, "role": "profile", "status": 200, "parsed": 1} for p in profiles],
                   [(home, p, "footer", "profile") for p in profiles] + [(p, home, "main", "other") for p in profiles],
                   site=[home])
    found = list(untracked_inbound(g))
    assert [(f.target, f.sources) for f in found] == [(home, [profiles[0]]), (home, [profiles[1]])]
    assert len({f.id for f in found}) == 2


def test_fragments_a_script_reads_are_no_missing_anchors(tmp_path):
    """HubSpot's chat trigger (#hs-chat-open) and a script's filter state (#all|traceability, a
    theme's case-study filter) name no element: only the fragment that should name one is reported."""
    site = tmp_path / "site"
    (site / "demo").mkdir(parents=True)
    (site / "index.html").write_text(
        '<html><head><title>Home</title></head><body><main><a href="/demo/#hs-chat-open">chat with us</a> '
        '<a href="/demo/#all|traceability">cases</a> <a href="/demo/#tab=2">tab</a> <a href="/demo/#form">form</a> '
        '<a href="/demo/#pricing-table">prices</a></main></body></html>')
    (site / "demo" / "index.html").write_text('<html><head><title>Demo</title></head><body><div id="form">x</div>'
                                              '</body></html>')
    result, report = audit_json(tmp_path, site, "--base-url", "https://a.test/")
    assert [(f["rule"], f["target"], f["severity"]) for f in report["findings"] if f["rule"] == "missing-anchor"] == [
        ("missing-anchor", "https://a.test/demo/#pricing-table", "medium")]


def test_broken_head_plumbing_ranks_below_the_links_visitors_click(tmp_path):
    """A WordPress export's head links (humans.txt, wp-json, the favicon) 404 on every page: a link
    checker reports them, but below the page a visitor clicks into that 404s."""
    site = tmp_path / "site"
    (site / "feed").mkdir(parents=True)   # (a Simply Static export's feed: static hosts serve no index.xml)
    (site / "feed" / "index.xml").write_text('<?xml version="1.0"?><rss version="2.0"><channel/></rss>')
    (site / "index.html").write_text(
        '<html><head><title>Home</title><link rel="author" href="/humans.txt">'
        '<link rel="https://api.w.org/" href="/wp-json/"><link rel="icon" href="/favicon.png">'
        '<link rel="stylesheet" href="/app.css"><link rel="alternate" type="application/rss+xml" href="/feed">'
        '</head>'
        '<body><main><a href="/contact-us/">Contact us</a></main></body></html>')
    result, report = audit_json(tmp_path, site, "--base-url", "https://a.test/")
    assert sorted((f["target"], f["severity"], f["detail"].get("hint")) for f in report["findings"]
                  if f["rule"] == "broken-link") == [
        ("https://a.test/app.css", "high", None),
        ("https://a.test/contact-us/", "high", None),
        ("https://a.test/favicon.png", "medium", "the browser tab's icon (a <link rel=icon> in the page head)"),
        ("https://a.test/feed", "low", "only bots and feed readers follow it (a <link> in the page head)"),
        ("https://a.test/humans.txt", "low", "only bots and feed readers follow it (a <link> in the page head)"),
        ("https://a.test/wp-json/", "low", "only bots and feed readers follow it (a <link> in the page head)")]


def test_pages_whose_canonical_names_another_site_are_found(tmp_path):
    """scantrust's export holds payday-loan pages injected by a hack, each with its canonical on a
    bare IP address: one high finding names them; a canonical on the company's blog host, or on the
    page itself written with www., is fine; another site's name is medium."""
    site = tmp_path / "site"
    for folder in ("bitcoin-to-dollar", "payday-loans-ames", "post", "syndicated"):
        (site / folder).mkdir(parents=True)
    (site / "index.html").write_text('<html><head><title>Home</title><link rel="canonical" href="https://www.a.test/">'
                                     '</head><body><a href="/post/">post</a> <a href="/syndicated/">s</a></body></html>')
    for folder in ("bitcoin-to-dollar", "payday-loans-ames"):
        (site / folder / "index.html").write_text(
            f'<html><head><title>Loans</title><link rel="canonical" href="http://13.51.214.76/{folder}/"></head>'
            '<body><a href="https://cashnetusa.biz/payday-loans/">Payday Loans</a> <a href="/apply-now/">Apply</a>'
            '</body></html>')
    (site / "post" / "index.html").write_text('<html><head><title>Post</title><link rel="canonical" '
                                              'href="https://blog.a.test/post/"></head><body>x</body></html>')
    (site / "syndicated" / "index.html").write_text('<html><head><title>S</title><link rel="canonical" '
                                                    'href="https://medium.com/@a/s-123"></head><body>x</body></html>')
    result, report = audit_json(tmp_path, site, "--base-url", "https://a.test/", "--no-check-external",
                                "--no-check-social")
    found = [(f["severity"], f["target"], f["sources"], f["message"]) for f in report["findings"]
             if f["rule"] == "canonical-elsewhere"]
    assert found == [
        ("high", "http://13.51.214.76/bitcoin-to-dollar/", ["https://a.test/bitcoin-to-dollar/",
                                                            "https://a.test/payday-loans-ames/"],
         "2 pages name a page on 13.51.214.76 as their canonical address: search engines list that page instead "
         "(pages injected into the site, or copied from it?)"),
        ("medium", "https://medium.com/@a/s-123", ["https://a.test/syndicated/"],
         "1 page names a page on medium.com as its canonical address: search engines list that page instead")]
    # the injected pages' own broken link is no broken link of the company's: delete the pages
    assert [f["target"] for f in report["findings"] if f["rule"] == "broken-link"] == ["https://blog.a.test/post/"]


def test_broken_links_only_unlinked_files_hold_are_low():
    """nozzle's export ships a plugin's library demo page no page links to (nor a sitemap): its
    broken links reach no visitor: low, and said why. Another page no page links to (an error
    page, a draft: test_no_directory_listings) keeps its broken links high."""
    from analysis.graph import graph_from
    from analysis.rules import run_rules

    S = "https://a.test/"
    demo = S + "wp-content/plugins/chosen/index.html"
    page = lambda u: {"url": u, "role": "page", "status": 200, "parsed": 1}  # noqa: E731
    g = graph_from([page(S), page(demo), page(S + "404.html"), page(S + "about/"),
                    {"url": S + "wp-content/plugins/chosen/options.html", "role": "page", "status": 404},
                    {"url": S + "gone/", "role": "page", "status": 404}],
                   [(demo, S + "wp-content/plugins/chosen/options.html", "main", "other"),
                    (S + "404.html", S + "gone/", "main", "other"), (S, S + "about/", "nav", "other")],
                   site=[S], directories={S: "/srv/site"})
    assert sorted((f.severity, f.target, f.message) for f in run_rules(g) if f.rule == "broken-link") == [
        ("high", S + "gone/", f"broken link: {S}gone/ answers 404 (client error)"),
        ("low", S + "wp-content/plugins/chosen/options.html",
         f"broken link: {S}wp-content/plugins/chosen/options.html answers 404 (client error): only pages shipped "
         "inside the site's plugin or library files hold it (no page links to them; no visitor reaches them)")]
