"""Issue 19, items 2, 3 and 5: the blog found wherever it is, content dead ends, lead plumbing.

The rules are checked on graphs built from rows (each case one exact finding), and on a generated
site audited as a user would: a company site served under ``/website/`` with its news under
``/website/news/`` (no ``--blog``), posts that link nothing of the company's in their text, a demo
form whose thank-you page does not exist, a comment form posting to an endpoint a static export
does not have, and a demo page linked from one post.
"""
from __future__ import annotations

import json

import pytest

from analysis.blog import BlogScope, DetectedBlog, detect_blog
from analysis.graph import graph_from
from analysis.rules.content import content_dead_end, dead_end
from analysis.rules.offers import buried_offer, lead_form_target
from conftest import audit_json, findings_set, run_cli
from crawler.scope import Scope

# -- 5. the blog, wherever it is ---------------------------------------------------------------


def _posts(prefix: str, n: int, **signals) -> list[tuple]:
    return [(f"{prefix}post-{i}/", {"dated": True, **signals}, None) for i in range(n)]


def test_a_blog_under_a_path_prefix():
    s = "https://acme.test/website/"
    pages = [(s, {"feed": True, "posting": True}, None), (s + "about/", {"posting": True}, None),
             (s + "pricing/", {"price": True, "posting": True}, "purchase"),
             (s + "news/", {"articles": 10, "feed": True}, None), (s + "news/page/2/", {"articles": 4}, None),
             (s + "news/tags/qr/", {"articles": 3}, None)] + _posts(s + "news/", 12, posting=True)
    blog = detect_blog(pages, [s])
    assert blog.prefixes == (s + "news/",) and blog.root == s + "news/" and blog.posts == 12
    assert blog.why == ("12 dated posts under /website/news/", "a post listing at /website/news/",
                        "2 category, tag, author or archive pages")
    assert blog.line() == ("Blog: https://acme.test/website/news/ (12 dated posts under /website/news/; a post "
                           "listing at /website/news/; 2 category, tag, author or archive pages)")
    scope = BlogScope(Scope(site=(s,)), blog)
    assert [scope.tier(s + p) for p in ("news/post-3/", "news/page/2/", "news/tags/qr/", "pricing/", "")] == [
        "blog", "blog", "blog", "site", "site"]


def test_posts_at_root_level_slugs_beside_a_blog_listing():
    # a WordPress export: every page says og:type=article (posting), only posts carry a published date
    r = "https://www.scan.test/"
    pages = [(r, {}, None), (r + "blog/", {"posting": True}, None), (r + "blog/page/2/", {"posting": True}, None),
             (r + "case-studies/", {"posting": True}, None), (r + "request-a-demo/", {"posting": True}, None),
             (r + "e-label-pricing/", {"posting": True}, None), (r + "contact/", {"posting": True}, "lead"),
             (r + "category/qr-codes/", {}, None), (r + "author/jane/", {}, None), (r + "tag/wine/", {}, None)]
    pages += [(f"{r}why-qr-{i}/", {"dated": True, "posting": True}, None) for i in range(5)]
    blog = detect_blog(pages, [r])
    assert blog.prefixes == () and blog.pages == frozenset(f"{r}why-qr-{i}/" for i in range(5))
    assert blog.root == r + "blog/"
    assert blog.why == ("5 dated posts at root-level slugs, listed at /blog/", "4 category, tag, author or archive pages")
    scope = BlogScope(Scope(site=(r,)), blog)
    tiers = {u: scope.tier(u) for u, _, _ in pages}
    assert sorted(u for u, t in tiers.items() if t == "blog") == sorted(
        [r + "blog/", r + "blog/page/2/", r + "category/qr-codes/", r + "author/jane/", r + "tag/wine/"]
        + [f"{r}why-qr-{i}/" for i in range(5)])
    assert scope.blog_root(r + "why-qr-1/") == scope.blog_root(r + "tag/wine/") == r + "blog/"


