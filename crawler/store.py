"""The crawl store: a SQLite file, the only code that reads or writes it.

The crawler streams rows in as it goes (WAL, one transaction per page or per batch of pages); every
analysis and report reads them back. One file holds many crawls, so history,
diffs and resumes are queries, not new formats.

Tables (schema 6)
-----------------
meta       ``schema_version``: the layout of this file
migrations one row per migration applied (version, name, when), the way sqlite-utils records them
crawls     one row per run: targets, options (JSON), started, finished, status, version, state
urls       every URL once (id, url): pages, links and the frontier refer to ids
terms      the short words links are described with (tags, attributes, regions, kinds), as ids
pages      one row per fetched URL (owned pages, assets, social profiles, external
           links): status, error kind, Location, headers of interest, title, anchors,
           signals (what an HTML page shows: feeds, posts, prices, forms; crawler.signals),
           how it was read (``read_as``: raw, or rendered in Chromium; ``render_why``)
links      one row per link on a fetched page: source, key, target as written (when it
           differs from its key), fragment, tag, attr, region, kind, icon, rel, text, line,
           pos (its index in the page's document order)
frontier   every URL the crawl decided to fetch and whether it has been (what a resume reads)
render_links  the links only one reading of a rendered page has: ``js`` (only after JavaScript)
           or ``raw`` (in the served HTML, removed by rendering); page, target, tag, region, text
findings   the findings of a finished audit, by stable id (what crawl comparisons read)
url_cache  external link verdicts kept across runs (``--cache-age``)
answers    social profile API answers and their rate-limit state, kept across runs (``--cache-age``)

A store written by an older funnelcheck is migrated when opened for writing and read as
it is for reports; one written by a newer funnelcheck, or a file that is not a
funnelcheck store, is refused and left untouched.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import sys
import time
from array import array
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Sequence
from typing import Iterable, Iterator

from crawler.urls import redact_credentials

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 6

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL);
CREATE TABLE crawls (
    id INTEGER PRIMARY KEY,
    targets TEXT NOT NULL,            -- JSON list of public URLs
    options TEXT NOT NULL,            -- JSON object: everything the crawl was told
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL DEFAULT 'running',  -- running, complete, interrupted, failed
    error TEXT,
    pid INTEGER,
    limits TEXT,                      -- JSON: pages left uncrawled by --max-pages / --depth, traps
    origins TEXT,                     -- JSON: owned variant origin -> the canonical one (urls.origin_aliases)
    version TEXT,                     -- the funnelcheck version that ran the crawl
    state TEXT                        -- JSON: what the spider learnt that a resume needs (brand handles)
);
CREATE TABLE urls (id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE);
CREATE TABLE terms (id INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE);
CREATE TABLE pages (
    id INTEGER PRIMARY KEY,
    crawl_id INTEGER NOT NULL REFERENCES crawls(id) ON DELETE CASCADE,
    url_id INTEGER NOT NULL REFERENCES urls(id),  -- public, normalised, de-duplication key
    fetched_url TEXT,                 -- where it was fetched from (after --remap)
    role TEXT NOT NULL,               -- page, asset, profile, external, sitemap, form (a form's action / thank-you page)
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
    signals TEXT,                     -- JSON object of an HTML page's truthy signals (crawler.signals), NULL: none
    read_as TEXT,                     -- how an owned HTML page was read: raw (as served) or rendered (Chromium)
    render_why TEXT,                  -- why it was rendered, or why it was not though it needs JavaScript
    UNIQUE (crawl_id, url_id)
);
CREATE TABLE links (
    id INTEGER PRIMARY KEY,
    crawl_id INTEGER NOT NULL REFERENCES crawls(id) ON DELETE CASCADE,
    source_id INTEGER NOT NULL,       -- urls.id of the page the link stands on
    key_id INTEGER NOT NULL,          -- urls.id of the target's de-duplication key (joins pages.url_id)
    target_id INTEGER,                -- urls.id of the target as written (tracking params kept), NULL: as its key
    fragment TEXT,
    tag INTEGER, attr INTEGER, region INTEGER, kind INTEGER,   -- terms.id
    icon INTEGER NOT NULL DEFAULT 0,
    rel TEXT, text TEXT, line INTEGER,
    pos INTEGER                       -- the link's index in its page's document (DOM) order
);
CREATE INDEX links_source ON links (crawl_id, source_id);
CREATE INDEX links_key ON links (crawl_id, key_id);
CREATE TABLE frontier (
    crawl_id INTEGER NOT NULL,
    url_id INTEGER NOT NULL,
    fetch TEXT NOT NULL,              -- JSON: what the crawler needs to fetch it again
    state TEXT NOT NULL DEFAULT 'queued',  -- queued, done
    PRIMARY KEY (crawl_id, url_id)
) WITHOUT ROWID;
CREATE TABLE findings (
    crawl_id INTEGER NOT NULL REFERENCES crawls(id) ON DELETE CASCADE,
    id TEXT NOT NULL,                 -- stable fingerprint of rule, target, region and kind
    rule TEXT NOT NULL, severity TEXT NOT NULL, target TEXT, region TEXT, message TEXT NOT NULL,
    pages INTEGER NOT NULL, detail TEXT,
    PRIMARY KEY (crawl_id, id)
) WITHOUT ROWID;
CREATE TABLE analytics (            -- the traffic an audit with --analytics was weighted by (issue 24)
    crawl_id INTEGER PRIMARY KEY REFERENCES crawls(id) ON DELETE CASCADE,
    files TEXT NOT NULL,              -- JSON list of the exports read: name, tool, report, rows
    period_start TEXT, period_end TEXT,
    days REAL,                        -- the period the exports cover
    period_assumed INTEGER NOT NULL DEFAULT 0,  -- 1: the exports did not say, taken as a month
    monthly_entries REAL,             -- entry visits a month on the pages the model walks
    conversion REAL,                  -- the visits-weighted model conversion
    monthly_conversions REAL,
    monthly_value REAL,               -- money a month the model's conversions are worth
    value_per_conversion REAL,
    currency TEXT,
    unmatched_rows INTEGER, unmatched_visits REAL,
    plan TEXT,                        -- JSON list per action-plan item: id, words, visits, conversions, money
    saved TEXT NOT NULL
);
CREATE TABLE url_cache (
    url TEXT PRIMARY KEY,
    status INTEGER,
    location TEXT,
    headers TEXT,
    content_type TEXT,
    checked_at REAL NOT NULL
);
CREATE TABLE answers (
    url TEXT PRIMARY KEY,             -- a profile API's public URL, or budget:ORIGIN (its rate-limit state)
    status INTEGER,
    headers TEXT,
    content_type TEXT,
    body BLOB,
    checked_at REAL NOT NULL
);
CREATE TABLE render_links (          -- links only one reading of a rendered page has (crawler.render)
    crawl_id INTEGER NOT NULL REFERENCES crawls(id) ON DELETE CASCADE,
    source_id INTEGER NOT NULL,       -- urls.id of the page
    target_id INTEGER NOT NULL,       -- urls.id of the link's target (as written, normalised)
    tag INTEGER, region INTEGER,      -- terms.id
    text TEXT,
    seen TEXT NOT NULL                -- js: only after JavaScript, raw: in the served HTML and removed by rendering
);
CREATE INDEX render_links_crawl ON render_links (crawl_id, source_id);
"""

PAGE_COLUMNS = ("url", "fetched_url", "role", "method", "depth", "status", "error_kind", "reason",
                "location", "headers", "content_type", "title", "lead_form", "anchors", "parsed",
                "fetched_at", "elapsed", "signals", "read_as", "render_why")
# (a row may leave out ``pos``, the last: it is then NULL)
LINK_COLUMNS = ("source", "target", "target_key", "fragment", "tag", "attr", "text", "region",
                "rel", "icon", "kind", "line", "pos")
_PAGE_VALUES = PAGE_COLUMNS[1:]
_PAGE_VALUES_2 = _PAGE_VALUES[:_PAGE_VALUES.index("signals")]  # the page columns of schema 2 (migration 2 copies them)
_REDACTED = frozenset({"fetched_url", "location", "reason", "title"})  # text that can hold a URL with a password
_TERMS = ("tag", "attr", "region", "kind")

