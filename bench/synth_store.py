#!/usr/bin/env python3
"""Write a crawl store of the bench site directly, without crawling it (for measuring the analysis).

    python3 bench/synth_store.py --pages 1000000 --db /dev/shm/synth-1m.sqlite

The store is a real one (crawler.store.Store creates the schema, the crawl row, its origins and
finishes it); the page, link, URL and frontier rows are what a complete crawl of
``../shared/bench/gen_site.py --pages N`` served on ``--base`` writes, the same shape row for row
(checked against a real crawl of a 300-page site): per page a stylesheet ``<link>``, the header
logo ``<img>``, 10 nav links, ~15 main links (10 to the page's own section, 5 to the other; a
broken link on every 50th page to one of 4 missing pages, a product without its trailing slash
on every 40th, a 301), a "next" link, table-of-contents fragments on every 10th post, profile
links in the text of every 7th post, 3 share intents on every 3rd post, the forms of /contact/
and /signup/ (lead forms), mailto: and tel: on /contact/, 5 footer profile icons; the 301 and
404 rows, the two assets, and sitemap.xml linking every page. About 32 links a page.

The random choices follow gen_site's (same seed, same draws), so the link targets are its. Rows
go in with executemany, one transaction per ``--batch`` pages (100,000 pages: 42 s, 332 MB; a
million pages: 3.45 GB, 39 minutes on a machine shared with test suites, load 5-15). Depth is not computed (1 for the fixed pages, 2 for the others): only reports show it.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent.parent / "shared" / "bench"))  # /work/shared/bench: gen_site's constants
try:
    import gen_site as site  # noqa: E402
except ImportError:  # (a checkout elsewhere: the shared bench folder beside it)
    sys.path.insert(0, "/work/shared/bench")
    import gen_site as site  # noqa: E402

from crawler.store import Store  # noqa: E402

log = logging.getLogger("synth_store")

HEADERS = '{"server": "nginx", "content-length": "7000"}'
ANCHORS = '["intro", "details", "summary"]'
NOW = "2026-01-01T00:00:00+00:00"


def lead_signals(url: str) -> str:
    return json.dumps({"forms": [{"purpose": "lead", "method": "post", "action": url, "next": None}]},
                      separators=(",", ":"))


class Urls:
    """urls.id of each URL: the site's pages first (ids 1..N in page order), the rest as met."""

    def __init__(self, base: str, pages: list[str]):
        self.base = base
        self.ids = {base + p: i + 1 for i, p in enumerate(pages)}
        self.new: list[tuple[int, str]] = [(i, u) for u, i in self.ids.items()]

    def __call__(self, url: str) -> int:
        i = self.ids.get(url)
        if i is None:
            i = self.ids[url] = len(self.ids) + 1
            self.new.append((i, url))
        return i

    def flush(self) -> list[tuple[int, str]]:
        out, self.new = self.new, []
        return out


