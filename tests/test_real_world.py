"""One regression fixture per class of problem seen on real built websites (issue 7).

Each fixture in ``tests/sites/realworld/`` is a tiny site that reproduces one class; each
test audits it as a user would (the real CLI, a real directory server or real local
servers) and asserts the exact findings.
"""
from __future__ import annotations

import socket

import pytest

from conftest import SITES, Route, audit_json, findings_set

from crawler.extract import extract

RW = SITES / "realworld"
NO_FETCH = ("--no-check-external", "--no-check-social")


def audit_dir(tmp_path, name: str, base: str, *args):
    result, report = audit_json(tmp_path, RW / name, "--base-url", base, *args)
    assert result.exit_code in (0, 1), result.stderr
    return result, report


def page_urls(report) -> list[str]:
    return sorted(p["url"] for p in report["pages"] if p["role"] == "page" and p["status"] == 200)


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- 1. one page, one node --------------------------------------------------------------------
def test_scheme_www_and_index_forms_are_one_page(tmp_path):
    A = "https://acme.test/"
    _, report = audit_dir(tmp_path, "variants", A, *NO_FETCH)
    # http://, www., about/index.html, /about/ and a sitemap's index.htm form: five pages, once each.
    assert page_urls(report) == [A, A + "about/", A + "docs/", A + "pricing/", A + "team/"]
    assert report["summary"]["pages_crawled"] == 5
    assert findings_set(report) == {
        ("insecure-link", "low", A, None, (A,)),
    }
    insecure = report["findings"][0]
    assert insecure["detail"] == {"links": 2, "examples": ["http://acme.test/about/", "http://www.acme.test/pricing/"]}
    assert [loc["line"] for loc in insecure["locations"]] == [4, 8]
    # The sitemap listed docs/index.htm: its links still stand on the node the others link to.
    assert {(l["target"], l["line"]) for l in report["links"] if l["source"] == A + "docs/"} == {
        (A + "style.css", 2), (A + "docs/", 3), (A + "about/", 4)}
    # The home page's link to its style sheet is read before the docs page's <link>: the image the
    # sheet loads is checked all the same (it was not when a link, not a <link>, named it first).
    assert [(l["source"], l["tag"]) for l in report["links"] if l["target"] == A + "img/bg.svg"] == [
        (A + "style.css", "css")]
    assert {p["url"]: (p["role"], p["status"]) for p in report["pages"] if p["url"].startswith((A + "img/", A + "style"))} == {
        A + "style.css": ("asset", 200), A + "img/bg.svg": ("asset", 200)}
    links_to_about = [l for l in report["links"] if l["source"] == A and "about" in l["target"]]
    assert len(links_to_about) == 4
    # Only a link's index form (and a tracking parameter) names team/: the page is read under its one
    # name all the same, so its links to itself are written the same in every crawl, whichever of
    # its names a crawl happened to read first.
    assert {(l["target"], l["fragment"]) for l in report["links"] if l["source"] == A + "team/"} == {
        (A + "team/", "people"), (A + "team/?utm_source=team", None)}


def test_a_target_that_redirects_to_its_www_form_renames_the_site(tmp_path, site_server):
    site = site_server(RW / "variants")
    apex = site_server(routes={"*": lambda h: Route(301, {"Location": "https://www.acme.test" + h.path})})
    W = "https://www.acme.test/"
    result, report = audit_json(tmp_path, "https://acme.test/", *NO_FETCH,
                                "--remap", rf"^https?://acme\.test/(.*) {apex.url}/\1",
                                "--remap", rf"^https?://www\.acme\.test/(.*) {site.url}/\1")
    assert result.exit_code == 0, result.stderr
    assert page_urls(report) == [W, W + "about/", W + "docs/", W + "pricing/", W + "team/"]
    hop = [p for p in report["pages"] if p["url"] == "https://acme.test/"]
    assert [(p["status"], p["final_url"]) for p in hop] == [(301, W)]
    # Nothing but the target itself (and its robots.txt) was asked of the apex host.
    assert {path for method, path in apex.requests} <= {"/", "/robots.txt"}
    # (team/ under its one name, though the only link to it wrote team/index.html?utm_source=nav)
    assert sorted(path for method, path in site.requests if method == "GET" and "." not in path) == [
        "/", "/about/", "/docs/", "/pricing/", "/team/"]
    assert findings_set(report) == {("insecure-link", "low", W, None, (W,))}


