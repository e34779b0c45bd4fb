"""Workers of a cluster crawl (crawler.worker): real redis-server, real worker processes, a real
local site. The coordinator and the writer are left out: the tests announce the crawl, decide
when it is done and read the ``items`` stream themselves, as those would."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from conftest import ROOT, Route, SiteServer, process_gone

from crawler import cluster
from crawler.options import CrawlOptions

PAGES = 60


def _tree(handler, pages=PAGES, delay=0.01):
    """/p/N: a binary tree of ``pages`` pages, each linking a twitter profile in its header and,
    every tenth, a page that is gone; the profile links back."""
    path = handler.path
    time.sleep(delay)
    if path.startswith("/_social/"):
        return Route(200, body='<main><a href="https://res.test/p/0">our site</a></main>')
    if not path.startswith("/p/") or not path[3:].isdigit() or int(path[3:]) >= pages:
        return Route(404, body="<h1>not found</h1>")
    n = int(path[3:])
    kids = "".join(f'<a href="/p/{k}">page {k}</a>' for k in (2 * n + 1, 2 * n + 2))
    broken = '<a href="/gone/">old</a>' if n % 10 == 9 else ""
    return Route(200, body=f'<header><a href="https://twitter.com/restest">Twitter</a></header>'
                           f'<main><h1>page {n}</h1>{kids}{broken}</main>')


def _options(srv: SiteServer, **kw) -> CrawlOptions:
    return CrawlOptions(site=("https://res.test/",), sitemaps=False, concurrency=2,
                        remap=(rf"^https://res\.test/(.*) {srv.url}/\1",
                               rf"^https://twitter\.com/(.*) {srv.url}/_social/twitter.com/\1"), **kw)


def _announce(client, options: CrawlOptions, targets=("https://res.test/p/0",), crawl_id=1, db=None) -> str:
    token = cluster.new_token(crawl_id)
    crawl = {"id": crawl_id, "targets": list(targets), "options": options.to_json()}
    cluster.announce(client, cluster.announcement(token, crawl, db, False))
    return token


def _worker(redis_url: str, token: str | None = None, log=None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-m", "crawler.worker", "--redis", redis_url] + (["--token", token] if token else [])
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
    return [cluster.decode(f[b"i"]) for _, f in client.xrange(cluster.key(token, "items"))]


def _fetched(srv: SiteServer) -> Counter:
    return Counter(path for method, path in srv.requests if method == "GET" and path.startswith("/p/"))


@pytest.fixture
def client(redis_url):
    c = cluster.connect(redis_url)
    yield c
    c.close()


def test_two_workers_split_the_pages_and_fetch_none_twice(redis_url, client):
    srv = SiteServer(routes={"*": _tree})
    try:
        token = _announce(client, _options(srv))
        workers = [_worker(redis_url, token) for _ in range(2)]
        _finish(client, token, workers)
    finally:
        srv.close()
    fetched = _fetched(srv)
    assert set(fetched) == {f"/p/{n}" for n in range(PAGES)} | {f"/p/{n}" for n in range(PAGES, 2 * PAGES + 1)}
    assert max(fetched.values()) == 1, [p for p, c in fetched.items() if c > 1]
    items = _items(client, token)
    pages = Counter(i["page"]["url"] for i in items if not i.get("partial"))
    assert max(pages.values()) == 1
    ok = {u for u in pages if u.startswith("https://res.test/p/")}
    assert len(ok) == 2 * PAGES + 1
    by_worker = Counter(client.hkeys(cluster.key(token, "workers")))  # (empty: both left)
    assert not by_worker
