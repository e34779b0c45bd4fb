"""Workers of a cluster crawl (crawler.worker): real redis-server, real worker processes, a real
local site. The coordinator and the writer are left out: the tests announce the crawl, decide
when it is done and read the ``items`` stream themselves, as those would."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from conftest import ROOT, Route, SiteServer, process_gone, tree_page

from crawler import cluster
from crawler.options import CrawlOptions

PAGES = 60


def _tree(handler, pages=PAGES, delay=0.01):
    """The binary tree of ``pages`` pages (conftest.tree_page)."""
    return tree_page(handler, pages, delay)


def _options(srv: SiteServer, **kw) -> CrawlOptions:
    return CrawlOptions(**{"site": ("https://res.test/",), "sitemaps": False, "concurrency": 2,
                            "remap": (rf"^https://res\.test/(.*) {srv.url}/\1",
                                      rf"^https://twitter\.com/(.*) {srv.url}/_social/twitter.com/\1"), **kw})


def _announce(client, options: CrawlOptions, targets=("https://res.test/p/0",), crawl_id=1, db=None) -> str:
    token = cluster.new_token(crawl_id)
    crawl = {"id": crawl_id, "targets": list(targets), "options": options.to_json()}
    _as_coordinator(client, cluster.announcement(token, crawl, db, False))
    return token


def _as_coordinator(client, announcement: dict) -> None:
    """Announce a crawl as a coordinator that never dies would: its running status never
    expires (a real one refreshes it, ``cluster.still_running``)."""
    cluster.announce(client, announcement)
    client.persist(cluster.key(announcement["token"], "status"))


def _worker(redis_url: str, token: str | None = None, log=None, verbose: int = 0) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-m", "crawler.worker", "--redis", redis_url] + (["--token", token] if token else [])
    argv += ["--verbose", str(verbose)] if verbose else []
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=log if log is not None else subprocess.PIPE, text=True)


def _settled(client, token: str) -> bool:
    """What the coordinator checks: the start is made, no request waits or is in flight."""
    if client.get(cluster.key(token, "started")) != b"1":
        return False
    requests = cluster.key(token, "requests")
    if client.xlen(requests):
        return False
    return all(g["pending"] == 0 and g.get("lag") in (0, None) for g in client.xinfo_groups(requests))


def _finish(client, token: str, workers, timeout=60) -> None:
    """Wait until the crawl is settled twice 0.3 s apart, say it is done, and see the workers exit 0."""
    deadline = time.monotonic() + timeout
    calm = 0
    while calm < 2:
        assert time.monotonic() < deadline, "the crawl did not settle"
        calm = calm + 1 if _settled(client, token) else 0
        time.sleep(0.3)
    client.set(cluster.key(token, "status"), "done")
    for w in workers:
        code = w.wait(timeout=30)
        assert code == 0, (w.stderr.read() if w.stderr else "")


def _items(client, token: str) -> list[dict]:
    return [cluster.decode_item(f[b"i"]) for _, f in client.xrange(cluster.key(token, "items"))]


def _fetched(srv: SiteServer) -> Counter:
    return Counter(path for method, path in srv.requests if method == "GET" and path.startswith("/p/"))


@pytest.fixture
def client(redis_url):
    c = cluster.connect(redis_url)
    yield c
    c.close()


def test_two_workers_split_the_pages_and_fetch_none_twice_one_started_before_the_crawl(redis_url, client):
    """One worker waits for a crawl (it never gives up on an empty Redis), the other is started
    for it; they split the pages, and the server sees every page once."""
    srv = SiteServer(routes={"*": _tree})
    early = _worker(redis_url)
    try:
        time.sleep(1.5)  # long enough to have given up, were it to give up on an empty Redis
        assert early.poll() is None, early.stderr.read()
        token = _announce(client, _options(srv))
        late = _worker(redis_url, token)
        _finish(client, token, [early, late])
    finally:
        if early.poll() is None:
            early.kill()
        srv.close()
    fetched = _fetched(srv)
    assert set(fetched) == {f"/p/{n}" for n in range(2 * PAGES + 1)}  # (/p/60 ... /p/120 answer 404)
    assert max(fetched.values()) == 1, [p for p, c in fetched.items() if c > 1]
    pages = Counter(i["page"]["url"] for i in _items(client, token) if not i.get("partial"))
    assert max(pages.values()) == 1
    assert set(pages) == ({f"https://res.test/p/{n}" for n in range(2 * PAGES + 1)}
                          | {"https://res.test/gone/", "https://twitter.com/restest"})
    assert not client.hkeys(cluster.key(token, "workers"))  # both left


def test_a_worker_without_redis_says_so_and_exits_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "crawler.worker", "--redis", f"unix://{tmp_path}/none.sock"],
                            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"funnelcheck: error: cannot reach Redis at unix://{tmp_path}/none.sock")


def test_a_worker_of_another_version_does_not_join(redis_url, client):
    """Workers on other machines may run another funnelcheck: one that would not read what the
    crawl's processes put in Redis says so and exits 2, and touches nothing of the crawl."""
    token = cluster.new_token(9)
    announced = cluster.announcement(token, {"id": 9, "targets": [], "options": "{}"}, None, False)
    _as_coordinator(client, {**announced, "protocol": 1})
    result = subprocess.run([sys.executable, "-m", "crawler.worker", "--redis", redis_url, "--token", token],
                            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
                            timeout=60)
    assert (result.returncode, result.stderr.strip().splitlines()[-1]) == (
        2, f"funnelcheck: error: cannot join crawl {token}: it was started by a funnelcheck of cluster protocol 1, this worker speaks "
           f"protocol {cluster.PROTOCOL}: run the same funnelcheck version on every machine")
    assert client.hlen(cluster.key(token, "workers")) == 0
    cluster.withdraw(client, token)  # (a worker of a later test, on the same Redis, would find it first)
    cluster.forget(client, token)