# How each schema's rows are read back: always as LINK_COLUMNS tuples and page dicts with a url.
_READ = {
    1: {"links": "SELECT l.id, l.source, l.target, l.target_key, l.fragment, l.tag, l.attr, l.text, l.region,"
                 " l.rel, l.icon, l.kind, l.line, {pos} FROM links l WHERE l.crawl_id = ?",
        "pages": "SELECT p.* FROM pages p WHERE p.crawl_id = ?",
        "source": "l.source = ?", "key": "l.target_key = ?", "page_url": "p.url = ?",
        "tag": "l.tag = ?", "written_prefix": "l.target LIKE ? || '%'", "key_prefix": "l.target_key LIKE ? || '%'",
        "unfetchable": "(l.kind = 'malformed' OR (l.target_key NOT LIKE 'http://%' AND l.target_key NOT LIKE 'https://%'))",
        "pairs": "SELECT DISTINCT l.source, l.target_key FROM links l WHERE l.crawl_id = ? AND l.tag IS NOT ?",
        "keys": "l.target_key IN (SELECT url FROM {table})", "by_source": " ORDER BY l.source, l.id",
        "sources": "l.source IN (SELECT url FROM {table})",
        "kind": "l.kind = ?", "rewritten": "l.target != l.target_key",
        "codes": "SELECT l.source, l.target_key, l.region, l.kind FROM links l WHERE +l.crawl_id = ?"
                 " AND l.tag IN ({tags}) ORDER BY l.id",
        "url_ids": "SELECT x.url, x.url FROM {table} x",
        "first_positions": "SELECT l.source, MIN(CASE WHEN l.tag IN ({line_tags}) AND COALESCE(l.region, 'body')"
                           " IN ({line_regions}) AND {pos} IS NOT NULL THEN {pos} END) FROM links l WHERE l.crawl_id = ?"
                       " AND l.tag IN ({tags}) AND {keys} GROUP BY l.source",
        "linked": "SELECT DISTINCT l.target_key FROM links l WHERE +l.crawl_id = ? AND l.tag IS NOT ?"
                  " AND l.source != l.target_key AND l.source IN (SELECT url FROM pages WHERE crawl_id = ? AND role = ?)",
        "ends": "SELECT target_key FROM links WHERE +crawl_id = ? AND id > ? UNION"
                " SELECT source FROM links WHERE +crawl_id = ? AND id > ?",
        "frontier": "SELECT f.url, f.fetch, f.state FROM frontier f WHERE f.crawl_id = ?",
        "facts": "SELECT {ends}, CASE WHEN l.target != l.target_key THEN l.target END, l.region,"
                 " l.kind, l.line FROM links l WHERE l.crawl_id = ? AND {keys} AND {sources}{kinds}"
                 " ORDER BY l.target_key, l.id",
        "facts_order": " ORDER BY l.target_key, l.id",
        "ends_ids": "l.source, l.target_key", "ends_urls": "l.source, l.target_key",
        "linking": "SELECT x.url FROM {sources} x WHERE EXISTS (SELECT 1 FROM links l WHERE l.crawl_id = ?"
                   " AND l.source = x.url AND {keys} AND l.tag IN ({tags}))",
        "json": "SELECT l.target_key, json_object('source', l.source, 'target', l.target, 'fragment', l.fragment,"
                " 'tag', l.tag, 'attr', l.attr, 'text', COALESCE(l.text, ''), 'region', l.region,"
                " 'rel', COALESCE(l.rel, ''), 'kind', l.kind, 'line', l.line,"
                " 'icon', json(CASE WHEN l.icon THEN 'true' ELSE 'false' END))"
                " FROM links l WHERE +l.crawl_id = ? ORDER BY l.id",
        "json_to": " AND l.target_key IN (SELECT url FROM {keys})"},
    2: {"links": "SELECT l.id, s.url, COALESCE(t.url, k.url), k.url, l.fragment, tg.term, at.term, l.text,"
                 " rg.term, l.rel, l.icon, kd.term, l.line, {pos} FROM links l"
                 " JOIN urls s ON s.id = l.source_id JOIN urls k ON k.id = l.key_id"
                 " LEFT JOIN urls t ON t.id = l.target_id LEFT JOIN terms tg ON tg.id = l.tag"
                 " LEFT JOIN terms at ON at.id = l.attr LEFT JOIN terms rg ON rg.id = l.region"
                 " LEFT JOIN terms kd ON kd.id = l.kind WHERE l.crawl_id = ?",
        "pages": "SELECT u.url, p.* FROM pages p JOIN urls u ON u.id = p.url_id WHERE p.crawl_id = ?",
        "source": "l.source_id = (SELECT id FROM urls WHERE url = ?)",
        "key": "l.key_id = (SELECT id FROM urls WHERE url = ?)",
        "page_url": "p.url_id = (SELECT id FROM urls WHERE url = ?)",
        "tag": "l.tag = (SELECT id FROM terms WHERE term = ?)",
        "written_prefix": "COALESCE(t.url, k.url) LIKE ? || '%'", "key_prefix": "k.url LIKE ? || '%'",
        "unfetchable": "(l.kind = (SELECT id FROM terms WHERE term = 'malformed')"
                       " OR (k.url NOT LIKE 'http://%' AND k.url NOT LIKE 'https://%'))",
        "keys": "l.key_id IN (SELECT u.id FROM {table} x JOIN urls u ON u.url = x.url)",
        "sources": "l.source_id IN (SELECT u.id FROM {table} x JOIN urls u ON u.url = x.url)",
        "kind": "l.kind = (SELECT id FROM terms WHERE term = ?)", "rewritten": "l.target_id IS NOT NULL",
        "codes": "SELECT l.source_id, l.key_id, rg.term, kd.term FROM links l LEFT JOIN terms rg ON rg.id = l.region"
                 " LEFT JOIN terms kd ON kd.id = l.kind WHERE +l.crawl_id = ?"
                 " AND l.tag IN (SELECT id FROM terms WHERE term IN ({tags})) ORDER BY l.id",
        "url_ids": "SELECT u.url, u.id FROM {table} x JOIN urls u ON u.url = x.url",
        "first_positions": "SELECT s.url, MIN(CASE WHEN tg.term IN ({line_tags}) AND COALESCE(rg.term, 'body')"
                           " IN ({line_regions}) AND {pos} IS NOT NULL THEN {pos} END) FROM links l"
                       " JOIN urls s ON s.id = l.source_id JOIN terms tg ON tg.id = l.tag"
                       " LEFT JOIN terms rg ON rg.id = l.region WHERE l.crawl_id = ? AND tg.term IN ({tags})"
                       " AND {keys} GROUP BY l.source_id",
        "by_source": " ORDER BY l.source_id, l.id",
        "linked": "SELECT u.url FROM urls u WHERE u.id IN (SELECT l.key_id FROM links l WHERE +l.crawl_id = ?"
                  " AND l.tag IS NOT COALESCE((SELECT id FROM terms WHERE term = ?), -1) AND l.source_id != l.key_id"
                  " AND l.source_id IN (SELECT url_id FROM pages WHERE crawl_id = ? AND role = ?))",
        "ends": "SELECT u.url FROM urls u WHERE u.id IN (SELECT key_id FROM links WHERE +crawl_id = ? AND id > ?"
                " UNION SELECT source_id FROM links WHERE +crawl_id = ? AND id > ?)",
        # (every link of a crawl: the URL table read in its url index's order, each URL looked up in the
        # two link indexes; no temporary b-tree of every link's two ends, no sort)
        "ends_all": "SELECT u.url FROM urls u"
                    " WHERE EXISTS (SELECT 1 FROM links WHERE crawl_id = ? AND key_id = u.id AND id > ?)"
                    " OR EXISTS (SELECT 1 FROM links WHERE crawl_id = ? AND source_id = u.id AND id > ?) ORDER BY 1",
        "pairs": "SELECT s.url, k.url FROM (SELECT DISTINCT source_id, key_id FROM links WHERE +crawl_id = ?"
                 " AND tag IS NOT COALESCE((SELECT id FROM terms WHERE term = ?), -1)) l"
                 " JOIN urls s ON s.id = l.source_id JOIN urls k ON k.id = l.key_id",
        "frontier": "SELECT u.url, f.fetch, f.state FROM frontier f JOIN urls u ON u.id = f.url_id"
                    " WHERE f.crawl_id = ?",
        "facts": "SELECT {ends}, t.url, rg.term, kd.term, l.line FROM links l"
                 " LEFT JOIN urls t ON t.id = l.target_id LEFT JOIN terms rg ON rg.id = l.region"
                 " LEFT JOIN terms kd ON kd.id = l.kind WHERE l.crawl_id = ? AND {keys} AND {sources}{kinds}"
                 " ORDER BY l.key_id, l.id",
        "facts_order": " ORDER BY l.key_id, l.id",
        "ends_ids": "l.source_id, l.key_id",
        "ends_urls": "(SELECT url FROM urls WHERE id = l.source_id), (SELECT url FROM urls WHERE id = l.key_id)",
        # (CROSS JOIN: the few URLs asked about first, then the urls table by its index)
        "linking": "SELECT x.url FROM {sources} x CROSS JOIN urls u ON u.url = x.url WHERE EXISTS (SELECT 1 FROM links l"
                   " WHERE l.crawl_id = ? AND l.source_id = u.id AND {keys}"
                   " AND l.tag IN (SELECT id FROM terms WHERE term IN ({tags})))",
        "json": "SELECT k.url, json_object('source', s.url, 'target', COALESCE(t.url, k.url), 'fragment', l.fragment,"
                " 'tag', tg.term, 'attr', at.term, 'text', COALESCE(l.text, ''), 'region', rg.term,"
                " 'rel', COALESCE(l.rel, ''), 'kind', kd.term, 'line', l.line,"
                " 'icon', json(CASE WHEN l.icon THEN 'true' ELSE 'false' END)) FROM links l"
                " JOIN urls s ON s.id = l.source_id JOIN urls k ON k.id = l.key_id"
                " LEFT JOIN urls t ON t.id = l.target_id LEFT JOIN terms tg ON tg.id = l.tag"
                " LEFT JOIN terms at ON at.id = l.attr LEFT JOIN terms rg ON rg.id = l.region"
                " LEFT JOIN terms kd ON kd.id = l.kind WHERE +l.crawl_id = ? ORDER BY l.id",
        "json_to": " AND l.key_id IN (SELECT u.id FROM {keys} x JOIN urls u ON u.url = x.url)"},
}
# A link's position in its page's document order. Stores from before schema 3 know only source
# lines (a line 0 or NULL: none), and so do rows written without one (graph_from's examples).
_POS = {1: "NULLIF(l.line, 0)", 2: "NULLIF(l.line, 0)", 3: "COALESCE(l.pos, NULLIF(l.line, 0))"}
_POS[4] = _POS[3]  # (schema 4 adds the analytics table: links and pages are read as in 3)
_POS[5] = _POS[3]  # (schema 5 adds pages.read_as and render_links: read by their own methods)
_READ[3] = dict(_READ[2])
_READ[4] = dict(_READ[3])
_READ[5] = dict(_READ[3])
_POS[6] = _POS[3]  # (schema 6 adds the answers table: read by its own methods)
_READ[6] = dict(_READ[3])
_READ = {version: {**{name: sql.replace("{pos}", _POS[version]) for name, sql in queries.items()},
                   "pos": _POS[version]} for version, queries in _READ.items()}


class Selection(Sequence):
    """URLs a store has as a temporary table (:meth:`Store.select`): a read-only sequence of
    them, passed to the store's reads in their place."""
    __slots__ = ("urls", "table", "store")

    def __init__(self, urls: list, table: str, store):
        self.urls, self.table, self.store = urls, table, store

    def __len__(self) -> int:
        return len(self.urls)

    def __getitem__(self, i):
        return self.urls[i]

    def __iter__(self):
        return iter(self.urls)


class StoreError(RuntimeError):
    """The store cannot be opened or is not a funnelcheck store."""


WRITE_FAILED = "cannot write the crawl store"   # how every message about a store that cannot be written starts
# SQLite's primary result codes that say a file is not (or no longer) a database, not that it cannot be written
_NOT_A_STORE = {getattr(sqlite3, "SQLITE_NOTADB", 26), getattr(sqlite3, "SQLITE_CORRUPT", 11)}


def write_failure(exc: BaseException) -> bool:
    """Is ``exc`` the store failing to take a write (a full disk, a read-only or vanished file,
    an I/O error), rather than a bug? Those stop a crawl with a message, not a traceback."""
    if isinstance(exc, OSError):
        return True
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    return code is None or (code & 0xFF) not in _NOT_A_STORE


def write_error(path, exc: BaseException) -> str:
    """One line naming the store and why a write failed: ``cannot write the crawl store PATH: REASON``.

    >>> write_error("/m/c.sqlite", sqlite3.OperationalError("database or disk is full"))
    'cannot write the crawl store /m/c.sqlite: the disk is full'
    >>> write_error("/m/c.sqlite", OSError(30, "Read-only file system"))
    'cannot write the crawl store /m/c.sqlite: Read-only file system'
    """
    return f"{WRITE_FAILED} {path}: {_reason(path, exc)}"


def _reason(path, exc: BaseException) -> str:
    """Why a store could not be written or read, in a few words (a full disk said so, whatever
    SQLite calls it: FULL, or an I/O error making its -shm file on a disk with no room)."""
    code = getattr(exc, "sqlite_errorcode", None)
    full = (code is not None and code & 0xFF == getattr(sqlite3, "SQLITE_FULL", 13)) or \
        getattr(exc, "errno", None) == errno.ENOSPC or "disk is full" in str(exc)
    if not full and code is not None and code & 0xFF == getattr(sqlite3, "SQLITE_IOERR", 10):
        try:
            room = os.statvfs(os.path.dirname(os.path.abspath(path)))
            full = room.f_bavail * room.f_frsize < 64 * 1024
        except OSError:
            pass
    return "the disk is full" if full else (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc))


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


