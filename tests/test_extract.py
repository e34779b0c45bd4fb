"""Page extraction, URL normalisation and tier classification: pure functions, no server."""
from __future__ import annotations

import pytest

from analysis.tiers import Scope
from crawler.extract import extract
from crawler.urls import Remapper, URLError, dedupe_key, has_tracking, normalize

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
        "https://acme.example/c": "footer",      # a nav inside a footer is still the footer
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
