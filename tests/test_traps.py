"""Crawler traps (issue 20, item 4): URL patterns with no end are capped and reported once per
trap; a site's finite numbered URLs (pagination, dated posts) are no trap.

Each test crawls a scripted local server through the real command line, as a user would.
"""
from __future__ import annotations

import re

from conftest import Route, audit_json

T = "https://trap.test/"


def remap(srv) -> tuple[str, str]:
    return "--remap", rf"^https://trap\.test/(.*) {srv.url}/\1"


def calendar(handler) -> Route:
    """An events calendar: every month links the month before and after and its first days; no end."""
    m = re.fullmatch(r"/cal/(\d+)/(\d+)(?:/(\d+))?", handler.path)
    if not m:
        return Route(200, body='<main><h1>Events</h1><a href="/cal/2026/12">calendar</a></main>')
    y, mo = int(m[1]), int(m[2])
    after, before = (y + 1, 1) if mo == 12 else (y, mo + 1), (y - 1, 12) if mo == 1 else (y, mo - 1)
    days = "".join(f'<a href="/cal/{y}/{mo}/{d}">{d}</a>' for d in range(1, 4))
    return Route(200, body=f'<main><a href="/cal/{before[0]}/{before[1]}">prev</a>'
                           f'<a href="/cal/{after[0]}/{after[1]}">next</a>{days}</main>')


def test_an_endless_calendar_is_one_trap_and_leaves_the_budget(site_server, tmp_path):
    """/cal/2026/12 -> /cal/2027/1 -> ... with day pages: its month and day patterns are capped at
    500 pages each and reported as one medium crawl-trap; --fail-on medium fails the run; the
    rest of --max-pages is not spent on it."""
    srv = site_server(routes={"*": calendar})
    result, report = audit_json(tmp_path, T, "--no-sitemaps", "--concurrency", "16", "--max-pages", "5000",
                                "--fail-on", "medium", *remap(srv))
    assert result.exit_code == 1, result.stderr
    traps = [f for f in report["findings"] if f["rule"] == "crawl-trap"]
    assert len(traps) == 1
    trap = traps[0]
    example = trap["detail"]["example"]
    assert re.fullmatch(r"https://trap\.test/cal/\d+/\d+(/\d+)?", example)
    assert (trap["severity"], trap["target"]) == ("medium", T + "cal/…")
    left = trap["detail"]["left"]
    assert left >= 3
    assert trap["message"] == (
        f"crawler trap: {T}cal/… has endless variants (URLs that differ only in numbers or dates: "
        f"{T}cal/{{n}}/{{n}}, {T}cal/{{n}}/{{n}}/{{n}}); 1,000 were crawled, {left:,} more left out "
        f"(the first: {example})")
    assert {p: c["crawled"] for p, c in trap["detail"]["patterns"].items()} == {
        T + "cal/{n}/{n}": 500, T + "cal/{n}/{n}/{n}": 500}
    assert report["summary"]["pages_crawled"] == 1 + 500 + 500  # the home page, then the capped patterns


def test_a_path_that_repeats_itself_is_one_trap(site_server, tmp_path):
    """Every path answers 200 with two relative links (a soft 404 with a relative nav): the
    paths nest in every order (/x/a/b/b/a/...); one finding, not one per order."""
    srv = site_server(routes={"*": Route(200, body='<main><a href="a/">a</a> <a href="b/">b</a></main>')})
    result, report = audit_json(tmp_path, T + "x/", "--no-sitemaps", "--concurrency", "16", "--max-pages", "5000",
                                *remap(srv))
    assert result.exit_code == 0, result.stderr
    traps = [f for f in report["findings"] if f["rule"] == "crawl-trap"]
    assert [(f["severity"], f["target"]) for f in traps] == [("medium", T + "x/… (repeating path)")]
    detail = traps[0]["detail"]
    assert traps[0]["message"] == (f"crawler trap: {T}x/… (repeating path) has endless variants; 500 were crawled, "
                                   f"{detail['left']:,} more left out (the first: {detail['example']})")
    assert report["summary"]["pages_crawled"] < 1000


def slug(n: int, i: int) -> str:
    """A post's name, in words (letters for digits): posts differ in words, not only in numbers."""
    return "post-" + "".join(chr(97 + int(c)) for c in f"{n}{i}")


def blog(handler) -> Route:
    """A blog of 30 listing pages, 10 dated posts each (each linking the next post, the last one
    none) and monthly archives: numbered URLs, all of them finite."""
    path = handler.path
    m = re.fullmatch(r"/blog/(?:page/(\d+)/)?", path)
    if m:
        n = int(m[1] or 1)
        posts = "".join(f'<article><a href="/blog/2024/{n % 12 + 1:02d}/{slug(n, i)}/">post</a></article>'
                        for i in range(10))
        more = f'<a href="/blog/page/{n + 1}/">older</a>' if n < 30 else ""
        return Route(200, body=f'<main>{posts}{more}<a href="/blog/2024/{n % 12 + 1:02d}/">archive</a></main>')
    m = re.fullmatch(r"/blog/2024/(\d+)/post-([a-j]+)/", path)
    if m:
        digits = "".join(str(ord(c) - 97) for c in m[2])
        n, i = int(digits[:-1]), int(digits[-1])
        nxt = (n, i + 1) if i < 9 else (n + 1, 0)
        link = f'<a href="/blog/2024/{nxt[0] % 12 + 1:02d}/{slug(*nxt)}/">next post</a>' if nxt[0] <= 30 else ""
        return Route(200, body=f'<main><p>A post.</p>{link}<a href="/blog/">blog</a></main>')
    return Route(200, body='<main><a href="/blog/">blog</a></main>')


def test_a_paginated_blog_with_dated_posts_is_no_trap(site_server, tmp_path):
    """/blog/page/2/ ... /page/30/ and /blog/2024/05/post-…/: numbers that end. Every page is
    crawled, no crawl-trap."""
    srv = site_server(routes={"*": blog})
    result, report = audit_json(tmp_path, T, "--no-sitemaps", "--concurrency", "16", *remap(srv))
    assert result.exit_code in (0, 1), result.stderr
    assert [f for f in report["findings"] if f["rule"] == "crawl-trap"] == []
    crawled = {p["url"] for p in report["pages"] if p["role"] == "page" and p["status"] == 200}
    assert {T + f"blog/page/{n}/" for n in range(2, 31)} <= crawled
    assert len([u for u in crawled if "/post-" in u]) == 300
    assert report["summary"]["pages_crawled"] == 1 + 1 + 29 + 300 + 12  # home, blog, listings, posts, archives
