"""Crawler traps (issue 20, item 4): URL patterns with no end are capped and reported once per
trap; a site's finite numbered URLs (pagination, dated posts) are no trap.

Each test crawls a scripted local server through the real command line, as a user would.
"""
from __future__ import annotations

import re
from collections import deque

import pytest

from analysis.rules.fixes import FIXES
from conftest import Route, audit_json, run_cli
from crawler.extensions import ClusterLimits, CrawlLimits, cluster_limits_summary

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
    levels = trap["detail"]["levels"]
    assert (trap["detail"]["kind"], levels > 100) == ("deep", True)  # ~250 months each way, each from the one before
    assert trap["message"] == (
        f"crawler trap: {T}cal/… has endless variants (URLs that differ only in numbers or dates: "
        f"{T}cal/{{n}}/{{n}}, {T}cal/{{n}}/{{n}}/{{n}}), each found from the one before: {levels:,} links deep, "
        f"none leading to a new page; 1,000 were crawled, {left:,} more left out (the first: {example})")
    assert {p: c["crawled"] for p, c in trap["detail"]["patterns"].items()} == {
        T + "cal/{n}/{n}": 500, T + "cal/{n}/{n}/{n}": 500}
    assert {c["cut"] for c in trap["detail"]["patterns"].values()} == {"deep"}  # (the crawl's limits summary)
    assert report["summary"]["pages_crawled"] == 1 + 500 + 500  # the home page, then the capped patterns
    markdown = run_cli("report", "--db", tmp_path / "crawls.sqlite", "--format", "markdown").stdout
    assert f"left out (the first: {example}) (fix: {FIXES['crawl-trap:deep']})" in markdown.replace("\\", "")


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


def shop(handler) -> Route:
    """A shop with no sitemap: 660 numbered products /p/{n}, 55 to each of 12 listing pages
    (/shop/, /shop/page/2/ ... with links to every page number), each product linking the next
    product and a related one: wide and shallow, however many products."""
    path = handler.path
    m = re.fullmatch(r"/shop/(?:page/(\d+)/)?", path)
    if m:
        k = int(m[1] or 1)
        pages = "".join(f'<a href="/shop/page/{i}/">{i}</a>' for i in range(2, 13))
        items = "".join(f'<a href="/p/{n}">product {n}</a>' for n in range((k - 1) * 55, k * 55))
        return Route(200, body=f'<main>{items}<nav><a href="/shop/">1</a>{pages}</nav></main>')
    m = re.fullmatch(r"/p/(\d+)", path)
    if m and int(m[1]) < 660:
        n = int(m[1])
        return Route(200, body=f'<main><h1>Product {n}</h1><a href="/p/{(n + 1) % 660}">next</a>'
                               f'<a href="/p/{(n * 37 + 11) % 660}">related</a><a href="/shop/">shop</a></main>')
    if path == "/":
        return Route(200, body='<main><a href="/shop/">shop</a></main>')
    return Route(404, body="<h1>not found</h1>")


def test_a_catalogue_of_numbered_products_is_crawled_whole(site_server, tmp_path):
    """660 products of one pattern (/p/{n}), past the 500 a pattern is judged at, listed on
    listing pages and linking to each other, no sitemap: every product is crawled, no crawl-trap
    (the pattern's pages are all found within a few links of the listings)."""
    srv = site_server(routes={"*": shop})
    result, report = audit_json(tmp_path, T, "--no-sitemaps", "--concurrency", "16", *remap(srv))
    assert result.exit_code == 0, result.stderr
    assert [f for f in report["findings"] if f["rule"] == "crawl-trap"] == []
    crawled = {p["url"] for p in report["pages"] if p["role"] == "page" and p["status"] == 200}
    assert {T + f"p/{n}" for n in range(660)} <= crawled
    assert report["summary"]["pages_crawled"] == 1 + 12 + 660  # home, listings, products


# -- how a pattern's pages are found (CrawlLimits and its cluster twin on a site as a function) --

def calendar_links(url: str) -> list[str]:
    """Months /cal/{m} from month 0, each linking the month before and after and 3 day pages: no end."""
    m = re.fullmatch(r"https://a\.example/cal/(\d+)", url)
    if url == "https://a.example/":
        return ["https://a.example/cal/0", "https://a.example/blog/page/1/", "https://a.example/archive/page/1/"]
    if not m:
        return ["https://a.example/"]
    n = int(m[1])
    return [f"https://a.example/cal/{max(n - 1, 0)}", f"https://a.example/cal/{n + 1}"] + [
        f"https://a.example/cal/{n}/day-{d}" for d in range(1, 4)]


def blog_links(url: str) -> list[str]:
    """A blog's pagination, 700 pages each linking only the next one and 3 new posts of their own
    (/blog/posts/post-{n}/: 2,100 of one pattern); an archive's pagination, 700 pages that each
    link only the next one and pages already seen."""
    m = re.fullmatch(r"https://a\.example/(blog|archive)/page/(\d+)/", url)
    if not m:
        return calendar_links(url)
    k = int(m[2])
    more = [f"https://a.example/{m[1]}/page/{k + 1}/"] if k < 700 else []
    if m[1] == "archive":
        return more + ["https://a.example/", "https://a.example/blog/page/1/"]
    return more + [f"https://a.example/blog/posts/post-{3 * k + i}/" for i in range(3)]