# -- 2. parse as a browser does -----------------------------------------------------------------
def test_unclosed_div_keeps_the_footer_and_deep_nesting_loses_no_link(tmp_path):
    P = "https://parser.test/"
    _, report = audit_dir(tmp_path, "parser", P, *NO_FETCH)
    T = "https://twitter.com/parsetest"
    assert findings_set(report) == {
        # The footer icon stays in the footer (medium on the page that offers pricing, not a body
        # link), and 300 unclosed <div>s lose neither the footer, its broken link nor its social link.
        ("backward-social", "high", T, "footer", (P, P + "deep.html")),
        ("broken-link", "high", P + "missing/", None, (P + "deep.html",)),
        ("social-before-offer", "medium", T, "footer", (P + "deep.html",)),
    }
    footer = next(f for f in report["findings"] if f["rule"] == "backward-social")
    assert footer["detail"]["pages_by_severity"] == {"medium": [P], "high": [P + "deep.html"]}
    lines = {(l["source"], l["target"]): l["line"] for l in report["links"]}
    assert lines[(P + "deep.html", P + "missing/")] == 5 and lines[(P, T)] == 6


def test_lines_survive_the_tree_builder_moving_elements():
    # Foster parenting moves the <a> before the table; the <a> left open in a closed <p> is
    # reconstructed after it (a browser shows both): each keeps the line it was written on.
    facts = extract(b"<table>\n<a href=/moved>m</a>\n<tr><td>x</td></tr></table>\n<p><b>\n<a href=/b>b</p>\n</b>",
                    "https://a.example/")
    assert [(l.url, l.line) for l in facts.links] == [("https://a.example/moved", 2), ("https://a.example/b", 5),
                                                      ("https://a.example/b", 5)]


# -- 3. regions, refined ----------------------------------------------------------------------------
def test_aside_in_article_is_body_and_article_in_footer_is_footer(tmp_path):
    R = "https://regions.test/"
    _, report = audit_dir(tmp_path, "regions", R, *NO_FETCH)
    assert findings_set(report) == {
        ("backward-social", "medium", "https://twitter.com/regiontest", "footer", (R,)),
        # A guest's bio in the post: body content, someone else's account.
        ("backward-social", "low", "https://twitter.com/guestauthor", "main", (R,)),
    }


# -- 4. whose profile -------------------------------------------------------------------------------
def test_brand_handles_are_own_profiles_wherever_linked(tmp_path):
    B = "https://profiles.test/"
    _, report = audit_dir(tmp_path, "profiles", "https://brandco.test/", *NO_FETCH)
    B = "https://brandco.test/"
    assert findings_set(report) == {
        ("backward-social", "high", "https://x.com/BrandCo", "header", (B,)),
        # "Follow our workshop on Instagram": the brand's account, in an about page's body.
        ("backward-social", "high", "https://www.instagram.com/brandco/", "main", (B + "about/",)),
        ("backward-social", "high", "https://www.youtube.com/@BrandCo", "main", (B + "about/",)),
        ("backward-social", "low", "https://twitter.com/janedoe", "main", (B + "about/",)),
        ("social-before-offer", "medium", "https://www.instagram.com/brandco/", "main", (B + "about/",)),
    }


def test_social_option_matches_any_case_scheme_www_and_alias(tmp_path):
    B = "https://brandco.test/"
    _, report = audit_dir(tmp_path, "profiles", B, *NO_FETCH, "--social", "http://www.twitter.com/brandco")
    own = {f["target"] for f in report["findings"] if f["rule"] == "backward-social" and f["severity"] == "high"}
    # With --social only the listed account is the business's: x.com/BrandCo is it.
    assert own == {"https://x.com/BrandCo"}