def test_blog_slugs_with_categories_tags_and_authors_and_a_dated_custom_type_beside_it():
    # /blog/SLUG/ posts, /blog/categories/X/, /blog/tags/X/, /author/X/; testimonials are dated too
    # (<article><time>), and the pages carry schema.org Article with a published date: the blog is
    # where most posts are
    r = "https://nozzle.test/"
    pages = [(r, {"posting": True, "dated": True}, None), (r + "blog/", {"articles": 12}, None),
             (r + "blog/page/2/", {"articles": 12}, None), (r + "blog/categories/seo/", {"articles": 9}, None),
             (r + "blog/tags/serp/", {"articles": 9}, None), (r + "author/ann/", {"articles": 2}, None),
             (r + "author/ann/page/2/", {}, None), (r + "testimonials/", {"articles": 6}, None),
             (r + "testimonials/page/2/", {"articles": 6}, None), (r + "pricing/", {"dated": True}, "purchase")]
    pages += [(f"{r}features-{i}/", {"posting": True, "dated": True}, None) for i in range(6)]
    pages += _posts(r + "testimonials/", 8) + _posts(r + "blog/", 20, posting=True)
    blog = detect_blog(pages, [r])
    assert blog.prefixes == (r + "blog/",) and blog.posts == 20
    assert blog.why == ("20 dated posts under /blog/", "a post listing at /blog/",
                        "5 category, tag, author or archive pages")
    covered = {u for u, _, _ in pages if blog.covers(u)}
    assert r + "author/ann/" in covered and r + "author/ann/page/2/" in covered
    assert not covered & {r + "testimonials/page/2/", r + "testimonials/post-1/", r + "features-1/", r + "pricing/"}


def test_dated_paths_are_posts_and_a_date_on_every_page_is_no_blog():
    r = "https://a.test/"
    dated = [(f"{r}journal/2024/0{m}/note-{m}/", {}, None) for m in range(1, 5)]
    assert detect_blog(dated + [(r, {}, None), (r + "journal/2024/", {}, None)], [r]).prefixes == (r + "journal/",)
    # the template's published date on every page: no blog, and the report says none was found
    every = [(f"{r}p{i}/", {"dated": True, "posting": True}, None) for i in range(9)] + [(r + "blog/", {}, None)]
    blog = detect_blog(every, [r])
    assert not blog.prefixes and not blog.pages and blog.named == (r + "blog/",)
    assert blog.line() == "Blog: https://a.test/blog/ (by the folder's name)"
    assert DetectedBlog().line() == "Blog: none found (no dated posts, post markup or post listings)"
    assert DetectedBlog(given=("https://blog.a.test/",)).line() == "Blog: https://blog.a.test/ (given with --blog)"


# answer's Docusaurus export keeps each post's old dated address as a <meta refresh> stub
STUB = ('<!DOCTYPE html><html><head><meta charset="UTF-8"><meta http-equiv="refresh" content="0; url={0}">'
        '<link rel="canonical" href="{0}" /></head><script>window.location.href = \'{0}\';</script></html>')


def test_a_meta_refresh_stub_is_no_post():
    """answer: "Blog: … (108 dated posts under /blog/ …)" counted 50 stubs at dated paths
    (blog/2023/05/11/answer-1.0.9-release/ refreshes to /blog/answer-1.0.9-release): they are old
    addresses, not posts. A page refreshing to itself is no stub."""
    from crawler.extract import extract

    r = "https://answer.test/"
    old = r + "blog/2023/05/11/answer-1.0.9-release/"
    assert extract(STUB.format("/blog/answer-1.0.9-release").encode(), old).signals == {"refresh": True}
    assert extract(STUB.format(old).encode(), old).signals == {}
    posts = [(f"{r}blog/release-{i}/", {"dated": True, "posting": True}, None) for i in range(4)]
    stubs = [(f"{r}blog/2023/0{i + 1}/11/release-{i}/", {"refresh": True}, None) for i in range(5)]
    blog = detect_blog([(r, {}, None), (r + "blog/", {"articles": 4}, None), *posts, *stubs], [r])
    assert blog.line() == "Blog: https://answer.test/blog/ (4 dated posts under /blog/; a post listing at /blog/)"
    assert blog.covers(stubs[0][0])  # still the blog's address


# -- 3. content dead ends ----------------------------------------------------------------------

SITE, BLOG = "https://a.test/", "https://a.test/blog/"


def _page(url, **more):
    return {"url": url, "role": "page", "status": 200, "parsed": 1, **more}