def test_a_worker_without_chromium_does_not_join_a_crawl_that_renders(redis_url, client, tmp_path):
    """A crawl that renders (--render auto, Chromium where it started) on a machine without Chromium
    (here: none at the coordinator's path, none on PATH): its pages would be read otherwise than
    the other workers read them, so the worker says so in one line, exits 2 and touches nothing."""
    token = cluster.new_token(9)
    options = {"render": "auto", "chromium": "/nonexistent/chromium"}
    _as_coordinator(client, cluster.announcement(token, {"id": 9, "targets": [], "options": options}, None, False))
    result = subprocess.run([sys.executable, "-m", "crawler.worker", "--redis", redis_url, "--token", token],
                            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), PATH=str(tmp_path)),
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr.strip().splitlines()[-1]) == (
        2, f"funnelcheck: error: cannot join crawl {token}: it renders pages built with JavaScript (--render auto) and this machine has "
           "no Chromium (not /nonexistent/chromium, no chromium on PATH): install it (apt-get install chromium) or "
           "put it on PATH")
    assert client.hlen(cluster.key(token, "workers")) == 0
    cluster.withdraw(client, token)  # (a worker of a later test, on the same Redis, would find it first)
    cluster.forget(client, token)


def _page_view(page: dict) -> tuple:
    """What a page row says, but its depth: with several workers a page's depth is that of the
    link which reached it first, and which one does depends on timing (README: "Crawling with
    several workers"); the findings do not depend on it."""
    return tuple(page.get(c) for c in ("url", "role", "method", "status", "error_kind", "location",
                                        "title")) + (page.get("lead_form") or 0, page.get("parsed") or 0)


def _link_view(link) -> tuple:
    if isinstance(link, dict):
        return tuple(link[c] for c in ("source", "target", "target_key", "tag", "region", "kind", "line"))
    source, target, key, _fragment, tag, _attr, _text, region, _rel, _icon, kind, line, *_ = link
    return source, target, key, tag, region, kind, line