# -- 5. what is an offer ----------------------------------------------------------------------------
def test_stylesheet_names_are_no_offer_and_form_actions_are(tmp_path):
    O = "https://offers.test/"
    T = "https://twitter.com/offertest"
    _, report = audit_dir(tmp_path, "offers", O, *NO_FETCH)
    assert findings_set(report) == {
        # /css/book.min.3f2a9c.css does not make the home page "offer a booking" (high there), and
        # a form posting to /subscribe/ is an offer: the footer icon below it is medium.
        ("backward-social", "high", T, "footer", (O, O + "updates/")),
        ("social-before-offer", "medium", T, "footer", (O,)),
        # the form's action is checked (HEAD, then GET; never POSTed): nothing answers there
        ("broken-link", "high", O + "subscribe/", None, (O + "updates/",)),
    }
    footer = next(f for f in report["findings"] if f["rule"] == "backward-social")
    assert footer["detail"]["pages_by_severity"] == {"high": [O], "medium": [O + "updates/"]}
    [action] = [p for p in report["pages"] if p["url"] == O + "subscribe/"]
    assert (action["role"], action["status"]) == ("form", 404)
    assert [(l["tag"], l["attr"]) for l in report["links"] if l["target"] == O + "subscribe/"] == [("form", "action")]


# -- 6. fragments -------------------------------------------------------------------------------------
def test_fragments_through_redirects_and_meta_refresh_and_text_fragments(tmp_path):
    F = "https://fragments.test/"
    _, report = audit_dir(tmp_path, "fragments", F, *NO_FETCH)
    assert findings_set(report) == {
        ("missing-anchor", "medium", F + "guide/#missing", None, (F,)),
        ("missing-anchor", "medium", F + "old/#intro", None, (F,)),
        ("missing-anchor", "medium", F + "new#nope", None, (F,)),
        ("redirect", "low", F, None, (F,)),  # /new -> /new/: the trailing-slash group
        # /new/ has #setup, but /old/ gets there by a <meta refresh>, which drops the fragment
        # (the 301 of /new#setup keeps it: no finding)
        ("missing-anchor", "low", F + "old/#setup", None, (F,)),
        ("redirect", "low", F + "old/", None, (F,)),  # /old/ is a <meta refresh> stub: link /new/
    }
    messages = {f["target"]: f["message"] for f in report["findings"]}
    assert messages[F + "old/#intro"] == f"no element with id or name 'intro' on {F}new/ (the page {F}old/ leads to)"
    assert messages[F + "new#nope"] == f"no element with id or name 'nope' on {F}new/ (the page {F}new leads to)"
    lost = next(f for f in report["findings"] if f["target"] == F + "old/#setup")
    assert lost["message"] == (f"the fragment #setup is lost through the refresh stub at {F}old/; link the final page "
                               f"{F}new/#setup")
    assert [(loc["url"], loc["line"]) for loc in lost["locations"]] == [(F, 9)]
    assert lost["detail"] == {"page": F + "new/", "stub": F + "old/", "kind": "refresh-stub"}


# -- 7. links in CSS ----------------------------------------------------------------------------------
def test_css_urls_are_links(tmp_path):
    C = "https://css.test/"
    _, report = audit_dir(tmp_path, "css", C, *NO_FETCH)
    assert findings_set(report) == {
        ("broken-link", "high", C + "img/hero-missing.jpg", None, (C,)),   # style attribute
        ("broken-link", "high", C + "img/gone.png", None, (C,)),           # <style> block
        ("broken-link", "high", C + "fonts/missing.woff2", None, (C + "css/site.css",)),  # stylesheet
    }
    css = {(l["source"], l["target"], l["line"]) for l in report["links"] if l["tag"] == "css"}
    assert css == {(C, C + "img/ok.png", 5), (C, C + "img/gone.png", 6), (C, C + "img/hero-missing.jpg", 9),
                   (C + "css/site.css", C + "css/base.css", 1), (C + "css/site.css", C + "fonts/missing.woff2", 2),
                   (C + "css/site.css", C + "img/ok.png", 3)}


