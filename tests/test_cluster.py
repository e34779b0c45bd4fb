"""A crawl of many processes (issue 21): the one writer, the coordinator, and crawls end to end.

The writer's and the coordinator's own tests push hand-made items into a real ``redis-server``
(the test playing the one worker) and read the real store written; the end-to-end tests crawl a
real local site of 200 pages with real workers (``python -m crawler.worker``) and compare with a
one-process crawl of the same site as tests/test_resume.py compares a resumed crawl: 3 workers
ask the server for every URL exactly as often as one process does; a worker killed mid-crawl
leaves the crawl to the others; one crawl cut five ways (kill -9 of the writer, of Redis, of
every worker, SIGTERM and kill -9 of the coordinator) and resumed each time ends identical,
every page and link stored once; a worker started before the crawl is announced joins it.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT, Route, SiteServer, process_gone, run_cli, wait_for_row

from crawler import cluster
from crawler.render import SAMPLES
from crawler.store import Store


def _client(url):
    return cluster.connect(url)


def _item(url: str, links=(), discovered=(), state=None, partial=False, replace_links=False, cache=False,
          role="page", status=200) -> dict:
    page = {"url": url, "fetched_url": url, "role": role, "method": "GET", "depth": 1, "status": status,
            "content_type": "text/html", "title": f"title of {url}", "parsed": 1, "fetched_at": "2026-12-06T20:00:00Z"}
    rows = [(url, target, target, None, "a", "href", f"to {target}", "body", "", 0, "page", 3, i)
            for i, target in enumerate(links)]
    return {"page": page, "links": rows, "discovered": [(d, f'{{"url": "{d}", "role": "page"}}') for d in discovered],
            "state": state, "partial": partial, "replace_links": replace_links, "cache": cache}


def _push(client, token: str, items) -> list[bytes]:
    return [client.xadd(cluster.key(token, "items"), {"i": cluster.encode(item)}) for item in items]


def _crawl(db: Path) -> int:
    with Store(db) as store:
        return store.create_crawl(["https://w.test/"], {})


def _writer(redis_url: str, token: str, db: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crawler.writer", "--redis", redis_url, "--token", token,
                           "--db", str(db)], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def _rows(db: Path, sql: str, *params) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _pages(db: Path) -> list[tuple]:
    return sorted(_rows(db, "SELECT u.url, p.status, p.title FROM pages p JOIN urls u ON u.id = p.url_id"))


def _links(db: Path) -> list[tuple]:
    return sorted(_rows(db, "SELECT s.url, k.url, l.pos FROM links l JOIN urls s ON s.id = l.source_id"
                            " JOIN urls k ON k.id = l.key_id"))


def _frontier(db: Path) -> list[tuple]:
    return sorted(_rows(db, "SELECT u.url, f.state FROM frontier f JOIN urls u ON u.id = f.url_id"))


# -- the writer -------------------------------------------------------------------------------
def test_the_writer_stores_every_item_once_acknowledges_it_and_ends_when_the_crawl_is_done(redis_url, tmp_path):
    db = tmp_path / "c.sqlite"
    crawl_id = _crawl(db)
    token = cluster.new_token(crawl_id)
    client = _client(redis_url)
    home = _item("https://w.test/", links=["https://w.test/a", "https://w.test/b"],
                 discovered=["https://w.test/a", "https://w.test/b"],
                 state={"known_handles": ["wtest"], "origins": {"https://w.test": "https://w.test"}, "seq": 2})
    older = _item("https://w.test/a", state={"known_handles": [], "origins": {}, "seq": 1})  # an older state
    ext = _item("https://x.example/", role="external", cache=True)
    again = _item("https://w.test/", links=["https://w.test/zzz"])  # the same page sent twice: stored once
    _push(client, token, [home, older, ext, again])
    client.set(cluster.key(token, "status"), "done")

    done = _writer(redis_url, token, db)

    assert (done.returncode, done.stderr) == (0, "")
    assert _pages(db) == [("https://w.test/", 200, "title of https://w.test/"),
                          ("https://w.test/a", 200, "title of https://w.test/a"),
                          ("https://x.example/", 200, "title of https://x.example/")]
    assert _links(db) == [("https://w.test/", "https://w.test/a", 0), ("https://w.test/", "https://w.test/b", 1)]
    assert _frontier(db) == [("https://w.test/", "done"), ("https://w.test/a", "done"),
                             ("https://w.test/b", "queued"), ("https://x.example/", "done")]
    with Store(db) as store:
        crawl = store.crawl(crawl_id)
        assert crawl["state"]["seq"] == 2 and crawl["state"]["known_handles"] == ["wtest"]  # the newest state
        assert crawl["status"] == "running"  # the coordinator finishes the row, not the writer
        assert store.cached("https://x.example/", 3600)["status"] == 200
    items = cluster.key(token, "items")
    assert client.xlen(items) == 0  # acknowledged and deleted
    assert client.xpending(items, cluster.WRITER_GROUP)["pending"] == 0


def test_a_writer_killed_before_its_acknowledgement_stores_nothing_twice(redis_url, tmp_path):
    """A writer killed between its commit and its XACK: the items it had read stay pending in
    Redis; the next writer reads them first and skips the pages the store already holds."""
    from crawler.writer import CONSUMER, ensure_group

    db = tmp_path / "c.sqlite"
    crawl_id = _crawl(db)
    token = cluster.new_token(crawl_id)
    client = _client(redis_url)
    items = cluster.key(token, "items")
    ensure_group(client, items, cluster.WRITER_GROUP)
    first = [_item(f"https://w.test/{n}", links=[f"https://w.test/{n + 1}"]) for n in range(4)]
    _push(client, token, first)
    # the killed writer: it read the four, committed the first two, and never acknowledged any
    read = client.xreadgroup(cluster.WRITER_GROUP, CONSUMER, {items: ">"}, count=10)[0][1]
    assert len(read) == 4
    with Store(db) as store:
        for item in first[:2]:
            store.write_page(crawl_id, item["page"], [tuple(r) for r in item["links"]])
    _push(client, token, [_item("https://w.test/9")])  # sent after it died
    client.set(cluster.key(token, "status"), "done")

    done = _writer(redis_url, token, db)

    assert (done.returncode, done.stderr) == (0, "")
    assert [p[0] for p in _pages(db)] == [f"https://w.test/{n}" for n in (0, 1, 2, 3, 9)]
    assert _links(db) == [(f"https://w.test/{n}", f"https://w.test/{n + 1}", 0) for n in range(4)]  # once each
    assert client.xlen(items) == 0 and client.xpending(items, cluster.WRITER_GROUP)["pending"] == 0


def test_a_sitemap_in_parts_is_written_whole_and_a_replay_of_its_parts_adds_nothing(redis_url, tmp_path):
    db = tmp_path / "c.sqlite"
    crawl_id = _crawl(db)
    client = _client(redis_url)
    sitemap = "https://w.test/sitemap.xml"
    parts = [_item(sitemap, links=["https://w.test/s1"], partial=True, replace_links=True, role="sitemap"),
             _item(sitemap, links=["https://w.test/s2"], partial=True, role="sitemap"),
             _item(sitemap, links=["https://w.test/s3"], role="sitemap")]
    for round_ in range(2):  # the second: the same parts read again (a replay after a kill)
        token = cluster.new_token(crawl_id)
        _push(client, token, parts)
        client.set(cluster.key(token, "status"), "done")
        done = _writer(redis_url, token, db)
        assert (done.returncode, done.stderr) == (0, "")
        assert [p[0] for p in _pages(db)] == [sitemap]
        assert sorted(k for _, k, _ in _links(db)) == ["https://w.test/s1", "https://w.test/s2", "https://w.test/s3"]


def test_a_page_rendered_after_it_was_stored_as_served_replaces_it_and_a_replay_writes_it_once(redis_url, tmp_path):
    """--render: a sample of its template is stored as served, then its rendered reading (which
    ``rereads`` it) replaces it, page, links and the links only rendering shows; the same two
    items read again (a writer killed before its acknowledgement) leave the same rows."""
    db = tmp_path / "c.sqlite"
    crawl_id = _crawl(db)
    client = _client(redis_url)
    home = "https://w.test/"
    served = _item(home, links=[home + "a"])
    served["page"].update(read_as="raw", render_why="a sample of its template")
    rendered = _item(home, links=[home + "a", home + "demo"], replace_links=True)
    rendered["page"].update(read_as="rendered", render_why="a sample of its template", title="rendered")
    rendered.update(rereads=True, render_links=[(home, home + "demo", "a", "footer", "Book a demo", "js")])
    token = cluster.new_token(crawl_id)
    _push(client, token, [served, rendered, served, rendered])  # (the last two: read again, a replay after a kill)
    client.set(cluster.key(token, "status"), "done")
    done = _writer(redis_url, token, db)
    assert (done.returncode, done.stderr) == (0, "")
    assert _pages(db) == [(home, 200, "rendered")]
    assert _links(db) == [(home, home + "a", 0), (home, home + "demo", 1)]
    with Store(db) as store:
        assert list(store.render_links(crawl_id)) == [(home, home + "demo", "a", "footer", "Book a demo", "js")]
        assert store.read_as(crawl_id) == {"raw": 0, "rendered": 1, "unrendered": []}


def test_the_workers_render_plan_is_one_plan_as_one_process_has(redis_url):
    """--render auto with several workers: the template's samples are the crawl's (SAMPLES in all,
    not per worker), the pages any worker read as served while they were out are rendered once
    one differs (by the worker that learned it), a template whose samples were alike renders on
    no worker, and what passed the re-render bound reaches the crawl's limits: as one process."""
    from crawler.clustered import ClusterRenderPlan
    from crawler.extensions import cluster_limits_summary
    from crawler.render import REQUEUE, SAMPLE, TEMPLATE, RenderPlan

    client = _client(redis_url)
    token = cluster.new_token(5)
    one = RenderPlan("auto", browser=True)
    workers = [ClusterRenderPlan("auto", True, client, token) for _ in range(2)]

    def both(url: str, worker: int):
        return one.decide(url, None), workers[worker].decide(url, None)

    c = [f"https://a.example/c/{i}" for i in range(6)]
    assert [both(url, i % 2) for i, url in enumerate(c[:5])] == [(SAMPLE, SAMPLE)] * 3 + [(None, None)] * 2
    assert one.learn("https://a.example/c/*", differs=False) == workers[1].learn("https://a.example/c/*", False) == []
    assert one.learn("https://a.example/c/*", differs=True) == workers[0].learn("https://a.example/c/*", True) == c[3:5]
    assert both(c[5], 1) == (TEMPLATE, TEMPLATE)
    d = [f"https://a.example/d/{i}" for i in range(4)]
    assert [both(url, i % 2) for i, url in enumerate(d[:3])] == [(SAMPLE, SAMPLE)] * 3
    for i in range(3):
        assert one.learn("https://a.example/d/*", False) == workers[i % 2].learn("https://a.example/d/*", False) == []
    assert both(d[3], 0) == (None, None) and workers[0].settled == {"https://a.example/c/*": True,
                                                                   "https://a.example/d/*": False}
    e = [f"https://a.example/e/{i}" for i in range(REQUEUE + 5)]
    assert {both(url, i % 2) for i, url in enumerate(e)} == {(SAMPLE, SAMPLE), (None, None)}
    assert one.learn("https://a.example/e/*", True) == workers[1].learn("https://a.example/e/*", True) == e[3:REQUEUE + 3]
    assert one.unrendered() == workers[0].unrendered() == {"https://a.example/e/*": 2}
    assert cluster_limits_summary(client, token)["unrendered"] == {"https://a.example/e/*": 2}
    assert client.hget(cluster.key(token, "render"), "waited") == b"0"
    cluster.forget(client, token)


