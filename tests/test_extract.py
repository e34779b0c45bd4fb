"""Page extraction, URL normalisation and tier classification: pure functions, no server."""
from __future__ import annotations

import itertools
import re

import pytest

import crawler.urls
from crawler.scope import Scope
from crawler.extract import _srcset, extract
from crawler.urls import Remapper, URLError, _remove_dot_segments, dedupe_key, has_tracking, normalize, resolve

PAGE = b"""<!doctype html>
<html><head><title>T</title><link rel="stylesheet" href="/s.css"></head>
<body>
<div id="masthead"><a href="/a">A</a></div>
<div role="navigation"><a href="/b">B</a></div>
<div class="site-footer"><nav><a href="/c">C</a></nav></div>
<aside><a href="/d">D</a></aside>
<div class="entry-content"><a href="/e">E</a></div>
<footer><a href="https://x.com/acme"><i class="icon-x"></i></a></footer>
<p><a href="/f">F</a></p>
</body></html>
"""


def test_regions_from_tags_roles_and_class_names():
    facts = extract(PAGE, "https://acme.example/")
    regions = {l.url: l.region for l in facts.links}
    assert regions == {
        "https://acme.example/s.css": "head",
        "https://acme.example/a": "header",      # id="masthead"
        "https://acme.example/b": "nav",         # role=navigation
        "https://acme.example/c": "footer",      # a nav inside a (class-named) footer is still the footer
        "https://acme.example/d": "aside",
        "https://acme.example/e": "main",        # class="entry-content"
        "https://x.com/acme": "footer",
        "https://acme.example/f": "body",
    }


def test_icon_only_links_and_lines():
    facts = extract(PAGE, "https://acme.example/")
    (x,) = [l for l in facts.links if "x.com" in l.url]
    assert x.icon and x.text == "" and x.line == 9
    (f,) = [l for l in facts.links if l.url.endswith("/f")]
    assert not f.icon and f.text == "F" and f.line == 10


def test_base_href_and_every_link_kind():
    html = b"""<html><head><base href="https://cdn.acme.example/x/">
    <meta http-equiv="refresh" content="5; URL='/moved'">
    <script type="application/ld+json">{"@type": "Organization", "sameAs": ["https://twitter.com/acme"]}</script>
    </head><body><img src="a.png" srcset="b.png 2x, c.png 3x"><iframe src="f.html"></iframe>
    <video src="v.mp4" poster="p.jpg"></video><object data="o.svg"></object><area href="m.html">
    <a href="mailto:hi@acme.example">mail</a><a href="javascript:void(0)">js</a></body></html>"""
    facts = extract(html, "https://acme.example/page")
    got = {(l.tag, l.attr, l.url) for l in facts.links}
    assert ("meta", "content", "https://cdn.acme.example/moved") in got
    assert ("script", "sameAs", "https://twitter.com/acme") in got
    assert {("img", "src", "https://cdn.acme.example/x/a.png"), ("img", "srcset", "https://cdn.acme.example/x/b.png"),
            ("img", "srcset", "https://cdn.acme.example/x/c.png")} <= got
    assert ("iframe", "src", "https://cdn.acme.example/x/f.html") in got
    assert ("video", "poster", "https://cdn.acme.example/x/p.jpg") in got
    assert ("object", "data", "https://cdn.acme.example/x/o.svg") in got
    assert ("area", "href", "https://cdn.acme.example/x/m.html") in got
    assert ("a", "href", "mailto:hi@acme.example") in got
    assert [l.sameas for l in facts.links if l.attr == "sameAs"] == [True]


def test_lead_form_and_anchors():
    facts = extract(b'<form><input type="email" name="e"></form><h2 id="x">X</h2><a name="y"></a>',
                    "https://a.example/")
    assert facts.lead_form and facts.anchors == ["x", "y"]
    assert not extract(b'<form><input type="search"></form>', "https://a.example/").lead_form


@pytest.mark.parametrize("body", [b"", b"\x00\xff\xfe<<<", b"<html>" * 10000, b"<a href='http://[::1'>x</a>",
                                  "<p>caf\u00e9 <a href='/\u00e9t\u00e9'>x</a>".encode("latin-1")])
def test_hostile_html_never_raises(body):
    facts = extract(body, "https://a.example/")
    assert isinstance(facts.links, list)


# An XHTML page whose link sits on line 6 (the XML declaration is line 1).
XHTML = """<?xml version="1.0" encoding="{enc}"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head><meta http-equiv="Content-Type" content="text/html; charset={enc}" /><title>{word}</title></head>
<body>
<p><a href="/{word}/">{word} {word}</a></p>
</body></html>
"""


