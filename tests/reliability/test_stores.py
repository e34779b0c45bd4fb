"""Stores (issue 12, item 6): a file that is not a funnelcheck store is refused and left
untouched (exit 2, one line, nothing written beside it); a store from a newer funnelcheck is
refused; a place that cannot hold a store says ``cannot write``, not ``not a funnelcheck
store``; a store on a read-only disk is still reported; a store on a full disk fails the crawl
with one line naming the crawl, and keeps every page committed before (a resume continues it
once there is room).

The refusals run the command line in this process (CliRunner: the same entry point, a
fraction of the time); the crawls run it as a user would. Read-only and full disks are real:
tmpfs mounts (root, as here and in CI; skipped with the reason where mounting is not allowed).
"""
from __future__ import annotations

import gc
import hashlib
import os
import sqlite3
import subprocess
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

import cli
from conftest import Result, run_cli
from crawler.store import SCHEMA_VERSION, Store

DATA = Path(__file__).resolve().parent.parent / "data"
NEWER = (f"was written by a newer funnelcheck (store schema 99; this one reads up to {SCHEMA_VERSION}): "
         "upgrade funnelcheck to read it")


def invoke(*args) -> Result:
    """``funnelcheck ARGS`` in this process; an exception other than the exit is a test failure
    (it would have been a traceback)."""
    result = CliRunner().invoke(cli.main, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _listing(folder: Path) -> dict[str, str]:
    return {p.name: _digest(p) for p in sorted(folder.iterdir()) if p.is_file()}


@contextmanager
def tmpfs(path: Path, options: str):
    """A tmpfs mounted on ``path`` with ``options`` (``size=2m``, ``ro,size=1m``), unmounted after."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield path
    finally:
        gc.collect()  # (a connection no one holds any more, still open, keeps the mount busy)
        for _ in range(20):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
                break
            time.sleep(0.25)
        else:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True, capture_output=True)


def _small_store(db: Path) -> None:
    """A store of one complete crawl of two pages, written through the store itself."""
    with Store(db) as store:
        cid = store.create_crawl(["https://a.example/"], {})
        store.write_page(cid, {"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1,
                               "content_type": "text/html"},
                         [("https://a.example/", "https://a.example/b", "https://a.example/b", None, "a", "href",
                           "b", "main", "", 0, "other", 3)])
        store.write_page(cid, {"url": "https://a.example/b", "role": "page", "status": 200, "parsed": 1,
                               "content_type": "text/html"}, [])
        store.finish_crawl(cid, "complete")


# -- files that are not stores, and stores of a newer funnelcheck -------------------------------
def _foreign(folder: Path, wal: bool = False) -> Path:
    db = folder / "app.sqlite"
    conn = sqlite3.connect(db)
    if wal:  # many applications keep their SQLite files in WAL mode
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.execute("INSERT INTO users VALUES ('ada')")
    conn.commit()
    conn.close()
    return db


def _newer(folder: Path) -> Path:
    db = folder / "new.sqlite"
    _small_store(db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    return db


FILES = {  # kind -> (make it in a folder of its own, what follows "{db} " in the one line)
    "foreign SQLite": (_foreign, "is not a funnelcheck crawl store (no schema version): left untouched"),
    "foreign SQLite, WAL": (lambda f: _foreign(f, wal=True),
                            "is not a funnelcheck crawl store (no schema version): left untouched"),
    "random bytes": (lambda f: (f / "noise.sqlite", (f / "noise.sqlite").write_bytes(os.urandom(8192)))[0],
                     "is not a funnelcheck crawl store (file is not a database): left untouched"),
    "text file": (lambda f: (f / "notes.txt", (f / "notes.txt").write_text("crawl notes\n" * 50))[0],
                  "is not a funnelcheck crawl store (file is not a database): left untouched"),
    "newer store": (_newer, NEWER),
}

COMMANDS = {
    "audit": lambda tmp: ["audit", _site(tmp), "--base-url", "https://a.example/", "--no-sitemaps"],
    "report": lambda tmp: ["report"],
    "crawls": lambda tmp: ["crawls"],
    "history": lambda tmp: ["history"],
    "diff": lambda tmp: ["diff"],
    "prune": lambda tmp: ["prune", "--keep", "1"],
    "resume": lambda tmp: ["resume"],
    "accept": lambda tmp: ["accept", "fc-0123456789ab", "--baseline", tmp / "baseline.toml"],
}


def _site(tmp: Path) -> Path:
    site = tmp / "site"
    site.mkdir(exist_ok=True)
    (site / "index.html").write_text('<html><body><main><a href="/a/">a</a></main></body></html>')
    return site


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_file_that_is_no_store_is_refused_and_left_untouched(tmp_path, command):
    """Every command that opens a store, on every kind of file that is not one of ours: exit 2,
    the one line, the file's bytes as they were and nothing made beside it (no -wal, -shm, lock)."""
    for kind, (make, message) in FILES.items():
        folder = tmp_path / kind.replace(" ", "-").replace(",", "")
        folder.mkdir()
        db = make(folder)
        before = _listing(folder)
        result = invoke(*COMMANDS[command](tmp_path), "--db", db)
        assert (result.exit_code, result.stderr) == (2, f"funnelcheck: error: {db} {message}\n"), kind
        assert _listing(folder) == before, kind
    assert not (tmp_path / "baseline.toml").exists()  # accept wrote no baseline either


def test_the_refusal_is_one_line_from_the_real_command_line(tmp_path):
    """The same as a user sees it: a separate process, nothing on stdout, no traceback."""
    db = _foreign(tmp_path)
    before = _listing(tmp_path)
    for args in (["report"], ["audit", "https://a.example/", "--no-sitemaps"]):
        result = run_cli(*args, "--db", db)
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr == f"funnelcheck: error: {db} is not a funnelcheck crawl store (no schema version): " \
                                "left untouched\n"
    assert _listing(tmp_path) == before


@pytest.mark.parametrize("device", ["/dev/null", "/dev/full"])
def test_a_device_is_no_store(tmp_path, device):
    """/dev/null read as an empty database and written into nothing: a traceback before."""
    for args in (COMMANDS["audit"](tmp_path), ["report"], ["prune", "--keep", "1"]):
        result = invoke(*args, "--db", device)
        assert (result.exit_code, result.stderr) == (
            2, f"funnelcheck: error: {device} is not a funnelcheck crawl store (not a regular file): left untouched\n")


# -- places that cannot hold a store ------------------------------------------------------------
PLACES = {  # where -> (the store path in tmp_path, the reason after "cannot write the crawl store PATH: ")
    "under a regular file": (lambda tmp: tmp / "file" / "crawls.sqlite", lambda tmp: f"{tmp / 'file'} is a file, "
                                                                                      "not a folder"),
    "read-only disk": (lambda tmp: tmp / "ro" / "crawls.sqlite", lambda tmp: "Read-only file system"),
    "read-only disk, a folder to make": (lambda tmp: tmp / "ro" / "sub" / "crawls.sqlite",
                                         lambda tmp: "Read-only file system"),
    "procfs": (lambda tmp: Path("/proc/funnelcheck-test.sqlite"), lambda tmp: "No such file or directory"),
}


@pytest.mark.parametrize("where", list(PLACES))
def test_a_place_that_cannot_hold_a_store_says_cannot_write(tmp_path, where):
    """Root ignores permission bits (chmod 555 would be no test: root writes there, and so does
    funnelcheck): a read-only mount, a path under a regular file and /proc are what stop root too.
    The reason is the system's; nothing is made there, not even the lock."""
    (tmp_path / "file").write_text("a file, not a folder\n")
    with tmpfs(tmp_path / "ro", "ro,size=1m") if "read-only" in where else nullcontext():
        db, reason = PLACES[where][0](tmp_path), PLACES[where][1](tmp_path)
        result = invoke(*COMMANDS["audit"](tmp_path), "--db", db)
        assert (result.exit_code, result.stderr) == (2, f"funnelcheck: error: cannot write the crawl store {db}: {reason}\n")
        for args in (["report"], ["crawls"], ["history"], ["prune", "--keep", "1"]):  # there is none to read or prune
            result = invoke(*args, "--db", db)
            assert (result.exit_code, result.stderr) == (2, f"funnelcheck: error: no crawl store at {db}\n")
        assert not db.exists()
        if db.parent.is_dir():
            assert not list(db.parent.glob(f"{db.name}*"))  # nothing made there, not even the lock


def test_the_first_audit_makes_the_store_and_its_folder(tmp_path):
    """The default store's folder (the user data directory) does not exist before the first run:
    the audit makes it (it was refused: the lock beside the store could not be made)."""
    data = tmp_path / "xdg"
    result = run_cli("audit", _site(tmp_path), "--base-url", "https://a.example/", "--no-sitemaps",
                     env={"XDG_DATA_HOME": str(data)})
    assert result.exit_code in (0, 1), result.stderr
    assert (data / "funnelcheck" / "crawls.sqlite").is_file()


def test_a_store_on_a_read_only_disk_is_still_reported(tmp_path):
    mount = tmp_path / "disk"
    with tmpfs(mount, "size=1m"):
        db = mount / "crawls.sqlite"
        _small_store(db)
        remount(mount, "ro")
        before = _listing(mount)
        report = invoke("report", "--db", db, "--format", "json")
        assert report.exit_code in (0, 1), report.stderr
        assert {p["url"] for p in report.json()["pages"]} >= {"https://a.example/", "https://a.example/b"}
        crawls = invoke("crawls", "--db", db)
        assert (crawls.exit_code, crawls.stdout.split("\t")[2:4]) == (0, ["complete", "2 pages"])
        assert invoke("history", "--db", db).exit_code == 0
        for args in (COMMANDS["audit"](tmp_path), ["prune", "--keep", "1"]):
            result = invoke(*args, "--db", db)
            assert (result.exit_code, result.stderr) == (
                2, f"funnelcheck: error: cannot write the crawl store {db}: Read-only file system\n")
        assert _listing(mount) == before


def test_a_full_disk_refuses_a_new_audit_before_it_starts(tmp_path):
    """No room for a new store, or for an existing one's -shm file: the audit is refused with
    the reason, nothing is left behind; the existing store is still reported."""
    mount = tmp_path / "disk"
    with tmpfs(mount, "size=1m"):
        old = mount / "old.sqlite"
        _small_store(old)
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
        try:  # every block taken
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        before = _listing(mount)
        for db in (mount / "new.sqlite", old):
            result = invoke(*COMMANDS["audit"](tmp_path), "--db", db)
            assert (result.exit_code, result.stderr) == (
                2, f"funnelcheck: error: cannot write the crawl store {db}: the disk is full\n")
        assert not (mount / "new.sqlite").exists()
        report = invoke("report", "--db", old, "--format", "json")
        assert report.exit_code in (0, 1), report.stderr
        assert len(report.json()["pages"]) >= 2
        # (SQLite's -shm and -wal of the old store, and the new one's empty lock, may stay: no room to write them)
        assert {k: v for k, v in _listing(mount).items() if not k.startswith("old.sqlite-")
                and not k.endswith(".lock")} == before


# -- a disk that fills up during the crawl ------------------------------------------------------
PAGES = 300


def _big_site(root: Path) -> Path:
    """PAGES pages of 60 links each with long anchor texts: a 2 MB disk holds a score of them, so
    the crawl stops long before it has fetched them all."""
    for i in range(PAGES):
        folder = root if i == 0 else root / f"p{i}"
        folder.mkdir(parents=True, exist_ok=True)
        links = "\n".join(f'<a href="/p{(i * 7 + j) % (PAGES - 1) + 1}/">link {j} of page {i}, an anchor text long '
                          f'enough to take room: {"lorem ipsum " * 4}</a>' for j in range(60))
        (folder / "index.html").write_text(f"<html><head><title>Page {i}</title></head><body><main>{links}"
                                           "</main></body></html>")
    return root


def _stored_urls(db: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {u for (u,) in conn.execute("SELECT u.url FROM pages p JOIN urls u ON u.id = p.url_id")}
    finally:
        conn.close()


def _crawl_row(db: Path) -> tuple:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT id, status, error FROM crawls").fetchone()
    finally:
        conn.close()


def test_a_full_disk_fails_the_crawl_and_keeps_every_committed_page(tmp_path, site_server):
    server = site_server(directory=_big_site(tmp_path / "site"))
    mount = tmp_path / "disk"
    with tmpfs(mount, "size=2m"):
        db = mount / "crawls.sqlite"
        result = run_cli("audit", f"{server.url}/", "--db", db, "--no-sitemaps", "--format", "json")
        stored = _stored_urls(db)
        assert 0 < len(stored) < PAGES, len(stored)  # some pages were committed; the disk stopped the rest
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr == (
            f"funnelcheck: error: cannot write the crawl store {db}: the disk is full; crawl #1 stopped, the "
            f"{len(stored)} URLs it stored are kept (funnelcheck report --db {db} --crawl 1 reports them, "
            f"funnelcheck resume --db {db} 1 continues it once the store can be written)\n")
        assert _crawl_row(db) == (1, "failed", f"cannot write the crawl store {db}: the disk is full")
        fetched = len([p for m, p in server.requests if m == "GET" and p.endswith("/")])
        assert fetched < PAGES // 2  # it stopped there, it did not fetch the rest to drop it
        # everything committed before the disk filled up reads back, on the full disk itself
        crawls = invoke("crawls", "--db", db)
        assert crawls.stdout.split("\t")[2] == "failed"
        report = invoke("report", "--db", db, "--format", "json")
        assert report.exit_code in (0, 1), report.stderr
        assert {p["url"] for p in report.json()["pages"]} == stored
        assert _stored_urls(db) == stored
        # with room again, a resume continues it: the kept pages are not fetched again
        remount(mount, "size=64m")
        asked = len(server.requests)
        resumed = run_cli("resume", "--db", db, "1", "--format", "json")
        assert resumed.exit_code in (0, 1), resumed.stderr
        assert _crawl_row(db)[:2] == (1, "complete")
        assert stored <= _stored_urls(db)
        pages = {p["url"] for p in resumed.json()["pages"] if p["role"] == "page"}
        assert len(pages) == PAGES
        again = {urlsplit(p).path for m, p in server.requests[asked:] if m == "GET"}
        assert not again & {urlsplit(u).path for u in stored if u.startswith(server.url)}


def test_the_store_reserve_leaves_nothing_behind(tmp_path):
    """The room held back to record a full disk is an unnamed file: gone when closed."""
    from crawler.pipelines import RESERVE, reserve

    held = reserve(str(tmp_path / "crawls.sqlite"))
    assert held is not None
    assert os.fstat(held.fileno()).st_blocks * 512 >= RESERVE  # blocks really taken
    assert list(tmp_path.iterdir()) == []  # and no name in the folder, now or after
    held.close()
    assert list(tmp_path.iterdir()) == []


def test_a_report_or_log_written_over_the_store_is_refused(tmp_path):
    """A typo in a cron line (`-o crawls.sqlite`) must not overwrite the crawl history."""
    from click.testing import CliRunner

    import cli
    from crawler.store import Store

    db = tmp_path / "crawls.sqlite"
    Store(str(db)).close()
    before = db.read_bytes()
    runner = CliRunner()
    for args, line in (
            (["report", "--db", str(db), "-o", str(db)],
             f"funnelcheck: error: -o {db} is the crawl store (an SQLite file): it would be overwritten; "
             "write the report elsewhere\n"),
            (["--log-file", str(db), "crawls", "--db", str(db)],
             f"funnelcheck: error: --log-file {db} is an SQLite file (a crawl store?): no log is appended to it\n")):
        result = runner.invoke(cli.main, args)
        assert (result.exit_code, result.stderr) == (2, line)
        assert db.read_bytes() == before
    new = tmp_path / "new.sqlite"
    result = runner.invoke(cli.main, ["audit", "http://127.0.0.1:9/", "--db", str(new), "-o", str(new)])
    assert result.exit_code == 2 and "is the crawl store" in result.stderr
    assert not new.exists()


@pytest.mark.parametrize("setup", ["PRAGMA application_id = 1179534931", "PRAGMA user_version = 3",
                                   "CREATE VIEW v AS SELECT 1"])
def test_another_programs_file_without_tables_is_not_taken_over(tmp_path, setup):
    import sqlite3

    from click.testing import CliRunner

    import cli

    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute(setup)
    conn.commit()
    conn.close()
    before = db.read_bytes()
    result = CliRunner().invoke(cli.main, ["audit", "http://127.0.0.1:9/", "--db", str(db)])
    assert (result.exit_code, result.stderr) == (
        2, f"funnelcheck: error: {db} is not a funnelcheck crawl store (another program's SQLite file): left untouched\n")
    assert db.read_bytes() == before