def test_images_only_a_stylesheet_names_are_its_missing_backgrounds(tmp_path):
    """style.css names seven images that do not exist and no page uses: one finding for the
    stylesheet, at a broken asset's severity, saying what they are (not a missing section);
    team.jpg, which a page shows too, is a broken link of its own."""
    S = "https://sheet.test/"
    css = S + "assets/css/style.css"
    _, report = audit_dir(tmp_path, "stylesheet", S, *NO_FETCH)
    assert findings_set(report) == {
        ("broken-link", "high", css, None, (css,)),
        ("broken-link", "high", S + "assets/img/team.jpg", None, (S, css)),
    }
    sheet = next(f for f in report["findings"] if f["target"] == css)
    assert sheet["message"] == (f"{css} names 7 images that do not exist (each answers 404) in /assets/img/: "
                                "bg-1.png, bg-2.png, bg-3.png, corner.gif, dots.svg and 2 more")
    assert [loc["line"] for loc in sheet["locations"]] == [1, 2, 3, 4, 5, 6, 7]
    assert sheet["detail"]["kind"] == "stylesheet" and sheet["detail"]["targets"] == [
        S + "assets/img/" + name for name in
        ("bg-1.png", "bg-2.png", "bg-3.png", "corner.gif", "dots.svg", "hero.jpg", "wave.webp")]


# -- 8. directory targets are served like a static host -------------------------------------------
def test_no_directory_listings(tmp_path):
    """drafts/ has no index.html: it answers 404, no listing. Its file is read all the same (a
    directory audit reads every file), and no page links to it."""
    S = "https://static.test/"
    _, report = audit_dir(tmp_path, "static", S, *NO_FETCH)
    secret = S + "drafts/secret.html"
    assert findings_set(report) == {
        ("broken-link", "high", S + "drafts/", None, (S,)),
        ("orphan-page", "low", secret, None, (secret,)),
        ("broken-link", "high", S + "never-linked-anywhere/", None, (secret,)),
    }
    assert sorted((p["url"], p["status"]) for p in report["pages"] if "drafts" in p["url"]) == [
        (S + "drafts/", 404), (secret, 200)]


def test_a_folder_without_index_html_is_read_file_by_file(tmp_path):
    """No index.html (a folder of pages): every HTML file is crawled at the URL its static host
    serves it at, once; notes.html, which no page links to, is an orphan, and its broken link is found.
    The folder's own URL answers 404 as on the host, and is no finding: no page links to it."""
    D = "https://docs.test/"
    result, report = audit_dir(tmp_path, "folder", D, *NO_FETCH)
    assert result.exit_code == 1
    # guide/q&a.html is one page: the file's URL is the one the link writes (not q%26a.html)
    assert page_urls(report) == [D + "guide/q&a.html", D + "guide/setup.html", D + "notes.html", D + "start.html"]
    assert findings_set(report) == {
        ("orphan-page", "low", D + "notes.html", None, (D + "notes.html",)),
        ("broken-link", "high", D + "guide/removed.html", None, (D + "notes.html",)),
    }
    orphan = next(f for f in report["findings"] if f["rule"] == "orphan-page")
    assert orphan["message"] == f"{D}notes.html is a file in the audited folder, but no page links to it"
    broken = next(f for f in report["findings"] if f["rule"] == "broken-link")
    assert [(loc["url"], loc["line"]) for loc in broken["locations"]] == [(D + "notes.html", 3)]
    assert [(p["url"], p["status"]) for p in report["pages"] if p["url"] == D] == [(D, 404)]


@pytest.mark.parametrize("files", [{}, {"style.css": "p{}", "img/a.png": "x"}], ids=["empty", "no-html"])
def test_a_directory_without_html_is_an_error(tmp_path, cli, files):
    site = tmp_path / "site"
    site.mkdir()
    for name, text in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    result = cli("audit", site, "--db", tmp_path / "c.sqlite")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"funnelcheck: error: TARGET {str(site)!r} holds no HTML page (no .html or .htm " \
                                    "file): nothing to audit"
    assert not (tmp_path / "c.sqlite").exists()


# -- 9. say what is wrong with a URL ----------------------------------------------------------------
def test_typos_in_urls_are_named(tmp_path):
    T = "https://typos.test/"
    _, report = audit_dir(tmp_path, "typos", T, *NO_FETCH)
    assert findings_set(report) == {
        ("broken-link", "high", T + "www.example.com", None, (T,)),
        ("broken-link", "high", T + "example.org/page", None, (T,)),
        ("broken-link", "high", T + "info@typo.test", None, (T,)),
        ("malformed-url", "medium", "http:/x", None, (T,)),
        ("malformed-url", "medium", "http://", None, (T,)),
        ("malformed-url", "medium", "http://[oops/", None, (T,)),
        ("unsupported-scheme", "info", "ftp://files.typo.test/a.zip", None, (T,)),
    }
    hints = {f["target"]: f["detail"].get("hint") for f in report["findings"] if f["rule"] == "broken-link"}
    assert hints == {T + "www.example.com": "did you mean https://www.example.com/?",
                     T + "example.org/page": "did you mean https://example.org/page?",
                     T + "info@typo.test": "an e-mail address without mailto: (write mailto:info@typo.test)"}