def test_euc_jp_xhtml_keeps_text_and_line():
    # Scrapy gives Python's codec name, which libxml2 does not know: lxml raised LookupError,
    # then the BeautifulSoup fallback raised ValueError on the XML declaration.
    body = XHTML.format(enc="EUC-JP", word="会社").encode("euc_jp")
    facts = extract(body, "https://acme.example/", "euc_jp")
    assert facts.title == "会社"
    assert [(l.url, l.text, l.line, l.region) for l in facts.links] == [
        ("https://acme.example/会社/", "会社 会社", 6, "body")]


@pytest.mark.parametrize("encoding, codec, word, bom", [
    ("EUC-JP", "euc_jp", "会社", b""),
    ("ISO-2022-JP", "iso2022_jp", "会社", b""),
    ("macintosh", "mac-roman", "Café", b""),
    ("macintosh", "mac_roman", "Café", b""),
    ("UTF-8", "utf-8-sig", "Café", b"\xef\xbb\xbf"),
    ("UTF-8", "utf-8", "Café", b"\xef\xbb\xbf"),
    ("UTF-8", "utf_8", "Café", b""),
    ("KOI8-R", "koi8_r", "Каталог", b""),
    ("UTF-8", "x-no-such-codec", "Café", b""),   # unknown everywhere: read as UTF-8
    ("UTF-8", None, "Café", b""),
])
def test_xhtml_in_encodings_lxml_does_not_know(encoding, codec, word, bom):
    body = bom + XHTML.format(enc=encoding, word=word).encode(codec if codec and "no-such" not in codec else "utf-8")
    facts = extract(body, "https://acme.example/", codec)
    assert facts.title == word
    assert [(l.url, l.text, l.line) for l in facts.links] == [(f"https://acme.example/{word}/", f"{word} {word}", 6)]


def test_unresolvable_hrefs_are_kept_raw_and_bad_base_ignored():
    html = b"""<html><head><base href="http://[x">
<meta http-equiv="refresh" content="0; url=//[r/">
<script type="application/ld+json">{"sameAs": ["//[s/", "https://x.com/acme"]}</script></head>
<body><a href="//[oops/x">bad</a><a href="/y">y</a><a href="z">z</a>
<img src="i.png" srcset="//[t/ 2x"></body></html>"""
    facts = extract(html, "https://a.example/dir/page")
    assert [(l.tag, l.attr, l.url) for l in facts.links] == [
        ("meta", "content", "//[r/"),
        ("script", "sameAs", "//[s/"),
        ("script", "sameAs", "https://x.com/acme"),
        ("a", "href", "//[oops/x"),
        ("a", "href", "https://a.example/y"),   # the broken <base> is ignored
        ("a", "href", "https://a.example/dir/z"),
        ("img", "src", "https://a.example/dir/i.png"),
        ("img", "srcset", "//[t/"),
    ]
    with pytest.raises(URLError):
        resolve("https://a.example/", "//[oops/x")
    with pytest.raises(URLError):   # the spider records the raw href as a malformed link
        normalize("//[oops/x")


@pytest.mark.parametrize("base, expected", [
    ("http://[x", "https://a.example/dir/z"),
    ("https://a.example:99999/", "https://a.example/dir/z"),   # does not parse: ignored
    ("https://cdn.example/x/", "https://cdn.example/x/z"),
    ("../other/", "https://a.example/other/z"),
])
def test_base_href(base, expected):
    html = f'<base href="{base}"><a href="z">z</a>'.encode()
    assert [l.url for l in extract(html, "https://a.example/dir/page").links] == [expected]


@pytest.mark.parametrize("body", [
    b'<a href="//[oops/x">x</a>', b'<base href="http://[x"><a href="//[y">y</a>',
    b'<a href="//a\xef\xbc\x83b/">nfkc</a>',
    b'<?xml version="1.0" encoding="EUC-JP"?>', b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- only -->',
    b'<script type="application/ld+json">{"sameAs": null}</script>',
    b'<script type="application/ld+json">{"sameAs": 5, "x": {"sameAs": {"@id": "u"}}}</script>',
    b'<script type="application/ld+json">' + b"[" * 100000 + b'</script>',
    b'<img srcset=",,, ,">', b'<img srcset="(((">', b"<div>" * 50000 + b'<a href="/deep">d</a>',
])
@pytest.mark.parametrize("encoding", [None, "utf-8", "euc_jp", "utf-16", "rot13", "no-such-codec"])
def test_extract_never_raises(body, encoding):
    facts = extract(body, "https://a.example/", encoding)
    assert isinstance(facts.links, list) and isinstance(facts.title, str)