def test_content_dead_ends_leave_the_template_out():
    p = [f"{BLOG}p{i}/" for i in range(1, 6)]
    links = [(u, SITE, "body", "other") for u in p[:4]]  # a breadcrumb outside any landmark: the template's
    links += [(p[1], SITE + "pricing/", "main", "other"),     # in the post's text
              (p[2], SITE + "about/", "body", "other"),       # outside landmarks, on one post only: its text
              (p[3], SITE, "header", "other"),
              (p[4], BLOG, "header", "other"), (p[0], p[0], "body", "other")]
    g = graph_from([_page(SITE), _page(SITE + "pricing/"), _page(SITE + "about/"), _page(BLOG)]
                   + [_page(u) for u in p], links, site=[SITE])
    [f] = content_dead_end(g)
    assert (f.rule, f.severity, f.target, f.sources) == ("content-dead-end", "medium", BLOG, [p[0], p[3]])
    assert f.message == "2 of 5 posts link to nothing of yours in their text; the template's nav is their only way on"
    assert f.detail == {"posts": 5}
    # the post with no link to the site at all is the template-level dead end, not this one; the
    # blog's index here is an empty file (no title, no link: analysis.graph.blank), no post at all
    assert [d.sources for d in dead_end(g)] == [[p[4]]]


def test_a_post_linking_only_a_broken_page_or_a_file_is_a_content_dead_end():
    p = BLOG + "p/"
    g = graph_from([_page(SITE), _page(p), {"url": SITE + "trial", "role": "page", "status": 404}],
                   [(p, SITE + "trial", "main", "other"), (p, SITE + "guide.pdf", "main", "other"),
                    (p, SITE, "nav", "other")], site=[SITE])
    g.nodes[SITE + "guide.pdf"]["role"] = "asset"
    assert [(f.message, f.sources) for f in content_dead_end(g)] == [
        ("1 of 1 post links to nothing of yours in its text; the template's nav is its only way on", [p])]


def test_an_image_a_post_shows_and_links_is_a_file_whichever_link_was_read_first():
    """hop: a post shows img/asf_logo_wide.png and links it (<a class="image">): the crawler fetched
    it once, as the link it read first asked (an asset for the <img>, a page for the <a>), and
    content-dead-end said 6 or 7 posts from one run to the next. What links to it decides its role
    (a page: a link opens it), and a file is no way on either way."""
    p, png = BLOG + "p/", SITE + "img/logo.png"
    links = [(p, png, "main", "other", "a"), (p, png, "main", "other", "img"), (p, SITE, "nav", "other")]
    seen = []
    for first in ("page", "asset"):
        g = graph_from([_page(SITE), _page(p), {"url": png, "role": first, "status": 200, "content_type": "image/png"}],
                       links, site=[SITE])
        seen.append((g.nodes[png]["role"], [(f.message, f.sources) for f in content_dead_end(g)]))
    assert seen[0] == seen[1] == ("page", [
        ("1 of 1 post links to nothing of yours in its text; the template's nav is its only way on", [p])])


# -- 2. lead plumbing --------------------------------------------------------------------------


def _form_graph(forms: dict, targets: dict):
    """Pages holding ``forms`` (url -> list of form signals); ``targets`` url -> status answered."""
    pages = [_page(u) for u in forms] + [{"url": u, "role": "page", "status": s} for u, s in targets.items()]
    links = [(u, t, "main", "other", "form") for u, fs in forms.items() for f in fs
             for t in (f.get("action"), f.get("next")) if t]
    g = graph_from(pages, links, site=[SITE])
    for u, fs in forms.items():
        g.nodes[u]["signals"] = {"forms": fs}
    return g


def _form(purpose, action=None, next=None):
    return {"purpose": purpose, "method": "post", "action": action, "next": next}