# -- migrations ------------------------------------------------------------------
def _migrate_2(db: sqlite3.Connection) -> None:
    """Schema 1 -> 2: every URL once in ``urls``; links as ids and term codes; findings kept."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(crawls)")}
    for column in ("limits", "origins", "version", "state"):  # stores from before these columns
        if column not in columns:
            db.execute(f"ALTER TABLE crawls ADD COLUMN {column} TEXT")
    for table in ("pages", "links", "frontier"):
        db.execute(f"ALTER TABLE {table} RENAME TO old_{table}")
    db.execute("DROP INDEX IF EXISTS links_source")
    db.execute("DROP INDEX IF EXISTS links_target")
    new = SCHEMA.split("CREATE TABLE urls", 1)[1]
    for statement in _statements("CREATE TABLE urls" + new.split("CREATE TABLE url_cache", 1)[0]):
        db.execute(statement)  # not executescript: it would commit, and a killed migration must roll back
    db.execute("INSERT OR IGNORE INTO urls (url) SELECT url FROM old_pages UNION SELECT source FROM old_links"
               " UNION SELECT target FROM old_links UNION SELECT target_key FROM old_links"
               " UNION SELECT url FROM old_frontier")
    db.execute("INSERT OR IGNORE INTO terms (term) SELECT tag FROM old_links WHERE tag IS NOT NULL"
               " UNION SELECT attr FROM old_links WHERE attr IS NOT NULL"
               " UNION SELECT region FROM old_links WHERE region IS NOT NULL"
               " UNION SELECT kind FROM old_links WHERE kind IS NOT NULL")
    values = ", ".join(_PAGE_VALUES_2)
    db.execute(f"INSERT INTO pages (id, crawl_id, url_id, {values}) SELECT p.id, p.crawl_id, u.id,"
               f" {', '.join('p.' + c for c in _PAGE_VALUES_2)} FROM old_pages p JOIN urls u ON u.url = p.url")
    db.execute("INSERT INTO links (id, crawl_id, source_id, key_id, target_id, fragment, tag, attr, region, kind,"
               " icon, rel, text, line) SELECT l.id, l.crawl_id, s.id, k.id,"
               " CASE WHEN l.target = l.target_key THEN NULL ELSE t.id END, l.fragment,"
               " (SELECT id FROM terms WHERE term = l.tag), (SELECT id FROM terms WHERE term = l.attr),"
               " (SELECT id FROM terms WHERE term = l.region), (SELECT id FROM terms WHERE term = l.kind),"
               " l.icon, NULLIF(l.rel, ''), NULLIF(l.text, ''), l.line FROM old_links l"
               " JOIN urls s ON s.url = l.source JOIN urls k ON k.url = l.target_key JOIN urls t ON t.url = l.target")
    db.execute("INSERT INTO frontier (crawl_id, url_id, fetch, state) SELECT f.crawl_id, u.id, f.fetch, f.state"
               " FROM old_frontier f JOIN urls u ON u.url = f.url")
    for table in ("pages", "links", "frontier"):
        db.execute(f"DROP TABLE old_{table}")


def _migrate_3(db: sqlite3.Connection) -> None:
    """Schema 2 -> 3: ``pages.signals`` (what an HTML page shows) and ``links.pos`` (document
    order). Both NULL on the rows already stored: their links keep their source line as their
    order (see ``_POS``), their pages no signals. (A store migrated from schema 1 got the
    columns with the tables migration 2 made.)"""
    for table, column, kind in (("pages", "signals", "TEXT"), ("links", "pos", "INTEGER")):
        if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _migrate_4(db: sqlite3.Connection) -> None:
    """Schema 3 -> 4: the ``analytics`` table (the traffic summary of audits run with
    ``--analytics``; none for the crawls already stored)."""
    table = SCHEMA.split("CREATE TABLE analytics", 1)[1].split("CREATE TABLE url_cache", 1)[0]
    for statement in _statements("CREATE TABLE IF NOT EXISTS analytics" + table):
        db.execute(statement)


def _migrate_5(db: sqlite3.Connection) -> None:
    """Schema 4 -> 5: how each page was read (``pages.read_as``, ``render_why``: NULL on the
    pages already stored, all read as served) and the ``render_links`` table (--render)."""
    for column in ("read_as", "render_why"):
        if column not in {row[1] for row in db.execute("PRAGMA table_info(pages)")}:
            db.execute(f"ALTER TABLE pages ADD COLUMN {column} TEXT")
    table = SCHEMA[SCHEMA.index("CREATE TABLE render_links"):]
    for statement in _statements(table.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS")
                                 .replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS")):
        db.execute(statement)


def _migrate_6(db: sqlite3.Connection) -> None:
    """Schema 5 -> 6: ``answers``, the social profile API answers kept across runs (crawler.profiles)."""
    db.execute("CREATE TABLE IF NOT EXISTS answers (url TEXT PRIMARY KEY, status INTEGER, headers TEXT,"
               " content_type TEXT, body BLOB, checked_at REAL NOT NULL)")


# Ordered: (version, name, function taking the store from version - 1 to version).
MIGRATIONS = ((2, "urls table, links as ids, stored findings", _migrate_2),
              (3, "page signals, links in document order", _migrate_3),
              (4, "analytics summaries", _migrate_4),
              (5, "how pages were read (raw, rendered), links only one reading has", _migrate_5),
              (6, "social profile API answers", _migrate_6))


def _statements(script: str) -> list[str]:
    """The statements of a schema script (no ``;`` inside the schema's comments or strings).

    >>> all(sqlite3.complete_statement(s + ";") for s in _statements(SCHEMA))
    True
    """
    return [part.strip() for part in script.split(";") if part.strip()]


def _schema_version(db: sqlite3.Connection, path) -> int | None:
    """The schema version of an open file; None for a new, empty one. Refuses what is not ours."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        # New only if nothing at all is in it: another program's file may hold only a view, or
        # carry its application id or user version before its first table.
        other = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        marks = db.execute("PRAGMA application_id").fetchone()[0] or db.execute("PRAGMA user_version").fetchone()[0]
        if other or marks:
            raise StoreError(f"{path} is not a funnelcheck crawl store (another program's SQLite file): left untouched")
        return None
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() if "meta" in tables else None
    if row is None or not str(row[0]).isdigit() or not {"crawls", "pages", "links"} <= tables:
        raise StoreError(f"{path} is not a funnelcheck crawl store (no schema version): left untouched")
    version = int(row[0])
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer funnelcheck (store schema {version}; this one reads up "
                         f"to {SCHEMA_VERSION}): upgrade funnelcheck to read it")
    return version


@contextmanager
def writes_to(path):
    """Around writes outside the crawl's pipeline: a write the store does not take (a full disk)
    is a :class:`StoreError` ``cannot write the crawl store PATH: REASON``, not a traceback."""
    try:
        yield
    except (sqlite3.OperationalError, OSError) as exc:
        if not write_failure(exc):
            raise
        raise StoreError(write_error(path, exc)) from None


def _read_only_fs(path: Path) -> bool:
    """Is ``path`` (or, if it does not exist, its nearest existing folder) on a file system mounted read-only?"""
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _regular_file(path: Path) -> None:
    """StoreError unless ``path`` is a file (a device, a pipe or a folder is no store, and
    SQLite would read /dev/null as an empty database and write into nothing)."""
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not a regular file"
        raise StoreError(f"{path} is not a funnelcheck crawl store ({what}): left untouched")


def _writable_folder(path: Path) -> None:
    """Make the store's folder if need be; StoreError ``cannot write ...`` when it cannot hold a
    store: SQLite writes its -wal and -shm files beside the store."""
    folder = path.parent
    for above in (folder, *folder.parents):  # a file where a folder should be: say which
        if above.exists():
            if not above.is_dir():
                raise StoreError(f"{WRITE_FAILED} {path}: {above} is a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{WRITE_FAILED} {path}: {exc.strerror or exc}") from None
    if _read_only_fs(folder):
        raise StoreError(f"{WRITE_FAILED} {path}: Read-only file system")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"{WRITE_FAILED} {path}: permission denied (its folder {folder})")


def _open(path, readonly: bool, immutable: bool = False) -> sqlite3.Connection:
    if path == ":memory:":
        return sqlite3.connect(path)
    mode = "ro" if readonly else "rw"
    uri = Path(path).resolve().as_uri() + f"?mode={mode}{'&immutable=1' if immutable else ''}"
    return sqlite3.connect(uri, uri=True, timeout=30)


# A crawl with at least this many link rows has its link ends sorted by a helper process
# (Store.link_ends_ahead) while the graph builder reads its pages.
ENDS_AHEAD_MIN = 1_000_000
ENDS_BATCH = 8192  # link ends a helper sends at once


class _Helper:
    """A process that runs a function of this module (``function(*args)``, each argument a
    string) on its own connection to a store and sends what it reads, pickled a batch at a time,
    through a pipe: started when made, read when iterated (each batch as sent). A helper that
    fails is an error (:class:`StoreError`) when it is read."""

    def __init__(self, function: str, *args):
        import subprocess
        import tempfile

        root = str(Path(__file__).resolve().parent.parent)  # (where ``crawler`` is imported from)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH")))))
        self.errors = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"import sys; from crawler.store import {function}; {function}(*sys.argv[1:])",
             *map(str, args)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.errors, env=env)

    def __iter__(self):
        import pickle

        proc = self.proc
        try:
            while True:
                try:
                    batch = pickle.load(proc.stdout)
                except EOFError:
                    break
                yield batch
            code = proc.wait()
        finally:
            if proc.poll() is None:  # (the caller stopped reading: the helper is not needed any more)
                proc.kill()
                proc.wait()
            proc.stdout.close()
        self.errors.seek(0)
        why = self.errors.read().decode("utf-8", "replace").strip().splitlines()
        self.errors.close()
        if code != 0:
            raise StoreError(f"a store reader process failed: {why[-1] if why else f'exit code {code}'}")


def _send(batches) -> None:
    """Pickle each batch to stdout (a helper's side of :class:`_Helper`)."""
    import pickle

    out = sys.stdout.buffer
    for batch in batches:
        pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


def _send_link_ends(path: str, crawl_id: str, after: str) -> None:
    """The helper of :meth:`Store.link_ends_ahead`: the ends of ``crawl_id``'s links after row
    ``after``, sorted, as lists of :data:`ENDS_BATCH`."""
    with Store(path, readonly=True) as store:
        _, ends = store.link_ends(int(crawl_id), int(after))
        def batches():
            batch = []
            for url in ends:
                batch.append(url)
                if len(batch) == ENDS_BATCH:
                    yield batch
                    batch = []
            if batch:
                yield batch
        _send(batches())


def _send_first_positions(path: str, crawl_id: str, asked: str) -> None:
    """The helper of :meth:`Store.first_positions_ahead`: its rows, as lists of :data:`ENDS_BATCH`
    ``(source, pos)``; ``asked`` a file of the pickled ``(keys, tags, line_tags, line_regions)``."""
    import pickle

    with open(asked, "rb") as f:
        keys, tags, line_tags, line_regions = pickle.load(f)
    os.unlink(asked)  # (read: the caller's file is not needed any more)
    with Store(path, readonly=True) as store:
        rows = store.first_positions(int(crawl_id), keys, tags, line_tags, line_regions)
        del keys
        _send(iter(lambda: rows.fetchmany(ENDS_BATCH), []))


def _send_int_rows(path: str, query: str, params: str, size: str) -> None:
    """The helper of :meth:`Store.int_rows_ahead`: the rows of ``query`` (JSON: schema version
    -> SQL) with ``params`` (JSON), ``size`` at a time, each batch the bytes of its values as
    64-bit ints, row after row."""
    from array import array
    from itertools import chain

    with Store(path, readonly=True) as store:
        rows = store.read({int(k): v for k, v in json.loads(query).items()}, tuple(json.loads(params)))
        def batches():
            while True:
                batch = rows.fetchmany(int(size))
                if not batch:
                    return
                yield array("q", chain.from_iterable(batch)).tobytes()
        _send(batches())


