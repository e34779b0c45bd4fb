"""The crawl store: a SQLite file, the only code that reads or writes it.

The crawler streams rows in as it goes (WAL, one transaction per page); every
analysis and report reads them back. One file holds many crawls, so history,
diffs and resumes are queries, not new formats.

Tables
------
crawls    one row per run: targets, options (JSON), started, finished, status
pages     one row per fetched URL (owned pages, assets, social profiles, external
          links): status, error kind, Location, headers of interest, title, anchors
links     one row per link on a fetched page: source, target, fragment, tag, region...
frontier  every URL the crawl decided to fetch and whether it has been (for resume)
url_cache external link verdicts kept across runs (``--cache-age``)
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS crawls (
    id INTEGER PRIMARY KEY,
    targets TEXT NOT NULL,            -- JSON list of public URLs
    options TEXT NOT NULL,            -- JSON object: everything the crawl was told
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL DEFAULT 'running',  -- running, complete, interrupted, failed
    error TEXT,
    pid INTEGER,
    limits TEXT,                      -- JSON: pages left uncrawled by --max-pages / --depth
    origins TEXT,                     -- JSON: owned variant origin -> the canonical one (urls.origin_aliases)
    version TEXT                      -- the funnelcheck version that ran the crawl
);
CREATE TABLE IF NOT EXISTS pages (
    id INTEGER PRIMARY KEY,
    crawl_id INTEGER NOT NULL REFERENCES crawls(id) ON DELETE CASCADE,
    url TEXT NOT NULL,                -- public, normalised, de-duplication key
    fetched_url TEXT,                 -- where it was fetched from (after --remap)
    role TEXT NOT NULL,               -- page, asset, profile, external
    method TEXT,
    depth INTEGER,
    status INTEGER,                   -- HTTP status, NULL when no answer
    error_kind TEXT,                  -- dns, timeout, refused, tls, connection, robots, excluded, too-large ...
    reason TEXT,                      -- one human line about the error
    location TEXT,                    -- public Location of a 3xx answer
    headers TEXT,                     -- JSON of the response headers that verdicts need
    content_type TEXT,
    title TEXT,
    lead_form INTEGER NOT NULL DEFAULT 0,
    anchors TEXT,                     -- JSON list of ids and names (HTML pages)
    parsed INTEGER NOT NULL DEFAULT 0,  -- links were extracted from it
    fetched_at TEXT,
    elapsed REAL,
    UNIQUE (crawl_id, url)
);
CREATE TABLE IF NOT EXISTS links (
    id INTEGER PRIMARY KEY,
    crawl_id INTEGER NOT NULL REFERENCES crawls(id) ON DELETE CASCADE,
    source TEXT NOT NULL,             -- public URL of the page the link stands on
    target TEXT NOT NULL,             -- normalised target as written (tracking params kept)
    target_key TEXT NOT NULL,         -- de-duplication key (joins pages.url)
    fragment TEXT,
    tag TEXT, attr TEXT, text TEXT, region TEXT, rel TEXT,
    icon INTEGER NOT NULL DEFAULT 0,
    kind TEXT,                        -- profile, share, identity, other
    line INTEGER
);
CREATE INDEX IF NOT EXISTS links_source ON links (crawl_id, source);
CREATE INDEX IF NOT EXISTS links_target ON links (crawl_id, target_key);
CREATE TABLE IF NOT EXISTS frontier (
    crawl_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    fetch TEXT NOT NULL,              -- JSON: what the crawler needs to fetch it again
    state TEXT NOT NULL DEFAULT 'queued',  -- queued, done
    PRIMARY KEY (crawl_id, url)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS url_cache (
    url TEXT PRIMARY KEY,
    status INTEGER,
    location TEXT,
    headers TEXT,
    content_type TEXT,
    checked_at REAL NOT NULL
);
"""

PAGE_COLUMNS = ("url", "fetched_url", "role", "method", "depth", "status", "error_kind", "reason",
                "location", "headers", "content_type", "title", "lead_form", "anchors", "parsed",
                "fetched_at", "elapsed")
LINK_COLUMNS = ("source", "target", "target_key", "fragment", "tag", "attr", "text", "region",
                "rel", "icon", "kind", "line")


class StoreError(RuntimeError):
    """The store cannot be opened or is not a funnelcheck store."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def funnelcheck_version() -> str:
    """The installed funnelcheck's version (recorded with each crawl)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("funnelcheck")
    except PackageNotFoundError:
        return "unknown"


def default_path() -> Path:
    """``crawls.sqlite`` in the user data directory (platformdirs)."""
    from platformdirs import user_data_path

    return user_data_path("funnelcheck", appauthor=False) / "crawls.sqlite"