def test_srcset_candidates_follow_the_html_spec():
    html = b"""<img srcset="https://res.cloudinary.com/x/image/upload/w_300,c_scale/sample.jpg 300w, /a.png 2x">
<img srcset="a.png 1x,b.png 2x"><source srcset="data:image/png;base64,AAA 1x, c.png 2x">
<img srcset="  d.png,e.png  ,, f.png (min-width: 1px, x) 2x, g.png">"""
    facts = extract(html, "https://acme.example/")
    assert [l.url for l in facts.links] == [
        "https://res.cloudinary.com/x/image/upload/w_300,c_scale/sample.jpg", "https://acme.example/a.png",
        "https://acme.example/a.png", "https://acme.example/b.png",
        "data:image/png;base64,AAA", "https://acme.example/c.png",
        "https://acme.example/d.png,e.png",   # no whitespace: one URL, as browsers read it
        "https://acme.example/f.png", "https://acme.example/g.png",
    ]


@pytest.mark.parametrize("value, urls", [
    ("https://res.cloudinary.com/x/image/upload/w_300,c_scale/sample.jpg 300w, /a.png 2x",
     ["https://res.cloudinary.com/x/image/upload/w_300,c_scale/sample.jpg", "/a.png"]),
    ("a.png 1x,b.png 2x", ["a.png", "b.png"]),
    ("data:image/png;base64,AAA 1x", ["data:image/png;base64,AAA"]),
    ("data:image/png;base64,AAA 1x, data:image/png;base64,BBB 2x",
     ["data:image/png;base64,AAA", "data:image/png;base64,BBB"]),
    ("a.png,, b.png", ["a.png", "b.png"]),                       # trailing commas end a candidate
    ("a.png (x, y) 1x, b.png", ["a.png", "b.png"]),              # no split inside parentheses
    ("a.png (unclosed, b.png", ["a.png"]),
    ("\ta.png\n 100w,\n\tb.png\f200w", ["a.png", "b.png"]),
    ("", []), (" , ,", []),
])
def test_srcset_parsing(value, urls):
    assert _srcset(value) == urls


def _regions(body: str) -> dict[str, str]:
    return {l.url.rsplit("/", 1)[1]: l.region for l in extract(body.encode(), "https://acme.example/").links}


def test_body_classes_do_not_override_landmarks():
    assert _regions('<body class="has-sticky-footer"><main><a href="https://twitter.com/a">t</a></main>'
                    '<p><a href="/p">p</a></p></body>') == {"a": "main", "p": "body"}
    assert _regions('<html class="site-footer"><body class="has-header-image">'
                    '<header><a href="/h">h</a></header><main><a href="/m">m</a></main>'
                    '<aside><a href="/s">s</a></aside><div><a href="/d">d</a></div>'
                    '<footer><a href="/f">f</a></footer></body></html>') == {
        "h": "header", "m": "main", "s": "aside", "d": "body", "f": "footer"}


def test_nearest_landmark_decides_but_outer_header_footer_win_over_nav_aside():
    assert _regions(
        '<footer><nav><a href="/fn">x</a></nav></footer>'
        '<header><div><nav><a href="/hn">x</a></nav><aside><a href="/ha">x</a></aside></div></header>'
        '<div role="contentinfo"><div role="navigation"><a href="/rn">x</a></div></div>'
        '<footer><main><nav><a href="/fmn">x</a></nav></main></footer>'
        '<main><nav><a href="/mn">x</a></nav><aside><a href="/ma">x</a></aside></main>'
        '<main><article><header><a href="/mah">x</a></header></article></main>'  # a post's header is its body
        '<footer><article><a href="/fa">x</a></article></footer>'
        '<div role="banner"><a href="/rb">x</a></div>'
        '<div role="complementary"><footer><a href="/cf">x</a></footer></div>'
        '<div class="site-footer"><nav><a href="/cn">x</a></nav></div>'  # a class-named footer wins over its nav too
        '<nav><div class="footer-menu"><a href="/nf">x</a></div></nav>'
        '<div id="masthead"><main><a href="/hm">x</a></main></div>') == {
        "fn": "footer", "hn": "header", "ha": "header", "rn": "footer", "fmn": "main", "mn": "main",
        "ma": "aside", "mah": "main", "fa": "footer", "rb": "header", "cf": "footer", "cn": "footer",
        "nf": "nav", "hm": "main"}