class Store:
    """A crawl store file.

    >>> import tempfile, os
    >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
    >>> cid = s.create_crawl(["https://acme.example/"], {"max_pages": 10})
    >>> s.write_page(cid, {"url": "https://acme.example/", "role": "page", "status": 200}, [])
    >>> [p["status"] for p in s.pages(cid)], s.crawl(cid)["status"], s.version
    ([200], 'running', 6)
    """

    def __init__(self, path: str | os.PathLike, readonly: bool = False):
        self.path = Path(path) if path != ":memory:" else path
        self._ids: dict[str, int] = {}     # url -> urls.id, bounded (see _url_ids)
        self._terms: dict[str, int] = {}
        self._batched = 0                  # depth of the open batch() blocks (0: one transaction per write)
        try:
            if readonly:
                self._open_readonly()
            else:
                self._open_writable()
            self.db.row_factory = sqlite3.Row
        except StoreError:
            self._close_failed()  # (a foreign WAL file: closing is what removes the -wal and -shm SQLite made)
            raise
        except (sqlite3.DatabaseError, OSError) as exc:
            self._close_failed()
            if write_failure(exc):  # a full disk, a file SQLite may not open: not a foreign file
                if not readonly:
                    raise StoreError(write_error(self.path, exc)) from None
                reason = _reason(self.path, exc)
                hint = " (SQLite needs 32 KB beside a store to read it: free some space)" if "full" in reason else ""
                raise StoreError(f"cannot read the crawl store {self.path}: {reason}{hint}") from None
            raise StoreError(f"{self.path} is not a funnelcheck crawl store ({exc}): left untouched") from None
        self._read = _READ[self.version]

    def _close_failed(self) -> None:
        if getattr(self, "db", None) is not None:
            self.db.close()

    def _open_readonly(self) -> None:
        if not Path(self.path).exists():
            raise StoreError(f"no crawl store at {self.path}")
        _regular_file(Path(self.path))
        if not os.access(self.path, os.R_OK):
            raise StoreError(f"cannot read the crawl store {self.path}: permission denied")
        wal = Path(f"{self.path}-wal")
        if not wal.exists() or wal.stat().st_size == 0:
            # all of it is in the file: is it ours? Asked of the file as it is (immutable), since a
            # read-only connection to a WAL file makes -wal and -shm files beside it and cannot
            # remove them: a foreign or newer file is refused with nothing left beside it
            probe = _open(self.path, readonly=True, immutable=True)
            try:
                _schema_version(probe, self.path)
            except sqlite3.DatabaseError:  # (not a database: the open below says so, as it would have)
                pass
            finally:
                probe.close()
        self.db = _open(self.path, readonly=True)
        try:
            version = _schema_version(self.db, self.path)
        except sqlite3.OperationalError as exc:
            wal = Path(f"{self.path}-wal")
            no_room = "disk I/O" in str(exc) and (not wal.exists() or wal.stat().st_size == 0)  # a full disk
            if "unable to open" not in str(exc) and "readonly" not in str(exc).replace("-", "") and not no_room:
                raise
            # a store on a read-only disk, in a folder we may not write or on a full disk (and
            # nothing waiting in its WAL): WAL cannot make its -shm file; read the file as it is
            self.db.close()
            self.db = _open(self.path, readonly=True, immutable=True)
            version = _schema_version(self.db, self.path)
        if version is None:
            raise StoreError(f"{self.path} is not a funnelcheck crawl store (it is empty)")
        self.version = version

    def _open_writable(self) -> None:
        created = False
        if self.path != ":memory:":
            path = Path(self.path)
            _writable_folder(path)
            if path.exists():
                _regular_file(path)
                if not os.access(path, os.W_OK):
                    raise StoreError(f"{WRITE_FAILED} {path}: "
                                     f"{'Read-only file system' if _read_only_fs(path) else 'permission denied'}")
            else:
                try:  # made here, not by SQLite: a folder that takes no new file says why (the OS's reason)
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                    created = True
                except FileExistsError:  # another process has just made it
                    pass
            self.db = sqlite3.connect(path, timeout=30)
            try:
                self._set_up()
            except BaseException:
                if created and path.exists() and path.stat().st_size == 0:  # no store was made: none left behind
                    self.db.close()
                    path.unlink()
                raise
        else:
            self.db = sqlite3.connect(":memory:")
            self._set_up()

    def _set_up(self) -> None:
        """Check the open file is ours, then create the schema in it or migrate it."""
        version = _schema_version(self.db, self.path)  # before any write: a foreign file stays as it was
        self.db.execute("PRAGMA journal_mode=WAL")
        # OFF: a killed process loses nothing committed (WAL); only an OS crash or power
        # loss could cost the last transactions, and a crawl can be re-run.
        self.db.execute("PRAGMA synchronous=OFF")
        if version is None:
            self.db.execute("BEGIN IMMEDIATE")  # one transaction: a new store is whole or absent
            try:
                if _schema_version(self.db, self.path) is None:  # another process may have just made it
                    for statement in _statements(SCHEMA):
                        self.db.execute(statement)
                    self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                    self.db.executemany("INSERT INTO migrations VALUES (?, ?, ?)",
                                        [(1, "initial", now_iso())] + [(v, n, now_iso()) for v, n, _ in MIGRATIONS])
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:  # (SQLite has rolled a full disk's transaction back itself)
                    self.db.execute("ROLLBACK")
                raise
        elif version < SCHEMA_VERSION:
            self._migrate(version)
        self.version = SCHEMA_VERSION

    def _migrate(self, version: int) -> None:
        """Apply the migrations after ``version``, each in its own transaction."""
        db = self.db
        for number, name, fn in MIGRATIONS:
            if number <= version:
                continue
            db.execute("BEGIN IMMEDIATE")
            try:
                if _schema_version(db, self.path) >= number:  # another process migrated it meanwhile
                    db.execute("COMMIT")
                    continue
                db.execute("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                           " applied TEXT NOT NULL)")
                db.execute("INSERT OR IGNORE INTO migrations VALUES (1, 'initial', '')")
                fn(db)
                db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(number),))
                db.execute("INSERT INTO migrations VALUES (?, ?, ?)", (number, name, now_iso()))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            logger.info("migrated %s to store schema %d (%s)", self.path, number, name)

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    @contextmanager
    def batch(self):
        """Consecutive writes (:meth:`write_page`, :meth:`cache`) share one transaction, committed
        when the outermost ``with store.batch():`` ends: one commit for many pages. A write that
        fails rolls the whole batch back (the pages written in it before are gone too, and the id
        caches are cleared as :meth:`write_page` does); the exception tells the caller. Nested
        batches are part of the outer one.

        >>> import tempfile, os
        >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
        >>> cid = s.create_crawl(["https://acme.example/"], {})
        >>> with s.batch():
        ...     s.write_page(cid, {"url": "https://acme.example/", "role": "page", "status": 200}, [])
        ...     with s.batch():
        ...         s.write_page(cid, {"url": "https://acme.example/a", "role": "page", "status": 200}, [])
        ...     s.db.in_transaction
        True
        >>> s.db.in_transaction, s.count_pages(cid)
        (False, 2)
        """
        self._batched += 1
        try:
            yield self
            if self._batched == 1 and self.db.in_transaction:
                self.db.commit()
        except BaseException:
            self._rollback()
            raise
        finally:
            self._batched -= 1

    @contextmanager
    def _transaction(self):
        """One write: its own transaction, or its part of the open :meth:`batch`."""
        if not self._batched:
            with self.db:
                yield
            return
        try:
            yield
        except BaseException:
            self._rollback()  # (not left half-written for the writes after it in the batch)
            raise

    def _rollback(self) -> None:
        if self.db.in_transaction:
            self.db.rollback()
        self._ids.clear()  # ids handed out in the rolled-back transaction do not exist
        self._terms.clear()

    def __exit__(self, *exc):
        self.close()

    # -- crawls ---------------------------------------------------------------
    def create_crawl(self, targets: list[str], options: dict) -> int:
        with self.db:
            cur = self.db.execute(
                "INSERT INTO crawls (targets, options, started, status, version, pid) VALUES (?, ?, ?, 'running', ?, ?)",
                (json.dumps(targets), json.dumps(options, sort_keys=True), now_iso(), funnelcheck_version(),
                 os.getpid()),  # the crawl process puts its own pid here when it starts
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

    def set_options(self, crawl_id: int, options: dict) -> None:
        with self.db:
            self.db.execute("UPDATE crawls SET options = ? WHERE id = ?", (json.dumps(options, sort_keys=True),
                                                                          crawl_id))

    def reopen_crawl(self, crawl_id: int) -> None:
        """Mark an interrupted crawl running again (a resume): its pages and frontier stay."""
        with self.db:
            self.db.execute("UPDATE crawls SET status = 'running', finished = NULL, error = NULL, pid = ?"
                            " WHERE id = ?", (os.getpid(), crawl_id))

    def snapshot(self) -> None:
        """Read what follows as of one moment (one read transaction): a report of a crawl
        that is still being written sees its nodes and links at the same point."""
        if not self.db.in_transaction:
            self.db.execute("BEGIN")
            self.db.execute("SELECT count(*) FROM crawls").fetchone()  # the snapshot starts at the first read

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
        for name in ("limits", "origins", "state"):
            out[name] = json.loads(out[name]) if out.get(name) else {}
        return out

    def crawls(self) -> list[dict]:
        pages = ("(SELECT count(*) FROM pages p WHERE p.crawl_id = c.id AND p.role = 'page' AND p.parsed = 1)")
        rows = self.db.execute(
            f"SELECT c.id, c.targets, c.started, c.finished, c.status, c.error, c.pid, c.version, {pages} AS pages"
            " FROM crawls c ORDER BY c.id"
        ).fetchall()
        out = []
        for r in rows:
            row = dict(r, targets=json.loads(r["targets"]))
            if row["status"] == "running" and not process_alive(row["pid"]):
                row["status"] = "interrupted"  # its process is gone: nothing is running it
            out.append(row)
        return out

    def set_state(self, crawl_id: int, state: dict) -> None:
        with self.db:
            self.db.execute("UPDATE crawls SET state = ? WHERE id = ?", (json.dumps(state, sort_keys=True), crawl_id))

    # -- ids --------------------------------------------------------------------
    def _url_ids(self, urls) -> dict[str, int]:
        """urls.id of each URL, adding the new ones (call inside a transaction)."""
        ids, out = self._ids, {}
        execute = self.db.execute
        for url in urls:
            i = ids.get(url)
            if i is None:  # (a password in a URL is never stored: user:***@)
                i = execute("INSERT INTO urls (url) VALUES (?) ON CONFLICT (url) DO UPDATE SET url = url"
                            " RETURNING id", (redact_credentials(url),)).fetchone()[0]
                if len(ids) >= 50_000:  # nav and footer URLs repeat on every page: keep a bounded memory of them
                    ids.clear()
                ids[url] = i
            out[url] = i
        return out

    def _term(self, term: str | None) -> int | None:
        if term is None:
            return None
        i = self._terms.get(term)
        if i is None:
            i = self.db.execute("INSERT INTO terms (term) VALUES (?) ON CONFLICT (term) DO UPDATE SET term = term"
                                " RETURNING id", (term,)).fetchone()[0]
            self._terms[term] = i
        return i

    # -- pages and links --------------------------------------------------------
    def write_page(self, crawl_id: int, page: dict, links: list[tuple], discovered: list[tuple] = (),
                   state: dict | None = None, partial: bool = False, replace_links: bool = False,
                   rerender: list[tuple] = ()) -> None:
        """Write one fetched URL, its links and the URLs it queued, in one transaction.

        ``links`` are tuples in :data:`LINK_COLUMNS` order (``pos`` may be left out); ``discovered`` are
        ``(url, fetch_json)`` frontier entries; ``state`` replaces the crawl's resume state.
        ``partial``: only links and frontier entries (a part of a long sitemap); the page row
        and its place in the frontier as done come with the last part. ``replace_links``: the
        page's links stored earlier (a sitemap read again by a resume) are dropped first.
        ``rerender``: ``(url, fetch_json)`` of pages stored as served that are to be read again,
        rendered (this page, a sample of its template; the pages its rendered sample showed to
        need it): queued again until that reading is stored, so a resume asks for them.

        >>> import tempfile, os
        >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
        >>> cid = s.create_crawl(["https://a.example/"], {})
        >>> again = [("https://a.example/", '{"url": "https://a.example/", "rerender": true}')]
        >>> s.write_page(cid, {"url": "https://a.example/", "role": "page", "status": 200, "read_as": "raw"}, [],
        ...              rerender=again)   # a sample stored as served, its rendering to come
        >>> [(url, state, fetch.get("rerender")) for url, fetch, state in s.frontier(cid)]
        [('https://a.example/', 'queued', True)]
        >>> s.write_page(cid, {"url": "https://a.example/", "role": "page", "status": 200, "read_as": "rendered"}, [])
        >>> [(url, state) for url, _, state in s.frontier(cid)]
        [('https://a.example/', 'done')]
        """
        try:
            self._write_page(crawl_id, page, links, discovered, state, partial, replace_links, rerender=rerender)
        except BaseException:
            self._ids.clear()  # ids handed out in the rolled-back transaction do not exist
            self._terms.clear()
            raise

    def _write_page(self, crawl_id, page, links, discovered, state, partial, replace_links, render_links=(),
                    rerender=()) -> None:
        term = self._term
        with self._transaction():
            urls = {page["url"]}
            for link in links:
                urls.update((link[0], link[1], link[2]))
            for row in render_links:  # (page, target, tag, region, text, seen): links only one reading has
                urls.update((row[0], row[1]))
            urls.update(u for u, _ in discovered)
            urls.update(u for u, _ in rerender)
            ids = self._url_ids(urls)
            page_id = ids[page["url"]]
            if replace_links:  # (a page read again, or the same item written again: a cluster's writer replays it)
                # what only one reading of it had goes too: a reading whose links no longer differ has none
                self.db.execute("DELETE FROM render_links WHERE crawl_id = ? AND source_id = ?", (crawl_id, page_id))
            if render_links:  # (--render)
                self.db.executemany(
                    "INSERT INTO render_links (crawl_id, source_id, target_id, tag, region, text, seen)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(crawl_id, ids[s], ids[k], term(tag), term(region), redact_credentials(text) or None, seen)
                     for s, k, tag, region, text, seen in render_links])
            if replace_links:
                self.db.execute("DELETE FROM links WHERE crawl_id = ? AND source_id = ?", (crawl_id, page_id))
            if not partial:
                self.db.execute(
                    f"INSERT OR REPLACE INTO pages (crawl_id, url_id, {', '.join(_PAGE_VALUES)})"
                    f" VALUES ({', '.join('?' * (len(_PAGE_VALUES) + 2))})",
                    [crawl_id, page_id] + [redact_credentials(page.get(c)) if c in _REDACTED else page.get(c)
                                           for c in _PAGE_VALUES],
                )
            if links:
                self.db.executemany(
                    "INSERT INTO links (crawl_id, source_id, key_id, target_id, fragment, tag, attr, region, kind,"
                    " icon, rel, text, line, pos) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(crawl_id, ids[source], ids[key], None if target == key else ids[target], fragment,
                      term(tag), term(attr), term(region), term(kind), icon, rel or None,
                      redact_credentials(text) or None, line, pos[0] if pos else None)
                     for (source, target, key, fragment, tag, attr, text, region, rel, icon, kind, line, *pos)
                     in links],
                )
            if discovered:
                self.db.executemany(
                    "INSERT OR IGNORE INTO frontier (crawl_id, url_id, fetch) VALUES (?, ?, ?)",
                    [(crawl_id, ids[u], redact_credentials(f)) for u, f in discovered],
                )
            if not partial:
                self.db.execute(
                    "INSERT INTO frontier (crawl_id, url_id, fetch, state) VALUES (?, ?, '{}', 'done')"
                    " ON CONFLICT (crawl_id, url_id) DO UPDATE SET state = 'done'",
                    (crawl_id, page_id),
                )
            if rerender:  # (after the page's own 'done': a sample is queued again until it is rendered)
                self.db.executemany(
                    "INSERT INTO frontier (crawl_id, url_id, fetch, state) VALUES (?, ?, ?, 'queued')"
                    " ON CONFLICT (crawl_id, url_id) DO UPDATE SET state = 'queued', fetch = excluded.fetch",
                    [(crawl_id, ids[u], redact_credentials(f)) for u, f in rerender],
                )
            if state is not None:  # the spider's origins (a target may rename the site) and resume state
                self.db.execute("UPDATE crawls SET state = ?, origins = COALESCE(?, origins) WHERE id = ?",
                                (json.dumps(state, sort_keys=True),
                                 json.dumps(state["origins"]) if state.get("origins") is not None else None, crawl_id))

    def write_item(self, crawl_id: int, item: dict, state_seq: int = 0) -> int:
        """Write one item of the spider (a fetched URL: ``page``, ``links``, ``discovered``,
        ``state``, ``partial``, ``replace_links``, ``cache``) and renew the external-link cache
        with it. Items reach the store out of the order their crawl states were taken in: a
        state older than ``state_seq`` (the newest written so far) is not written. Returns the
        newest state seq now.
        """
        page = item["page"]
        state = item.get("state")
        if state is not None:
            if state.get("seq", 0) < state_seq:
                state = None
            else:
                state_seq = state.get("seq", 0)
        if item.get("render_links"):  # (a rendered page: its page, links and these in one transaction)
            try:
                self._write_page(crawl_id, page, item.get("links") or (), item.get("discovered") or (), state, False,
                                 item.get("replace_links", False), render_links=item["render_links"],
                                 rerender=item.get("rerender") or ())
            except BaseException:
                self._ids.clear()
                self._terms.clear()
                raise
        else:
            self.write_page(crawl_id, page, item.get("links") or (), item.get("discovered") or (), state,
                            partial=item.get("partial", False), replace_links=item.get("replace_links", False),
                            rerender=item.get("rerender") or ())
        if item.get("cache") and page.get("reason") != "cached":  # a cached answer does not renew the cache
            self.cache(page["url"], page["status"], page.get("location"), page.get("headers"), page.get("content_type"))
        for answer in item.get("answers") or ():
            self.keep_answer(answer)
        return state_seq

    def add_frontier(self, crawl_id: int, entries: list[tuple]) -> None:
        with self.db:
            ids = self._url_ids(u for u, _ in entries)
            self.db.executemany(
                "INSERT OR IGNORE INTO frontier (crawl_id, url_id, fetch) VALUES (?, ?, ?)",
                [(crawl_id, ids[u], f) for u, f in entries],
            )

    def frontier(self, crawl_id: int) -> Iterator[tuple[str, dict, str]]:
        """Every URL a crawl decided to fetch: ``(key, fetch, state)``, state ``queued`` or ``done``."""
        cur = self.db.execute(self._read["frontier"], (crawl_id,))
        cur.row_factory = None
        for url, fetch, state in cur:
            yield url, json.loads(fetch), state

    def pages(self, crawl_id: int, after: int = 0) -> Iterator[dict]:
        """Pages of a crawl in the order they were stored (``after`` a row id, to read only new ones)."""
        cur = self.db.execute(self._read["pages"] + " AND p.id > ? ORDER BY p.id", (crawl_id, after))
        for row in cur:
            row = dict(row)
            row.pop("url_id", None)
            yield row

    def page_columns(self, crawl_id: int, names: tuple[str, ...], after: int = 0) -> Iterator[tuple]:
        """Pages of a crawl as :meth:`pages` reads them, each a tuple of the columns ``names`` (``id``,
        ``url`` or of :data:`PAGE_COLUMNS`; one a store of an older schema lacks reads None): no
        dict a row, and no column not asked for (a graph of a million pages reads a million rows).

        >>> s = Store(":memory:"); cid = s.create_crawl(["https://a.example/"], {})
        >>> s.write_page(cid, {"url": "https://a.example/", "role": "page", "status": 200}, [])
        >>> list(s.page_columns(cid, ("url", "status", "title")))
        [('https://a.example/', 200, None)]
        """
        have = {row[1] for row in self.db.execute("PRAGMA table_info(pages)")}
        columns = []
        for name in names:
            if name != "id" and name not in PAGE_COLUMNS:
                raise ValueError(f"not a page column: {name!r}")
            columns.append("u.url" if name == "url" and self.version >= 2 else f"p.{name}" if name in have else "NULL")
        query = self._read["pages"]
        query = f"SELECT {', '.join(columns)}{query[query.index(' FROM '):]} AND p.id > ? ORDER BY p.id"
        cur = self.db.execute(query, (crawl_id, after))
        cur.row_factory = None
        return iter(cur)

    def page(self, crawl_id: int, url: str) -> dict | None:
        row = self.db.execute(self._read["pages"] + " AND " + self._read["page_url"], (crawl_id, url)).fetchone()
        return None if row is None else dict(row)

    def links(self, crawl_id: int) -> Iterator[dict]:
        for row in self.link_rows(crawl_id):
            yield dict(zip(LINK_COLUMNS, row[1:]))

    def link_rows(self, crawl_id: int, after: int = 0, *, source: str | None = None, key: str | None = None,
                  tag: str | None = None, fragment: bool = False, written_prefix: str | None = None,
                  key_prefix: str | None = None, unfetchable: bool = False, keys=None, sources=None,
                  by_source: bool = False, kind: str | None = None, rewritten: bool = False) -> Iterator[tuple]:
        """Links as ``(id, *LINK_COLUMNS)`` tuples in stored order: all of them (``after`` a row id),
        or those ``source`` stands on, that lead to ``key``, with ``tag``, with a fragment,
        written starting with ``written_prefix``, whose key starts with ``key_prefix``, that
        no crawler fetches (``unfetchable``: malformed, or not http(s)), or that lead to one of
        ``keys`` (through the key index; then ordered by key, or page by page with
        ``by_source``), and of those, the ones standing on one of ``sources``; of ``kind``;
        written otherwise than their key (``rewritten``); each one query."""
        sql, params = self._read["links"], [crawl_id]
        if after:  # (only then: a rowid range would keep SQLite from the source and key indexes)
            sql += " AND l.id > ?"
            params.append(after)
        if rewritten:
            sql += " AND " + self._read["rewritten"]
        for name, value in (("source", source), ("key", key), ("tag", tag), ("written_prefix", written_prefix),
                            ("key_prefix", key_prefix), ("kind", kind)):
            if value is not None:
                sql += " AND " + self._read[name]
                params.append(value)
        if fragment:
            sql += " AND l.fragment IS NOT NULL"
        if unfetchable:
            sql += " AND " + self._read["unfetchable"]
        order = " ORDER BY l.id"
        if source is None and key is None and keys is None:
            # a pass over every link: the table in stored order, not an index read out of order
            sql = sql.replace("WHERE l.crawl_id = ?", "WHERE +l.crawl_id = ?")
        if keys is not None:
            sql += " AND " + self._read["keys"].format(table=self._selection(keys))
            order = self._read["by_source"] if by_source else ""
            if sources is not None:
                sql += " AND " + self._read["sources"].format(table=self._selection(sources))
        cur = self.db.execute(sql + order, params)
        cur.row_factory = None
        return iter(cur)

    def first_positions(self, crawl_id: int, keys, tags, line_tags, line_regions) -> Iterator[tuple[str, int | None]]:
        """For every source with a link (tag in ``tags``) to one of ``keys``: the first position
        in document order (``pos``) of such a link whose tag is in ``line_tags`` and region in
        ``line_regions`` (no region: ``body``), or None. One query, grouped by SQLite.

        >>> s = Store(":memory:"); cid = s.create_crawl(["https://a.example/"], {})
        >>> row = ("https://a.example/", "https://a.example/pricing", "https://a.example/pricing", None, "a", "href",
        ...        "Plans", "main", "", 0, "other", 1)
        >>> s.write_page(cid, {"url": "https://a.example/", "role": "page", "status": 200},
        ...              [row + (7,), row[:7] + ("header",) + row[8:] + (2,), row + (4,)])
        >>> list(s.first_positions(cid, ["https://a.example/pricing"], ["a"], ["a"], ["main", "body"]))
        [('https://a.example/', 4)]
        """
        def marks(values):
            return ", ".join("?" * len(values))
        sql = self._read["first_positions"].format(line_tags=marks(line_tags), line_regions=marks(line_regions),
                                               tags=marks(tags),
                                               keys=self._read["keys"].format(table=self._selection(keys)))
        # (placeholders in the order they stand: the CASE's, the crawl, the tags)
        cur = self.db.execute(sql, (*line_tags, *line_regions, crawl_id, *tags))
        cur.row_factory = None
        return cur

    def first_positions_ahead(self, crawl_id: int, keys, tags, line_tags, line_regions
                              ) -> Iterator[tuple[str, int | None]] | None:
        """:meth:`first_positions`, its query run by a helper process started now (the rows read
        when iterated): SQLite groups the links into the offer pages on the machine's other core
        while the caller works on. None for a store in memory or a helper that cannot start.

        >>> import tempfile, os
        >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite")); cid = s.create_crawl(["https://a.example/"], {})
        >>> row = ("https://a.example/", "https://a.example/pricing", "https://a.example/pricing", None, "a", "href",
        ...        "Plans", "main", "", 0, "other", 1)
        >>> s.write_page(cid, {"url": "https://a.example/", "role": "page", "status": 200}, [row + (7,), row + (4,)])
        >>> list(s.first_positions_ahead(cid, ["https://a.example/pricing"], ["a"], ["a"], ["main", "body"]))
        [('https://a.example/', 4)]
        """
        import pickle
        import tempfile

        if self.path == ":memory:":
            return None
        asked = tempfile.NamedTemporaryFile(prefix="funnelcheck-", suffix=".pickle", delete=False)
        try:
            with asked:
                pickle.dump((list(keys), list(tags), list(line_tags), list(line_regions)), asked,
                            protocol=pickle.HIGHEST_PROTOCOL)
            helper = _Helper("_send_first_positions", self.path, crawl_id, asked.name)
        except OSError as exc:
            logger.info("first positions read in this process: %s", exc)
            os.unlink(asked.name)
            return None

        def rows():
            try:
                for batch in helper:
                    yield from batch
            finally:
                if os.path.exists(asked.name):
                    os.unlink(asked.name)
        return rows()

    def link_facts(self, crawl_id: int, keys, sources=None, kinds=None, tags=None, by_source: bool = False,
                   urls: bool = False, rel: bool = False, pos: bool = False) -> Iterator[tuple]:
        """``(source id, key id, target as written or None, region, kind, line)`` of every link
        from one of ``sources`` (None: any) to one of ``keys`` (of one of ``kinds`` and ``tags``, if
        given; ``rel``: the link's rel too; ``pos``: its position in document order, last), ordered
        by key, then as stored (``by_source``: read and ordered page by page, for a few sources
        whose links are a small part of those into the keys): the URLs by the ids
        :meth:`url_ids` gives (``urls``: the source and key URLs), the target only where it is
        written otherwise than its key; what a rule pass over millions of links needs, no
        string read per URL (one query through the key index).

        >>> s = Store(":memory:"); cid = s.create_crawl(["https://a.example/"], {})
        >>> s.write_page(cid, {"url": "https://a.example/", "role": "page", "status": 200},
        ...     [("https://a.example/", "https://x.com/a?utm_source=s", "https://x.com/a", None, "a", "href", "",
        ...       "footer", "", 1, "profile", 9)])
        >>> ids = s.url_ids(["https://a.example/", "https://x.com/a"])
        >>> [(r[0] == ids["https://a.example/"], r[1] == ids["https://x.com/a"], *r[2:])
        ...  for r in s.link_facts(cid, ["https://x.com/a"], ["https://a.example/"])]
        [(True, True, 'https://x.com/a?utm_source=s', 'footer', 'profile', 9)]
        """
        kinds, tags = tuple(kinds or ()), tuple(tags or ())

        def terms(column, values):
            if not values:
                return ""
            marks = ", ".join("?" * len(values))
            return f" AND l.{column} IN ({marks if self.version < 2 else f'SELECT id FROM terms WHERE term IN ({marks})'})"
        key_filter = self._read["keys"].format(table=self._selection(keys))
        sql = self._read["facts"].format(
            ends=self._read["ends_urls" if urls else "ends_ids"], keys=key_filter,
            sources="1" if sources is None else self._read["sources"].format(table=self._selection(sources)),
            kinds=terms("kind", kinds) + terms("tag", tags))
        if rel or pos:
            extra = (", l.rel" if rel else "") + (f", {self._read['pos']}" if pos else "")
            sql = sql.replace(" FROM links l", extra + " FROM links l", 1)
        if by_source:  # the sources' links through the source index, the keys only checked (unary +)
            sql = sql.replace(key_filter, "+" + key_filter).replace(self._read["facts_order"],
                                                                    self._read["by_source"])
        cur = self.db.execute(sql, (crawl_id, *kinds, *tags))
        cur.row_factory = None
        return iter(cur)

    def linking_sources(self, crawl_id: int, keys, sources, tags) -> set[str]:
        """Those of ``sources`` with a link (tag in ``tags``) to one of ``keys``: one query, each
        source's links read through the source index until one matches.

        >>> s = Store(":memory:"); cid = s.create_crawl(["https://a.example/"], {})
        >>> s.write_page(cid, {"url": "https://a.example/b", "role": "page", "status": 200},
        ...     [("https://a.example/b", "https://a.example/", "https://a.example/", None, "a", "href", "", "main",
        ...       "", 0, "other", 3)])
        >>> s.linking_sources(cid, ["https://a.example/"], ["https://a.example/b", "https://a.example/c"], ["a"])
        {'https://a.example/b'}
        >>> s.linking_sources(cid, ["https://a.example/"], ["https://a.example/b"], ["form"])
        set()
        """
        tags = tuple(tags)
        sql = self._read["linking"].format(keys=self._read["keys"].format(table=self._selection(keys)),
                                           sources=self._selection(sources), tags=", ".join("?" * len(tags)))
        cur = self.db.execute(sql, (crawl_id, *tags))
        cur.row_factory = None
        return {url for (url,) in cur}

    def linking_source_ids(self, crawl_id: int, keys, sources, tags):
        """:meth:`linking_sources` by the sources' ids (those :meth:`link_codes` names them by):
        an ``array("q")`` (8 bytes a source, no string read), in no set order; a store of schema 1,
        whose links name URLs by their text, gives a list of them.

        >>> s = Store(":memory:"); cid = s.create_crawl(["https://a.example/"], {})
        >>> s.write_page(cid, {"url": "https://a.example/b", "role": "page", "status": 200},
        ...     [("https://a.example/b", "https://a.example/", "https://a.example/", None, "a", "href", "", "main",
        ...       "", 0, "other", 3)])
        >>> ids = s.linking_source_ids(cid, ["https://a.example/"], ["https://a.example/b", "https://a.example/c"], ["a"])
        >>> list(ids) == list(s.url_id_column(["https://a.example/b"])), len(ids)
        (True, 1)
        >>> len(s.linking_source_ids(cid, ["https://a.example/"], ["https://a.example/b"], ["form"]))
        0
        """
        tags = tuple(tags)
        sql = self._read["linking"].format(keys=self._read["keys"].format(table=self._selection(keys)),
                                           sources=self._selection(sources), tags=", ".join("?" * len(tags)))
        if self.version < 2:
            return [url for (url,) in self.db.execute(sql, (crawl_id, *tags)).fetchall()]
        cur = self.db.execute(sql.replace("SELECT x.url FROM", "SELECT u.id FROM", 1), (crawl_id, *tags))
        cur.row_factory = None
        return array("q", (i for (i,) in cur))

    def url_id_column(self, urls):
        """The id :meth:`link_codes` names each of ``urls`` (distinct URLs) by, in their order, -1
        for one the store does not hold: an ``array("q")`` (8 bytes a URL; no string read). A store
        of schema 1 names URLs by their text: the list of ``urls`` itself.

        >>> s = Store(":memory:"); cid = s.create_crawl(["https://a.example/"], {})
        >>> s.write_page(cid, {"url": "https://a.example/b", "role": "page", "status": 200}, [])
        >>> ids = s.url_id_column(["https://a.example/x", "https://a.example/b"])
        >>> ids[0], ids[1] == s.url_ids(["https://a.example/b"])["https://a.example/b"]
        (-1, True)
        """
        urls = urls if isinstance(urls, (list, Selection)) else list(urls)
        if self.version < 2:
            return urls.urls if isinstance(urls, Selection) else urls
        # (the selection's rowids are the URLs' order: one row a URL, inserted in order)
        cur = self.db.execute(f"SELECT COALESCE(u.id, -1) FROM {self._selection(urls)} x"
                              " LEFT JOIN urls u ON u.url = x.url ORDER BY x.rowid")
        cur.row_factory = None
        return array("q", (i for (i,) in cur))

    def url_ids(self, urls) -> dict[str, object]:
        """url -> the id :meth:`link_codes` names it by, for those of ``urls`` the store holds."""
        cur = self.db.execute(self._read["url_ids"].format(table=self._selection(urls)))
        cur.row_factory = None
        return dict(cur)

    def url_table(self, urls) -> list | None:
        """The URLs of ``urls`` (a set or a mapping) the store holds, in a list indexed by the id
        :meth:`link_codes` names them by (None at the other ids): a pointer per id rather than a
        dict entry per URL. None for a store of schema 1, whose links name URLs by their text
        (see :meth:`url_ids`)."""
        if self.version < 2:
            return None
        table: list = [None] * ((self.db.execute("SELECT max(id) FROM urls").fetchone()[0] or 0) + 1)
        cur = self.db.execute("SELECT id, url FROM urls")
        cur.row_factory = None
        for i, url in cur:
            if url in urls:
                table[i] = sys.intern(url)  # the caller's own string where it interned it
        return table

    def link_codes(self, crawl_id: int, tags) -> Iterator[tuple[object, object, str | None, str | None]]:
        """``(source id, key id, region, kind)`` of every link with one of ``tags``, in stored
        order: the URLs by their ids (see :meth:`url_ids`), no string read per link."""
        sql = self._read["codes"].format(tags=", ".join("?" * len(tags)))
        cur = self.db.execute(sql, (crawl_id, *tags))
        cur.row_factory = None
        return iter(cur)

    def link_json(self, crawl_id: int, to: Iterable[str] | None = None) -> Iterator[tuple[str, str]]:
        """Every link of a crawl in stored order as ``(key, JSON object text)``, the object
        (``source``, ``target``, ``fragment``, ``tag``, ``attr``, ``text``, ``region``, ``rel``,
        ``kind``, ``line``, ``icon``) built by SQLite: a report of millions of links streams
        them without a Python dict each. With ``to``, only the links to those keys."""
        sql = self._read["json"]
        if to is not None:
            only = self._read["json_to"].format(keys=self._selection(to))
            sql = sql.replace(" ORDER BY l.id", only + " ORDER BY l.id")
        cur = self.db.execute(sql, (crawl_id,))
        cur.row_factory = None
        return iter(cur)

    def select(self, urls) -> "Selection":
        """``urls`` sent to SQLite once, for several reads: the :class:`Selection` passed to this
        store's methods in their place is not sent again (a rule asking three questions about a
        million posts inserts them once).

        >>> s = Store(":memory:"); cid = s.create_crawl(["https://a.example/"], {})
        >>> s.write_page(cid, {"url": "https://a.example/b", "role": "page", "status": 200}, [])
        >>> sel = s.select(["https://a.example/x", "https://a.example/b"])
        >>> len(sel), sel[1], list(s.url_id_column(sel))[0], s._selection(sel) == sel.table
        (2, 'https://a.example/b', -1, True)
        """
        urls = urls.urls if isinstance(urls, Selection) else urls if isinstance(urls, list) else list(urls)
        return Selection(urls, self._selection(urls), self)

    def _selection(self, urls) -> str:
        """A temporary table of ``urls`` (works on a read-only store too), for one query; a
        :class:`Selection` of this store's is its table."""
        if isinstance(urls, Selection) and urls.store is self:
            return urls.table
        self._selections = getattr(self, "_selections", 0) + 1
        name = f"sel{self._selections}"
        self.db.execute(f"CREATE TEMP TABLE {name} (url TEXT PRIMARY KEY)")
        self.db.executemany(f"INSERT OR IGNORE INTO temp.{name} VALUES (?)", ((u,) for u in urls))
        return "temp." + name

    def read(self, queries: dict[int, str], params=(), **urls) -> Iterator[tuple]:
        """Rows of a read query that one rule keeps beside itself (``analysis/rules/``: a query only
        one rule needs lives with that rule; the store keeps the schema and the general reads).
        ``queries`` maps a schema version to the query's text for stores of that version and later
        (the newest one not past this store's is run); each ``{name}`` in it is a temporary table
        (one ``url`` column) of the URLs ``urls[name]``.

        >>> s = Store(":memory:"); cid = s.create_crawl(["https://a.example/"], {})
        >>> s.write_page(cid, {"url": "https://a.example/", "role": "page", "status": 200}, [])
        >>> q = {2: "SELECT x.url FROM {asked} x JOIN urls u ON u.url = x.url ORDER BY x.url"}
        >>> list(s.read(q, (), asked=["https://a.example/", "https://b.example/"]))
        [('https://a.example/',)]
        """
        version = max((v for v in queries if v <= self.version), default=None)
        if version is None:
            raise ValueError(f"no query for a store of schema {self.version}")
        sql = queries[version].format(**{name: self._selection(values) for name, values in urls.items()})
        cur = self.db.execute(sql, tuple(params))
        cur.row_factory = None
        return iter(cur)

    def linked_keys(self, crawl_id: int, except_tag: str, from_role: str = "page") -> set[str]:
        """Keys some other URL of ``from_role`` links to, by a link without ``except_tag``."""
        cur = self.db.execute(self._read["linked"], (crawl_id, except_tag, crawl_id, from_role))
        cur.row_factory = None
        return {url for (url,) in cur}

    def _last_link(self, crawl_id: int) -> int | None:
        """The id of a crawl's last link row (None: it has none). The store's last row when it is
        the crawl's (the crawl reported is mostly the latest: one row read), else the largest id
        of the crawl's entries in the key index (a scan of them: 35 million at a million pages)."""
        row = self.db.execute("SELECT crawl_id, id FROM links ORDER BY id DESC LIMIT 1").fetchone()
        if row is not None and row[0] == crawl_id:
            return row[1]
        return self.db.execute("SELECT max(id) FROM links WHERE crawl_id = ?", (crawl_id,)).fetchone()[0]

    def link_ends(self, crawl_id: int, after: int = 0) -> tuple[int, Iterator[str]]:
        """The last link row's id, and the sources and keys of the links stored after row
        ``after``: each once, sorted (as Python sorts them: SQLite compares text as UTF-8 bytes),
        read as they are iterated (a million-page crawl names 2.6 million: never all held at once)."""
        last = self._last_link(crawl_id) or after
        if last <= after:
            return after, iter(())
        # a whole crawl (the report's case) by the URL table in order, rows after ``after`` (a crawl
        # followed as it runs: a few new links) by those links
        query = self._read["ends_all"] if after == 0 and "ends_all" in self._read else self._read["ends"] + " ORDER BY 1"
        cur = self.db.execute(query, (crawl_id, after, crawl_id, after))
        cur.row_factory = None
        return last, (url for (url,) in cur)

    def link_ends_ahead(self, crawl_id: int, after: int = 0, least: int | None = None
                        ) -> tuple[int, Iterator[str]] | None:
        """:meth:`link_ends`, its query run by a helper process started now, beside what the
        caller reads meanwhile: SQLite sorts the ends of a big crawl (~40 s for the 35 million
        links of a million pages) on the machine's other core while the caller reads the pages.
        The ends come in the same order, read as they are iterated (the helper sends them in
        batches through a pipe, a few MiB held). None (read them with :meth:`link_ends` when
        needed) for a store in memory, a crawl of fewer than :data:`ENDS_AHEAD_MIN` link rows
        after ``after``, or a helper that cannot start.

        >>> import tempfile, os
        >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
        >>> cid = s.create_crawl(["https://a.example/"], {"site": ["https://a.example/"]})
        >>> s.write_page(cid, {"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1},
        ...     [("https://a.example/", "https://x.com/a", "https://x.com/a", None, "a", "href", "X", "footer", "", 1, "profile", 3)])
        >>> s.link_ends_ahead(cid) is None   # (one link: read in this process, after the pages)
        True
        >>> last, ends = s.link_ends_ahead(cid, least=1); last, list(ends) == list(s.link_ends(cid)[1])
        (1, True)

        ``least``: the link rows it takes (default :data:`ENDS_AHEAD_MIN`).
        """
        if self.path == ":memory:":
            return None
        last = self._last_link(crawl_id) or after
        if last - after < (ENDS_AHEAD_MIN if least is None else least):
            return None
        try:
            helper = _Helper("_send_link_ends", self.path, crawl_id, after)
        except OSError as exc:  # (no process to spare: read them here)
            logger.info("link ends read in this process: %s", exc)
            return None
        return last, (url for batch in helper for url in batch)

    def int_rows_ahead(self, query: dict[int, str], params: tuple, size: int) -> Iterator[bytes] | None:
        """The rows of ``query`` (schema version -> SQL, as :meth:`read` takes it), whose values
        are all integers, read by a helper process started now and sent ``size`` rows at a time
        as the bytes of their values as 64-bit ints (``numpy.frombuffer(b, numpy.int64)``), row
        after row: the helper steps SQLite and packs the rows on the machine's other core while
        the caller works on the batches before. None for a store in memory or a helper that
        cannot start (read them with :meth:`read`).

        >>> import tempfile, os
        >>> from array import array
        >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
        >>> batches = s.int_rows_ahead({2: "SELECT 1, 2 UNION ALL SELECT 3, ?"}, (4,), 1)
        >>> [array("q", b).tolist() for b in batches]
        [[1, 2], [3, 4]]
        """
        if self.path == ":memory:":
            return None
        try:
            helper = _Helper("_send_int_rows", self.path, json.dumps(query), json.dumps(list(params)), size)
        except OSError as exc:
            logger.info("rows read in this process: %s", exc)
            return None
        return iter(helper)

    def link_pairs(self, crawl_id: int, except_tag: str) -> Iterator[tuple[str, str]]:
        """Distinct ``(source, key)`` pairs of a crawl's links, leaving out those with ``except_tag``."""
        cur = self.db.execute(self._read["pairs"], (crawl_id, except_tag))
        cur.row_factory = None
        return iter(cur)

    def count_links(self, crawl_id: int) -> int:
        return self.db.execute("SELECT count(*) FROM links WHERE crawl_id = ?", (crawl_id,)).fetchone()[0]

    def count_pages(self, crawl_id: int, role: str | None = "page") -> int:
        if role is None:
            return self.db.execute("SELECT count(*) FROM pages WHERE crawl_id = ?", (crawl_id,)).fetchone()[0]
        return self.db.execute(
            "SELECT count(*) FROM pages WHERE crawl_id = ? AND role = ?", (crawl_id, role)
        ).fetchone()[0]

    def count_read(self, crawl_id: int) -> int:
        """Owned HTML pages the crawl read (what ``crawls()`` and ``history`` call its pages)."""
        return self.db.execute("SELECT count(*) FROM pages WHERE crawl_id = ? AND role = 'page' AND parsed = 1",
                               (crawl_id,)).fetchone()[0]

    def count_queued(self, crawl_id: int) -> int:
        return self.db.execute("SELECT count(*) FROM frontier WHERE crawl_id = ?", (crawl_id,)).fetchone()[0]

    # -- findings ---------------------------------------------------------------------
    def save_findings(self, crawl_id: int, findings) -> None:
        """Keep the findings of a finished audit (replacing any earlier analysis of the crawl):
        dicts with ``id``, ``rule``, ``severity``, ``target``, ``region``, ``message``, ``detail``
        and their number of pages, ``count``."""
        with self.db:
            self.db.execute("DELETE FROM findings WHERE crawl_id = ?", (crawl_id,))
            self.db.executemany(
                "INSERT OR REPLACE INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((crawl_id, f["id"], f["rule"], f["severity"], f.get("target"), f.get("region"), f["message"],
                  f["count"],
                  json.dumps(f.get("detail") or {}, sort_keys=True)) for f in findings))

    def findings(self, crawl_id: int) -> list[dict]:
        if self.version < 2:
            return []
        return [dict(r) for r in self.db.execute("SELECT * FROM findings WHERE crawl_id = ? ORDER BY id",
                                                 (crawl_id,))]

    def finding_counts(self, crawl_id: int) -> dict[str, int] | None:
        """Findings per severity of the crawl's stored audit (None: never audited to the end)."""
        if self.version < 2:
            return None
        rows = self.db.execute("SELECT severity, count(*) FROM findings WHERE crawl_id = ? GROUP BY severity",
                               (crawl_id,)).fetchall()
        return {sev: n for sev, n in rows} if rows else None

    # -- analytics (issue 24) -----------------------------------------------------------
    ANALYTICS_COLUMNS = ("period_start", "period_end", "days", "period_assumed", "monthly_entries", "conversion",
                         "monthly_conversions", "monthly_value", "value_per_conversion", "currency",
                         "unmatched_rows", "unmatched_visits")

    def save_analytics(self, crawl_id: int, summary: dict) -> None:
        """Keep the traffic summary of an audit with ``--analytics`` (:func:`analysis.analytics.summary`),
        replacing an earlier one of the crawl."""
        period = summary.get("period") or {}
        unmatched = summary.get("unmatched") or {}
        row = (period.get("start"), period.get("end"), period.get("days"), int(bool(period.get("assumed"))),
               summary.get("monthly_entries"), summary.get("conversion"), summary.get("monthly_conversions"),
               summary.get("monthly_value"), summary.get("value_per_conversion"), summary.get("currency"),
               unmatched.get("rows"), unmatched.get("visits"))
        with self.db:
            self.db.execute(f"INSERT OR REPLACE INTO analytics (crawl_id, files, {', '.join(self.ANALYTICS_COLUMNS)},"
                            f" plan, saved) VALUES (?, ?, {', '.join('?' * len(row))}, ?, ?)",
                            (crawl_id, json.dumps(summary.get("files") or []), *row,
                             json.dumps(summary.get("plan") or []), now_iso()))

    def analytics(self, crawl_id: int) -> dict | None:
        """The traffic summary kept with a crawl (None: audited without ``--analytics``, or a store
        older than the table)."""
        if not self._has_table("analytics"):
            return None
        row = self.db.execute("SELECT * FROM analytics WHERE crawl_id = ?", (crawl_id,)).fetchone()
        if row is None:
            return None
        out = {k: row[k] for k in self.ANALYTICS_COLUMNS}
        out["period_assumed"] = bool(out["period_assumed"])
        out.update(files=json.loads(row["files"]), plan=json.loads(row["plan"] or "[]"), saved=row["saved"])
        return out

    # -- retention --------------------------------------------------------------
    def delete_crawl(self, crawl_id: int) -> None:
        """Remove a crawl and everything it stored, in one transaction (URLs no crawl uses any
        more go with it)."""
        with self.db:
            for table in ("links", "pages", "frontier", "findings", "analytics", "render_links"):
                if self._has_table(table):
                    self.db.execute(f"DELETE FROM {table} WHERE crawl_id = ?", (crawl_id,))
            self.db.execute("DELETE FROM crawls WHERE id = ?", (crawl_id,))
            if self.version >= 2:
                self.db.execute("DELETE FROM urls WHERE id NOT IN (SELECT url_id FROM pages)"
                                " AND id NOT IN (SELECT source_id FROM links) AND id NOT IN (SELECT key_id FROM links)"
                                " AND id NOT IN (SELECT target_id FROM links WHERE target_id IS NOT NULL)"
                                " AND id NOT IN (SELECT url_id FROM frontier)")

    # -- how pages were read (--render; crawler.render) ---------------------------------------
    def render_links(self, crawl_id: int) -> Iterator[tuple[str, str, str, str, str, str]]:
        """The links only one reading of a rendered page has, page by page (by address: the order
        pages were read differs from crawl to crawl): ``(page, target (as written, normalised), tag,
        region, text, seen)``, ``seen`` ``js`` (only after JavaScript) or ``raw`` (in the served HTML,
        removed by rendering). None from a store of before schema 5."""
        if not self._has_table("render_links"):
            return
        cur = self.db.execute(
            "SELECT s.url, k.url, tg.term, rg.term, COALESCE(r.text, ''), r.seen FROM render_links r"
            " JOIN urls s ON s.id = r.source_id JOIN urls k ON k.id = r.target_id"
            " LEFT JOIN terms tg ON tg.id = r.tag LEFT JOIN terms rg ON rg.id = r.region"
            " WHERE r.crawl_id = ? ORDER BY s.url, r.rowid", (crawl_id,))  # (pages by address, not as read)
        cur.row_factory = None
        yield from cur

    def read_as(self, crawl_id: int) -> dict:
        """How the crawl's HTML pages were read: ``{"raw": n, "rendered": n, "unrendered": [(url, why), ...]}``,
        ``unrendered`` the pages that need JavaScript and were read as served (no Chromium, or
        rendering failed)."""
        out = {"raw": 0, "rendered": 0, "unrendered": []}
        if self.version < 5:
            return out
        for how, n in self.db.execute("SELECT read_as, COUNT(*) FROM pages WHERE crawl_id = ? AND read_as IS NOT NULL"
                                      " GROUP BY read_as", (crawl_id,)):
            out[how] = n
        cur = self.db.execute(self._read["pages"].replace("p.*", "p.render_why") + " AND p.read_as = 'raw'"
                              " AND p.render_why IS NOT NULL ORDER BY p.id", (crawl_id,))
        out["unrendered"] = [(row[0], row[1]) for row in cur]
        return out

    def vacuum(self) -> None:
        """Give the space of deleted rows back to the file system."""
        self.db.execute("VACUUM")

    def _has_table(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                               (name,)).fetchone() is not None

    # -- social profile API answers (crawler.profiles) -------------------------------
    def keep_answer(self, answer: dict) -> None:
        """Keep a profile API's answer (``url``, ``status``, ``headers``, ``content_type``, ``body`` or
        ``body64``: base64) for the next run, or an API's rate-limit state (``url`` ``budget:ORIGIN``)."""
        if self.version < 6:
            return
        body = answer.get("body")
        if answer.get("body64") is not None:  # (the spider's items carry it as base64 text)
            import base64

            body = base64.b64decode(answer["body64"])
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                            (answer["url"], answer.get("status"), answer.get("headers"), answer.get("content_type"),
                             body, time.time()))

    def answer(self, url: str, max_age: float | None = None) -> dict | None:
        """A kept answer younger than ``max_age`` seconds (any age: None), or None.

        >>> import tempfile, os
        >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
        >>> s.keep_answer({"url": "https://api.example/u/a", "status": 200, "body": b"{}"})
        >>> s.answer("https://api.example/u/a", 60)["body"], s.answer("https://api.example/u/b", 60)
        (b'{}', None)
        """
        if self.version < 6:
            return None
        row = self.db.execute("SELECT * FROM answers WHERE url = ?", (url,)).fetchone()
        if row is None or (max_age is not None and time.time() - row["checked_at"] > max_age):
            return None
        return dict(row)

    # -- cache of external verdicts -----------------------------------------------
    def cached(self, url: str, max_age: float) -> dict | None:
        row = self.db.execute("SELECT * FROM url_cache WHERE url = ?", (url,)).fetchone()
        if row is None or time.time() - row["checked_at"] > max_age:
            return None
        return dict(row)

    def cache(self, url: str, status: int, location: str | None, headers: str | None, content_type: str | None) -> None:
        with self._transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO url_cache VALUES (?, ?, ?, ?, ?, ?)",
                (url, status, location, headers, content_type, time.time()),
            )

    # -- comparing two crawls (analysis/diff.py) ----------------------------------------
    # A URL has one id in every crawl of a store (the ``urls`` table), so what one crawl has
    # and another has not is an EXCEPT over ids, worked out by SQLite: never a Python set of
    # every link of a crawl of millions.
    _OWNED_PAGES = "SELECT url_id FROM pages WHERE crawl_id = ? AND role = 'page' AND parsed = 1"

    def require_ids(self, what: str) -> None:
        """StoreError unless the store names URLs by shared ids (schema 2), as comparisons need."""
        if self.version < 2:
            raise StoreError(f"{self.path} is a store of schema {self.version}: {what} needs schema 2 "
                             "(open it with any funnelcheck command that writes, e.g. an audit, to migrate it)")

    def pages_except(self, crawl_id: int, other_id: int, limit: int = 200) -> tuple[int, list[str]]:
        """The owned pages (role ``page``, read) of ``crawl_id`` that ``other_id`` did not read
        as pages: how many, and the first ``limit`` URLs in URL order (one query).

        >>> import tempfile, os
        >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
        >>> a, b = s.create_crawl(["https://a.example/"], {}), s.create_crawl(["https://a.example/"], {})
        >>> for cid, paths in ((a, "xy"), (b, "yz")):
        ...     for p in paths:
        ...         s.write_page(cid, {"url": f"https://a.example/{p}", "role": "page", "status": 200, "parsed": 1}, [])
        >>> s.pages_except(b, a), s.pages_except(a, b, limit=0)
        ((1, ['https://a.example/z']), (1, []))
        """
        self.require_ids("a comparison of crawls")
        rows = self.db.execute(  # (the window counts every row, LIMIT keeps the first; one row at least for it)
            f"SELECT u.url, count(*) OVER () FROM urls u WHERE u.id IN ({self._OWNED_PAGES} EXCEPT {self._OWNED_PAGES})"
            " ORDER BY u.url LIMIT ?", (crawl_id, other_id, max(limit, 1))).fetchall()
        return (rows[0][1] if rows else 0), [url for url, _ in rows[:limit]]

    def links_except(self, crawl_id: int, other_id: int, classify, tags=("a", "area"),
                     limit: int = 200) -> dict[str, tuple[int, list[tuple[str, str]]]]:
        """The distinct ``(source, key)`` pairs of the links of ``crawl_id`` (with one of ``tags``)
        that ``other_id`` has not, among the owned pages read in both crawls (a page added or
        removed brings or takes its links with it: that is a page change, not a link change).

        SQLite works out the pairs (``EXCEPT`` on ``(source_id, key_id)``, into a temporary
        table); ``classify(key URL) -> class or None`` is asked once per distinct key of those
        pairs (None: left out). Returns class -> (how many pairs, the first ``limit`` of them
        by source then key). :meth:`link_changes` groups them too.

        >>> import tempfile, os
        >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
        >>> home, a, b = "https://a.example/", s.create_crawl(["https://a.example/"], {}), s.create_crawl(["https://a.example/"], {})
        >>> def link(target, tag="a"):
        ...     return (home, target, target, None, tag, "href", "", "header", "", 0, "other", 1)
        >>> page = {"url": home, "role": "page", "status": 200, "parsed": 1}
        >>> s.write_page(a, page, [link(home + "x"), link("https://x.com/a"), link(home + "s.css", "link")])
        >>> s.write_page(b, page, [link(home + "x"), link("https://x.com/b"), link("https://x.com/c"), link(home + "y")])
        >>> kind = lambda url: "social" if "x.com" in url else "owned"
        >>> s.links_except(b, a, kind, limit=1)
        {'owned': (1, [('https://a.example/', 'https://a.example/y')]), 'social': (2, [('https://a.example/', 'https://x.com/b')])}
        >>> s.links_except(a, b, kind)
        {'social': (1, [('https://a.example/', 'https://x.com/a')])}
        """
        return self.link_changes(crawl_id, other_id, classify, tags, limit)["pairs"]

    def link_changes(self, crawl_id: int, other_id: int, classify, tags=("a", "area"), limit: int = 200, *,
                     page_class=None, grouped=None, group_min: int = 3, groups_max: int = 50) -> dict:
        """:meth:`links_except`, and the pairs grouped by their key where many pages changed
        the same link (a template's link added to or removed from every post).

        ``page_class(URL) -> class or None`` names each owned page read in both crawls (asked
        once per page: "site", "blog-post" …). For each key of at least ``group_min`` pairs,
        SQLite counts its pairs per class of their source pages, and ``grouped(key URL, key
        class, {page class: pairs}, {page class: pages in both crawls}) -> bool`` says whether
        they are one change (asked for the ``4 * groups_max`` keys of the most pairs, at most
        ``groups_max`` of them grouped, the most pages first: never a row per link). Returns:

        ``pairs``    key class -> (how many pairs, the first ``limit`` pairs not in a group)
        ``grouped``  key class -> how many of its pairs are in groups
        ``groups``   per grouped key: ``key``, ``class``, ``pages`` (pairs), ``by_class``
                     (page class -> pairs) and the link most of its pairs are in the crawl:
                     ``region``, ``text``, ``icon``
        ``classes``  page class -> owned pages read in both crawls

        >>> import tempfile, os
        >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
        >>> a, b = s.create_crawl(["https://a.example/"], {}), s.create_crawl(["https://a.example/"], {})
        >>> def page(cid, path, links):
        ...     url = "https://a.example" + path
        ...     rows = [(url, t, t, None, "a", "href", text, region, "", 0, "other", 1) for t, text, region in links]
        ...     s.write_page(cid, {"url": url, "role": "page", "status": 200, "parsed": 1}, rows)
        >>> signup = ("https://a.example/signup/", "Sign up", "main")
        >>> for p in ("/p1/", "/p2/", "/p3/", "/about/"):
        ...     page(a, p, [signup] if p != "/about/" else [("https://a.example/p1/", "P1", "main")])
        ...     page(b, p, [])
        >>> c = s.link_changes(a, b, lambda url: "owned", page_class=lambda url: "site" if "about" in url else "post",
        ...                    grouped=lambda key, kind, by, total: sum(by.values()) >= 3)
        >>> c["pairs"], c["grouped"], c["classes"]
        ({'owned': (4, [('https://a.example/about/', 'https://a.example/p1/')])}, {'owned': 3}, {'post': 3, 'site': 1})
        >>> c["groups"]
        [{'key': 'https://a.example/signup/', 'class': 'owned', 'pages': 3, 'by_class': {'post': 3}, 'region': 'main', 'text': 'Sign up', 'icon': False}]
        """
        self.require_ids("a comparison of crawls")
        self._selections = getattr(self, "_selections", 0) + 1
        n = self._selections
        pairs, classes, sources, chosen = (f"temp.pairs{n}", f"temp.classes{n}", f"temp.sources{n}",
                                           f"temp.chosen{n}")
        marks = ", ".join("?" * len(tags))
        tag_ids = f"SELECT id FROM terms WHERE term IN ({marks})"
        common = f"{self._OWNED_PAGES} INTERSECT {self._OWNED_PAGES}"
        side = f"SELECT source_id, key_id FROM links WHERE crawl_id = ? AND tag IN ({tag_ids}) AND source_id IN ({common})"
        self.db.execute(f"CREATE TEMP TABLE pairs{n} (source_id INTEGER NOT NULL, key_id INTEGER NOT NULL,"
                        " PRIMARY KEY (key_id, source_id)) WITHOUT ROWID")
        self.db.execute(f"CREATE TEMP TABLE classes{n} (key_id INTEGER PRIMARY KEY, class TEXT NOT NULL)")
        self.db.execute(f"CREATE TEMP TABLE sources{n} (url_id INTEGER PRIMARY KEY, class TEXT NOT NULL)")
        self.db.execute(f"CREATE TEMP TABLE chosen{n} (key_id INTEGER PRIMARY KEY)")
        try:
            self.db.execute(f"INSERT INTO {pairs} {side} EXCEPT {side}",
                            (crawl_id, *tags, crawl_id, other_id, other_id, *tags, crawl_id, other_id))
            keys = self.db.execute(f"SELECT DISTINCT d.key_id, k.url FROM {pairs} d JOIN urls k ON k.id = d.key_id")
            keys.row_factory = None
            found = [(key_id, kind) for key_id, url in keys if (kind := classify(url)) is not None]
            self.db.executemany(f"INSERT INTO {classes} VALUES (?, ?)", found)
            del found
            counts = dict(self.db.execute(f"SELECT c.class, count(*) FROM {pairs} d JOIN {classes} c"
                                          " ON c.key_id = d.key_id GROUP BY c.class").fetchall())
            groups, totals, in_groups = [], {}, {}
            if page_class is not None and grouped is not None and counts:
                cur = self.db.execute(f"SELECT u.id, u.url FROM urls u WHERE u.id IN ({common})",
                                      (crawl_id, other_id))
                cur.row_factory = None
                self.db.executemany(f"INSERT INTO {sources} VALUES (?, ?)",
                                    ((i, c) for i, url in cur.fetchall() if (c := page_class(url)) is not None))
                totals = dict(self.db.execute(f"SELECT class, count(*) FROM {sources} GROUP BY class"
                                              " ORDER BY class").fetchall())
                rows = self.db.execute(
                    f"SELECT d.key_id, k.url, c.class, s.class, count(*) FROM {pairs} d"
                    f" JOIN {classes} c ON c.key_id = d.key_id JOIN {sources} s ON s.url_id = d.source_id"
                    f" JOIN urls k ON k.id = d.key_id WHERE d.key_id IN (SELECT key_id FROM {pairs}"
                    " GROUP BY key_id HAVING count(*) >= ? ORDER BY count(*) DESC, key_id LIMIT ?)"
                    " GROUP BY d.key_id, s.class ORDER BY d.key_id, s.class", (group_min, 4 * groups_max))
                rows.row_factory = None
                candidates: dict[int, dict] = {}
                for key_id, url, kind, cls, count in rows:
                    c = candidates.setdefault(key_id, {"key": url, "class": kind, "pages": 0, "by_class": {}})
                    c["by_class"][cls] = count
                    c["pages"] += count
                picked = sorted(((key_id, c) for key_id, c in candidates.items()
                                 if grouped(c["key"], c["class"], c["by_class"], totals)),
                                key=lambda kc: (-kc[1]["pages"], kc[1]["key"]))[:groups_max]
                del candidates
                self.db.executemany(f"INSERT INTO {chosen} VALUES (?)", ((key_id,) for key_id, _ in picked))
                # the link most of a group's pairs are: its region, text and icon (counted by SQLite)
                looks = self.db.execute(
                    "SELECT key_id, region, text, icon FROM (SELECT d.key_id AS key_id, r.term AS region,"
                    " l.text AS text, l.icon AS icon, row_number() OVER (PARTITION BY d.key_id"
                    " ORDER BY count(*) DESC, r.term, l.text) AS rank"
                    # (in this order, each pair's links found by its page: never a scan of the crawl's links)
                    f" FROM {chosen} g CROSS JOIN {pairs} d ON d.key_id = g.key_id CROSS JOIN links l INDEXED BY"
                    f" links_source ON l.crawl_id = ? AND l.source_id = d.source_id AND l.key_id = d.key_id"
                    f" AND l.tag IN ({tag_ids})"
                    " LEFT JOIN terms r ON r.id = l.region GROUP BY d.key_id, r.term, l.text, l.icon) WHERE rank = 1",
                    (crawl_id, *tags))
                looks.row_factory = None
                look = {key_id: (region, text, bool(icon)) for key_id, region, text, icon in looks}
                for key_id, c in picked:
                    region, text, icon = look.get(key_id, (None, None, False))
                    groups.append({**c, "region": region, "text": text or "", "icon": icon})
                    in_groups[c["class"]] = in_groups.get(c["class"], 0) + c["pages"]
            first: dict[str, list] = {kind: [] for kind in sorted(counts)}
            rows = self.db.execute(
                "SELECT class, s, k FROM (SELECT c.class AS class, s.url AS s, k.url AS k, row_number() OVER"
                " (PARTITION BY c.class ORDER BY s.url, k.url) AS r"
                f" FROM {pairs} d JOIN {classes} c ON c.key_id = d.key_id"
                " JOIN urls s ON s.id = d.source_id JOIN urls k ON k.id = d.key_id"
                f" WHERE d.key_id NOT IN (SELECT key_id FROM {chosen}))"
                " WHERE r <= ? ORDER BY class, s, k", (limit,))
            rows.row_factory = None
            for kind, source, key in rows:
                first[kind].append((source, key))
            return {"pairs": {kind: (counts[kind], first[kind]) for kind in first},
                    "grouped": {kind: in_groups[kind] for kind in sorted(in_groups)}, "groups": groups,
                    "classes": totals}
        finally:
            for table in (pairs, classes, sources, chosen):
                self.db.execute(f"DROP TABLE IF EXISTS {table}")


