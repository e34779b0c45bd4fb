"""The crawl store's schema: stores of the last release read as they are and migrated when
written; newer and foreign files refused and left untouched."""
from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

from conftest import ROOT, run_cli

DATA = Path(__file__).parent / "data"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _essentials(report: dict) -> dict:
    return {"findings": sorted((f["id"], f["rule"], f["severity"], f["target"], tuple(f["sources"]))
                               for f in report["findings"]),
            "summary": {k: report["summary"][k] for k in ("pages_crawled", "pages_by_tier", "links", "findings")}}


def _expected() -> dict:
    return _essentials(json.loads((DATA / "store-v1-report.json").read_text()))


def test_a_release_store_is_reported_as_it_is_then_migrated(tmp_path):
    """tests/data/store-v1.sqlite is the example audit written by funnelcheck 0.1 (schema 1)."""
    db = tmp_path / "old.sqlite"
    shutil.copy(DATA / "store-v1.sqlite", db)
    before = _digest(db)
    result = run_cli("report", "--db", db, "--format", "json")
    assert result.exit_code == 1, result.stderr
    assert _essentials(result.json()) == _expected()
    assert _digest(db) == before  # read as it is: not migrated by a report
    # written to: migrated to the current schema first, every crawl kept
    result = run_cli("audit", ROOT / "examples/acme/site", "--config", ROOT / "examples/acme/funnel.toml",
                     "--db", db, "--format", "json")
    assert result.exit_code == 1, result.stderr
    assert result.json()["crawl"]["id"] == 2
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("6",)
    assert [r[0] for r in conn.execute("SELECT version FROM migrations ORDER BY version")] == [1, 2, 3, 4, 5, 6]
    assert conn.execute("SELECT count(*) FROM urls").fetchone()[0] > 0
    old = run_cli("report", "--db", db, "--crawl", "1", "--format", "json")
    assert _essentials(old.json()) == _expected()  # the old crawl, migrated, reports the same
    assert _essentials(result.json())["findings"] == _expected()["findings"]  # and a new crawl of it agrees
    # the finished audit's findings are stored by their stable id, for comparisons of crawls
    stored = {r[0] for r in conn.execute("SELECT id FROM findings WHERE crawl_id = 2")}
    assert stored == {f["id"] for f in result.json()["findings"]}


def test_a_newer_store_is_refused(tmp_path):
    db = tmp_path / "new.sqlite"
    shutil.copy(DATA / "store-v1.sqlite", db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    before = _digest(db)
    for args in (["report"], ["crawls"], ["audit", "https://a.example/", "--no-sitemaps"]):
        result = run_cli(*args, "--db", db)
        assert result.exit_code == 2
        assert result.stderr == (f"funnelcheck: error: {db} was written by a newer funnelcheck (store schema 99; "
                                 "this one reads up to 6): upgrade funnelcheck to read it\n")
    assert _digest(db) == before


def test_a_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path):
    db = tmp_path / "app.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
        conn.execute("INSERT INTO users VALUES ('ada')")
    conn.close()
    before = _digest(db)
    result = run_cli("audit", "https://a.example/", "--no-sitemaps", "--db", db)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"funnelcheck: error: {db} is not a funnelcheck crawl store")
    assert len(result.stderr.splitlines()) == 1
    assert _digest(db) == before
    assert not (tmp_path / "app.sqlite-wal").exists()