def test_the_innermost_landmark_wins_a_footer_in_main_or_an_unclosed_article_is_the_page_s():
    """nozzle's testimonials/page/7: an unclosed ``<article>`` swallows the theme's footer (its follow
    icons) into ``<main>``, whose ``</main>`` comes after it; they were read as the page body, a
    high backward-social finding ("the page body's 5 follow links ... on 8 pages"). A reader sees
    the footer: a footer named the site's is the nearest landmark, and decides. A post's own
    footer stays its body, and so does a plain <header>/<footer> in <main> (a hero section:
    answer's home has <main><header> around its "Star on GitHub" button)."""
    html = ('<main class="content"><article class="post-1 entry"><header class="entry-header"><h2>'
            '<a href="/testimonials/a">A</a></h2></header><div class="testimonial-card">'
            '<article class="post-2 entry"><header class="entry-header"></header></article>'
            '<div class="archive-pagination" role="navigation"><a href="/testimonials/page/6">6</a></div></div>'
            '<footer id="jet-theme-core-footer" class="jet-theme-core-location jet-theme-core-location--footer-location">'
            '<ul class="wp-block-social-links footer-social-icons"><li class="wp-social-link">'
            '<a href="https://twitter.com/nozzleio"><svg></svg></a></li></ul></footer></article>'
            '<footer><a href="/in-main">in main</a></footer>'
            '<article><p>t</p><footer class="entry-footer"><a href="/tag/seo">seo</a></footer></article></main>')
    assert _regions(html) == {"a": "main", "6": "main", "nozzleio": "footer", "in-main": "main", "seo": "main"}


@pytest.mark.parametrize("attrs, region", [
    ('class="has-sticky-footer"', "body"), ('class="has-header-image"', "body"), ('class="no-sidebar"', "body"),
    ('class="footer-less"', "footer"), ('class="x footer-widgets"', "footer"), ('id="colophon"', "footer"),
    ('class="page-footer"', "footer"), ('class="site-footer"', "footer"), ('class="Footer"', "footer"),
    ('class="bottom-bar"', "footer"), ('class="sticky-footer-wrap"', "body"),
    ('id="masthead"', "header"), ('class="site-header"', "header"), ('class="header-inner"', "header"),
    ('class="topbar"', "header"), ('class="top-bar"', "header"), ('class="entry-header"', "body"),
    ('class="navbar-collapse"', "nav"), ('class="menu"', "nav"), ('id="main-menu"', "nav"),
    ('class="menu-item"', "nav"), ('class="navigation"', "nav"), ('class="site-nav"', "body"),
    ('class="sidebar-primary"', "aside"), ('class="widget-area"', "aside"), ('class="left-sidebar"', "body"),
    ('class="entry-content"', "main"), ('id="content"', "main"), ('class="post-body"', "main"),
    ('class="post-content"', "main"), ('class="content-area"', "body"), ('class="post-123 post"', "main"),
    ('class="content footer"', "footer"),   # several regions on one element: footer first
    ('class="\u017fidebar"', "body"),          # only ASCII case folding ("ſ" is not "s")
])
def test_class_and_id_heuristics_match_whole_tokens(attrs, region):
    assert _regions(f'<div {attrs}><a href="/x">x</a></div>') == {"x": region}


def test_class_heuristics_nearest_guess_outer_header_footer_first():
    assert _regions('<div id="footer"><div class="menu"><a href="/a">a</a></div></div>'
                    '<div class="sidebar"><div class="content"><a href="/b">b</a></div></div>'
                    '<div class="site-header"><div class="content"><a href="/c">c</a></div></div>'
                    '<body class="site-footer"><div class="post"><a href="/d">d</a></div></body>') == {
        "a": "footer", "b": "main", "c": "header", "d": "main"}


@pytest.mark.parametrize("url, expected", [
    ("HTTP://Acme.EXAMPLE:80/a/../b/./c", ("http://acme.example/b/c", "")),
    ("https://acme.example", ("https://acme.example/", "")),
    ("https://acme.example/%7euser/%41?q=%2f#Frag", ("https://acme.example/~user/A?q=%2F", "Frag")),
    ("https://acme.example:8443/x", ("https://acme.example:8443/x", "")),
    ("https://bücher.example/", ("https://xn--bcher-kva.example/", "")),
])
def test_normalize(url, expected):
    assert normalize(url) == expected


@pytest.mark.parametrize("bad", ["http://", "mailto:x@y", "http://exa mple.com/", "http://a.example:99999/"])
def test_normalize_rejects(bad):
    with pytest.raises(URLError):
        normalize(bad)


@pytest.mark.parametrize("url, expected", [
    ("https://acme.example/docs//guide", "https://acme.example/docs//guide"),
    ("https://acme.example/docs//guide.html", "https://acme.example/docs//guide.html"),
    ("https://acme.example/docs//./guide", "https://acme.example/docs//guide"),
    ("https://acme.example/a//../b", "https://acme.example/a/b"),
    ("https://acme.example//x/..", "https://acme.example//"),
    ("https://acme.example/../../a/./b/", "https://acme.example/a/b/"),
    ("https://acme.example/a/b/c/./../../g", "https://acme.example/a/g"),
    ("https://acme.example/a/..", "https://acme.example/"),
    ("https://acme.example/.well-known/x", "https://acme.example/.well-known/x"),
])
def test_normalize_removes_dot_segments_and_keeps_double_slashes(url, expected):
    assert normalize(url) == (expected, "")


