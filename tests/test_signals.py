"""Page signals, document order and form targets, read back from a real crawl of a real server.

The fixture company (tests/sites/leads, public host https://www.leads.test) is a WordPress /
Elementor-like site: a newsletter form in the footer posting to an endpoint that answers 405 to
anything but POST, a contact form whose thank-you page exists, a demo form posting to a form
service with a ``_next`` thank-you page that does not exist, a job application, a post with a
search and a comment form, minified one-line pages, and a mobile menu after the footer with no
``<nav>``. The server logs the method of every request it gets.
"""
from __future__ import annotations

import json
import sqlite3

import pytest

from conftest import SITES, Route, SiteServer, audit_json

S = "https://www.leads.test/"
ENDPOINT = Route(405, headers={"Allow": "POST"}, body="Method Not Allowed")


@pytest.fixture(scope="module")
def leads(tmp_path_factory):
    """One audit of the fixture company, and every (method, path) its server was asked."""
    tmp = tmp_path_factory.mktemp("leads")
    server = SiteServer(SITES / "leads", routes={
        "/subscribe/": ENDPOINT, "/wp-comments-post.php": ENDPOINT,
        "/blog/feed/": Route(200, headers={"Content-Type": "application/rss+xml"}, body="<rss version='2.0'></rss>"),
    })
    asked: list[tuple[str, str]] = []

    class Logging(server.httpd.RequestHandlerClass):
        def parse_request(self):  # every request, whatever its method (a POST has no do_POST here)
            ok = super().parse_request()
            asked.append((self.command, self.path))
            return ok

    server.httpd.RequestHandlerClass = Logging
    try:
        result, report = audit_json(tmp, S, "--no-check-external", "--no-check-social", "--no-sitemaps",
                                    "--remap", rf"^https://www\.leads\.test/(.*) {server.url}/\1")
    finally:
        server.close()
    yield result, report, tmp / "crawls.sqlite", asked


def _pages(db) -> dict[str, tuple]:
    conn = sqlite3.connect(db)
    try:
        return {url: tuple(rest) for url, *rest in conn.execute(
            "SELECT u.url, p.role, p.method, p.status, p.lead_form, p.reason, p.signals FROM pages p"
            " JOIN urls u ON u.id = p.url_id")}
    finally:
        conn.close()


def test_form_targets_are_checked_with_head_then_get_never_post(leads):
    result, _, _, asked = leads
    assert result.exit_code == 1, result.stderr
    assert {method for method, _ in asked} == {"GET", "HEAD"}
    by_path = {}
    for method, path in asked:
        by_path.setdefault(path, []).append(method)
    # the owned action endpoints and thank-you pages: HEAD first, GET when HEAD is refused
    assert {p: by_path[p] for p in ("/subscribe/", "/wp-comments-post.php", "/demo/thank-you/", "/careers/apply/",
                                    "/thanks/")} == {
        "/subscribe/": ["HEAD", "GET"], "/wp-comments-post.php": ["HEAD", "GET"],
        "/demo/thank-you/": ["HEAD", "GET"], "/careers/apply/": ["HEAD", "GET"],
        "/thanks/": ["HEAD", "GET"]}  # (an HTML thank-you page is then read as a page)


def test_a_missing_thank_you_page_is_recorded_404_and_a_405_endpoint_as_working(leads):
    _, report, db, _ = leads
    pages = _pages(db)
    assert pages[S + "demo/thank-you/"][:3] == ("form", "GET", 404)
    assert pages[S + "careers/apply/"][:3] == ("form", "GET", 404)
    endpoint = ("form", "GET", 405, 0, "405 to GET: a form's endpoint (it takes what the form sends; never submitted)",
                None)
    assert pages[S + "subscribe/"] == endpoint and pages[S + "wp-comments-post.php"] == endpoint
    assert pages[S + "thanks/"][:3] == ("page", "GET", 200)  # an HTML thank-you page is read as a page
    assert "https://formspree.io/f/xyzzy" not in pages  # someone else's form service: recorded, never fetched
    conn = sqlite3.connect(db)
    links = conn.execute(
        "SELECT s.url, k.url, tg.term, at.term FROM links l JOIN urls s ON s.id = l.source_id"
        " JOIN urls k ON k.id = l.key_id JOIN terms tg ON tg.id = l.tag JOIN terms at ON at.id = l.attr"
        " WHERE tg.term = 'form' ORDER BY s.url, l.pos").fetchall()
    conn.close()
    assert links == [
        (S, S + "subscribe/", "form", "action"),
        (S + "blog/first-post/", S, "form", "action"),
        (S + "blog/first-post/", S + "wp-comments-post.php", "form", "action"),
        (S + "blog/first-post/", S + "thanks/", "form", "next"),
        (S + "careers/", S + "careers/apply/", "form", "action"),
        (S + "contact/", S + "thanks/", "form", "action"),
        (S + "demo/", "https://formspree.io/f/xyzzy", "form", "action"),
        (S + "demo/", S + "demo/thank-you/", "form", "next"),
    ]
    # what a user sees: the missing thank-you page and job endpoint are broken links; the two
    # endpoints that take only POST are not
    broken = sorted((f["severity"], f["message"], f["sources"]) for f in report["findings"] if f["rule"] == "broken-link")
    assert broken == [
        ("high", f"broken link: {S}demo/thank-you/ answers 404 (client error): where the lead form sends its visitor",
         [S + "demo/"]),
        ("medium", f"broken link: {S}careers/apply/ answers 404 (client error): where the careers form posts",
         [S + "careers/"])]