def test_a_migration_that_fails_leaves_the_old_store_as_it_was(tmp_path):
    """One transaction per migration: a failure half-way (here a table in the way) rolls back."""
    from crawler.store import Store, StoreError

    db = tmp_path / "old.sqlite"
    shutil.copy(DATA / "store-v1.sqlite", db)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE terms (x)")  # the migration creates terms: it fails there
    conn.close()
    try:
        Store(db)
    except (StoreError, sqlite3.OperationalError):
        pass
    else:
        raise AssertionError("the migration should have failed")
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} >= {"pages", "links"}
    assert not [r for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'old_%'")]
    result = run_cli("report", "--db", db, "--format", "json")
    assert _essentials(result.json()) == _expected()  # still read as it is
    conn.execute("DROP TABLE terms")
    conn.commit()
    conn.close()
    Store(db).close()  # and migrated once nothing is in the way
    result = run_cli("report", "--db", db, "--format", "json")
    assert _essentials(result.json()) == _expected()


def _schema_2_store(path: Path) -> None:
    """A store as funnelcheck wrote it before schema 3 (no ``pages.signals``, no ``links.pos``)."""
    from crawler.store import Store

    home = "https://a.example/"
    with Store(path) as s:
        cid = s.create_crawl([home], {"site": [home]})
        s.write_page(cid, {"url": home, "role": "page", "status": 200, "parsed": 1, "signals": '{"feed": true}'},
                     [(home, home + "pricing/", home + "pricing/", None, "a", "href", "Plans", "main", "", 0, "other",
                       7, 3)])
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE links DROP COLUMN pos")
        conn.execute("ALTER TABLE pages DROP COLUMN signals")
        conn.execute("DROP TABLE analytics")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        conn.execute("ALTER TABLE pages DROP COLUMN read_as")   # (schema 5)
        conn.execute("ALTER TABLE pages DROP COLUMN render_why")
        conn.execute("DROP TABLE render_links")
        conn.execute("DELETE FROM migrations WHERE version >= 3")
        conn.execute("DROP TABLE answers")   # (schema 6)
    conn.close()


def test_a_schema_2_store_is_read_as_it_is_then_migrated_to_signals_and_positions(tmp_path):
    from analysis.graph import build_graph
    from crawler.store import Store

    db = tmp_path / "v2.sqlite"
    _schema_2_store(db)
    before = _digest(db)
    with Store(db, readonly=True) as s:  # a report reads it as it is: the line stands in for the position
        assert s.version == 2
        g = build_graph(s, 1)
        [(_, _, e)] = g.out_edges("https://a.example/", data=True)
        assert (e["line"], e["pos"], g.nodes["https://a.example/"].get("signals")) == (7, 7, None)
    assert _digest(db) == before
    with Store(db) as s:  # written to: migrated
        assert s.version == 6
        s.write_page(1, {"url": "https://a.example/b", "role": "page", "status": 200, "parsed": 1,
                         "signals": '{"price": true}'},
                     [("https://a.example/b", "https://a.example/", "https://a.example/", None, "a", "href", "Home",
                       "nav", "", 0, "other", 1, 0)])
        g = build_graph(s, 1)
        assert [(e["line"], e["pos"]) for _, _, e in g.out_edges("https://a.example/", data=True)] == [(7, 7)]
        assert [(e["line"], e["pos"]) for _, _, e in g.out_edges("https://a.example/b", data=True)] == [(1, 0)]
        assert g.nodes["https://a.example/b"]["signals"] == {"price": True}
    conn = sqlite3.connect(db)
    assert [r[0] for r in conn.execute("SELECT version FROM migrations ORDER BY version")] == [1, 2, 3, 4, 5, 6]
    assert conn.execute("SELECT signals FROM pages ORDER BY id").fetchall() == [(None,), ('{"price": true}',)]
    conn.close()


def test_a_batch_of_pages_is_one_transaction_and_a_failed_write_rolls_it_all_back(tmp_path):
    """``Store.batch()``: readers see a batch's pages all at once when it ends, none before; a
    write that fails in it leaves none of the batch's pages, and the URL ids it handed out are
    forgotten (the next pages' links point at the right URLs)."""
    from crawler.store import Store

    db = tmp_path / "c.sqlite"
    home = "https://a.example/"

    def link(source, target):
        return (source, target, target, None, "a", "href", "x", "main", "", 0, "other", 1, 0)

    def page(path):
        return {"url": home + path, "role": "page", "status": 200, "parsed": 1}

    def stored(cid):
        reader = sqlite3.connect(db)
        try:
            pages = sorted(r[0] for r in reader.execute(
                "SELECT u.url FROM pages p JOIN urls u ON u.id = p.url_id WHERE p.crawl_id = ?", (cid,)))
            links = sorted(reader.execute(
                "SELECT s.url, k.url FROM links l JOIN urls s ON s.id = l.source_id JOIN urls k ON k.id = l.key_id"
                " WHERE l.crawl_id = ?", (cid,)).fetchall())
        finally:
            reader.close()
        return pages, links

    with Store(db) as s:
        cid = s.create_crawl([home], {})
        with s.batch():
            s.write_page(cid, page(""), [link(home, home + "a")], [(home + "a", "{}")])
            with s.batch():  # nested: part of the outer one
                s.write_page(cid, page("a"), [link(home + "a", home)])
            assert stored(cid) == ([], [])  # nothing committed yet
        assert stored(cid) == ([home, home + "a"], [(home, home + "a"), (home + "a", home)])

        try:
            with s.batch():
                s.write_page(cid, page("b"), [link(home + "b", home + "new")])
                s.write_page(cid, page("c"), [link(home + "c", home + "other")[:3]])  # a malformed link row
        except ValueError:
            pass
        else:
            raise AssertionError("the malformed link should have failed the write")
        assert not s.db.in_transaction
        assert stored(cid) == ([home, home + "a"], [(home, home + "a"), (home + "a", home)])
        with s.batch():  # the ids of b, c, new and other were rolled back: asked again, not reused
            s.write_page(cid, page("d"), [link(home + "d", home + "new"), link(home + "d", home + "other")])
        s.write_page(cid, page("e"), [link(home + "e", home + "c")])  # outside a batch: as before
    assert stored(cid) == ([home, home + "a", home + "d", home + "e"],
                           [(home, home + "a"), (home + "a", home), (home + "d", home + "new"),
                            (home + "d", home + "other"), (home + "e", home + "c")])