# How the error of a crawl that reached none of its targets starts (``failed``: nothing to resume)
UNREACHED = "cannot reach "


def comparable(crawl: dict) -> bool:
    """Whether another crawl may be compared with ``crawl`` (a row of :meth:`Store.crawls`): it is
    complete and read at least one page. A failed or interrupted crawl, or one that read nothing
    (the site was down, its home page answered 404), would show the whole site as changed.

    >>> comparable({"status": "complete", "pages": 3}), comparable({"status": "complete", "pages": 0})
    (True, False)
    >>> comparable({"status": "failed", "pages": 3})
    False
    """
    return crawl["status"] == "complete" and (crawl.get("pages") or 0) > 0


def why_not_comparable(crawl: dict) -> str:
    """What a crawl left out of comparisons was, in words (one line).

    >>> why_not_comparable({"id": 4, "status": "failed", "error": "cannot reach https://a.example/: connection refused"})
    'crawl #4 failed: cannot reach https://a.example/: connection refused'
    >>> why_not_comparable({"id": 5, "status": "complete", "error": None, "pages": 0})
    'crawl #5 read no pages'
    """
    if crawl["status"] == "complete":
        return f"crawl #{crawl['id']} read no pages"
    error = " ".join(str(crawl.get("error") or "").split())
    return f"crawl #{crawl['id']} {crawl['status']}" + (f": {error}" if error else "")