def crawl(limits, links, seed: str = "https://a.example/") -> set[str]:
    """Breadth-first as the spider plans: a link's page one level below the page it is on, asked
    of the limits with that page (``via``); a page the limits refuse is asked again if linked again."""
    queue, seen = deque([(seed, 0)]), {seed}
    while queue:
        page, depth = queue.popleft()
        for url in links(page):
            if url not in seen and limits.allow(url, depth + 1, via=page):
                seen.add(url)
                limits.scheduled()
                queue.append((url, depth + 1))
    return seen


def traps_of(summary: dict) -> dict:
    return {t: (c["cut"], c["crawled"]) for t, c in summary["traps"].items()}


EXPECTED = {"https://a.example/cal/{n}": ("deep", 500), "https://a.example/cal/{n}/day-{n}": ("deep", 500),
            "https://a.example/archive/page/{n}/": ("deep", 500)}


def test_a_deep_pagination_that_leads_to_new_pages_is_followed_to_its_end():
    """Decided: a pagination chain is followed to its end however deep, as long as its pages lead
    to new pages (posts, products); a calendar (months and days found from each other) and a
    chain of 500+ pages that leads to nothing new are cut at 500 as deep traps."""
    limits = CrawlLimits()
    seen = crawl(limits, blog_links)
    assert {f"https://a.example/blog/page/{k}/" for k in range(1, 701)} <= seen
    assert {f"https://a.example/blog/posts/post-{n}/" for n in range(3, 2103)} <= seen
    summary = limits.summary(seen=lambda digest: False)
    assert traps_of(summary) == EXPECTED
    assert summary["traps"]["https://a.example/archive/page/{n}/"]["levels"] > 30


@pytest.mark.parametrize("shape, cut", [
    ("wide", {"https://a.example/shop?color=…&size=…": ("wide", 600)}),
    ("repeating", {"https://a.example/x/… (repeating path)": ("repeating", 500)}),
    ("session", {"https://a.example/about?PHPSESSID=…": ("session", 500),
                 "https://a.example/pricing?PHPSESSID=…": ("session", 500)})])
def test_a_wide_explosion_is_cut_at_the_safety_cap_and_a_nesting_path_or_a_session_id_at_500(shape, cut):
    """Filter combinations, all within two links of the home page, past the safety cap for one
    query pattern (lowered to 600 here); a path that nests itself, and a session id new on every
    page (whose pages feed each other's pattern, never deep), at 500 whatever their depth."""
    sessions = iter(range(10**6))

    def links(url):
        if url == "https://a.example/":
            return [f"https://a.example/shop?color={c}" for c in range(40)] + [
                "https://a.example/x/", "https://a.example/about?PHPSESSID=start"]
        if url.startswith("https://a.example/shop?") and url.count("&") == 0:
            return [f"{url}&size={s}" for s in range(40)]
        if url.startswith("https://a.example/x/"):
            return [url + "a/", url + "b/"]
        if "PHPSESSID" in url:
            return [f"https://a.example/{p}?PHPSESSID=s{next(sessions)}" for p in ("about", "pricing")]
        return []

    limits = CrawlLimits(wide_query=600)
    crawl(limits, links)
    summary = traps_of(limits.summary(seen=lambda digest: False))
    assert {t: c for t, c in summary.items() if c[0] == shape} == cut


def test_the_workers_of_a_cluster_judge_a_pattern_by_the_crawls_shape(redis_url):
    """Two workers (ClusterLimits) taking pages in turn, each step through the real FLUSH script
    into a real Redis: the same cuts as one process, and the coordinator's summary says why."""
    from crawler import cluster
    from crawler.streams import Sender

    client = cluster.connect(redis_url)
    token = cluster.new_token(91)
    workers = []
    for _ in range(2):
        sender = Sender(client, token)
        sender.limits = ClusterLimits()
        workers.append(sender)
    queue, seen, turn = deque([("https://a.example/", 0)]), {"https://a.example/"}, 0
    while queue:
        page, depth = queue.popleft()
        sender, turn = workers[turn], 1 - turn
        entries = []
        for url in blog_links(page):
            if url not in seen and sender.limits.allow(url, depth + 1, via=page):
                sender.limits.scheduled()
                seen.add(url)
                queue.append((url, depth + 1))
                entries.append((cluster.digest(url), True, b"", url))
        sender.send(entries, [], None)
    try:
        assert {f"https://a.example/blog/posts/post-{n}/" for n in range(3, 2103)} <= seen
        summary = cluster_limits_summary(client, token)
        assert {t: c for t, (c, _) in traps_of(summary).items()} == {t: c for t, (c, _) in EXPECTED.items()}
        # (each worker decides on the crawl's counts as of its last step: within one page's links)
        assert all(500 <= c["crawled"] <= 500 + 3 for c in summary["traps"].values()), summary["traps"]
        assert summary["traps"]["https://a.example/archive/page/{n}/"]["levels"] > 30
    finally:
        client.delete(*client.keys(f"*{token}*"))
        client.close()