class Store:
    """A crawl store file.

    >>> import tempfile, os
    >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
    >>> cid = s.create_crawl(["https://acme.example/"], {"max_pages": 10})
    >>> s.write_page(cid, {"url": "https://acme.example/", "role": "page", "status": 200}, [])
    >>> [p["status"] for p in s.pages(cid)], s.crawl(cid)["status"]
    ([200], 'running')
    """

    def __init__(self, path: str | os.PathLike, readonly: bool = False):
        self.path = Path(path)
        try:
            if readonly:
                if not self.path.exists():
                    raise StoreError(f"no crawl store at {self.path}")
                self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
                try:
                    row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                except sqlite3.OperationalError:
                    # a store on a read-only disk or in a folder we may not write: WAL cannot make
                    # its -shm file; read the file as it is, unchanging
                    self.db.close()
                    self.db = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, timeout=30)
                    row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if row is None:
                    raise sqlite3.DatabaseError("no schema version")
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, timeout=30)
                self.db.execute("PRAGMA journal_mode=WAL")
                # OFF: a killed process loses nothing committed (WAL); only an OS crash or power
                # loss could cost the last transactions, and a crawl can be re-run.
                self.db.execute("PRAGMA synchronous=OFF")
                self.db.executescript(SCHEMA)
                columns = {row[1] for row in self.db.execute("PRAGMA table_info(crawls)")}
                for column in ("limits", "origins", "version"):  # stores written by funnelcheck before these columns
                    if column not in columns:
                        self.db.execute(f"ALTER TABLE crawls ADD COLUMN {column} TEXT")
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                self.db.commit()
            self.db.row_factory = sqlite3.Row
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a funnelcheck crawl store ({exc})") from None
        except OSError as exc:
            raise StoreError(f"cannot open crawl store {self.path}: {exc}") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- crawls ---------------------------------------------------------------
    def create_crawl(self, targets: list[str], options: dict) -> int:
        with self.db:
            cur = self.db.execute(
                "INSERT INTO crawls (targets, options, started, status, version) VALUES (?, ?, ?, 'running', ?)",
                (json.dumps(targets), json.dumps(options, sort_keys=True), now_iso(), funnelcheck_version()),
            )
        return cur.lastrowid

    def set_pid(self, crawl_id: int, pid: int) -> None:
        with self.db:
            self.db.execute("UPDATE crawls SET pid = ? WHERE id = ?", (pid, crawl_id))

    def set_limits(self, crawl_id: int, limits: dict) -> None:
        with self.db:
            self.db.execute("UPDATE crawls SET limits = ? WHERE id = ?", (json.dumps(limits), crawl_id))

    def set_origins(self, crawl_id: int, origins: dict) -> None:
        with self.db:
            self.db.execute("UPDATE crawls SET origins = ? WHERE id = ?", (json.dumps(origins), crawl_id))

    def finish_crawl(self, crawl_id: int, status: str, error: str | None = None) -> None:
        with self.db:
            self.db.execute(
                "UPDATE crawls SET finished = ?, status = ?, error = COALESCE(?, error) WHERE id = ?",
                (now_iso(), status, error, crawl_id),
            )

    def crawl(self, crawl_id: int | None = None) -> dict:
        """One crawl as a dict (``options`` and ``targets`` decoded); the latest by default."""
        if crawl_id is None:
            row = self.db.execute("SELECT * FROM crawls ORDER BY id DESC LIMIT 1").fetchone()
        else:
            row = self.db.execute("SELECT * FROM crawls WHERE id = ?", (crawl_id,)).fetchone()
        if row is None:
            raise StoreError(f"no crawl {crawl_id if crawl_id is not None else ''} in {self.path}".replace("  ", " "))
        out = dict(row)
        out["targets"] = json.loads(out["targets"])
        out["options"] = json.loads(out["options"])
        out["limits"] = json.loads(out["limits"]) if out.get("limits") else {}
        out["origins"] = json.loads(out["origins"]) if out.get("origins") else {}
        return out

    def crawls(self) -> list[dict]:
        rows = self.db.execute(
            "SELECT c.id, c.targets, c.started, c.finished, c.status, c.pid,"
            " (SELECT count(*) FROM pages p WHERE p.crawl_id = c.id AND p.role = 'page' AND p.parsed = 1) AS pages"
            " FROM crawls c ORDER BY c.id"
        ).fetchall()
        out = []
        for r in rows:
            row = dict(r, targets=json.loads(r["targets"]))
            if row["status"] == "running" and not process_alive(row["pid"]):
                row["status"] = "interrupted"  # its process is gone: nothing is running it
            out.append(row)
        return out

    # -- pages and links --------------------------------------------------------
    def write_page(self, crawl_id: int, page: dict, links: list[tuple], discovered: list[tuple] = ()) -> None:
        """Write one fetched URL, its links and the URLs it queued, in one transaction.

        ``links`` are tuples in :data:`LINK_COLUMNS` order; ``discovered`` are
        ``(url, fetch_json)`` frontier entries.
        """
        values = [crawl_id] + [page.get(c) for c in PAGE_COLUMNS]
        with self.db:
            self.db.execute(
                f"INSERT OR REPLACE INTO pages (crawl_id, {', '.join(PAGE_COLUMNS)})"
                f" VALUES ({', '.join('?' * (len(PAGE_COLUMNS) + 1))})",
                values,
            )
            if links:
                self.db.executemany(
                    f"INSERT INTO links (crawl_id, {', '.join(LINK_COLUMNS)})"
                    f" VALUES ({', '.join('?' * (len(LINK_COLUMNS) + 1))})",
                    [(crawl_id, *link) for link in links],
                )
            if discovered:
                self.db.executemany(
                    "INSERT OR IGNORE INTO frontier (crawl_id, url, fetch) VALUES (?, ?, ?)",
                    [(crawl_id, u, f) for u, f in discovered],
                )
            self.db.execute(
                "INSERT INTO frontier (crawl_id, url, fetch, state) VALUES (?, ?, '{}', 'done')"
                " ON CONFLICT (crawl_id, url) DO UPDATE SET state = 'done'",
                (crawl_id, page["url"]),
            )

    def add_frontier(self, crawl_id: int, entries: list[tuple]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR IGNORE INTO frontier (crawl_id, url, fetch) VALUES (?, ?, ?)",
                [(crawl_id, u, f) for u, f in entries],
            )

    def pages(self, crawl_id: int, after: int = 0) -> Iterator[dict]:
        """Pages of a crawl in the order they were stored (``after`` a row id, to read only new ones)."""
        cur = self.db.execute("SELECT * FROM pages WHERE crawl_id = ? AND id > ? ORDER BY id", (crawl_id, after))
        for row in cur:
            yield dict(row)

    def links(self, crawl_id: int) -> Iterator[dict]:
        for row in self.link_rows(crawl_id):
            yield dict(zip(LINK_COLUMNS, row[1:]))

    def link_rows(self, crawl_id: int, after: int = 0) -> Iterator[tuple]:
        """Links as ``(id, *LINK_COLUMNS)`` tuples (the fast path for big crawls), ``after`` a row id."""
        cur = self.db.execute(f"SELECT id, {', '.join(LINK_COLUMNS)} FROM links WHERE crawl_id = ? AND id > ?"
                              " ORDER BY id", (crawl_id, after))
        cur.row_factory = None
        return iter(cur)

    def count_pages(self, crawl_id: int, role: str | None = "page") -> int:
        if role is None:
            return self.db.execute("SELECT count(*) FROM pages WHERE crawl_id = ?", (crawl_id,)).fetchone()[0]
        return self.db.execute(
            "SELECT count(*) FROM pages WHERE crawl_id = ? AND role = ?", (crawl_id, role)
        ).fetchone()[0]

    def count_queued(self, crawl_id: int) -> int:
        return self.db.execute("SELECT count(*) FROM frontier WHERE crawl_id = ?", (crawl_id,)).fetchone()[0]

    # -- cache of external verdicts -----------------------------------------------
    def cached(self, url: str, max_age: float) -> dict | None:
        row = self.db.execute("SELECT * FROM url_cache WHERE url = ?", (url,)).fetchone()
        if row is None or time.time() - row["checked_at"] > max_age:
            return None
        return dict(row)

    def cache(self, url: str, status: int, location: str | None, headers: str | None, content_type: str | None) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO url_cache VALUES (?, ?, ?, ?, ?, ?)",
                (url, status, location, headers, content_type, time.time()),
            )


def process_alive(pid: int | None) -> bool:
    """Is there a process ``pid`` (None: not started yet, so not known to be gone)?"""
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if os.path.exists(f"/proc/{pid}/stat"):  # a zombie is gone too
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    return True


def open_store(path: str | os.PathLike | None, readonly: bool = False) -> Store:
    """Open the store at ``path`` (default: :func:`default_path`)."""
    return Store(path or default_path(), readonly=readonly)


__all__ = ["Store", "StoreError", "open_store", "default_path", "closing"]