def _one_and_two(redis_url, client, tmp_path, *args, workers=2):
    """Crawl with one process (the real CLI), then the same crawl (its stored row) with ``workers``
    workers: (pages one process stored, its links, the items the workers sent, the crawl's token)."""
    from conftest import run_cli
    from crawler.store import Store

    db = tmp_path / "c.sqlite"
    result = run_cli("audit", *args, "--db", db, "--format", "json")
    assert result.exit_code in (0, 1), result.stderr
    with Store(str(db)) as store:
        crawl = store.crawl(1)
        one = sorted(_page_view(p) for p in store.pages(1))
        one_links = Counter(_link_view(l) for l in store.links(1))
    token = cluster.new_token(1)
    _as_coordinator(client, cluster.announcement(token, crawl, None, False))
    _finish(client, token, [_worker(redis_url, token) for _ in range(workers)])
    return one, one_links, _items(client, token), token


def test_two_workers_find_what_one_process_finds(redis_url, client, tmp_path):
    """The fixture company (site, blog, social profiles, robots.txt and sitemaps): the pages and
    links two workers send are those one process stores."""
    from conftest import SITES
    from test_audit import OWN, S, remaps

    site, blog = SiteServer(SITES / "funnel" / "site"), SiteServer(SITES / "funnel" / "blog")
    social = SiteServer(SITES / "funnel" / "social",
                        routes={"/linkedin/company/shop": Route(999, body="<html><body>Request denied</body></html>")})
    try:
        one, one_links, items, _ = _one_and_two(redis_url, client, tmp_path, S, *OWN, *remaps(site, blog, social))
    finally:
        for s in (site, blog, social):
            s.close()
    assert sorted(_page_view(i["page"]) for i in items if not i.get("partial")) == one
    assert Counter(_link_view(l) for i in items for l in i["links"]) == one_links
    assert {p[1] for p in one} >= {"page", "profile", "asset", "external"}