# -- 10. no network, no false alarms -----------------------------------------------------------------
def test_offline_machine_gives_no_broken_external_links(tmp_path):
    N = "https://offline.test/"
    port = closed_port()
    result, report = audit_dir(tmp_path, "offline", N, "--remap", rf"^https?://(?!offline\.test/)[^/]+/.* "
                               rf"http://127.0.0.1:{port}/")
    assert result.exit_code == 1  # the header icon is high; nothing is broken
    message = "external links not checked: no network — 4 of 4 hosts failed (connection refused)"
    assert result.stderr.strip() == f"funnelcheck: warning: {message}"
    assert report["summary"]["network"]["message"] == message
    assert findings_set(report) == {
        ("backward-social", "high", "https://twitter.com/offlinetest", "footer", (N,)),
        ("social-before-offer", "medium", "https://twitter.com/offlinetest", "footer", (N,)),
        ("stranded-social", "info", "https://twitter.com/offlinetest", None, (N,)),
        ("backward-blog", "low", "https://blog.offline.test/", "main", (N,)),
    }  # (the company's own blog host is unreachable offline too: not checked, not broken)
    verdicts = {p["url"]: (p["verdict"], p["label"]) for p in report["pages"] if p["role"] == "external"}
    assert set(verdicts.values()) == {("unverified", "not checked: no network")}
    # One at a time: after the first of docs.python.org's links got no answer twice (a retry),
    # the others are not asked.
    result, report = audit_dir(tmp_path, "offline", N, "--concurrency", "1", "--no-check-social", "--remap",
                               rf"^https?://(?!offline\.test/)[^/]+/.* http://127.0.0.1:{port}/")
    python = sorted(p["reason"] for p in report["pages"] if p["url"].startswith("https://docs.python.org/"))
    again = "connection refused (the host gave no answer to earlier links; not asked again)"
    # which link's attempt comes second depends on timing (a retry, or the next link)
    assert python in (["connection refused"] + [again] * 2, [again] * 3), python


def test_one_failing_host_among_working_ones_is_broken(tmp_path, site_server):
    up = site_server(routes={"*": Route(200, body="ok")})
    port = closed_port()
    N = "https://offline.test/"
    result, report = audit_dir(tmp_path, "offline", N, "--no-check-social",
                               "--remap", rf"^https://docs\.python\.org/(.*) http://127.0.0.1:{port}/\1",
                               "--remap", rf"^https?://(?!offline\.test/)[^/]+/(.*) {up.url}/\1")
    assert report["summary"]["network"] is None and result.stderr == ""
    assert ("broken-link", "medium", "https://docs.python.org/3/", None, (N,)) in findings_set(report)


# -- found auditing the real sites --------------------------------------------------------------------
def test_meta_refresh_stubs_are_redirects_and_sitemaps_stand_behind_pages(tmp_path):
    S = "https://stubs.test/"
    _, report = audit_dir(tmp_path, "stubs", S, *NO_FETCH)
    # /contact/ only refreshes to /support: a redirect, not a page, and not an offer by its name.
    assert report["summary"]["pages_crawled"] == 3 and report["summary"]["pages_by_tier"] == {"blog": 1, "site": 2}
    assert findings_set(report) == {
        ("backward-social", "high", "https://twitter.com/stubstest", "footer", (S,)),
        ("social-before-offer", "medium", "https://twitter.com/stubstest", "footer", (S,)),
        # /blog without its slash is the blog
        ("backward-blog", "low", S + "blog/", "nav", (S,)),
        # /support and /blog only lack their slash: one finding; the sitemap and the stub list them
        # too, but the page that links them is where they stand
        ("redirect", "low", S, None, (S,)),
        # the nav's /contact/ only refreshes to /support: link /support/ itself
        ("redirect", "low", S + "contact/", None, (S,)),
        # href="###" is a placeholder, no missing anchor
    }
    stub = next(f for f in report["findings"] if f["target"] == S + "contact/")
    assert stub["message"] == (f"{S}contact/ is a <meta refresh> stub that sends visitors on to {S}support/, linked "
                               "from 1 page: link the page it leads to")
    slash = next(f for f in report["findings"] if f["rule"] == "redirect" and f["target"] == S)
    assert slash["detail"]["redirects"] == [{"url": S + "blog", "final_url": S + "blog/"},
                                            {"url": S + "support", "final_url": S + "support/"}]