def test_a_writer_waits_while_the_crawl_runs(redis_url, tmp_path):
    """Nothing in the stream is not the end: the writer ends only once the crawl is done."""
    db = tmp_path / "c.sqlite"
    crawl_id = _crawl(db)
    token = cluster.new_token(crawl_id)
    client = _client(redis_url)
    client.set(cluster.key(token, "status"), "running")
    proc = subprocess.Popen([sys.executable, "-m", "crawler.writer", "--redis", redis_url, "--token", token,
                             "--db", str(db)], cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        assert proc.poll() is None
        _push(client, token, [_item("https://w.test/late")])
        client.set(cluster.key(token, "status"), "done")
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert [p[0] for p in _pages(db)] == ["https://w.test/late"]


def test_a_writer_whose_coordinator_died_marks_the_crawl_abandoned(redis_url, tmp_path):
    """kill -9 of the coordinator: its writer (SIGTERM, as it dies with it) stores what it holds and
    says so in the crawl's status, so workers on other machines leave at once (they went on
    fetching for the status's 5 s, every page thrown away); the status still expires."""
    db = tmp_path / "c.sqlite"
    token = cluster.new_token(_crawl(db))
    client = _client(redis_url)
    client.set(cluster.key(token, "status"), "running")
    code = ("import subprocess, sys\n"
            "from crawler.run import _die_with_parent\n"
            f"p = subprocess.Popen([sys.executable, '-m', 'crawler.writer', '--redis', {redis_url!r}, '--token', "
            f"{token!r}, '--db', {str(db)!r}], preexec_fn=_die_with_parent)\n"
            "print(p.pid, flush=True)\n"
            "sys.stdin.read()\n")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    writer = int(parent.stdout.readline())
    try:
        _push(client, token, [_item("https://w.test/a")])
        wait_for_row(db, "SELECT count(*) FROM pages", lambda r: r[0] == 1)
        parent.kill()
        parent.wait()
        assert process_gone(writer)
        assert client.get(cluster.key(token, "status")) == cluster.ABANDONED
        assert 0 < client.pttl(cluster.key(token, "status")) <= cluster.HEARTBEAT_TTL * 1000
    finally:
        if not process_gone(writer, timeout=0.1):
            os.kill(writer, signal.SIGKILL)


def test_a_full_disk_fails_the_crawl_from_the_writer(redis_url, tmp_path):
    from crawler.run import STORE_FAILED_EXIT

    sys.path.insert(0, str(ROOT / "tests" / "reliability"))
    from test_stores import tmpfs

    with tmpfs(tmp_path / "disk", "size=1m") as disk:
        db = disk / "c.sqlite"
        crawl_id = _crawl(db)
        token = cluster.new_token(crawl_id)
        client = _client(redis_url)
        client.set(cluster.key(token, "status"), "running")
        filler = "x" * 4000
        items = []
        for n in range(400):  # ~4 MB of links: far more than the disk holds
            item = _item(f"https://w.test/{n}", links=[f"https://w.test/{n}/{k}" for k in range(3)])
            item["links"] = [row[:6] + (filler,) + row[7:] for row in item["links"]]
            items.append(item)
        _push(client, token, items)

        done = _writer(redis_url, token, db)

        why = f"cannot write the crawl store {db}: the disk is full"
        assert done.returncode == STORE_FAILED_EXIT
        assert done.stderr.strip().splitlines()[-1] == why
        assert client.get(cluster.key(token, "status")) == b"stopped"  # every worker closes
        row = _rows(db, "SELECT status, error FROM crawls")[0]
        assert row == ("failed", why)
        stored = _rows(db, "SELECT count(*) FROM pages")[0][0]
        assert stored < 400
        assert client.xlen(cluster.key(token, "items")) == 400 - stored  # the rest was never acknowledged


# -- the coordinator, with the test as its one worker -----------------------------------------
def _as_worker(client, crawl_id: int, items: list[dict], timeout: float = 30, started: bool = True) -> str:
    """Join the crawl announced for ``crawl_id`` as a worker would: take the one request of the
    ``requests`` stream, send the items it made and acknowledge it in one MULTI, say the start
    requests are all scheduled (unless not ``started``). Returns the crawl's token."""
    deadline = time.monotonic() + timeout
    while True:
        mine = [a for a in cluster.announced(client) if a["crawl"]["id"] == crawl_id]
        if mine:
            break
        assert time.monotonic() < deadline, "the crawl was never announced"
        time.sleep(0.05)
    token = mine[0]["token"]
    requests = cluster.key(token, "requests")
    client.xadd(requests, {"r": b"the start request"})
    if started:
        client.set(cluster.key(token, "started"), "1")
    (entry_id, _), = client.xreadgroup(cluster.WORKERS_GROUP, "w1", {requests: ">"}, count=1)[0][1]
    with client.pipeline(transaction=True) as pipe:
        for item in items:
            pipe.xadd(cluster.key(token, "items"), {"i": cluster.encode(item)})
        pipe.xack(requests, cluster.WORKERS_GROUP, entry_id)
        pipe.execute()
    return token


def test_the_coordinator_finishes_the_crawl_once_every_request_and_item_is_through(redis_url, tmp_path):
    import threading

    from crawler.coordinator import run_cluster_crawl

    db = tmp_path / "c.sqlite"
    crawl_id = _crawl(db)
    client = _client(redis_url)
    seen, result = [], {}
    thread = threading.Thread(target=lambda: result.update(out=run_cluster_crawl(
        str(db), crawl_id, 0, redis_url=redis_url, on_progress=lambda done, queued: seen.append((done, queued)))))
    thread.start()
    try:
        token = _as_worker(client, crawl_id, [_item("https://w.test/", links=["https://w.test/a"],
                                                    discovered=["https://w.test/a"]), _item("https://w.test/a")])
    finally:
        thread.join(timeout=60)
    assert result["out"][0] == 0, result["out"][1]
    assert _status(db, crawl_id) == ("complete", None)
    assert [p[0] for p in _pages(db)] == ["https://w.test/", "https://w.test/a"]
    assert seen[-1] == (2, 2)  # the last progress: every page stored
    assert not [a for a in cluster.announced(client) if a["token"] == token]  # withdrawn
    assert client.hget(cluster.ANNOUNCED, token) is None
    assert list(client.scan_iter(match=cluster.namespace(token) + ":*")) == []  # a Redis that outlives it keeps nothing


def test_a_crawl_done_as_max_time_runs_out_is_complete(redis_url, tmp_path):
    """The last pages fetched as --max-time runs out: the crawl is complete, not interrupted (a
    resume that stored the last of 315 pages stayed interrupted, and a third resume had nothing
    to fetch), though the writer has not stored them yet (it acknowledges a read 0.05 s after
    it, and later on a loaded machine: a crawl whose last item was stored and not acknowledged
    when the time ran out was interrupted; here the writer is stopped until the coordinator
    decides). The clock starts when every request is through, and runs out 0.05 s later."""
    import threading

    from crawler.coordinator import run_cluster_crawl

    db = tmp_path / "c.sqlite"
    with Store(db) as store:
        crawl_id = store.create_crawl(["https://w.test/"], {"max_time_seconds": 0.05})
    client, result = _client(redis_url), {}
    thread = threading.Thread(target=lambda: result.update(out=run_cluster_crawl(str(db), crawl_id, 0,
                                                                                 redis_url=redis_url)))
    thread.start()
    writer = None
    try:
        writer = _child(os.getpid(), "crawler.writer")
        os.kill(writer, signal.SIGSTOP)                   # (the writer behind: nothing stored, nothing acknowledged)
        token = _as_worker(client, crawl_id, [_item("https://w.test/")], started=False)
        with client.pipeline(transaction=True) as pipe:   # the clock starts with the first worker
            pipe.set(cluster.key(token, "starter"), "w1").set(cluster.key(token, "started"), "1").execute()
        deadline = time.monotonic() + 30
        while client.get(cluster.key(token, "status")) not in (b"done", b"stopped"):  # the coordinator decided
            assert time.monotonic() < deadline, "the coordinator never ended the crawl"
            time.sleep(0.05)
        assert client.get(cluster.key(token, "status")) == b"done"
    finally:
        if writer is not None:
            os.kill(writer, signal.SIGCONT)
        thread.join(timeout=60)
    assert result["out"][0] == 0, result["out"][1]
    assert _status(db, crawl_id) == ("complete", None)
    assert [p[0] for p in _pages(db)] == ["https://w.test/"]  # stored as the crawl wound down


def test_a_full_disk_ends_the_cluster_crawl_failed_with_the_one_line_of_one_process(redis_url, tmp_path):
    import threading

    from crawler.coordinator import run_cluster_crawl
    from crawler.run import STORE_FAILED_EXIT, store_failure

    sys.path.insert(0, str(ROOT / "tests" / "reliability"))
    from test_stores import tmpfs

    with tmpfs(tmp_path / "disk", "size=1m") as disk:
        db = disk / "c.sqlite"
        crawl_id = _crawl(db)
        client = _client(redis_url)
        result = {}
        thread = threading.Thread(target=lambda: result.update(out=run_cluster_crawl(str(db), crawl_id, 0,
                                                                                     redis_url=redis_url)))
        thread.start()
        try:
            big = []
            for n in range(400):  # ~4 MB of links: far more than the disk holds
                item = _item(f"https://w.test/{n}", links=[f"https://w.test/{n}/{k}" for k in range(3)])
                item["links"] = [row[:6] + ("x" * 4000,) + row[7:] for row in item["links"]]
                big.append(item)
            token = _as_worker(client, crawl_id, big)
        finally:
            thread.join(timeout=60)
        code, tail = result["out"]
        why = f"cannot write the crawl store {db}: the disk is full"
        assert (code, store_failure(tail)) == (STORE_FAILED_EXIT, why)
        assert _status(db, crawl_id) == ("failed", why)
        assert list(client.scan_iter(match=cluster.namespace(token) + ":*")) == []  # gone: its workers close


def test_workers_0_needs_a_redis_url_and_a_redis_that_answers(tmp_path):
    from crawler.coordinator import run_cluster_crawl

    db = tmp_path / "c.sqlite"
    crawl_id = _crawl(db)
    code, tail = run_cluster_crawl(str(db), crawl_id, 0)
    assert (code, tail) == (2, ("--workers 0 only coordinates workers that join from elsewhere: "
                                "give the --redis URL they join\n"))
    assert _status(db, crawl_id)[0] == "failed"
    crawl_id = _crawl(db)
    code, tail = run_cluster_crawl(str(db), crawl_id, 2, redis_url=f"unix://{tmp_path}/none.sock")
    assert code == 2 and tail.startswith(f"cannot reach Redis at unix://{tmp_path}/none.sock: ")
    assert _status(db, crawl_id) == ("failed", tail.strip())


# -- crawls end to end -------------------------------------------------------------------------
PAGES = 200
# Leaves whose footer link a script draws (--render auto, the default, renders them in Chromium):
# the first ones have text enough to look whole as served (rendered because their template's
# samples, the first SAMPLED of them read, show the footer link only once rendered: the samples
# are stored as served, then rendered; the others rendered, or read as served while the samples
# were out and rendered again); the last is all script (it needs JavaScript: rendered at once).
# Deep in the tree, so the crawls cut mid-way below reach them only once they are resumed whole.
SAMPLED = range(PAGES - 6, PAGES - 1)
SCRIPTED = range(PAGES - 6, PAGES)
_FOOTER = ('<footer id="f"></footer><script>document.getElementById("f").innerHTML = '
           '\'<a href="/p/0">Home</a>\';</script>')


def _site(handler):
    """/p/N: a binary tree of PAGES pages, each with the same header (a twitter icon) and a broken
    link every tenth page; the twitter profile links back; the SCRIPTED pages' footer link is
    drawn by a script. Slow enough for kills to land mid-crawl."""
    path = handler.path
    time.sleep(0.01)
    if path.startswith("/_social/"):
        return Route(200, body='<main><a href="https://big.test/p/0">our site</a></main>')
    if not path.startswith("/p/") or not path[3:].isdigit() or int(path[3:]) >= PAGES:
        return Route(404, body="<h1>not found</h1>")
    n = int(path[3:])
    kids = "".join(f'<a href="/p/{k}">page {k}</a>' for k in (2 * n + 1, 2 * n + 2) if k < PAGES)
    broken = f'<a href="/gone/{n}">old</a>' if n % 10 == 9 else ""
    text = f"<p>{'Words of a page that reads whole as served. ' * 6}</p>" if n in SAMPLED else ""
    scripted = _FOOTER if n in SCRIPTED else ""
    return Route(200, body=f'<header><a href="https://twitter.com/bigtest">Twitter</a></header>'
                           f'<main><h1>page {n}</h1>{text}{kids}{broken}</main>{scripted}')


ARGS = ["--no-sitemaps", "--concurrency", "2", "--render", "auto"]  # (the suite reads as served unless asked)


def _remaps(srv: SiteServer) -> list[str]:
    return ["--remap", rf"^https://big\.test/(.*) {srv.url}/\1",
            "--remap", rf"^https://twitter\.com/(.*) {srv.url}/_social/twitter.com/\1"]


def _view(report: dict) -> dict:
    """What a user compares: pages and their verdicts, how many were rendered, every link (those
    only rendering shows too), every finding and its pages."""
    return {"read_as": report["summary"]["read_as"],
            "pages": sorted((p["url"], p["role"], p["status"], p["verdict"]) for p in report["pages"]),
            "links": sorted(Counter((l["source"], l["target"], l["tag"], l["region"], l["line"])
                                    for l in report["links"]).items()),
            "findings": sorted((f["id"], f["rule"], f["severity"], f["message"], tuple(f["sources"]))
                               for f in report["findings"])}


def _report(db: Path, crawl_id: int = 1) -> dict:
    result = run_cli("report", "--db", db, "--crawl", crawl_id, "--format", "json")
    assert result.exit_code in (0, 1), result.stderr
    return result.json()


def _fetched(srv: SiteServer, since: int = 0) -> Counter:
    """What the crawl asked the server, but the SCRIPTED pages (:func:`_rendered`)."""
    scripted = {f"/p/{n}" for n in SCRIPTED}
    return Counter((m, p) for m, p in srv.requests[since:] if p != "/robots.txt" and p not in scripted)


def _rendered(srv: SiteServer) -> Counter:
    """How often the SCRIPTED pages were asked: read, then rendered (Chromium's request, fetched
    by the crawl), and a page read as served while its template's samples were out read and
    rendered again (2 or 3 times, as the timing has it)."""
    scripted = {f"/p/{n}" for n in SCRIPTED}
    return Counter(p for _, p in srv.requests if p in scripted)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A one-process crawl of the site: (its options, its report, what it asked the server)."""
    srv = SiteServer(routes={"*": _site})
    db = tmp_path_factory.mktemp("ref") / "c.sqlite"
    result = run_cli("audit", "https://big.test/p/0", "--db", db, "--format", "json", *ARGS, *_remaps(srv))
    srv.close()
    assert result.exit_code == 1, result.stderr  # the header icon is a high finding
    report = result.json()
    assert len([p for p in report["pages"] if p["role"] == "page" and p["status"] == 200]) == PAGES
    assert report["summary"]["read_as"] == {"raw": PAGES - len(SCRIPTED), "rendered": len(SCRIPTED)}
    assert ("javascript-links", "low", "the footer's 'Home' exists only after JavaScript on 6 pages: crawlers and "
            "link previews do not see them") in {(f["rule"], f["severity"], f["message"]) for f in report["findings"]}
    assert set(_rendered(srv).values()) <= {2, 3} and len(_rendered(srv)) == len(SCRIPTED)
    with Store(db) as store:
        crawl = store.crawl(1)
    return crawl, _view(report), _fetched(srv)


DRIVER = """
import sys
from crawler.coordinator import run_cluster_crawl
from crawler.run import resume_crawl
from crawler.store import Store
db, crawl_id, workers, redis, how = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] or None, sys.argv[5]
if how == "resume":
    with Store(db) as store:
        crawl = store.crawl(crawl_id)
    _, _, code, tail = resume_crawl(db, crawl, workers=workers, redis=redis)