def _rfc3986_remove_dot_segments(inp: str) -> str:
    """RFC 3986 section 5.2.4, step by step on the two buffers."""
    out = ""
    while inp:
        if inp.startswith("../"):
            inp = inp[3:]
        elif inp.startswith("./"):
            inp = inp[2:]
        elif inp.startswith("/./") or inp == "/.":
            inp = "/" + inp[3:]
        elif inp.startswith("/../") or inp == "/..":
            inp = "/" + inp[4:]
            out = out[:max(out.rfind("/"), 0)]
        elif inp in (".", ".."):
            inp = ""
        else:
            end = inp.find("/", 1 if inp.startswith("/") else 0)
            end = len(inp) if end < 0 else end
            out, inp = out + inp[:end], inp[end:]
    return out


def test_remove_dot_segments_is_rfc3986():
    pieces = ["/", ".", "..", "a", "./", "../", ".b"]
    for n in range(1, 6):
        for combo in itertools.product(pieces, repeat=n):
            path = "".join(combo)
            assert _remove_dot_segments(path) == _rfc3986_remove_dot_segments(path), path


FAST_PATH_URLS = [
    "https://acme.example/", "https://acme.example/docs//guide", "https://acme.example/docs//guide.html",
    "https://acme.example//x", "https://acme.example/a/./b", "https://acme.example/a/../b",
    "https://acme.example/.well-known/x", "https://acme.example/a,b;c=d/~u/@x:y'()*+!$&",
    "https://acme.example/x?u=https://b.example//y&z=1", "https://acme.example/x?", "https://acme.example/x?#top",
    "https://acme.example/x?a?b#a#b", "https://acme.example/x#caf\u00e9", "https://acme.example/x#a/./b",
    "https://acme.example./x", "https://acme.example:8443/x", "https://acme.example:443/x",
    "http://acme.example:80/x", "http://acme.example:443/x", "https://acme.example:0443/x",
    "http://acme.example:080/x", "https://acme.example:0/x", "https://acme.example:65536/x",
    "https://./x", "https://a..b/x", "http://1.2.3.4/x", "https://acme.example", "https://acme.example/a/..",
]


@pytest.mark.parametrize("url", FAST_PATH_URLS)
def test_normalize_fast_path_agrees_with_slow_path(url, monkeypatch):
    def run():
        try:
            return normalize(url)
        except URLError:
            return "URLError"

    fast = run()
    monkeypatch.setattr(crawler.urls, "_SIMPLE", re.compile(r"(?!)"))
    assert run() == fast


def test_dedupe_ignores_tracking_and_index_files():
    assert dedupe_key("https://a.example/x/index.html?utm_source=tw&id=3&fbclid=1") == "https://a.example/x/?id=3"
    assert has_tracking("https://a.example/?gclid=1") and not has_tracking("https://a.example/?id=1")


def test_remap_changes_fetch_url_only():
    r = Remapper([r"^https://twitter\.com/(.*) http://127.0.0.1:9/tw/\1", r"^https://twitter\.com/ http://never/"])
    assert r.fetch_url("https://twitter.com/acme") == "http://127.0.0.1:9/tw/acme"  # first match wins
    assert r.fetch_url("https://acme.example/") == "https://acme.example/"


@pytest.mark.parametrize("url, tier", [
    ("https://acme.example/pricing/", "site"),
    ("https://www.acme.example/", "site"),
    ("https://acme.example/news/launch/", "blog"),
    ("https://acme.example/insights/", "blog"),
    ("https://blog.acme.example/post/", "blog"),
    ("https://blog.other.example/", "external"),
    ("https://x.com/acme", "social"),
    ("https://youtu.be/abc", "social"),
    ("https://m.facebook.com/acme", "social"),
    ("https://bsky.app/profile/acme", "social"),
    ("https://fosstodon.org/@acme", "social"),
    ("https://w3.org/", "external"),
    ("mailto:hi@acme.example", "contact"),
])
def test_tiers(url, tier):
    assert Scope(site=("https://acme.example/",)).tier(url) == tier


def test_explicit_blog_and_social():
    scope = Scope(site=("https://acme.example/",), blog=("https://acme.example/journal/",),
                  social=("https://social.acme.example/@acme",))
    assert scope.tier("https://acme.example/journal/x") == "blog"
    assert scope.tier("https://acme.example/blog/x") == "site"  # explicit --blog turns auto-detection off
    assert scope.tier("https://social.acme.example/@acme") == "social"
    assert scope.link_kind("https://social.acme.example/@acme") == "profile"


@pytest.mark.parametrize("url, kind", [
    ("https://twitter.com/intent/tweet?text=x", "share"),
    ("https://www.facebook.com/sharer/sharer.php?u=x", "share"),
    ("https://www.linkedin.com/sharing/share-offsite/?url=x", "share"),
    ("https://pinterest.com/pin/create/button/?url=x", "share"),
    ("https://www.linkedin.com/company/acme", "profile"),
])
def test_link_kinds(url, kind):
    assert Scope().link_kind(url) == kind