def test_a_lead_form_whose_action_or_thank_you_page_is_missing():
    demo, contact, news = SITE + "request-demo/", SITE + "contact/", [SITE + f"n{i}/" for i in range(3)]
    forms = {demo: [_form("lead", "https://forms.other.test/f", SITE + "thank-you/")],
             contact: [_form("lead", SITE + "api/contact")],                 # answers 405 to GET: takes POSTs
             **{u: [_form("newsletter", SITE + "subscribe/")] for u in news},
             SITE + "blog/p/": [_form("comment", SITE + "wp-comments-post.php")],
             SITE + "search/": [_form("search", SITE + "find/")]}             # not a lead form
    g = _form_graph(forms, {SITE + "thank-you/": 404, SITE + "api/contact": 405, SITE + "subscribe/": 410,
                            SITE + "wp-comments-post.php": 404, SITE + "find/": 404})
    found = sorted((f.severity, f.target, f.message, tuple(f.sources), f.detail["kind"]) for f in lead_form_target(g))
    assert found == [
        ("high", SITE + "subscribe/", "the newsletter signup form on 3 pages (as on /n0/) posts to /subscribe/, "
         "which answers 410: every signup it collects is lost", tuple(news), "action"),
        ("high", SITE + "thank-you/", "the demo request form on /request-demo/ sends visitors to /thank-you/ once "
         "they submit, which answers 404: every lead lands on an error page", (demo,), "next"),
        ("low", SITE + "wp-comments-post.php", "the comment form on /blog/p/ posts to /wp-comments-post.php, which "
         "answers 404: comments sent there are lost (a static export has no comment endpoint)", (SITE + "blog/p/",),
         "comment"),
    ]


def test_a_lead_form_whose_targets_exist_is_no_finding():
    demo = SITE + "demo/"
    g = _form_graph({demo: [_form("lead", SITE + "thanks/", SITE + "thanks/")]}, {SITE + "thanks/": 200})
    assert list(lead_form_target(g)) == []


# -- 2. buried offers --------------------------------------------------------------------------


def _offer_graph(n_pages: int, demo_links: int, template: bool = False):
    pages = [f"{SITE}p{i}/" for i in range(n_pages - 2)]
    rows = [_page(u) for u in [SITE, SITE + "request-demo/", *pages]]
    links = [(u, SITE, "header", "other") for u in pages]
    linking = pages if template else pages[:demo_links]
    links += [(u, SITE + "request-demo", "main", "other") for u in linking]  # redirects to /request-demo/
    links += [(SITE + "request-demo/", SITE + "request-demo/", "main", "other")]  # itself: not counted
    rows.append({"url": SITE + "request-demo", "role": "page", "status": 301, "location": SITE + "request-demo/"})
    return graph_from(rows, links, site=[SITE])


def test_an_offer_linked_from_under_five_percent_of_the_pages_is_buried():
    [f] = buried_offer(_offer_graph(60, 2))
    assert (f.rule, f.severity, f.target, f.sources) == ("buried-offer", "medium", SITE + "request-demo/",
                                                         [SITE + "p0/", SITE + "p1/"])
    assert f.message == ("the demo request page /request-demo/ is linked from 2 of 60 pages: few visitors ever "
                         "see this offer")
    assert list(buried_offer(_offer_graph(60, 3))) == []     # 3 of 60 is 5%: not few
    assert list(buried_offer(_offer_graph(60, 0, template=True))) == []
    assert list(buried_offer(_offer_graph(19, 1))) == []     # a site of 19 pages: every page is a few


def test_a_second_door_is_no_buried_offer():
    """A lead page its address does not name (an enterprise form) linked from two pages is no buried
    offer when every page's header already has a lead offer (the template's "Contact us"): only a
    second way to leave one's details (scantrust's enterprise form behind its pricing page). A demo
    request page stays buried (no demo offer is site-wide), and so does a purchase page."""
    pages = [f"{SITE}p{i}/" for i in range(57)]
    rows = [_page(u) for u in [SITE, SITE + "request-demo/", SITE + "contact/", SITE + "pricing/",
                               SITE + "enterprise-form/", *pages]]
    rows.append({"url": SITE + "request-demo", "role": "page", "status": 301, "location": SITE + "request-demo/"})
    links = [(u, SITE + "contact/", "header", "other") for u in pages]
    links += [(u, SITE + "request-demo", "main", "other") for u in pages[:2]]
    links += [(u, SITE + "pricing/", "main", "other") for u in pages[2:4]]
    links += [(u, SITE + "enterprise-form/", "main", "other") for u in pages[4:6]]
    rows[4]["lead_form"] = 1  # (a HubSpot form: a lead page by what it holds, not by its name)
    g = graph_from(rows, links, site=[SITE])
    assert [(f.target, f.message) for f in buried_offer(g)] == [
        (SITE + "pricing/", "the pricing page /pricing/ is linked from 2 of 62 pages: few visitors ever see this offer"),
        (SITE + "request-demo/", "the demo request page /request-demo/ is linked from 2 of 62 pages: few visitors ever "
         "see this offer")]