else:
    code, tail = run_cluster_crawl(db, crawl_id, workers, redis_url=redis)
sys.stderr.write(tail)
sys.exit(code if code >= 0 else 128 - code)
"""


def _start(db: Path, workers: int, redis: str | None = None, how: str = "audit", crawl_id: int = 1):
    """The coordinator of crawl ``crawl_id`` in a process of its own (as `funnelcheck audit --workers N`)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(db), str(crawl_id), str(workers), redis or "", how],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _new_crawl(db: Path, reference_crawl: dict, srv: SiteServer, **changes) -> int:
    """A crawl row with the reference crawl's options (and ``changes``), pointed at ``srv``."""
    options = dict(reference_crawl["options"], remap=_remaps(srv)[1::2], **changes)
    with Store(db) as store:
        return store.create_crawl(reference_crawl["targets"], options)


def _children(pid: int) -> list[tuple[int, str]]:
    """The child processes of ``pid``: (pid, command line)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append((int(entry), cmdline))
    return out


def _child(pid: int, needle: str, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p, cmd in _children(pid) if needle in cmd]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no child process {needle} of {pid}")


def _status(db: Path, crawl_id: int = 1) -> tuple:
    return _rows(db, "SELECT status, error FROM crawls WHERE id = ?", crawl_id)[0]


def _assert_stored_once(db: Path) -> None:
    """Page rows are unique by URL (the schema says so); links are not doubled (the view's counts)."""
    assert _rows(db, "SELECT count(*) - count(DISTINCT url_id) FROM pages")[0][0] == 0


@pytest.fixture(scope="module")
def cluster_crawl(reference, tmp_path_factory):
    """The same site crawled by 3 workers: (its store, the coordinator's exit and stderr, what it asked)."""
    srv = SiteServer(routes={"*": _site})
    db = tmp_path_factory.mktemp("cluster") / "c.sqlite"
    crawl_id = _new_crawl(db, reference[0], srv)
    proc = _start(db, 3, crawl_id=crawl_id)
    _, err = proc.communicate(timeout=180)
    srv.close()
    return db, proc.returncode, err, _fetched(srv), _rendered(srv)


def test_three_workers_fetch_every_page_once_and_find_what_one_process_finds(reference, cluster_crawl):
    """... the pages built with JavaScript rendered as one process renders them (their template's
    samples shared by the workers), the links only rendering shows and their finding included."""
    _, view, asked = reference
    db, code, err, fetched, rendered = cluster_crawl
    assert code == 0, err
    assert _status(db) == ("complete", None)
    assert fetched == asked  # every URL asked once, as one process asks it
    assert max(fetched.values()) == 1
    assert set(rendered.values()) <= {2, 3} and len(rendered) == len(SCRIPTED)  # read, rendered (again)
    _assert_stored_once(db)
    assert _view(_report(db)) == view
    # the workers took SAMPLES pages of the template together, as one process does, not each their own
    samples = _rows(db, "SELECT count(*) FROM pages WHERE render_why = 'a sample of its template'")[0][0]
    assert samples == SAMPLES


def test_a_worker_killed_mid_crawl_leaves_the_crawl_to_the_others(reference, tmp_path):
    _, view, asked = reference
    srv = SiteServer(routes={"*": _site})
    db = tmp_path / "c.sqlite"
    # (--timeout 5: the host leases a dead worker held expire after the download timeout and a margin)
    proc = _start(db, 3, crawl_id=_new_crawl(db, reference[0], srv, timeout=5))
    victim = _child(proc.pid, "crawler.worker")
    wait_for_row(db, "SELECT count(*) FROM pages", lambda r: r[0] >= 40)
    os.kill(victim, signal.SIGKILL)
    _, err = proc.communicate(timeout=180)
    srv.close()
    assert proc.returncode == 0, err
    assert _status(db) == ("complete", None)
    fetched = _fetched(srv)
    assert set(fetched) == set(asked)
    twice = {p: n for p, n in fetched.items() if n > 1}
    assert len(twice) <= 8, twice  # at most what the dead worker had in flight
    _assert_stored_once(db)
    assert _view(_report(db)) == view


def _kill_mid_crawl(proc, db: Path, victim: str, more: int = 15, sig: int = signal.SIGKILL) -> tuple[int, str]:
    """Once ``more`` pages more are stored, send ``sig`` to ``victim`` of the crawl coordinated by
    ``proc`` (``writer``, ``redis-server``, ``workers``: every one, or ``coordinator``); wait for the
    coordinator to end and every process of the crawl to be gone. Returns its exit code and stderr."""
    before = _rows(db, "SELECT count(*) FROM pages")[0][0]
    needle = {"writer": "crawler.writer", "workers": "crawler.worker", "coordinator": "crawler.worker"}.get(victim,
                                                                                                       victim)
    _child(proc.pid, needle)  # (the crawl has started)
    wait_for_row(db, "SELECT count(*) FROM pages", lambda r: r[0] >= before + more)
    children = _children(proc.pid)  # the writer, the two workers, redis-server
    assert len(children) == 4, children
    assert not [cmd for _, cmd in children if "unix://" in cmd]  # the Redis URL is in their environment, not in ps
    for pid in [proc.pid] if victim == "coordinator" else [p for p, cmd in children if needle in cmd]:
        os.kill(pid, sig)
    _, err = proc.communicate(timeout=120)
    assert all(process_gone(p) for p, _ in children)  # nothing of the crawl is left running
    stored = _rows(db, "SELECT count(*) FROM pages")[0][0]
    assert before + more <= stored < PAGES + 20, (stored, err)  # it landed mid-crawl (of 222 URLs)
    listed = run_cli("crawls", "--db", db)
    assert "\tinterrupted\t" in listed.stdout, (listed.stdout, err)
    return proc.returncode, err


def test_a_crawl_cut_five_ways_and_resumed_each_time_equals_an_uninterrupted_crawl(reference, tmp_path):
    """One crawl of two workers cut five times, resumed each time: kill -9 of the writer (the
    coordinator notices), of Redis, of every worker, SIGTERM to the coordinator (a stop: what is
    stored is kept), kill -9 of the coordinator (its children die with it). The last resume
    completes it as one uninterrupted crawl: every page and link stored once."""
    _, view, asked = reference
    srv = SiteServer(routes={"*": _site})
    db = tmp_path / "c.sqlite"
    code, err = _kill_mid_crawl(_start(db, 2, crawl_id=_new_crawl(db, reference[0], srv)), db, "writer")
    assert (code, _status(db)) == (128 + 9, ("interrupted", "the writer was killed by signal 9 (SIGKILL)")), err

    code, err = _kill_mid_crawl(_start(db, 2, how="resume"), db, "redis-server")
    status, why = _status(db)
    assert (code, status) == (1, "interrupted") and why.startswith("lost Redis at unix://"), (why, err)

    code, err = _kill_mid_crawl(_start(db, 2, how="resume"), db, "workers")
    why = "every worker stopped before the crawl was done: worker was killed by signal 9 (SIGKILL)"
    assert (code, _status(db)) == (1, ("interrupted", why)), err

    code, err = _kill_mid_crawl(_start(db, 2, how="resume"), db, "coordinator", sig=signal.SIGTERM)
    assert _status(db) == ("interrupted", "interrupted by the user"), err
    assert "KeyboardInterrupt" in err  # (what run_cluster_crawl raises again, as run_crawl does)

    _kill_mid_crawl(_start(db, 2, how="resume"), db, "coordinator")
    assert _status(db)[0] == "running"  # as the coordinator left it: `crawls` lists it interrupted

    again = _start(db, 2, how="resume")
    _, err = again.communicate(timeout=180)
    srv.close()
    assert again.returncode == 0, err
    assert _status(db) == ("complete", None)
    _assert_stored_once(db)
    assert _view(_report(db)) == view
    assert set(_fetched(srv)) == set(asked)


def test_a_worker_started_before_the_crawl_is_announced_joins_it(reference, redis_url, tmp_path):
    _, view, asked = reference
    srv = SiteServer(routes={"*": _site})
    db = tmp_path / "c.sqlite"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    client = _client(redis_url)
    for other in cluster.announced(client):  # (a crawl an earlier test left announced in this Redis: it would join that)
        cluster.withdraw(client, other["token"])
    early = subprocess.Popen([sys.executable, "-m", "crawler.worker", "--redis", redis_url], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)  # it waits; nothing to do yet
        assert early.poll() is None
        proc = _start(db, 0, redis=redis_url, crawl_id=_new_crawl(db, reference[0], srv))  # coordinates only
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    finally:
        if early.poll() is None:
            early.terminate()
        early.wait(timeout=60)
    srv.close()
    assert _status(db) == ("complete", None)
    assert _fetched(srv) == asked
    assert _view(_report(db)) == view


def test_max_time_stops_a_cluster_crawl_as_it_stops_one_process(reference, tmp_path):
    srv = SiteServer(routes={"*": _site})
    db = tmp_path / "c.sqlite"
    with Store(db) as store:
        crawl_id = store.create_crawl(reference[0]["targets"], dict(reference[0]["options"], remap=_remaps(srv)[1::2],
                                                                     max_time_seconds=1.0))
    proc = _start(db, 2, crawl_id=crawl_id)
    _, err = proc.communicate(timeout=120)
    srv.close()
    assert proc.returncode == 0, err  # a report of what was crawled (as one process: exit 0)
    assert _status(db) == ("interrupted", "stopped: --max-time reached")
    assert _rows(db, "SELECT count(*) FROM pages")[0][0] < PAGES
    assert "\tinterrupted\t" in run_cli("crawls", "--db", db).stdout


def _fails_to_render(handler):
    """A page built with JavaScript (an empty app root) whose second fetch (the browser's) breaks
    the connection: its rendering fails."""
    path = handler.path
    if path == "/app":
        handler.server.app_hits = getattr(handler.server, "app_hits", 0) + 1
        if handler.server.app_hits > 1:
            raise ConnectionAbortedError("the browser's fetch of /app is cut")
        return Route(200, {"Content-Type": "text/html"}, '<html><head><title>App</title><script src="/app.js"></script>'
                                                         '</head><body><div id="root"></div></body></html>')
    if path == "/app.js":
        return Route(200, {"Content-Type": "application/javascript"},
                     'document.getElementById("root").innerHTML = "<a href=/x>x</a>";')
    if path == "/robots.txt":
        return Route(404)
    return Route(200, {"Content-Type": "text/html"}, '<html><head><title>Home</title></head><body><main><h1>Home</h1>'
                 f'<p>{"text " * 100}</p><a href="/app">app</a></main></body></html>')


def test_a_page_whose_rendering_fails_is_read_as_served_by_a_worker_too(tmp_path):
    """A worker's failed rendering reaches the writer (the errback's page went nowhere: the crawl
    waited for that page for ever); the report is one process's."""
    reports = []
    for name, extra in (("one", []), ("two", ["--workers", "2"])):
        srv = SiteServer(routes={"*": _fails_to_render})
        try:
            result = run_cli("audit", f"{srv.url}/", "--db", tmp_path / f"{name}.sqlite", "--render", "auto",
                             "--no-check-external", "--no-check-social", "--format", "json", *extra, timeout=60)
        finally:
            srv.close()
        assert result.exit_code == 0, result.stderr
        report = result.json()
        reports.append((report["summary"]["status"],
                        sorted((p["url"][len(srv.url):], p["read_as"], p["status"]) for p in report["pages"]
                               if p["role"] == "page"),
                        sorted((f["rule"], f["target"][len(srv.url):]) for f in report["findings"])))
    assert reports[0] == reports[1] == ("complete", [("/", "raw", 200), ("/app", "raw", 200)],
                                        [("javascript-unrendered", "/app")])
