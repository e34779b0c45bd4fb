"""The baseline: findings the business accepts on purpose (``funnelcheck-baseline.toml``).

A nightly run should fail on what is new, not on the header icon the business keeps by
choice. ``funnelcheck accept ID... --reason TEXT`` writes the finding ids (stable across
crawls: rule, target, region, kind) with their reason; a run with the baseline shows the
accepted findings apart and never fails on them, and says which entries no longer match
any finding (stale: fixed, or the page changed).

The file::

    # funnelcheck baseline: accepted findings (funnelcheck accept ID --reason TEXT)
    [[accepted]]
    id = "fc-5c0e2d1b9a47"
    reason = "the header icon stays: brand guidelines"
    accepted = "2026-12-01"
"""
from __future__ import annotations

import json
import os
import re
import tomllib
from datetime import date
from pathlib import Path

FILENAME = "funnelcheck-baseline.toml"
ID = re.compile(r"^fc-[0-9a-f]{12}$")


class BaselineError(ValueError):
    """A baseline file that cannot be read or written, or a bad id (one readable line)."""


def default_path(config_path: str | os.PathLike | None = None) -> Path:
    """``funnelcheck-baseline.toml`` next to ``funnel.toml`` (or in the current folder)."""
    return (Path(config_path).parent if config_path else Path.cwd()) / FILENAME


def load(path: str | os.PathLike) -> dict[str, str]:
    """id -> reason of a baseline file ({} when it does not exist).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), FILENAME)
    >>> save(p, {"fc-0123456789ab": 'kept "on purpose"'}); load(p)
    {'fc-0123456789ab': 'kept "on purpose"'}
    """
    return {fid: reason for fid, (reason, _) in _read(path).items()}


def _read(path: str | os.PathLike) -> dict[str, tuple[str, str]]:
    """id -> (reason, date accepted) of a baseline file ({} when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"cannot read baseline {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BaselineError(f"baseline {path} is not valid TOML: {exc}") from None
    out: dict[str, tuple[str, str]] = {}
    for entry in data.get("accepted", []):
        fid = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(fid, str) or not ID.match(fid):
            raise BaselineError(f"baseline {path}: an [[accepted]] entry without a valid id (fc- and 12 hex digits)")
        out[fid] = (str(entry.get("reason") or ""), str(entry.get("accepted") or ""))
    return out


def _toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def save(path: str | os.PathLike, entries: dict[str, str], when: dict[str, str] | None = None) -> None:
    """Write ``entries`` (id -> reason) to ``path``, replacing the file whole (written aside,
    then renamed: a crash never leaves half a baseline)."""
    path = Path(path)
    when = when or {}
    lines = ["# funnelcheck baseline: accepted findings (funnelcheck accept ID --reason TEXT)", ""]
    for fid in sorted(entries):
        lines += ["[[accepted]]", f"id = {_toml_string(fid)}", f"reason = {_toml_string(entries[fid])}",
                  f"accepted = {_toml_string(when.get(fid) or date.today().isoformat())}", ""]
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text("\n".join(lines), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise BaselineError(f"cannot write baseline {path}: {exc.strerror}") from None


def accept(path: str | os.PathLike, ids: list[str], reason: str | None) -> dict[str, str]:
    """Add ``ids`` with ``reason`` to the baseline at ``path`` (created if missing); the
    baseline after. Without a reason (None or empty), an id accepted before keeps its reason.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), FILENAME)
    >>> accept(p, ["fc-0123456789ab"], "brand guidelines")
    {'fc-0123456789ab': 'brand guidelines'}
    >>> accept(p, ["fc-0123456789ab", "fc-ba9876543210"], None)
    {'fc-0123456789ab': 'brand guidelines', 'fc-ba9876543210': ''}
    >>> accept(p, ["fc-0123456789ab"], "a new reason")["fc-0123456789ab"]
    'a new reason'
    """
    bad = [i for i in ids if not ID.match(i)]
    if bad:
        raise BaselineError(f"not a finding id: {bad[0]!r} (ids look like fc-5c0e2d1b9a47: see the report's "
                            "JSON or terminal output)")
    known = _read(path)  # (the dates of earlier entries are kept)
    entries = {fid: r for fid, (r, _) in known.items()}
    when = {fid: d for fid, (_, d) in known.items() if fid not in ids or not reason}  # (re-accepted: today)
    for fid in ids:
        entries[fid] = reason or entries.get(fid, "")
    save(path, entries, when)
    return entries