def page_links(rng, idx, path, products, posts, site_pages, next_of, base):
    """The links of one page as ``(key, target or None, fragment, tag, attr, text, region, rel,
    kind, line)``, in document order, drawing from ``rng`` exactly as gen_site.build_page does."""
    blog = path.startswith("/blog/")
    if blog:
        targets = rng.sample(posts, min(10, len(posts))) + rng.sample(site_pages, 5)
    else:
        targets = rng.sample(site_pages, 10) + rng.sample(posts, min(5, len(posts)))
    rng.shuffle(targets)
    if idx % 50 == 7:
        targets[0] = site.BROKEN[(idx // 50) % len(site.BROKEN)]
    if idx % 40 == 3:
        targets[1] = rng.choice(products).rstrip("/")
    words = lambda k: rng.choices(site.WORDS, k=k)  # noqa: E731  (drawn only to keep gen_site's sequence)
    title = site.title_of
    out = [(base + "/static/site.css", None, None, "link", "href", None, "head", "stylesheet", "other", 2),
           (base + "/static/logo.svg", None, None, "img", "src", "Acme", "header", None, "other", 3)]
    out += [(base + h, None, None, "a", "href", title(h), "header", None, "other", 3) for h in site.FIXED]
    main = []
    for i in range(0, len(targets), 3):
        words(12)
        words(10)
        words(10)
        words(8)
        main += targets[i:i + 3]
    if blog and idx % 10 == 0:
        out += [(base + path, None, h, "a", "href", h, "main", None, "other", 4) for h in ("intro", "details", "summary")]
    out += [(base + t, None, None, "a", "href", title(t), "main", None, "other", 4) for t in main]
    for _ in range(3):
        words(90)
        words(90)
    if blog and idx % 7 == 0:
        names = rng.sample(sorted(site.SOCIAL), 2)
        out += [(site.SOCIAL[n], None, None, "a", "href", n, "main", None, "profile", 4) for n in names]
    if blog and idx % 3 == 0 and path != "/blog/":
        u = quote(site.CANONICAL + path, safe="")
        for s in site.SHARE:
            written = s.format(u=u)
            out.append((s.format(u=site.CANONICAL + path), written, None, "a", "href", "Share", "main", None,
                        "share", 4))
    if path.startswith("/products/p-"):
        out.append((base + "/pricing/", None, "plans", "a", "href", "See plans", "main", None, "other", 4))
    if path in ("/contact/", "/signup/"):
        out.append((base + path, None, None, "form", "action", None, "main", None, "other", 4))
    if path == "/contact/":
        out += [("mailto:hello@acme.example", None, None, "a", "href", "Email us", "main", None, "other", 4),
                ("tel:+15555550100", None, None, "a", "href", "Call us", "main", None, "other", 4)]
    if path in next_of:
        nxt = next_of[path]
        out.append((base + nxt, None, None, "a", "href", "Next: " + title(nxt), "main", None, "other", 4))
    out += [(url, None, None, "a", "href", name, "footer", None, "profile", 5) for name, url in site.SOCIAL.items()]
    return out


def synthesize(pages_wanted: int, db_path: str, base: str = "http://127.0.0.1:8080", seed: int = 1,
               batch: int = 5000) -> dict:
    """Write the store; returns counts (pages, links, urls) and seconds."""
    started = time.monotonic()
    rng = random.Random(seed)
    fixed = site.FIXED
    n_products = (pages_wanted - len(fixed)) // 5
    products = [f"/products/p-{i:05d}/" for i in range(n_products)]
    posts = [f"/blog/posts/post-{i:05d}/" for i in range(pages_wanted - len(fixed) - n_products)]
    site_pages = [u for u in fixed if u != "/blog/"] + products
    pages = fixed + products + posts
    next_of = {"/products/": products[0], "/blog/": posts[0], **dict(zip(products, products[1:])),
               **dict(zip(posts, posts[1:]))}
    home = base + "/"
    options = {"accept": [], "allow_private": [], "blog": [], "cache_age_seconds": 86400.0, "check_external": False,
               "check_social": False, "concurrency": 16, "conversion": [], "depth": None, "directories": {},
               "exclude": [], "exclude_path": [], "ignore_robots": True, "include": [], "insecure": False,
               "max_pages": 0, "max_size": 10, "max_time_seconds": None, "mounts": {}, "remap": [],
               "site": [home], "sitemaps": True, "social": [], "timeout": 20, "user_agent": None}
    store = Store(db_path)
    crawl_id = store.create_crawl([home], options)
    store.set_origins(crawl_id, {base: base})
    db = store.db
    db.execute("PRAGMA synchronous = OFF")
    terms = {}

    def term(t):
        if t is None:
            return None
        if t not in terms:
            terms[t] = store._term(t)  # (the store's own term table)
        return terms[t]

    with db:
        for t in ("link", "href", "head", "other", "img", "src", "header", "a", "main", "footer", "profile", "form",
                  "action", "share", "sitemap", "loc"):
            term(t)
    urls = Urls(base, pages)
    redirects: set[str] = set()
    broken: set[str] = set()
    n_links = 0
    page_sql = ("INSERT INTO pages (crawl_id, url_id, fetched_url, role, method, depth, status, error_kind, reason,"
                " location, headers, content_type, title, lead_form, anchors, parsed, fetched_at, elapsed, signals)"
                " VALUES (?, ?, ?, ?, 'GET', ?, ?, NULL, NULL, ?, ?, ?, ?, ?, ?, ?, ?, 0.01, ?)")
    link_sql = ("INSERT INTO links (crawl_id, source_id, key_id, target_id, fragment, tag, attr, region, kind, icon,"
                " rel, text, line, pos) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)")
    frontier_sql = "INSERT OR IGNORE INTO frontier (crawl_id, url_id, fetch, state) VALUES (?, ?, ?, 'done')"

    def fetch(url, role="page", depth=2):
        return json.dumps({"url": url, "role": role, "depth": depth, "method": "GET"})

    def write(page_rows, link_rows, frontier_rows):
        with db:
            db.executemany("INSERT INTO urls (id, url) VALUES (?, ?)", urls.flush())
            db.executemany(page_sql, page_rows)
            db.executemany(link_sql, link_rows)
            db.executemany(frontier_sql, frontier_rows)

    page_rows, link_rows, frontier_rows = [], [], []
    for idx, path in enumerate(pages):
        url = base + path
        uid = urls(url)
        depth = 0 if path == "/" else 1 if path in fixed else 2
        lead = path in ("/contact/", "/signup/")
        page_rows.append((crawl_id, uid, url, "page", depth, 200, None, HEADERS, "text/html",
                          f"{site.title_of(path)} | Acme", int(lead),
                          '["intro", "details", "summary", "plans"]' if path == "/pricing/" else ANCHORS, 1, NOW,
                          lead_signals(url) if lead else None))
        frontier_rows.append((crawl_id, uid, fetch(url, depth=depth)))
        for pos, (key, target, fragment, tag, attr, text, region, rel, kind, line) in enumerate(
                page_links(rng, idx, path, products, posts, site_pages, next_of, base)):
            link_rows.append((crawl_id, uid, urls(key), None if target is None else urls(target), fragment,
                              term(tag), term(attr), term(region), term(kind), rel, text, line, pos))
            if key.startswith(base) and not key.endswith("/") and "/static/" not in key:
                if key[len(base):] in site.BROKEN:
                    broken.add(key)
                else:
                    redirects.add(key)
            elif key[len(base):] in site.BROKEN:
                broken.add(key)
        if len(page_rows) >= batch:
            n_links += len(link_rows)
            write(page_rows, link_rows, frontier_rows)
            page_rows, link_rows, frontier_rows = [], [], []
            if idx % 100_000 < batch:
                log.info("%d pages, %d links (%.0f s)", idx + 1, n_links, time.monotonic() - started)
    # the other URLs the crawl fetched: 301s, 404s, assets, sitemap.xml (and its links to every page)
    for key in sorted(redirects):
        uid = urls(key)
        page_rows.append((crawl_id, uid, key, "page", 3, 301, key + "/", HEADERS.replace("7000", "0"), None, None,
                          0, None, 0, NOW, None))
        frontier_rows.append((crawl_id, uid, fetch(key, depth=3)))
    for key in sorted(broken):
        uid = urls(key)
        page_rows.append((crawl_id, uid, key, "page", 3, 404, None, HEADERS.replace("7000", "335"), "text/html",
                          None, 0, None, 0, NOW, None))
        frontier_rows.append((crawl_id, uid, fetch(key, depth=3)))
    for path, ctype in (("/static/site.css", "text/css"), ("/static/logo.svg", "image/svg+xml")):
        uid = urls(base + path)
        page_rows.append((crawl_id, uid, base + path, "asset", 1, 200, None, HEADERS, ctype, None, 0, None,
                          int(ctype == "text/css"), NOW, None))
        frontier_rows.append((crawl_id, uid, fetch(base + path, "asset", 1)))
    sitemap = base + "/sitemap.xml"
    uid = urls(sitemap)
    page_rows.append((crawl_id, uid, sitemap, "sitemap", 0, 200, None, None, "application/xml", None, 0, None, 1,
                      NOW, None))
    frontier_rows.append((crawl_id, uid, fetch(sitemap, "sitemap", 0)))
    write(page_rows, link_rows, frontier_rows)
    n_links += len(link_rows)
    sitemap_rows = ((crawl_id, uid, i + 1, None, None, term("sitemap"), term("loc"), None, term("other"), None,
                     None, None, None) for i in range(len(pages)))
    with db:
        db.executemany(link_sql, sitemap_rows)
    n_links += len(pages)
    store.set_limits(crawl_id, {"max_pages": 0, "depth": 0, "traps": {}})
    store.finish_crawl(crawl_id, "complete")
    n_urls = db.execute("SELECT count(*) FROM urls").fetchone()[0]
    n_rows = db.execute("SELECT count(*) FROM pages").fetchone()[0]
    store.close()
    return {"crawl": crawl_id, "pages": len(pages), "page_rows": n_rows, "links": n_links, "urls": n_urls,
            "seconds": round(time.monotonic() - started, 1), "bytes": os.path.getsize(db_path)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, required=True, help="pages of the bench site (>= 20)")
    ap.add_argument("--db", required=True, help="the store to write (must not exist)")
    ap.add_argument("--base", default="http://127.0.0.1:8080", help="the site's origin (default %(default)s)")
    ap.add_argument("--seed", type=int, default=1, help="gen_site's --seed (default 1)")
    ap.add_argument("--batch", type=int, default=5000, help="pages per transaction (default 5000)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.pages < 20:
        ap.error("--pages must be >= 20")
    if os.path.exists(args.db):
        ap.error(f"{args.db} exists: give a new path")
    print(json.dumps(synthesize(args.pages, args.db, args.base.rstrip("/"), args.seed, args.batch)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
