"""Crawl history: one row per crawl of a store, for `funnelcheck history`."""
from __future__ import annotations

from datetime import datetime
from typing import TextIO

from analysis.findings import SEVERITIES
from analysis.formats.safe import safe


def _seconds(started: str | None, finished: str | None) -> float | None:
    """Seconds between two stored ISO timestamps (None when either is missing).

    >>> _seconds("2026-12-01T10:00:00+00:00", "2026-12-01T10:01:30+00:00")
    90.0
    """
    if not started or not finished:
        return None
    try:
        return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    except ValueError:
        return None


def history(store, site: str | None = None) -> list[dict]:
    """The crawls of ``store`` (of ``site`` only: a crawl whose targets include it, matched as
    ``funnelcheck diff --site`` matches: scheme, ``www.`` and a trailing slash ignored), oldest first: ``id``, ``site``, ``targets``, ``started``,
    ``duration`` (seconds), ``pages``, ``findings`` (per severity, None when the crawl was
    never audited to the end), ``status`` (``failed`` for a crawl that could not reach its
    targets), ``error`` (why a crawl failed or stopped, else None), ``version``.

    >>> import tempfile, os
    >>> from crawler.store import Store
    >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
    >>> cid = s.create_crawl(["https://a.example/"], {})
    >>> [(h["id"], h["site"], h["status"], h["findings"]) for h in history(s)]
    [(1, 'https://a.example/', 'running', None)]
    """
    from analysis.diff import site_key

    rows = []
    for c in store.crawls():
        if site is not None and site_key(site) not in {site_key(t) for t in c["targets"]}:
            continue
        rows.append({"id": c["id"], "site": c["targets"][0] if c["targets"] else "", "targets": c["targets"],
                     "started": c["started"], "duration": _seconds(c["started"], c["finished"]),
                     "pages": c["pages"], "findings": store.finding_counts(c["id"]), "status": c["status"],
                     "error": c.get("error") if c["status"] != "complete" else None, "version": c.get("version")})
    return rows


def _duration(seconds: float | None) -> str:
    """
    >>> _duration(75.2), _duration(3725), _duration(None)
    ('1m15s', '1h02m', '—')
    """
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def write_terminal(rows: list[dict], out: TextIO) -> None:
    """One line per crawl, aligned, crawled text escaped; then why each crawl that did not
    complete failed or stopped.

    >>> import sys
    >>> write_terminal([{"id": 2, "targets": ["https://a.example/"], "started": "2026-12-01T06:00:00+00:00",
    ...                  "duration": 1.0, "pages": 0, "findings": None, "status": "failed",
    ...                  "error": "cannot reach https://a.example/: connection refused", "version": "0.1.0"}], sys.stdout)
    id  site                started              duration  pages  findings (h/m/l/i)  status  version
    2   https://a.example/  2026-12-01 06:00:00  1s        0      —                   failed  0.1.0
    crawl #2 failed: cannot reach https://a.example/: connection refused
    """
    header = ("id", "site", "started", "duration", "pages", "findings (h/m/l/i)", "status", "version")
    lines = [header]
    for r in rows:
        f = r["findings"]
        counts = "—" if f is None else "/".join(str(f.get(s, 0)) for s in SEVERITIES)
        lines.append((str(r["id"]), safe(" ".join(r["targets"])), (r["started"] or "")[:19].replace("T", " "),
                      _duration(r["duration"]), str(r["pages"]), counts, r["status"], r["version"] or "—"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() + "\n")
    for r in rows:
        if r["status"] not in ("complete", "running") and r.get("error"):
            out.write(f"crawl #{r['id']} {r['status']}: {safe(' '.join(r['error'].split()))}\n")
    if not rows:
        out.write("no crawls\n")
