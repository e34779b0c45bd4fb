"""JSON report: ``crawl``, ``pages``, ``links``, ``findings``, ``summary`` (schema in the README).

Written as a stream, one page or link per line, never built as one big list.

Which links are listed (``Audit.links``, the ``--links`` option): ``all`` (every link row),
``broken`` (the links to broken targets, what a link checker's report lists), ``none``; by
default every link up to :data:`LINKS_MAX` rows, beyond that the broken ones only (a crawl of a
million pages has 32 million links: 7 GB of JSON). When links are left out, a ``links_left_out``
object follows ``links`` and says which were listed, how many of how many, and how to get them all.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import TextIO

from analysis.status import BROKEN
from crawler.store import funnelcheck_version

logger = logging.getLogger(__name__)

CRAWL_KEYS = ("id", "targets", "started", "finished", "status", "error", "options")
LINKS = ("all", "broken", "none")  # the choices of --links
LINKS_MAX = 1_000_000  # link rows past which the default lists the broken links only
ROWS_PER_WRITE = 1_000  # page and link rows joined into one write (a 5,000-page report has 177,000 links)
PAGES_MAX = 1_000  # pages of one finding listed in the JSON of a crawl past LINKS_MAX (without --links all)


def links_listed(choice: str | None, total: int) -> str:
    """Which links a JSON report lists: ``choice`` (``all``, ``broken``, ``none``), or by default
    all of them up to :data:`LINKS_MAX` rows and the broken ones beyond.

    >>> links_listed(None, 267), links_listed(None, 32_000_000), links_listed("all", 32_000_000)
    ('all', 'broken', 'all')
    >>> links_listed("some", 1)
    Traceback (most recent call last):
    ValueError: --links must be one of all, broken, none, got 'some'
    """
    if choice is None:
        return "all" if total <= LINKS_MAX else "broken"
    if choice not in LINKS:
        raise ValueError(f"--links must be one of {', '.join(LINKS)}, got {choice!r}")
    return choice

# Characters JSON lets through raw that a terminal still obeys (DEL, the C1 controls such as
# CSI U+009B) or that end a line in JavaScript: written as \u escapes, so `cat report.json` is
# safe while the parsed text stays exact. They can only stand inside strings.
_RAW_CONTROL = re.compile("[\x7f-\x9f\u2028\u2029]")


class Escaping:
    r"""A text stream that writes the characters above as JSON ``\u`` escapes.

    >>> import io; buf = io.StringIO(); Escaping(buf).write(json.dumps("a\x9b1m", ensure_ascii=False))
    11
    >>> buf.getvalue(), json.loads(buf.getvalue()) == "a\x9b1m"
    ('"a\\u009b1m"', True)
    """

    def __init__(self, out: TextIO):
        self.out = out

    def write(self, text: str) -> int:
        return self.out.write(_RAW_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


class _Rows:
    """The rows of a JSON array, one a line, written a batch at a time: one ``write`` (and one
    pass of :class:`Escaping`) per :data:`ROWS_PER_WRITE` rows instead of per row, the same text.

    >>> import io; buf = io.StringIO(); rows = _Rows(buf, 2)
    >>> for r in ("1", "2", "3"): rows.add(r)
    >>> rows.flush(); buf.getvalue()
    '\\n  1,\\n  2,\\n  3'
    """

    def __init__(self, out, size: int = 0):
        self.out, self.size, self.parts, self.first = out, size or ROWS_PER_WRITE, [], True

    def add(self, text: str) -> None:
        self.parts.append(text)
        if len(self.parts) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            self.out.write(("" if self.first else ",") + "\n  " + ",\n  ".join(self.parts))
            self.first, self.parts = False, []


def _long_lists(detail, cap: int) -> bool:
    return isinstance(detail, dict) and any(isinstance(v, list) and len(v) > cap for v in detail.values())


def _capped_detail(detail, cap: int):
    """``detail`` with each list longer than ``cap`` (a grouped finding's ``targets``, the
    trailing-slash group's ``redirects``) cut to its first ``cap`` items, and ``<key>_total``
    after it saying how many there are.

    >>> _capped_detail({"targets": ["a", "b", "c"], "kind": "x"}, 2)
    {'targets': ['a', 'b'], 'targets_total': 3, 'kind': 'x'}
    """
    if not _long_lists(detail, cap):
        return detail
    out = {}
    for key, value in detail.items():
        if isinstance(value, list) and len(value) > cap:
            out[key], out[f"{key}_total"] = value[:cap], len(value)
        else:
            out[key] = value
    return out


def finding_dict(f, cap: int | None = None) -> dict:
    """``f.as_dict()``, but when ``f`` stands on more than ``cap`` pages, its first ``cap`` pages
    only (``sources`` sorted, as always): ``sources``, the ``locations`` on those pages and the
    pages of ``detail.pages_by_severity`` that are among them; ``count`` stays the number of all
    of them, and ``pages_listed`` (after ``count``) says how many are listed. Lists in ``detail``
    longer than ``cap`` are cut too (:func:`_capped_detail`).

    >>> from analysis.findings import Finding, Location
    >>> f = Finding("backward-social", "high", "https://x.com/a", "m", "footer", ["https://a.example/1",
    ...     "https://a.example/2", "https://a.example/3"], [Location("https://a.example/1", 9),
    ...     Location("https://a.example/2", 9), Location("https://a.example/3", 9)],
    ...     {"kind": "profile", "pages_by_severity": {"high": ["https://a.example/1", "https://a.example/3"]}})
    >>> d = finding_dict(f, 2); d["sources"], d["count"], d["pages_listed"], d["locations"][-1]
    (['https://a.example/1', 'https://a.example/2'], 3, 2, {'url': 'https://a.example/2', 'line': 9})
    >>> d["detail"]["pages_by_severity"], finding_dict(f, 3) == f.as_dict()
    ({'high': ['https://a.example/1']}, True)
    >>> g = Finding("backward-blog", "low", "https://a.example/blog/", "m", "nav", ["https://a.example/"],
    ...             detail={"targets": ["https://a.example/blog/1", "https://a.example/blog/2", "https://a.example/blog/3"]})
    >>> d = finding_dict(g, 2); d["detail"], "pages_listed" in d, d["sources"]
    ({'targets': ['https://a.example/blog/1', 'https://a.example/blog/2'], 'targets_total': 3}, False, ['https://a.example/'])
    """
    if cap is None or (len(f.sources) <= cap and not _long_lists(f.detail, cap)):
        return f.as_dict()
    if len(f.sources) <= cap:
        return {**f.as_dict(), "detail": _capped_detail(f.detail, cap)}
    sources = list(f.sources[:cap])
    listed = set(sources)
    locations = []
    for loc in f.locations:
        if loc["url"] in listed:
            locations.append(loc.as_dict() if hasattr(loc, "as_dict") else loc)
    detail = _capped_detail(f.detail, cap)
    if isinstance(detail, dict) and isinstance(detail.get("pages_by_severity"), dict):
        detail = {**detail, "pages_by_severity": {sev: [p for p in pages if p in listed]
                                                  for sev, pages in detail["pages_by_severity"].items()}}
    return {"id": f.id, "rule": f.rule, "severity": f.severity, "target": f.target, "region": f.region,
            "sources": sources, "count": f.count, "pages_listed": len(sources), "message": f.message,
            "locations": locations, "detail": detail}


def write_json(value, out: TextIO, depth: int = 2, batch: int = 1_000) -> None:
    """``json.dump(value, out)``, byte for byte, written a piece at a time: the items of the
    dicts and lists down to ``depth`` levels ``batch`` at a time (``json.dump`` builds a list of
    every token first: 13 million small strings for the metrics of a million pages). A read-only
    ``Mapping`` with string keys or ``Sequence`` that is no dict or list (the metrics' columns:
    :mod:`analysis.entries`; ``json`` knows neither) is written as the dict or list it reads as,
    its items read ``batch`` at a time (never all at once), at any depth in the dicts and lists
    that hold it directly.

    >>> import io
    >>> from analysis.entries import EntryRows, LinkScores
    >>> rows = EntryRows(["a", "b", "c"], ["blog"] * 3, [0, 2], [[0.5, 0.25, 0, 0.25], [1, 0, 0, 0]], [1.0, 0.0], [1, 0])
    >>> for v in ({"site": {"a": 1.5, "b": None, "c": -0.0}, "entries": [{"u": "\u00e9"}] * 3, "k": {}, "s": {"x": 1, "y": [2]}},
    ...           {"a": [1], 3: [True]}, None, [1, 2, 3]):
    ...     buf = io.StringIO(); write_json(v, buf, batch=2); assert buf.getvalue() == json.dumps(v), v
    >>> for depth in (0, 1, 2):
    ...     for v in ({"entries": rows, "link_score": LinkScores(["a", "b", "c"], [0.0, 65.1, 100.0]), "none": rows[:0]},
    ...               {"e": EntryRows([], [], [], [], [], []), "s": LinkScores([], []), "x": {"y": [1]}}):
    ...         buf = io.StringIO(); write_json(v, buf, depth, batch=2)
    ...         assert buf.getvalue() == json.dumps({k: list(x) if isinstance(x, Sequence) else dict(x)
    ...                                              for k, x in v.items()}), (depth, v)
    ...     buf = io.StringIO(); write_json([rows, 1], buf, depth); assert buf.getvalue() == json.dumps([list(rows), 1])
    >>> buf = io.StringIO(); write_json({"link_score": LinkScores(["a", "b"], [0.0, 65.1])}, buf); buf.getvalue()
    '{"link_score": {"a": 0.0, "b": 65.1}}'
    """
    dumps = json.dumps
    if isinstance(value, Mapping) and not isinstance(value, dict):
        # a view: its items batch at a time, whatever the depth (dumps would refuse it)
        out.write("{")
        items, first = iter(value.items()), True
        while chunk := list(islice(items, batch)):
            out.write(("" if first else ", ") + ", ".join(f"{dumps(k)}: {dumps(v)}" for k, v in chunk))
            first = False
        out.write("}")
    elif _view(value):
        out.write("[")
        rows, first = iter(value), True
        while chunk := list(islice(rows, batch)):
            out.write(("" if first else ", ") + ", ".join(map(dumps, chunk)))
            first = False
        out.write("]")
    elif isinstance(value, dict) and value and all(isinstance(k, str) for k in value) and (
            depth or any(map(_view, value.values()))):
        items = list(value.items())
        out.write("{")
        if (depth == 1 or len(items) > batch) and not any(_view(v) for _, v in items):
            for start in range(0, len(items), batch):
                out.write((", " if start else "") + ", ".join(
                    f"{dumps(k)}: {dumps(v)}" for k, v in items[start:start + batch]))
        else:
            for i, (k, v) in enumerate(items):
                out.write((", " if i else "") + dumps(k) + ": ")
                write_json(v, out, max(depth - 1, 0), batch)
        out.write("}")
    elif isinstance(value, list) and value and (depth or any(map(_view, value))):
        out.write("[")
        if not any(map(_view, value)):
            for start in range(0, len(value), batch):
                out.write((", " if start else "") + ", ".join(map(dumps, value[start:start + batch])))
        else:
            for i, v in enumerate(value):
                out.write(", " if i else "")
                write_json(v, out, max(depth - 1, 0), batch)
        out.write("]")
    else:
        out.write(dumps(value))


def _view(value) -> bool:
    """A read-only ``Mapping`` or ``Sequence`` that is no dict, list, tuple or string (one of
    :mod:`analysis.entries`): :func:`write_json` writes it, ``json`` cannot."""
    return (isinstance(value, (Mapping, Sequence)) and not isinstance(value, (dict, list, tuple, str, bytes, bytearray)))


def page_dict(url: str, d: dict) -> dict:
    return {"url": url, "tier": d.get("tier"), "role": d.get("role"), "status": d.get("status"),
            "verdict": d.get("verdict"), "label": d.get("label"), "error_kind": d.get("error_kind"),
            "reason": d.get("reason"), "title": d.get("title"), "depth": d.get("depth"),
            "final_url": d.get("final_url"),
            "redirects": [{"url": u, "status": s} for u, s in d.get("chain") or []],
            "lead_form": bool(d.get("lead_form")), "conversion": d.get("conversion"),
            "read_as": d.get("read_as")}  # raw, rendered (--render), None: not an HTML page read


def write(audit, out: TextIO) -> None:
    """Write ``audit`` as one JSON document to ``out``."""
    out = Escaping(out)
    g = audit.graph
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    out.write('{"crawl": ')
    crawl = {k: audit.crawl.get(k) for k in CRAWL_KEYS}
    # the options the user gave: not where a directory target happened to be served
    crawl["options"] = {k: v for k, v in (crawl["options"] or {}).items() if k not in ("mounts", "directories")}
    crawl["crawled_by"] = audit.crawl.get("version")  # the version that ran the crawl (None: before 0.1.0)
    crawl["funnelcheck_version"] = funnelcheck_version()  # the version that wrote this report
    json.dump(crawl, out)
    out.write(',\n"pages": [')
    rows_out = _Rows(out)
    for url, d in g.nodes(data=True):
        if d.get("role"):
            rows_out.add(dumps(page_dict(url, d)))
    rows_out.flush()
    out.write('\n],\n"links": [')
    nodes = g.node_data
    tiers: dict[str, str] = {}
    total = audit.summary.get("links")
    if total is None:
        total = g.number_of_edges()
    which = links_listed(getattr(audit, "links", None), total)
    if which == "all":
        rows = g.store.link_json(g.crawl_id)  # built by SQLite, streamed, never held
    elif which == "broken":
        broken = [url for url, d in nodes.items() if d.get("verdict") == BROKEN]
        rows = g.store.link_json(g.crawl_id, to=broken) if broken else ()
    else:
        rows = ()
    listed = 0
    rows_out = _Rows(out)
    for key, text in rows:
        tier = nodes[key]["tier"]
        tiers[tier] = suffix = tiers.get(tier) or f',"tier":{dumps(tier)}}}'
        rows_out.add(text[:-1] + suffix)
        listed += 1
    rows_out.flush()
    if which != "all":
        note = ((f"{listed:,} of {total:,} links listed: those to broken targets" if which == "broken"
                 else f"none of the {total:,} links listed")
                + ("" if getattr(audit, "links", None) else f" (more than {LINKS_MAX:,} links)")
                + "; --links all lists every one, funnelcheck report --format csv-links writes them as CSV")
        if not getattr(audit, "links", None):  # (what the user asked for is not news to them)
            logger.warning("JSON report: %s", note)
        out.write('\n],\n"links_left_out": ')
        json.dump({"listed": which, "links": listed, "of": total, "note": note}, out)
        out.write(',\n"findings": [')
    else:
        out.write('\n],\n"findings": [')
    # a big crawl's findings list PAGES_MAX pages each (--links all: every one)
    cap = PAGES_MAX if total > LINKS_MAX and getattr(audit, "links", None) != "all" else None
    cut = 0
    for i, f in enumerate(audit.findings):  # one per line (json.dump with indent is pure Python: slow)
        d = finding_dict(f, cap)
        cut += "pages_listed" in d or d["detail"] is not f.detail
        out.write(("," if i else "") + "\n  " + dumps(d))
    if cut:
        logger.warning("JSON report: %s listed with the first %s of their pages (and of their detail's lists) only "
                       "(more than %s links); "
                       "--links all lists every page, funnelcheck report --format csv-links writes every link",
                       f"{cut} finding" + ("s" if cut > 1 else ""), f"{cap:,}", f"{LINKS_MAX:,}")
    out.write("\n]")
    out.write(',\n"baseline": ')  # the accepted findings (still listed above) and the stale entries
    json.dump({"file": audit.baseline_file, "accepted": [{"id": f.id, "reason": audit.baseline[f.id]}
                                                         for f in audit.accepted],
               "stale": [{"id": i, "reason": audit.baseline[i]} for i in audit.stale]}, out, ensure_ascii=False)
    out.write(',\n"metrics": ')
    write_json(audit.metrics, out)  # site, entries, fix_first, link_score (analysis.metrics)
    out.write(',\n"summary": ')
    json.dump(audit.summary, out, indent=1)
    out.write("}\n")