def test_offer_addresses_read_one_by_one_or_together_find_the_same(monkeypatch):
    """buried-offer reads a few offer addresses one query each, each only until its offer is
    site-wide (the header's /contact/ on every page), and many in one query: the same findings,
    the redirecting /request-demo address counted for its page either way."""
    import analysis.rules.offers as offers

    pages = [f"{SITE}p{i}/" for i in range(57)]
    rows = [_page(u) for u in [SITE, SITE + "request-demo/", SITE + "contact/", SITE + "pricing/", *pages]]
    rows.append({"url": SITE + "request-demo", "role": "page", "status": 301, "location": SITE + "request-demo/"})
    links = [(u, SITE + "contact/", "header", "other") for u in pages]
    links += [(u, SITE + "request-demo", "main", "other") for u in pages[:1]]
    links += [(u, SITE + "request-demo/", "main", "other") for u in pages[1:2]]
    links += [(u, SITE + "pricing/", "main", "other") for u in pages[2:4]]

    def found():
        return [(f.target, f.sources, f.message) for f in buried_offer(graph_from(rows, links, site=[SITE]))]
    one_by_one = found()
    monkeypatch.setattr(offers, "PER_ADDRESS_READS", 0)
    assert found() == one_by_one == [
        (SITE + "pricing/", [SITE + "p2/", SITE + "p3/"],
         "the pricing page /pricing/ is linked from 2 of 61 pages: few visitors ever see this offer"),
        (SITE + "request-demo/", [SITE + "p0/", SITE + "p1/"],
         "the demo request page /request-demo/ is linked from 2 of 61 pages: few visitors ever see this offer")]


def test_an_offer_address_that_is_a_stub_is_judged_as_the_page_it_leads_to():
    """answer: Fix first said "the contact page /contact/ is linked from 1 of 113 pages", but
    contact/index.html is a <meta refresh> to /community/support, which every page's nav links
    ("Support"): the visitor who clicks "contact" lands on a page every page links. No buried offer."""
    support = SITE + "community/support/"
    pages = [f"{SITE}p{i}/" for i in range(40)]
    rows = [_page(u) for u in [SITE, SITE + "contact/", support, *pages]]
    rows += [{"url": SITE + "contact", "role": "page", "status": 301, "location": SITE + "contact/"},
             {"url": SITE + "community/support", "role": "page", "status": 301, "location": support}]
    links = [(u, SITE + "community/support", "nav", "other") for u in [SITE, *pages]]
    links += [(pages[0], SITE + "contact", "main", "other"),  # "here for you", in one post
              (SITE + "contact/", SITE + "community/support", "head", "other", "meta")]
    g = graph_from(rows, links, site=[SITE])
    assert g.nodes[SITE + "contact/"].get("stub") == SITE + "community/support"
    assert [(f.target, f.message) for f in buried_offer(g)] == []


# -- the whole audit on a generated site -------------------------------------------------------

BASE = "https://www.acme.test/website/"
FEED = '<link rel="alternate" type="application/rss+xml" href="/website/news/feed.xml">'


def _html(title, body, head="", header=True):
    nav = ('<header><nav><a href="/website/">Home</a> <a href="/website/pricing/">Pricing</a> '
           '<a href="/website/news/">News</a> <a href="/website/contact/">Contact</a></nav></header>') if header else ""
    footer = ('<footer><a href="/website/about/">About</a> <form id="newsletter" method="post" action="/website/list/">'
              '<input type="email" name="email"><input type="hidden" name="_next" value="/website/listed/">'
              '<button>Subscribe</button></form></footer>')
    return (f"<!doctype html><html><head><title>{title}</title>{FEED}{head}</head>"
            f"<body>{nav}{body}{footer}</body></html>")


def _post(i: int, text_links: str) -> str:
    ld = json.dumps({"@context": "https://schema.org", "@type": "BlogPosting", "headline": f"Post {i}",
                     "datePublished": f"2024-03-{i + 1:02d}"})
    return _html(f"Post {i}", (
        '<div class="crumbs"><a href="/website/">Acme</a> › <a href="/website/news/">News</a></div>'
        f'<article><h1>Post {i}</h1><time datetime="2024-03-{i + 1:02d}">March {i + 1}</time>'
        f'<p>Text about labels, see <a href="https://example.org/ref">a reference</a>. {text_links}</p></article>'
        '<form id="commentform" method="post" action="/website/wp-comments-post.php"><input type="email" '
        'name="email"><textarea name="comment"></textarea><button>Post comment</button></form>'),
        head=f'<script type="application/ld+json">{ld}</script>'
             '<meta property="article:published_time" content="2024-03-01T10:00:00+00:00">')