def _renamed(handler):
    """A site whose target (https://res.test/) answers with its www. form, whose robots.txt names
    a sitemap that moved (Scrapy follows that redirect), listing a page no link reaches."""
    path = handler.path
    if path.startswith("/apex/"):
        return Route(301, {"Location": "https://www.res.test/" + path[len("/apex/"):]})
    if path == "/robots.txt":
        return Route(200, {"Content-Type": "text/plain"}, "User-agent: *\nSitemap: https://www.res.test/old-sitemap.xml\n")
    if path == "/old-sitemap.xml":
        return Route(301, {"Location": "/sitemap.xml"})
    if path == "/sitemap.xml":
        locs = "<url><loc>https://www.res.test/p/0</loc></url>"  # (depth 1 whichever way it is found first)
        return Route(200, {"Content-Type": "application/xml"},
                     '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                     f'{locs}<url><loc>https://www.res.test/hidden</loc></url></urlset>')
    if path == "/":
        return Route(200, body='<a href="/p/0">start</a>')
    if path == "/hidden":
        return Route(200, body="<h1>listed only</h1>")
    if path.startswith("/p/") and path[3:].isdigit() and int(path[3:]) < 10:
        n = int(path[3:])
        return Route(200, body=f'<a href="/p/{n + 1}">next</a><a href="https://res.test/p/3">three</a>')
    return Route(404, body="gone")


def test_a_target_that_renames_the_site_and_a_moved_sitemap_as_one_process(redis_url, client, tmp_path):
    srv = SiteServer(routes={"*": _renamed})
    try:
        one, one_links, items, _ = _one_and_two(
            redis_url, client, tmp_path, "https://res.test/", "--concurrency", "2",
            "--remap", rf"^https://res\.test/(.*) {srv.url}/apex/\1", "--remap", rf"^https://www\.res\.test/(.*) {srv.url}/\1")
    finally:
        srv.close()
    assert ("https://www.res.test/hidden", "page") in {p[:2] for p in one}  # (the sitemap was read)
    assert sorted(_page_view(i["page"]) for i in items if not i.get("partial")) == one
    assert Counter(_link_view(l) for i in items for l in i["links"]) == one_links


def test_a_resumed_crawl_fetches_what_the_frontier_stream_left_queued_and_nothing_done(redis_url, client):
    """What the coordinator does on a resume (the store's frontier into ``frontier``, its keys into
    ``seen``): the starter asks again for the queued URLs only, the pages they lead to follow."""
    import json

    srv = SiteServer(routes={"*": _tree})
    try:
        token = cluster.new_token(4)
        done = [f"https://res.test/p/{n}" for n in range(7)]             # depth 0-2: fetched before
        queued = [f"https://res.test/p/{n}" for n in range(7, 15)]       # depth 3: queued, not fetched
        frontier = cluster.key(token, "frontier")
        for url in done:
            client.xadd(frontier, {"f": cluster.encode([url, {}, "done"])})
        for url in queued:
            fetch = json.dumps({"url": url, "role": "page", "depth": 3, "method": "GET"})
            client.xadd(frontier, {"f": cluster.encode([url, fetch, "queued"])})
        client.sadd(cluster.key(token, "seen"), *[cluster.digest(u) for u in done + queued])
        crawl = {"id": 4, "targets": ["https://res.test/p/0"], "options": _options(srv).to_json(),
                 "origins": {"https://res.test": "https://res.test"}, "state": {}}
        _as_coordinator(client, cluster.announcement(token, crawl, None, True))
        _finish(client, token, [_worker(redis_url, token) for _ in range(2)])
    finally:
        srv.close()
    fetched = _fetched(srv)
    assert not {f"/p/{n}" for n in range(7)} & set(fetched)   # nothing done is asked again
    assert set(fetched) == {f"/p/{n}" for n in range(7, 2 * PAGES + 1)}
    assert max(fetched.values()) == 1
    pages = Counter(i["page"]["url"] for i in _items(client, token))
    assert set(pages) >= set(queued) and not set(pages) & set(done)


@pytest.mark.parametrize("workers", [1, 2])
def test_max_pages_and_depth_hold_across_workers(redis_url, client, tmp_path, workers):
    """``--max-pages`` and ``--depth`` with shared counters: one worker, and two, cut exactly where
    one process does and the coordinator's summary says what the process's says (two stored up to
    24 pages of 20, three 74 of 50)."""
    from crawler.extensions import cluster_limits_summary
    from crawler.store import Store

    srv = SiteServer(routes={"*": _tree})
    try:
        one, _, items, token = _one_and_two(redis_url, client, tmp_path, "https://res.test/p/0", "--no-sitemaps",
                                     "--concurrency", "2", "--max-pages", "20", "--depth", "4",
                                     "--remap", rf"^https://res\.test/(.*) {srv.url}/\1",
                                     "--remap", rf"^https://twitter\.com/(.*) {srv.url}/_social/twitter.com/\1",
                                     workers=workers)
    finally:
        srv.close()
    with Store(str(tmp_path / "c.sqlite")) as store:
        expected = store.crawl(1)["limits"]
    summary = cluster_limits_summary(client, token, finished=True)
    pages = {i["page"]["url"]: i for i in items if i["page"]["role"] == "page"}
    one_pages = [p for p in one if p[1] == "page"]
    assert len(one_pages) == 20
    assert len(pages) == 20, len(pages)  # (two workers each reserve a page near the end: none asks for a 21st)
    assert max(i["page"]["depth"] for i in pages.values()) <= 4
    # what was left out, as the summary counts it: links of crawled pages to owned pages never asked for
    left = {(l[2], i["page"]["depth"] + 1) for i in pages.values() for l in i["links"]
            if l[2].startswith("https://res.test/") and l[2] not in pages}
    assert summary["depth"] == len({k for k, d in left if d > 4}) > 0
    assert summary["max_pages"] == len({k for k, d in left if d <= 4}) > 0
    assert set(expected) == set(summary) and expected["max_pages"] > 0


def test_sigterm_stops_a_worker_cleanly_and_the_others_finish_its_work(redis_url, client):
    srv = SiteServer(routes={"*": lambda h: _tree(h, delay=0.05)})
    try:
        token = _announce(client, _options(srv), crawl_id=5)
        leaving, staying = _worker(redis_url, token), _worker(redis_url, token)
        deadline = time.monotonic() + 30
        while client.xlen(cluster.key(token, "items")) < 15:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        members = client.hkeys(cluster.key(token, "workers"))
        leaving.send_signal(signal.SIGTERM)
        assert leaving.wait(timeout=15) == 130  # stopped (interrupted), cleanly: not 143, killed by the grace
        gone = set(members) - set(client.hkeys(cluster.key(token, "workers")))
        assert len(gone) == 1  # it said it left ...
        assert not client.exists(cluster.key(token, f"alive:{gone.pop().decode()}"))  # ... at once
        _finish(client, token, [staying])
    finally:
        for w in (leaving, staying):
            if w.poll() is None:
                w.kill()
        srv.close()
    pages = {i["page"]["url"] for i in _items(client, token)}
    assert {f"https://res.test/p/{n}" for n in range(2 * PAGES + 1)} <= pages


def test_the_start_requests_of_a_starter_gone_before_it_finished_are_made_by_another(redis_url, client):
    srv = SiteServer(routes={"*": _tree})
    try:
        token = _announce(client, _options(srv), crawl_id=6)
        client.set(cluster.key(token, "starter"), "ghost:1:dead")   # won the start, then died (no alive key)
        _finish(client, token, [_worker(redis_url, token)])
    finally:
        srv.close()
    assert set(_fetched(srv)) == {f"/p/{n}" for n in range(2 * PAGES + 1)}
    assert client.get(cluster.key(token, "starter")) != b"ghost:1:dead"


def test_a_worker_that_loses_redis_says_so_and_exits_2(client):
    from crawler.redisserver import RedisServer

    srv, worker = SiteServer(routes={"*": lambda h: _tree(h, delay=0.05)}), None
    try:
        with RedisServer() as own:
            mine = cluster.connect(own.url)
            token = _announce(mine, _options(srv), crawl_id=7)
            worker = _worker(own.url, token)
            deadline = time.monotonic() + 30
            while mine.xlen(cluster.key(token, "items")) < 5:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            os.kill(own.pid, signal.SIGKILL)
            assert worker.wait(timeout=30) == 2
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        srv.close()
    said = worker.stderr.read().strip().splitlines()
    assert len(said) == 1 and said[0].startswith("funnelcheck: error: lost the crawl's Redis: "), said  # one line


def test_the_queue_encodes_a_request_as_scrapy_redis_does():
    """(its own lookup of the spider's method names, not Scrapy's inspect.getmembers)"""
    import pickle

    import scrapy
    from scrapy.utils.test import get_crawler
    from scrapy_redis.queue import Base

    from crawler.queues import StreamQueue, uncompact

    class Spider(scrapy.Spider):
        name = "s"

        def parse(self, response):
            yield from ()

        def on_error(self, failure):
            yield from ()

    spider = Spider.from_crawler(get_crawler(Spider))
    queue = StreamQueue.__new__(StreamQueue)
    queue._codec, queue.spider = Base(None, spider, "k"), spider
    for request in (scrapy.Request("https://a.example/", callback=spider.parse, errback=spider.on_error,
                                   meta={"key": "https://a.example/"}, priority=2, dont_filter=True),
                    scrapy.Request("https://a.example/b", method="HEAD")):
        ours = uncompact(queue._encode(request))
        assert ours == pickle.loads(queue._codec._encode_request(request))
        assert len(queue._encode(request)) < len(queue._codec._encode_request(request)) / 2
        decoded = queue._decode(queue._encode(request))
        assert (decoded.url, decoded.callback, decoded.errback, decoded.meta, decoded.priority, decoded.method) == \
            (request.url, request.callback, request.errback, request.meta, request.priority, request.method)
    # (a request in scrapy-redis's own pickle, as a request a worker could not compact, still reads)
    assert queue._decode(queue._codec._encode_request(request)).url == request.url


def test_a_worker_started_for_a_coordinator_dies_with_it(redis_url):
    """(``--token``: the coordinator's own workers; a kill -9 of the coordinator leaves none behind)"""
    code = ("import subprocess, sys, time\n"
            f"p = subprocess.Popen([sys.executable, '-m', 'crawler.worker', '--redis', {redis_url!r}, '--token', '9-0'])\n"
            "print(p.pid, flush=True)\n"
            "sys.stdin.read()\n")  # (until it is killed: its stdin never ends)
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    try:
        time.sleep(1.0)  # (it waits for crawl 9-0, announced nowhere)
        assert not process_gone(worker, timeout=0.1)
        parent.kill()
        parent.wait()
        assert process_gone(worker)
    finally:
        if not process_gone(worker, timeout=0.1):
            os.kill(worker, signal.SIGKILL)


def test_a_crawl_whose_coordinator_died_is_withdrawn_and_its_workers_close(redis_url):
    """A coordinator killed (kill -9, a machine gone) refreshes its crawl's running status no more:
    the status expires, the announcement is withdrawn when a waiting worker looks, and no worker
    joins or stays in the crawl (they close on a status that is gone)."""
    client = cluster.connect(redis_url)
    token = cluster.new_token(8)
    cluster.announce(client, cluster.announcement(token, {"id": 8, "targets": [], "options": "{}"}, None, False))
    assert [a["token"] for a in cluster.announced(client)].count(token) == 1
    assert 0 < client.pttl(cluster.key(token, "status")) <= cluster.HEARTBEAT_TTL * 1000
    client.sadd(cluster.key(token, "seen"), b"x")      # (a key of the crawl)
    cluster.still_running(client, token)              # the coordinator's heartbeat
    client.pexpire(cluster.key(token, "status"), 100)  # ... then its last one, 0.1 s before it is gone
    time.sleep(0.3)
    assert token not in [a["token"] for a in cluster.announced(client)]
    assert client.hget(cluster.ANNOUNCED, token) is None  # withdrawn: a worker started now waits for another
    assert list(client.scan_iter(match=cluster.namespace(token) + ":*")) == []  # and its keys are gone


def _fan(handler, links=40, delay=0.2):
    """/p/0 links to /p/1 ... /p/``links``, each a leaf answered after ``delay`` s."""
    path = handler.path
    if path != "/p/0":
        time.sleep(delay)
    if path.startswith("/p/") and path[3:].isdigit() and int(path[3:]) <= links:
        kids = "".join(f'<a href="/p/{k}">page {k}</a>' for k in range(1, links + 1)) if path == "/p/0" else ""
        return Route(200, body=f"<main><h1>{path}</h1>{kids}</main>")
    return Route(404, body="<h1>not found</h1>")


def test_a_worker_whose_coordinator_died_leaves_at_once_says_so_and_exits_2(redis_url, client):
    """The coordinator killed (its writer marks the crawl abandoned, else the status expires): the
    worker sends no more requests (those queued in its downloader, 30 here at --concurrency 1,
    stay pending in Redis for a resume; seen: fetched for seconds, and thrown away), ends with
    one line that says why, and exits 2 (it exited 0, silently)."""
    srv = SiteServer(routes={"*": _fan})
    worker = None
    try:
        token = _announce(client, _options(srv, concurrency=1), crawl_id=10)
        worker = _worker(redis_url, token)
        deadline = time.monotonic() + 30
        while len(srv.requests) < 4:   # /p/0 answered: its 40 links wait in the worker, one at a time
            assert time.monotonic() < deadline
            time.sleep(0.05)
        client.set(cluster.key(token, "status"), cluster.ABANDONED, px=5000)
        time.sleep(1.0)                # (the worker looks every 0.2 s)
        asked = len(srv.requests)
        assert worker.wait(timeout=15) == 2
        assert len(srv.requests) - asked <= 1, srv.requests[asked:]
        assert asked < 15
        said = worker.stderr.read().strip().splitlines()
        assert said == [f"funnelcheck: error: crawl {token} has no coordinator any more (it was killed, or lost "
                        f"Redis): leaving it; `funnelcheck resume` continues it"], said
        requests = cluster.key(token, "requests")   # what it did not fetch is still to do
        assert client.xlen(requests) >= 40 - asked
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        srv.close()


def _delivered(client, stream: str) -> bytes:
    """The last entry of ``stream`` a worker read."""
    return next(g["last-delivered-id"] for g in client.xinfo_groups(stream) if g["name"] == cluster.WORKERS_GROUP.encode())


def test_a_worker_waits_for_a_writer_that_is_behind(redis_url, client, tmp_path):
    """The items stream holds what the writer has not stored: past ``max_unwritten`` pages (1000
    by default) a worker reads no new request until the writer catches up (seen: workers ran on
    while the writer was dead, every page thrown away, and Redis's memory grew with them)."""
    srv = SiteServer(routes={"*": lambda h: _tree(h, pages=150, delay=0.01)})
    worker, log = None, tmp_path / "worker.log"
    try:
        token = cluster.new_token(11)
        crawl = {"id": 11, "targets": ["https://res.test/p/0"], "options": _options(srv).to_json()}
        _as_coordinator(client, {**cluster.announcement(token, crawl, None, False), "max_unwritten": 10})
        with open(log, "w") as fh:
            worker = _worker(redis_url, token, log=fh, verbose=1)
        items, requests = cluster.key(token, "items"), cluster.key(token, "requests")
        # it says it waits, and what it had read before it knew is fetched and sent (acknowledged):
        # from then on nothing moves (a fixed 0.6 s for that was too short on a loaded machine)
        deadline = time.monotonic() + 30
        while not ("the writer has" in log.read_text() and "waiting for it" in log.read_text()
                   and client.xpending(requests, cluster.WORKERS_GROUP)["pending"] == 0):
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.05)
        held, read = client.xlen(items), _delivered(client, requests)
        assert 10 <= held <= 10 + 2 * 32, held   # (what it had read, and handed its downloader, before it knew)
        time.sleep(0.4)
        assert (client.xlen(items), _delivered(client, requests)) == (held, read)  # it waits, and reads nothing
        client.xtrim(items, maxlen=0)      # the writer stored them
        deadline = time.monotonic() + 30
        while client.xlen(items) < 10:     # it goes on
            assert time.monotonic() < deadline
            time.sleep(0.05)
        client.set(cluster.key(token, "status"), "stopped")
        assert worker.wait(timeout=15) == 0
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        srv.close()
    assert len(_fetched(srv)) < 2 * 150