def test_page_signals_as_stored_and_on_graph_nodes(leads):
    from analysis.graph import build_graph
    from crawler.store import Store

    _, _, db, _ = leads
    newsletter = {"purpose": "newsletter", "method": "post", "action": S + "subscribe/", "next": None}
    expected = {
        # a static page of the CMS: its Article markup and publication date are not a post's
        S: {"feed": True, "forms": [newsletter]},
        S + "about/": None, S + "team/": None, S + "thanks/": None,
        S + "pricing/": {"price": True, "buy": True},
        S + "contact/": {"forms": [{"purpose": "lead", "method": "post", "action": S + "thanks/", "next": None}]},
        S + "demo/": {"forms": [{"purpose": "lead", "method": "post", "action": "https://formspree.io/f/xyzzy",
                                 "next": S + "demo/thank-you/"}]},
        S + "careers/": {"forms": [{"purpose": "careers", "method": "post", "action": S + "careers/apply/",
                                    "next": None}]},
        S + "blog/": {"feed": True, "dated": True, "articles": 2},
        S + "blog/first-post/": {"posting": True, "dated": True, "articles": 1, "forms": [
            {"purpose": "search", "method": "get", "action": S, "next": None},
            {"purpose": "comment", "method": "post", "action": S + "wp-comments-post.php", "next": S + "thanks/"}]},
    }
    with Store(db, readonly=True) as store:
        g = build_graph(store, 1)
        got = {url: g.nodes[url].get("signals") for url in expected}
        lead_forms = {url for url, d in g.nodes(data=True) if d.get("lead_form") and d.get("role") == "page"}
    assert got == expected
    # careers, comment and search forms are no lead capture
    assert lead_forms == {S, S + "contact/", S + "demo/"}
    stored = {url: json.loads(row[5]) if row[5] else None for url, row in _pages(db).items() if url in expected}
    assert stored == expected


def test_before_the_offer_is_document_order_on_a_minified_page(leads):
    """/about/ and /team/ are one line each: on /about/ the contact offer comes first (the Twitter
    link after it is medium), on /team/ Twitter comes first (high)."""
    _, report, db, _ = leads
    [body] = [f for f in report["findings"] if f["rule"] == "backward-social" and f["region"] == "main"]
    assert body["message"] == ("page body links to social profile https://twitter.com/leadsinc on 2 pages: high on "
                               "1 page above any offer; medium on 1 page below the offer")
    assert [(loc["url"], loc["line"]) for loc in body["locations"]] == [(S + "about/", 1), (S + "team/", 1)]
    conn = sqlite3.connect(db)
    order = conn.execute(
        "SELECT s.url, k.url, l.line, l.pos FROM links l JOIN urls s ON s.id = l.source_id JOIN urls k ON k.id = l.key_id"
        " WHERE s.url IN (?, ?) ORDER BY s.url, l.pos", (S + "about/", S + "team/")).fetchall()
    conn.close()
    assert order == [
        (S + "about/", S, 1, 0), (S + "about/", S + "contact/", 1, 1), (S + "about/", "https://twitter.com/leadsinc", 1, 2),
        (S + "team/", S, 1, 0), (S + "team/", "https://twitter.com/leadsinc", 1, 1), (S + "team/", S + "contact/", 1, 2)]


def test_an_elementor_mobile_menu_after_the_footer_is_nav(leads):
    _, report, db, _ = leads
    conn = sqlite3.connect(db)
    regions = conn.execute(
        "SELECT k.url, rg.term FROM links l JOIN urls s ON s.id = l.source_id JOIN urls k ON k.id = l.key_id"
        " LEFT JOIN terms rg ON rg.id = l.region WHERE s.url = ? ORDER BY l.pos", (S,)).fetchall()
    conn.close()
    assert regions == [
        (S + "blog/feed/", "head"),
        (S + "pricing/", "header"), (S + "blog/", "header"),  # elementor-location-header
        (S + "about/", "body"), (S + "team/", "body"), (S + "contact/", "body"),
        (S + "subscribe/", "footer"), (S + "careers/", "footer"),  # elementor-location-footer
        (S + "demo/", "nav"), ("https://twitter.com/leadsinc", "nav"),  # the popup's mobile menu, after the footer
    ]
    [nav] = [f for f in report["findings"] if f["rule"] == "backward-social" and f["region"] == "nav"]
    assert (nav["severity"], nav["sources"]) == ("high", [S])