POSTS = 16
LINKED = {0: '<a href="/website/pricing/">our plans</a>', 1: '<a href="/website/request-demo/">ask for a demo</a>',
          2: '<a href="/website/about/">who we are</a>', 3: '<a href="/website/news/post-4/">the next post</a>'}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("acme-site")
    files = {
        "index.html": _html("Acme", "<main><h1>Acme labels</h1><p>Labels that scan.</p></main>"),
        "pricing/index.html": _html("Pricing", "<main><h1>Plans</h1><p>$19/mo</p></main>"),
        "about/index.html": _html("About", "<main><h1>About Acme</h1></main>"),
        "listed/index.html": _html("Listed", "<main><p>Thanks!</p></main>"),
        "list/index.html": _html("List", "<main><p>Subscribe</p></main>"),
        "contact/index.html": _html("Contact", "<main><h1>Contact</h1><p>Write to us.</p></main>"),
        "request-demo/index.html": _html("Request a demo", (
            '<main><form id="demo-form" method="post" action="https://forms.example.org/acme">'
            '<input type="email" name="email"><input type="text" name="company">'
            '<input type="hidden" name="_next" value="https://www.acme.test/website/thank-you/">'
            "<button>Request a demo</button></form></main>")),
        "news/index.html": _html("News", "<main>" + "".join(
            f'<article><a href="/website/news/post-{i}/">Post {i}</a><time datetime="2024-03-01">Mar</time></article>'
            for i in range(8)) + '<a href="/website/news/page/2/">Older</a></main>'),
        "news/page/2/index.html": _html("News, page 2", "<main>" + "".join(
            f'<article><a href="/website/news/post-{i}/">Post {i}</a><time datetime="2024-03-01">Mar</time></article>'
            for i in range(8, POSTS)) + '<a href="/website/news/tags/labels/">Labels</a></main>'),
        "news/tags/labels/index.html": _html("Labels", "<main>" + "".join(
            f'<article><a href="/website/news/post-{i}/">Post {i}</a><time datetime="2024-03-01">Mar</time></article>'
            for i in range(4)) + "</main>"),
    }
    for i in range(POSTS):
        files[f"news/post-{i}/index.html"] = _post(i, LINKED.get(i, ""))
    for i in range(6):  # more site pages, so that one post's link to the demo is few
        files[f"solutions/s{i}/index.html"] = _html(f"Solution {i}", f"<main><h1>Solution {i}</h1></main>")
    files["index.html"] = files["index.html"].replace("</main>", "".join(
        f'<a href="/website/solutions/s{i}/">Solution {i}</a>' for i in range(6)) + "</main>")
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    db = tmp_path_factory.mktemp("acme-db")
    result, report = audit_json(db, root, "--base-url", BASE, "--no-check-external", "--no-check-social")
    report["_db"] = db / "crawls.sqlite"
    return result, report


def test_the_audit_finds_the_blog_under_the_prefix_and_says_why(generated):
    result, report = generated
    assert result.exit_code == 1, result.stderr
    s = report["summary"]
    assert s["blog"]["prefixes"] == [BASE + "news/"] and s["blog"]["posts"] == POSTS
    assert s["blog"]["why"] == ("16 dated posts under /website/news/; a post listing at /website/news/; "
                                "2 category, tag, author or archive pages")
    # 16 posts, the listing, its second page and a tag page
    assert s["pages_by_tier"]["blog"] == POSTS + 3
    terminal = run_cli("report", "--db", report["_db"])
    assert ("\nBlog: https://www.acme.test/website/news/ (16 dated posts under /website/news/; a post listing at "
            "/website/news/; 2 category, tag, author or archive pages)\n") in terminal.stdout