def test_a_waiting_worker_says_so_once_and_a_signal_stops_it_with_130(redis_url):
    """Without -v a worker that waits for a crawl says so (once: it printed nothing, as if hung);
    Ctrl-C or SIGTERM stop it as they stop a working one: 130 (it exited 0)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        waiting = _worker(redis_url, token="0-nothing")
        try:
            assert select.select([waiting.stderr], [], [], 15)[0], "it said nothing"
            assert waiting.stderr.readline().strip() == "funnelcheck worker: waiting for crawl 0-nothing to be announced"
            time.sleep(0.3)
            waiting.send_signal(sig)
            assert waiting.wait(timeout=15) == 130
            assert waiting.stderr.read() == ""
        finally:
            if waiting.poll() is None:
                waiting.kill()


def test_max_pages_is_reserved_page_by_page_near_its_end_across_workers(client):
    """Two workers near --max-pages (each sees 0 of 3 counted): the first reserves the 3 pages it
    decides, the second is refused all (before, each decided on its own view: 3 + 3 pages; three
    workers stored 74 pages of a --max-pages 50). The step that sends them counts them and gives
    the reservations back; a page allowed then not asked for (excluded) gives its own back."""
    from crawler.extensions import _RESERVE, ClusterLimits
    from crawler.streams import Sender

    token = cluster.new_token(12)
    limits_key = cluster.key(token, "limits")
    first, second = ClusterLimits(max_pages=3), ClusterLimits(max_pages=3)
    for worker in (first, second):
        worker.reserver = (client, client.register_script(_RESERVE), limits_key)
    keys = [f"https://a.example/{n}" for n in range(4)]
    assert first.allow(keys[0], 1)           # allowed, then excluded: never scheduled
    for key in keys[1:]:
        assert first.allow(key, 1)
        first.scheduled()
    assert not second.allow("https://a.example/other", 1)
    sender = Sender(client, token)
    sender.limits = first
    sender.send([], [], None, keys=keys[1:])    # the pages' step: counted, reservations back
    assert client.hmget(limits_key, "pages", "reserved") == [b"3", b"0"]
    assert not second.allow("https://a.example/more", 1)
    assert client.smembers(cluster.key(token, "limits:max_pages")) == set()  # (the second's cuts: with its next step)