@pytest.mark.parametrize("url, kind", [
    ("https://acme.example/pricing/", "purchase"), ("https://acme.example/cart", "purchase"),
    ("https://acme.example/contact-us/", "lead"), ("https://acme.example/request-demo", "lead"),
    ("https://acme.example/about/", None),
])
def test_conversion_patterns(url, kind):
    assert Scope(site=("https://acme.example/",)).conversion_kind(url) == kind


def test_a_posts_footer_is_its_body_and_json_ld_keeps_its_region():
    html = (b'<main><article><p>t</p><footer>Follow <a href="https://twitter.com/acme">@acme</a></footer>'
            b'</article></main><footer><script type="application/ld+json">{"sameAs": "https://x.com/a"}'
            b'</script></footer>')
    assert [(l.url, l.region) for l in extract(html, "https://a.example/blog/p/").links] == [
        ("https://twitter.com/acme", "main"), ("https://x.com/a", "footer")]


def test_cms_plumbing_links_are_not_checked():
    html = (b'<head><link rel="preconnect" href="https://fonts.gstatic.com"><link rel="EditURI" '
            b'href="/xmlrpc.php?rsd"><link rel="shortlink" href="/?p=42"><link rel="stylesheet" href="/s.css">')
    assert [l.url for l in extract(html, "https://a.example/").links] == ["https://a.example/s.css"]


# -- document order, menus without landmarks, page signals (issue 19) ------------------------------------
def test_links_come_in_document_order_on_a_one_line_page():
    """One line, so every link has line 1: the order of facts.links (a link's ``pos``) is the DOM's,
    whatever the element (a style attribute, foster-parented table content, JSON-LD, a form)."""
    html = (b'<html><head><title>x</title><link rel="stylesheet" href="/s.css"></head><body>'
            b'<div style="background:url(/bg.png)"><a href="/1">1</a></div><img src="/i.png">'
            b'<table><a href="/fostered">f</a><tr><td><a href="/cell">c</a></td></tr></table>'
            b'<script type="application/ld+json">{"sameAs": ["https://x.com/a"]}</script>'
            b'<form action="/f"><input type="hidden" name="_next" value="/thanks/"><input name="email"></form>'
            b'<a href="/last">z</a></body></html>')
    facts = extract(html, "https://a.example/")
    assert [(l.url.removeprefix("https://a.example"), l.tag, l.attr) for l in facts.links] == [
        ("/s.css", "link", "href"), ("/bg.png", "css", "style"), ("/1", "a", "href"), ("/i.png", "img", "src"),
        ("/fostered", "a", "href"),  # the HTML5 tree moves it before the table, as a browser does
        ("/cell", "a", "href"), ("https://x.com/a", "script", "sameAs"), ("/f", "form", "action"),
        ("/thanks/", "form", "next"), ("/last", "a", "href")]
    assert {l.line for l in facts.links} == {1}


ELEMENTOR = b"""<!doctype html><html><head><title>Acme</title></head><body class="home page page-id-5">
<div class="elementor elementor-location-header"><a href="/logo">Acme</a></div>
<div class="elementor-widget-container"><p><a href="/body">Body</a></p></div>
<footer class="site-footer"><a href="/legal">Legal</a></footer>
<div class="elementor elementor-location-popup"><div class="elementor-widget-container"><ul>
<li><a href="/popup">Popup</a></li></ul></div></div>
<div id="mobile-menu" class="x"><ul><li><a href="/mobile">Mobile</a></li></ul></div>
<div class="offcanvas offcanvas-end"><a href="/offcanvas">Off</a></div>
<ul class="elementor-nav-menu--dropdown"><li class="menu-item menu-item-type-custom"><a href="/item">Item</a></li></ul>
<div class="genesis-nav-menu"><a href="/genesis">G</a></div>
<div role="menubar"><a href="/menubar">M</a></div><ul role="menu"><li><a href="/menu">M</a></li></ul>
<div class="footer-menu-item"><a href="/footer-item">F</a></div>
<main><ul role="menu"><li><a href="/in-main">In main</a></li></ul></main>
<div class="submenu-items"><a href="/not-a-token">N</a></div>
</body></html>"""


def test_menus_marked_only_by_classes_or_aria_are_nav_even_after_the_footer():
    assert {l.url.rsplit("/", 1)[1]: l.region for l in extract(ELEMENTOR, "https://acme.example/").links} == {
        "logo": "header", "body": "body", "legal": "footer", "popup": "nav", "mobile": "nav", "offcanvas": "nav",
        "item": "nav", "genesis": "nav", "menubar": "nav", "menu": "nav",
        "footer-item": "footer",   # an outer footer name still wins
        "in-main": "main",         # a menu inside the main content is part of it, like a <nav> there
        "not-a-token": "body"}     # "submenu-items" holds none of the tokens whole