def test_the_audit_reports_content_dead_ends_lead_plumbing_and_the_buried_demo(generated):
    _, report = generated
    posts = [f"{BASE}news/post-{i}/" for i in range(POSTS)]
    dead = tuple(sorted(u for i, u in enumerate(posts) if i not in (0, 1, 2)))
    assert findings_set(report, {"content-dead-end", "lead-form-target", "buried-offer"}) == {
        ("content-dead-end", "medium", BASE + "news/", None, dead),
        ("lead-form-target", "high", BASE + "thank-you/", None, (BASE + "request-demo/",)),
        ("lead-form-target", "low", BASE + "wp-comments-post.php", None, tuple(sorted(posts))),
        ("buried-offer", "medium", BASE + "request-demo/", None, (posts[1],)),
    }
    messages = {f["rule"] + ":" + f["severity"]: f["message"] for f in report["findings"]
                if f["rule"] in ("content-dead-end", "lead-form-target", "buried-offer")}
    owned = report["summary"]["pages_crawled"]
    assert messages == {
        "content-dead-end:medium": f"13 of {POSTS} posts link to nothing of yours in their text; the template's nav "
                                   "is their only way on",
        "lead-form-target:high": "the demo request form on /website/request-demo/ sends visitors to "
                                 "/website/thank-you/ once they submit, which answers 404: every lead lands on an "
                                 "error page",
        "lead-form-target:low": f"the comment form on {POSTS} pages (as on /website/news/post-0/) posts to "
                                "/website/wp-comments-post.php, which answers 404: comments sent there are lost (a "
                                "static export has no comment endpoint)",
        "buried-offer:medium": f"the demo request page /website/request-demo/ is linked from 1 of {owned} pages: few "
                               "visitors ever see this offer",
    }


def test_a_lead_form_in_the_post_is_an_offer_and_the_footers_newsletter_form_is_not():
    p, q, r = BLOG + "p/", BLOG + "q/", BLOG + "r/"
    demo_sent, listed = SITE + "demo-sent/", SITE + "listed/"
    links = [(u, SITE, "nav", "other") for u in (p, q, r)]
    links += [(u, listed, "footer", "other", "form") for u in (p, q, r)]  # the template's newsletter form
    links += [(p, demo_sent, "main", "other", "form"), (r, q, "main", "other")]
    g = graph_from([_page(SITE), _page(demo_sent), _page(listed)] + [_page(u, lead_form=1) for u in (p, q, r)],
                   links, site=[SITE])
    newsletter = _form("newsletter", None, listed)
    for u in (p, q, r):
        g.nodes[u]["signals"] = {"forms": [newsletter] + ([_form("lead", demo_sent)] if u == p else [])}
    # p offers a demo form in its text; q has only the footer's form; r links q, whose form is the template's
    [f] = content_dead_end(g)
    assert f.sources == [q, r] and f.message.startswith("2 of 3 posts link to nothing of yours")


def test_a_page_holding_a_lead_form_is_an_offer_unless_every_page_holds_one():
    webinar = SITE + "webinar-labels/"
    g = graph_from([_page(SITE), _page(webinar, lead_form=1)] + [_page(f"{SITE}p{i}/") for i in range(58)],
                   [(f"{SITE}p{i}/", SITE, "header", "other") for i in range(58)] + [(SITE + "p0/", webinar, "main", "other")],
                   site=[SITE])
    assert [f.message for f in buried_offer(g)] == [
        "the offer page /webinar-labels/ is linked from 1 of 60 pages: few visitors ever see this offer"]
    every = graph_from([_page(SITE), _page(webinar, lead_form=1)] + [_page(f"{SITE}p{i}/", lead_form=1) for i in range(58)],
                       [(SITE + "p0/", webinar, "main", "other")], site=[SITE])
    assert list(buried_offer(every)) == []


def test_a_log_in_on_the_app_host_is_no_buried_offer():
    app = "https://app.a.test/"
    rows = [_page(SITE)] + [_page(f"{SITE}p{i}/") for i in range(30)]
    links = [(f"{SITE}p{i}/", SITE, "header", "other") for i in range(30)]
    links += [(SITE + "p0/", app + "login", "main", "other"), (SITE + "p0/", app + "sign-up", "main", "other")]
    g = graph_from(rows, links, site=[SITE])
    for url in (app + "login", app + "sign-up"):  # (the app host's offers, as the graph marks them)
        g.nodes[url].update(tier="app", role="external", conversion="lead", verdict="ok")
    assert [(f.target, f.message) for f in buried_offer(g)] == [
        (app + "sign-up", "the sign-up page https://app.a.test/sign-up is linked from 1 of 31 pages: few visitors "
                          "ever see this offer")]