def mark_crawl_failed(path, crawl_id: int, why: str) -> None:
    """Mark crawl ``crawl_id`` of the store at ``path`` failed with ``why``, if the store can still
    take a write (a full disk may not): a crawl whose process is gone is listed as interrupted
    anyway (:meth:`Store.crawls`)."""
    try:
        with Store(path) as store:
            store.finish_crawl(crawl_id, "failed", why)
    except Exception as exc:
        if not (isinstance(exc, StoreError) or write_failure(exc)):
            raise
        logger.error("crawl #%d could not be marked failed in the store: %s", crawl_id, exc)


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


def check_writable(path: str | os.PathLike) -> None:
    """:class:`StoreError` unless a crawl can be stored at ``path``: a file there must be a store
    of ours (one of an older funnelcheck is migrated); for a new one, its folder (made if need be)
    must take files. A new store itself is not made here."""
    path = Path(path)
    if path.exists():
        Store(path).close()
    else:
        _writable_folder(path)


def open_store(path: str | os.PathLike | None, readonly: bool = False) -> Store:
    """Open the store at ``path`` (default: :func:`default_path`)."""
    return Store(path or default_path(), readonly=readonly)


__all__ = ["Store", "StoreError", "open_store", "check_writable", "default_path", "closing", "writes_to",
           "write_error", "write_failure", "WRITE_FAILED", "comparable", "why_not_comparable", "UNREACHED"]