def _forms(html: str, url: str = "https://a.example/") -> list[tuple[str, bool]]:
    facts = extract(html.encode(), url)
    return [f["purpose"] for f in facts.signals.get("forms", [])], facts.lead_form


@pytest.mark.parametrize("html, url, expected", [
    ('<form action="/thanks" method="post"><input type="email" name="email"><input name="company">'
     '<label>Job title <input name="job_title"></label></form>', "https://a.example/contact/", (["lead"], True)),
    ('<form><input type="tel" name="phone"><button>Call me back</button></form>', "https://a.example/", (["lead"], True)),
    ('<form action="https://acme.us1.list-manage.com/subscribe/post"><input type="email" name="EMAIL">'
     '<input type="submit" value="Subscribe"></form>', "https://a.example/", (["newsletter"], True)),
    ('<form><input type="email" name="email"><button>Get started</button></form>', "https://a.example/",
     (["lead"], True)),  # an e-mail alone, no subscribe wording: a lead
    ('<form role="search" action="/"><input name="s"></form>', "https://a.example/", (["search"], False)),
    ('<div role="search"><form><input type="email" name="q"></form></div>', "https://a.example/", (["search"], False)),
    ('<form id="commentform" action="/wp-comments-post.php"><input type="email" name="email">'
     '<textarea name="comment"></textarea></form>', "https://a.example/blog/p/", (["comment"], False)),
    ('<form action="/session"><input type="email" name="email"><input type="password"></form>', "https://a.example/",
     (["login"], False)),
    ('<form action="/users/sign_in"><input type="email" name="user[email]"></form>', "https://a.example/",
     (["login"], False)),
    ('<form method="post" enctype="multipart/form-data"><input type="email" name="email">'
     '<input type="file" name="cv"></form>', "https://a.example/about/", (["careers"], False)),
    ('<form><input type="email" name="email"><label>Cover letter <textarea name="letter"></textarea></label></form>',
     "https://a.example/", (["careers"], False)),
    ('<form action="/jobs/42/apply"><input type="email" name="email"></form>', "https://a.example/", (["careers"], False)),
    ('<form><input name="name"><input type="email" name="email"></form>', "https://a.example/careers/engineer/",
     (["careers"], False)),  # more than an e-mail on a job's page: an application
    ('<form><input type="email" name="email"><button>Subscribe</button></form>', "https://a.example/careers/",
     (["newsletter"], True)),  # the footer newsletter on a careers page is still a newsletter
    ('<form action="/cart"><input name="qty"></form>', "https://a.example/", (["other"], False)),
    ('<div class="signup"><input type="email" name="email"></div>', "https://a.example/", ([], True)),  # no <form>
])
def test_form_purposes_and_lead_form(html, url, expected):
    assert _forms(html, url) == expected


def test_form_action_and_next_are_absolute_public_urls_or_none():
    facts = extract(b'<base href="https://cdn.a.example/x/"><form action="go" method="GET">'
                    b'<input type="hidden" name="redirect" value="done/"><input type="email" name="email"></form>'
                    b'<form action="javascript:void(0)"><input type="hidden" name="_next" value="#top">'
                    b'<input type="email" name="email"></form><form><input type="email" name="e"></form>',
                    "https://a.example/p/")
    assert facts.signals["forms"] == [
        {"purpose": "lead", "method": "get", "action": "https://cdn.a.example/x/go",
         "next": "https://cdn.a.example/x/done/"},
        {"purpose": "lead", "method": "get", "action": None, "next": None},
        {"purpose": "lead", "method": "get", "action": None, "next": None}]
    assert [(l.url, l.attr) for l in facts.links if l.tag == "form"] == [
        ("https://cdn.a.example/x/go", "action"), ("https://cdn.a.example/x/done/", "next"),
        ("javascript:void(0)", "action")]  # (recorded like any link, and never fetched)


