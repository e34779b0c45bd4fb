"""A crawl of many processes (issue 21): the one writer, the coordinator, and crawls end to end.

The writer's tests push hand-made items into a real ``redis-server`` and read the real store
it wrote; the end-to-end tests crawl a real local site with ``--workers 3`` and compare with a
one-process crawl of the same site, as tests/test_resume.py compares a resumed crawl.
"""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from crawler import cluster
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


def test_a_writer_waits_while_the_crawl_runs(redis_url, tmp_path):
    """Nothing in the stream is not the end: the writer ends only once the crawl is done."""
    import time

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
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert [p[0] for p in _pages(db)] == ["https://w.test/late"]


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