@pytest.mark.parametrize("url, platform, kind", [
    ("https://www.youtube.com/ApacheHop", "youtube", "profile"),      # a legacy channel URL
    ("https://www.youtube.com/watch?v=x", "youtube", "content"),
    ("https://engineering.fb.com/2024/post/", None, "other"),         # not the platform itself
    ("https://developers.facebook.com/developercircles/", None, "other"),
    ("https://uk.linkedin.com/in/someone", "linkedin", "profile"),
    ("https://m.facebook.com/acme", "facebook", "profile"),
])
def test_platform_hosts_and_profile_paths(url, platform, kind):
    from crawler.scope import Scope

    s = Scope()
    assert (getattr(s.platform(url), "name", None), s.link_kind(url)) == (platform, kind)


def test_brand_words_in_handles_and_subdomain_brands():
    from crawler.scope import Scope

    s = Scope(site=("https://hop.apache.org/",))
    assert [s.is_brand_profile(u) for u in ("https://twitter.com/ApacheHop", "https://www.linkedin.com/company/hop-project",
                                            "https://twitter.com/janedoe")] == [True, True, False]
    # the shared domain's name alone is the umbrella's: answer's team page lists a committer's
    # github.com/clr-apache among 90 contributors; couchdb's "Git Mirrors" links the ASF's github.com/apache
    s = Scope(site=("https://answer.apache.org/",))
    assert [s.is_brand_profile(u) for u in ("https://github.com/clr-apache", "https://github.com/apache",
                                            "https://twitter.com/ApacheAnswer", "https://github.com/answer-dev")] == [
        False, False, True, True]
    # a function's sub-domain is the domain's business: docs.acme.example's brand is acme
    s = Scope(site=("https://docs.acme.example/",))
    assert [s.is_brand_profile(u) for u in ("https://x.com/acme_hq", "https://x.com/docs")] == [True, False]


def test_icon_font_links_and_double_slashes():
    facts = extract(b'<nav><a class="nav-link bi bi-twitter-x" href="https://x.com/a"></a></nav>'
                    b'<a href="(https://b.example/)">x</a><a href="13//post/">p</a>', "https://a.example/blog/p")
    assert [(l.url, l.icon) for l in facts.links] == [
        ("https://x.com/a", True), ("https://a.example/blog/(https://b.example/)", False),
        ("https://a.example/blog/13//post/", False)]


# -- found by a new user's trial ----------------------------------------------------------------------
def test_a_login_form_is_no_lead_capture():
    for form in ('<form action="/session"><input type="email" name="email"><input type="password"></form>',
                 '<form action="/users/sign_in"><input type="email" name="user[email]"></form>'):
        assert extract(form.encode(), "https://a.example/").lead_form is False
    assert extract(b'<form action="/join"><input type="email" name="email"></form>', "https://a.example/").lead_form


def test_one_account_however_spelled_is_one_template_row():
    from analysis.graph import graph_from
    from analysis.rules.social import backward_social, social_before_offer

    pages = [{"url": f"https://a.example/p{i}/", "role": "page", "status": 200, "parsed": 1} for i in range(4)]
    spellings = ["https://x.com/AcmeCo", "https://twitter.com/acmeco", "http://www.twitter.com/ACMECO/",
                 "https://mobile.twitter.com/acmeco"]
    g = graph_from(pages, [(p["url"], t, "header", "profile") for p, t in zip(pages, spellings)],
                   site=["https://a.example/"])
    [row] = social_before_offer(g)
    assert (row.target, row.count) == ("https://x.com/AcmeCo", 4)
    [icon] = backward_social(g)
    assert (icon.target, icon.count) == ("https://x.com/AcmeCo", 4)