@pytest.mark.parametrize("html, expected", [
    ('<head><link rel="alternate" type="application/rss+xml" href="/feed/"></head>', {"feed": True}),
    ('<head><link rel="alternate" type="application/atom+xml" href="/atom.xml"></head>', {"feed": True}),
    ('<head><link rel="alternate" hreflang="de" href="/de/"></head>', {}),
    ('<head><script type="application/ld+json">{"@type": "TechArticle", "datePublished": "2024-01-01"}</script></head>',
     {"posting": True, "dated": True}),
    ('<head><script type="application/ld+json">{"@graph": [{"@type": ["NewsArticle"]}]}</script></head>',
     {"posting": True}),
    ('<head><meta property="og:type" content="article"></head>', {"posting": True}),
    ('<head><meta property="article:published_time" content="2024-01-01T00:00:00Z"></head>',
     {"posting": True, "dated": True}),
    ('<head><meta name="date" content="2024-01-01"></head>', {"dated": True}),
    ('<article><h2>A</h2><time datetime="2024-01-01">1 Jan</time></article><article>B</article>',
     {"dated": True, "articles": 2}),
    ('<p><time>12:00</time></p>', {}),  # a time outside an article dates nothing
    # a static page of a CMS (WordPress's body classes): the SEO plugin's Article markup is not a post
    ('<head><meta property="og:type" content="article"><meta property="article:published_time" content="2024">'
     '</head><body class="page-template-default page page-id-12"><article class="page type-page">x</article></body>',
     {"articles": 1}),
    ('<p>Team: <b>$</b><b>19</b><span>/mo</span></p>', {"price": True}),
    ('<p>Business: €190 per year</p>', {"price": True}),
    ('<p>Pro 99 € / Monat</p>', {"price": True}),
    ('<p>USD 49 a month</p>', {"price": True}),
    ('<div class="gb-pricing-table-wrap">Plans</div>', {"price": True}),
    ('<span itemprop="price" content="19">19</span>', {"price": True}),
    ('<p>We raised $2.35 million in 2023, and $100, an amount.</p>', {}),
    ('<div class="price-comparison-blog">x</div>', {}),
    ('<a href="/shop/?add-to-cart=12">Add</a>', {"buy": True}),
    ('<button class="single_add_to_cart_button button">Add</button>', {"buy": True}),
    ('<a href="/checkout/">Proceed</a>', {"buy": True}),
    ('<button>Buy now – $19</button>', {"buy": True}),
    ('<input type="submit" value="Add to cart">', {"buy": True}),
    ('<a href="https://buy.stripe.com/abc">Get it</a>', {"buy": True}),
    ('<p><a href="https://news.example/x">purchase</a> <a href="/guide/">Buyer\'s guide</a> '
     '<a href="/blog/x">Check out our post</a></p>', {}),
])
def test_page_signals(html, expected):
    assert extract(html.encode(), "https://a.example/x/").signals == expected


def test_a_form_a_script_draws_is_a_lead_form_and_its_redirect_a_link():
    hubspot = ('<main><div class="hbspt-form"></div><script>hbspt.forms.create({region: "na1", portalId: "4646774", '
               'formId: "9d7f", redirectUrl: "https://a.example/thank-you/"});</script></main>')
    facts = extract(hubspot.encode(), "https://a.example/request-a-demo/")
    assert (facts.signals, facts.lead_form) == ({"forms": [{"purpose": "lead", "method": "post", "action": None,
                                                          "next": "https://a.example/thank-you/"}]}, True)
    assert [(l.url, l.tag, l.attr, l.region) for l in facts.links] == [
        ("https://a.example/thank-you/", "form", "next", "main")]
    marketo = b'<script>MktoForms2.loadForm("//app-ab01.marketo.com", "123-ABC-456", 1057);</script>'
    assert _forms(marketo.decode(), "https://a.example/jobs/") == (["careers"], False)  # on a job's page
    assert _forms("<script>var hbspt = window.hbspt || {};</script>") == ([], False)


def test_a_cms_listing_is_no_posting_whatever_its_og_type():
    """WordPress archives (nozzle's /testimonials/page/3/) carry Yoast's og:type article."""
    html = (b'<head><meta property="og:type" content="article"></head>'
            b'<body class="archive paged post-type-archive post-type-archive-testimonials">'
            b'<article><time>1 May</time></article><article>b</article></body>')
    assert extract(html, "https://a.example/testimonials/page/3/").signals == {"dated": True, "articles": 2}
    single = html.replace(b"archive paged post-type-archive post-type-archive-testimonials",
                          b"single single-testimonials postid-11742 category-archive")
    assert extract(single, "https://a.example/testimonials/x/").signals == {"posting": True, "dated": True,
                                                                            "articles": 2}


def test_a_late_or_noscript_refresh_is_no_redirect_stub():
    """A news page reloading itself every 10 minutes, or a site-wide <noscript> refresh to a "no
    JavaScript" page, is a page a visitor reads: no stub (which would drop it from the posts, the
    pages crawled and the funnel)."""
    def read(head):
        facts = extract(f"<html><head>{head}</head><body><p>Words</p></body></html>".encode(), "https://a.example/p/",
                        "utf-8")
        return [(link.url, link.tag) for link in facts.links], bool(facts.signals.get("refresh"))
    assert read('<meta http-equiv="refresh" content="0; url=/new/">') == ([("https://a.example/new/", "meta")], True)
    assert read('<meta http-equiv="refresh" content="600; url=/p/">') == ([], False)
    assert read('<noscript><meta http-equiv="refresh" content="0;url=/nojs.html"></noscript>') == ([], False)
