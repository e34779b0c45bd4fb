"""The site's real traffic, from its analytics tool's exports (issue 24): where visitors enter,
what converts, what a conversion is worth, and how visitors really move from page to page.

Every analytics tool exports what the funnel metrics need as a file, so this needs no account,
no API key and no network. :func:`read_export` reads one file and recognises the tool and the
report by its columns (:data:`LAYOUTS`, data, not code):

========  =====================================================================================
Plausible dashboard exports: entry pages ``name,unique_entrances,total_entrances`` or
          ``name,visitors,visits``; top pages ``name,visitors,pageviews``; goal conversions
          ``name,unique_conversions,total_conversions`` (``total_revenue`` where set); the
          site's CSV export (``imported_entry_pages``: ``date,entry_page,visitors,entrances``,
          ``imported_pages``: ``date,hostname,page,pageviews``)
Matomo    CSV or TSV (Matomo's TSV is UTF-16): entry pages ``label,entry_nb_visits`` (with
          ``nb_conversions`` and ``revenue`` from the goals view, ``url`` when flattened),
          goals ``label,nb_conversions[,revenue]``, pages ``label,nb_hits``
GA4       report and exploration CSVs (their ``#`` comment lines give the period): ``Landing
          page + query string`` (or ``Landing page``), ``Sessions``, ``Key events`` (or
          ``Conversions``), ``Total revenue``; ``Page path and screen class,Views``; ``Event
          name,Key events``; and event rows of the BigQuery export
          (``event_name,page_location,ga_session_id``, with ``event_timestamp``,
          ``user_pseudo_id``, ``purchase_revenue`` or ``value`` when present)
Umami     event rows of its data export (``session_id,url_path,event_type``, with
          ``visit_id``, ``hostname``, ``created_at``, ``event_name``)
========  =====================================================================================

The delimiter is sniffed (comma, semicolon, tab, pipe), a byte order mark read (UTF-8, and the
UTF-16 of Matomo's TSV), numbers read with thousands separators (``12,400``, ``12 400``,
``12.400``, ``1.234,56``) and currency signs. A file of no known layout is an
:class:`AnalyticsError` naming the columns it has and the ones expected.

:func:`match` maps the exports' pages onto the crawl's pages with the crawl's own URL folding
(:func:`crawler.urls.dedupe_key` with the site's origin aliases: ``http``/``https``, ``www.``,
tracking parameters, ``index.html``), through redirects; a bare path belongs to the site's host
unless the export names one (a ``hostname`` column, a full URL) or ``--analytics-host`` does.
Rows matching no page the crawl read are counted and shown (:attr:`Traffic.unmatched`).

Event rows (GA4 BigQuery, Umami) are sessions: their first page view is the entry, the page views
in time order are real page-to-page transitions, and a conversion event (:data:`CONVERSION_EVENTS`,
or any event named in ``[values]``) is a conversion of the session's entry page.
"""
from __future__ import annotations

import csv
import hashlib
import logging
import math
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

DAYS_PER_MONTH = 365.25 / 12   # a month of traffic, for the "a month" figures
ASSUMED_DAYS = DAYS_PER_MONTH  # the period an export is taken to cover when it does not say
EXAMPLES = 5                   # unmatched rows shown
# GA4's recommended key events (and Umami events of the same names): a conversion of the session.
CONVERSION_EVENTS = frozenset({"purchase", "generate_lead", "sign_up", "qualify_lead", "close_convert_lead",
                               "submit_lead_form", "form_submit_lead"})
PAGE_VIEW_EVENTS = frozenset({"page_view", "pageview"})
DELIMITERS = ",;\t|"


class AnalyticsError(ValueError):
    """An export that cannot be read: one line naming the file and what is wrong (exit 2)."""


# What a row of each kind gives: entries (where visits start), goals (conversions by goal),
# pages (page views), events (one row per event of a session).
ENTRIES, GOALS, PAGES, EVENTS = "entries", "goals", "pages", "events"
PERIOD = "period"   # a report read for its dates only (Plausible's visitors by day)


@dataclass(frozen=True)
class Layout:
    """One report of one tool: the columns that identify it (``needs``, lower-case), and which
    column holds what (``page``, ``visits``, ``conversions``, ``revenue``, ``host``, ``date``, …; the
    first of several names present wins)."""
    tool: str
    report: str
    kind: str
    needs: tuple[str, ...]
    columns: dict

    def expected(self) -> str:
        return ",".join(self.needs)


def _layout(tool, report, kind, needs, **columns) -> Layout:
    return Layout(tool, report, kind, tuple(needs), {k: (v,) if isinstance(v, str) else tuple(v)
                                                     for k, v in columns.items()})


# Most specific first: the first layout whose ``needs`` are all columns of the file is its layout.
# GA4's landing page report as its interface names the columns, in English and in German: the
# page (with the query string, then without), sessions, key events, revenue
_GA4_LANDING = (
    (("landing page + query string", "landing page"), "sessions", "key events", ("total revenue", "purchase revenue")),
    (("landingpage + suchstring", "landingpage"), "sitzungen", "schlüsselereignisse",
     ("gesamtumsatz", "umsatz aus käufen")),
)

LAYOUTS = (
    _layout("GA4", "BigQuery event rows", EVENTS, ("event_name", "page_location", "ga_session_id"),
            page="page_location", event="event_name", session=("ga_session_id",), user="user_pseudo_id",
            time=("event_timestamp",), date="event_date",
            revenue=("purchase_revenue", "event_value_in_usd", "value", "ecommerce.purchase_revenue")),
    _layout("Umami", "event rows", EVENTS, ("session_id", "url_path", "event_type"),
            page="url_path", host="hostname", session=("visit_id", "session_id"), time=("created_at",),
            date="created_at", event="event_name", event_type="event_type", revenue=("revenue", "value")),
    _layout("Matomo", "entry pages", ENTRIES, ("label", "entry_nb_visits"),
            page=("url", "metadata_url", "metadata: url", "label"), visits="entry_nb_visits",
            conversions=("nb_conversions_entry", "nb_conversions", "entry_nb_conversions"),
            revenue=("revenue_entry", "revenue", "entry_revenue")),
    # the Export button of Matomo's dashboard writes the column names as the dashboard shows them
    _layout("Matomo", "entry pages", ENTRIES, ("label", "entrances"),
            page=("url", "metadata: url", "metadata_url", "label"), visits="entrances",
            conversions=("conversions", "conversions (entry)"), revenue=("revenue", "revenue (entry)")),
    _layout("Matomo", "goals", GOALS, ("label", "nb_conversions"), goal="label", conversions="nb_conversions",
            revenue="revenue"),
    _layout("Matomo", "pages", PAGES, ("label", "nb_hits"), page=("url", "metadata_url", "label"), views="nb_hits"),
    _layout("Plausible", "entry pages", ENTRIES, ("name", "unique_entrances", "total_entrances"),
            page="name", visits="total_entrances"),
    _layout("Plausible", "entry pages (CSV export)", ENTRIES, ("date", "entry_page", "entrances"),
            page="entry_page", visits="entrances", date="date", host="hostname"),
    _layout("Plausible", "goal conversions", GOALS, ("name", "unique_conversions", "total_conversions"),
            goal="name", conversions="total_conversions", revenue=("total_revenue", "revenue")),
    _layout("Plausible", "pages (CSV export)", PAGES, ("date", "page", "pageviews"),
            page="page", views="pageviews", date="date", host="hostname"),
    _layout("Plausible", "visitors by day (the period)", PERIOD, ("date", "visitors", "visits"), date="date"),
    _layout("Plausible", "top pages", PAGES, ("name", "visitors", "pageviews"), page="name", views="pageviews"),
    _layout("Plausible", "entry pages", ENTRIES, ("name", "visitors", "visits"), page="name", visits="visits",
            conversions=("conversions", "total_conversions"), revenue=("total_revenue", "revenue")),
    *(_layout("GA4", "landing pages", ENTRIES, (page, sessions), page=page, visits=sessions,
              conversions=(events, "conversions"), revenue=revenue)
      for pages, sessions, events, revenue in _GA4_LANDING for page in pages),
    _layout("GA4", "key events", GOALS, ("event name", "key events"), goal="event name", conversions="key events",
            revenue=("total revenue", "event value")),
    _layout("GA4", "pages", PAGES, ("page path and screen class", "views"), page="page path and screen class",
            views="views"),
    _layout("GA4", "pages", PAGES, ("page path + query string", "views"), page="page path + query string",
            views="views"),
)
# A column that says which tool and report a file is, though other columns it needs are missing
# ("looks like a Matomo entry pages export but has no …").
TELLING = {name: next(i for i, layout in enumerate(LAYOUTS) if name in layout.needs) for name in (
    "unique_entrances", "total_entrances", "entry_nb_visits", "unique_conversions", "total_conversions", "entry_page",
    "ga_session_id", "page_location", "landing page + query string", "landing page", "nb_hits", "url_path",
    "nb_conversions", "key events")}
EXPECTED = ("Plausible (name,visitors,visits or name,unique_entrances,total_entrances; "
            "name,unique_conversions,total_conversions), Matomo (label,entry_nb_visits; label,nb_conversions), "
            "GA4 (Landing page + query string,Sessions,Key events; event_name,page_location,ga_session_id) "
            "or Umami (session_id,url_path,event_type)")


@dataclass
class Export:
    """One export file read: its tool and report, its rows summed per page or goal, its sessions."""
    path: str
    tool: str
    report: str
    kind: str
    rows: int = 0
    entries: dict = field(default_factory=dict)   # (host, page) -> [visits, conversions or None, revenue or None]
    goals: dict = field(default_factory=dict)     # goal name -> [conversions, revenue or None]
    views: dict = field(default_factory=dict)     # (host, page) -> page views
    sessions: list = field(default_factory=list)  # [(host, [pages in time order], conversions, revenue)]
    folders: list = field(default_factory=list)   # Matomo folder rows skipped (the sum of their pages)
    start: date | None = None
    end: date | None = None

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


# -- numbers, dates, text ---------------------------------------------------------------------
_AMOUNT = re.compile(r"^(?P<sign>-)?\s*(?:[A-Z]{1,3}\s?)?[$€£¥₹]?\s*(?P<sign2>-)?\s*"
                     r"(?P<num>\d[\d.,'\s\u00a0\u202f]*)\s*(?:[$€£¥₹]|\s?[A-Z]{3})?$")
_GROUPS = re.compile(r"^[1-9]\d{0,2}([.,'\s\u00a0\u202f]\d{3})+$")
LARGEST = 1e15   # a count or an amount beyond this is a misread, not a month of traffic


def number(text: str | None) -> float | None:
    """A number as analytics tools write it (None for an empty cell or a dash); ValueError for
    anything else, never a guess: a time, an exponent, an abbreviation (``1.2K``), text with
    numbers in it, control characters.

    >>> number("12,400"), number("12 400"), number("12.400"), number("1.234,56"), number("$1,900.50")
    (12400.0, 12400.0, 12400.0, 1234.56, 1900.5)
    >>> number("0.5"), number("1,5"), number("€ 99"), number(""), number("-"), number("0.500"), number("-$1,500.00")
    (0.5, 1.5, 99.0, None, None, 0.5, -1500.0)
    >>> for bad in ("abc", "1e9", "12:30", "1.2K", "3 of 4", "\\x1b[31m5\\x1b[0m", "NaN", "44%"):
    ...     try:
    ...         number(bad)
    ...     except ValueError as exc:
    ...         print(exc)
    not a number: 'abc'
    not a number: '1e9'
    not a number: '12:30'
    not a number: '1.2K'
    not a number: '3 of 4'
    not a number: '\\x1b[31m5\\x1b[0m'
    not a number: 'NaN'
    not a number: '44%'
    """
    raw = (text or "").strip()
    if raw in ("", "-", "—", "(not set)", "n/a", "N/A"):
        return None
    m = _AMOUNT.match(raw)
    if not m:
        raise ValueError(f"not a number: {raw!r}")
    negative = bool(m.group("sign") or m.group("sign2"))
    cleaned = m.group("num").strip().replace("\u00a0", " ").replace("\u202f", " ")
    if _GROUPS.match(cleaned):  # 12,400 · 12 400 · 12.400 · 1'234: thousands
        value = float(re.sub(r"\D", "", cleaned))
    else:
        if re.search(r"\d\s+\d", cleaned) and not re.fullmatch(r"\d{1,3}(\s\d{3})+([.,]\d+)?", cleaned):
            raise ValueError(f"not a number: {raw!r}")  # (two numbers, not a thousands group)
        cleaned = cleaned.replace(" ", "").replace("'", "")
        comma, dot = cleaned.rfind(","), cleaned.rfind(".")
        if comma >= 0 and dot >= 0:  # the last one is the decimal mark
            cleaned = (cleaned.replace(".", "").replace(",", ".") if comma > dot else cleaned.replace(",", ""))
        elif comma >= 0:
            cleaned = cleaned.replace(",", ".") if cleaned.count(",") == 1 else cleaned.replace(",", "")
        try:
            value = float(cleaned)
        except ValueError:
            raise ValueError(f"not a number: {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"not a number: {raw!r}")
    return -value if negative else value


_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


def _date(text: str | None) -> date | None:
    """The date a cell or a file name starts with (``20240131``, ``2024-01-31``, an ISO time)."""
    m = _DATE.search(text or "")
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _period_of_name(name: str) -> tuple[date | None, date | None]:
    """The period a file name gives (``imported_visitors_20240101_20240131.csv``,
    ``entry-pages 2024-01-01 to 2024-01-31.csv``).

    >>> _period_of_name("imported_entry_pages_20240101_20240131.csv")
    (datetime.date(2024, 1, 1), datetime.date(2024, 1, 31))
    >>> _period_of_name("export.csv")
    (None, None)
    """
    found = [d for d in (_date(m.group(0)) for m in re.finditer(r"\d{4}-?\d{2}-?\d{2}", name)) if d]
    return (found[0], found[-1]) if len(found) >= 2 else (None, None)


# -- reading one export ---------------------------------------------------------------------
def read_export(path: str, conversion_events=()) -> Export:
    """Read one analytics export (see the module docstring); :class:`AnalyticsError` when it
    cannot be read or is no export funnelcheck knows.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "entry_pages.csv")
    >>> _ = open(p, "w").write("name,unique_entrances,total_entrances,visit_duration\\n/pricing/,90,\\"1,200\\",31\\n")
    >>> e = read_export(p); (e.tool, e.report, e.entries)
    ('Plausible', 'entry pages', {('', '/pricing/'): [1200.0, None, None]})
    """
    stream = _open_text(path)
    with stream:
        return _read(path, stream, conversion_events)


def _open_text(path: str):
    """The export as a text stream: its encoding from its first bytes (a UTF-16 BOM: Matomo's
    TSV; else UTF-8 with or without a BOM, else Windows-1252), read a line at a time."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except FileNotFoundError:
        raise AnalyticsError(f"--analytics {path}: no such file") from None
    except IsADirectoryError:
        raise AnalyticsError(f"--analytics {path}: is a folder, not an export file") from None
    except OSError as exc:
        raise AnalyticsError(f"--analytics {path}: cannot read it: {exc.strerror}") from None
    if head.startswith(b"PK\x03\x04") and not path.lower().endswith((".xlsx", ".xls", ".ods", ".numbers")):
        raise AnalyticsError(f"{path}: a zip archive: unzip it first: funnelcheck reads the CSV files inside")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif b"\x00" in head[:4096]:
        raise AnalyticsError(f"{path}: not a text file (expected a CSV or TSV export)")
    else:
        encoding = "utf-8-sig"
        try:
            head.decode("utf-8-sig") if len(head) < 1 << 16 else _decode_prefix(head)
        except UnicodeDecodeError:
            encoding = "cp1252"
    return open(path, encoding=encoding, errors="strict" if encoding != "cp1252" else "replace", newline="")


def _decode_prefix(head: bytes) -> str:
    """The first bytes of a file as UTF-8, a character cut at the end forgiven."""
    for cut in range(4):
        try:
            return head[:len(head) - cut].decode("utf-8-sig")
        except UnicodeDecodeError:
            if cut == 3:
                raise
    return ""


def _read(path: str, stream, conversion_events=()) -> Export:
    """:func:`read_export` of an open text stream, a line at a time."""
    start = end = None
    skipped = 0
    lines = iter(stream)
    header_line = None
    try:
        for line in lines:  # GA4 writes comment lines (#) before the table, with the period in them
            if line.startswith("#"):
                low = line.lower()
                if "start date" in low:
                    start = _date(line.split(":", 1)[-1])
                elif "end date" in low:
                    end = _date(line.split(":", 1)[-1])
                skipped += 1
                continue
            if not line.strip():
                skipped += 1
                continue
            if re.match(r'^"?nth (minute|hour|day|week|month|year)\b', line.strip().lower()):
                skipped += 1  # GA4's chart data before its table ("Nth day,Sessions"): up to the blank line
                for line in lines:
                    skipped += 1
                    if not line.strip():
                        break
                continue
            header_line = line
            break
        if header_line is None:
            raise AnalyticsError(f"{path}: empty (no header row)")
        sample = [header_line]
        for line in lines:
            if not line.strip():  # GA4: a blank line ends the first table
                break
            sample.append(line)
            if len(sample) >= 20:
                break
        ended = len(sample) < 20
    except UnicodeDecodeError:
        raise AnalyticsError(f"{path}: not UTF-8 or UTF-16 text (save the export as UTF-8 CSV)") from None

    def body():
        yield from sample
        if ended:
            return
        try:
            for line in lines:
                if not line.strip():
                    return
                yield line
        except UnicodeDecodeError:
            raise AnalyticsError(f"{path}: not UTF-8 or UTF-16 text (save the export as UTF-8 CSV)") from None

    try:
        dialect = csv.Sniffer().sniff("".join(sample), delimiters=DELIMITERS)
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = max(DELIMITERS, key=header_line.count) if any(d in header_line for d in DELIMITERS) else ","
    reader = csv.reader(body(), delimiter=delimiter)
    header = next(reader)
    names = [h.strip().strip('"').lower() for h in header]
    layout = _recognise(path, names, header)
    index = {n: i for i, n in enumerate(names)}

    def col(what: str) -> int | None:
        return next((index[c] for c in layout.columns.get(what, ()) if c in index), None)

    where = {what: col(what) for what in layout.columns}
    pages_at = [index[c] for c in layout.columns.get("page", ()) if c in index]
    export = Export(path, layout.tool, layout.report, layout.kind, start=start, end=end)
    dates: list[date] = []
    sessions: dict = {}
    for row in reader:
        number_ = reader.line_num + skipped  # (the line of the file, its comment lines counted)
        if not any(cell.strip() for cell in row):
            continue
        export.rows += 1

        def cell(what: str) -> str | None:
            i = where.get(what)
            return row[i].strip() if i is not None and i < len(row) else None

        if len(row) > len(header) and any(c.strip() for c in row[len(header):]):
            raise AnalyticsError(f"{path} line {number_}: {len(row)} fields but the header has {len(header)} (a "
                                 "number with an unquoted thousands separator? quote it, or export without "
                                 "separators)")

        def amount(what: str) -> float | None:
            name = header[where[what]].strip() if where.get(what) is not None else what
            try:
                value = number(cell(what))
            except ValueError:
                raise AnalyticsError(f"{path} line {number_}: {cell(what)!r} in column {name!r} is not a "
                                     "number") from None
            if value is None:
                return None
            if value < 0:
                raise AnalyticsError(f"{path} line {number_}: {cell(what)!r} in column {name!r} is negative")
            if value > LARGEST:
                raise AnalyticsError(f"{path} line {number_}: {cell(what)!r} in column {name!r} is too large to "
                                     "be real")
            if what in ("visits", "conversions", "views") and value != int(value):
                raise AnalyticsError(f"{path} line {number_}: {cell(what)!r} in column {name!r} is not a whole "
                                     "number")
            return value

        if where.get("date") is not None:
            d = _date(cell("date"))
            if d:
                dates.append(d)
        host = (cell("host") or "").lower()
        if layout.kind == ENTRIES:
            page = next((row[i].strip() for i in pages_at if i < len(row) and row[i].strip()), "")
            if not page or page.lower() in ("total", "grand total", "totals"):  # ((not set): counted unmatched)
                continue
            if layout.tool == "Matomo" and _folder_row(page):  # (its pages' sum: never the folder's index)
                export.folders.append(page)
                continue
            slot = export.entries.setdefault((host, page), [0.0, None, None])
            slot[0] += amount("visits") or 0.0
            for k, what in ((1, "conversions"), (2, "revenue")):
                value = amount(what) if where.get(what) is not None else None
                if value is not None:
                    slot[k] = (slot[k] or 0.0) + value
        elif layout.kind == GOALS:
            goal = cell("goal") or ""
            if not goal:
                continue
            slot = export.goals.setdefault(goal, [0.0, None])
            slot[0] += amount("conversions") or 0.0
            value = amount("revenue") if where.get("revenue") is not None else None
            if value is not None:
                slot[1] = (slot[1] or 0.0) + value
        elif layout.kind == PERIOD:
            pass
        elif layout.kind == PAGES:
            page = cell("page") or ""
            if page:
                export.views[(host, page)] = export.views.get((host, page), 0.0) + (amount("views") or 0.0)
        else:
            _event(export, sessions, layout, cell, amount, number_, conversion_events)
    if not (export.start and export.end):  # the comment lines, then the file's name, then its rows' dates
        export.start, export.end = _period_of_name(os.path.basename(path))
    if dates and not (export.start and export.end):
        export.start, export.end = min(dates), max(dates)
    if layout.kind == EVENTS:
        for (host, _), events in sessions.items():
            events["views"].sort(key=lambda v: (v[0], v[1]))
            pages = []
            for _, _, page in events["views"]:
                if not pages or pages[-1] != page:  # a reload is no click
                    pages.append(page)
            export.sessions.append((host, pages, events["conversions"], events["revenue"]))
    return export


def _folder_row(page: str) -> bool:
    """A row of Matomo's hierarchical (not flattened) report that sums a folder's pages: a bare
    label (``blog``), neither a path nor a URL nor a page of the folder (``pricing/index``).

    >>> [_folder_row(p) for p in ("blog", "/index", "pricing/index", "https://a.example/", "/pricing")]
    [True, False, False, False, False]
    """
    return not page.startswith(("/", "http://", "https://")) and "/" not in page.strip("/") and not page.endswith(
        ("index", ".html", ".htm", ".php"))


def _recognise(path: str, names: list[str], header: list[str]) -> Layout:
    have = set(names)
    for layout in LAYOUTS:
        if have.issuperset(layout.needs):
            return layout
    shown = ",".join(h.strip() for h in header)[:200]
    for name, at in TELLING.items():
        if name in have:
            layout = LAYOUTS[at]
            missing = [c for c in layout.needs if c not in have]
            if missing:
                return _missing(path, layout, missing, shown)
    if len(names) == 1 and names[0]:
        raise AnalyticsError(f"{path}: one column only ({shown}): not comma, semicolon, tab or pipe separated; "
                             f"expected an export of {EXPECTED}")
    raise AnalyticsError(f"{path}: not an analytics export funnelcheck knows (its columns: {shown}); expected "
                         f"{EXPECTED}")


def _missing(path, layout: Layout, missing, shown):
    raise AnalyticsError(f"{path}: looks like a {layout.tool} {layout.report} export but has no "
                         f"{', '.join(missing)} column (its columns: {shown}; expected {layout.expected()})")


def _event(export: Export, sessions: dict, layout: Layout, cell, amount, line: int, extra=()) -> None:
    """One event row of a session: a page view (its page and time) or a conversion event."""
    session = cell("session") or ""
    if not session:
        return
    user = cell("user") or ""
    page = cell("page") or ""
    host = (cell("host") or "").lower()
    if layout.tool == "GA4" and page.startswith(("http://", "https://")):
        host = ""  # (the URL names its host)
    key = (host, f"{user}\x00{session}")
    events = sessions.get(key)
    if events is None:
        events = sessions[key] = {"views": [], "conversions": 0, "revenue": 0.0}
    name = (cell("event") or "").strip()
    kind = (cell("event_type") or "").strip()
    when = cell("time") or ""
    try:
        order = float(when)
    except ValueError:
        order = when
    is_view = name.lower() in PAGE_VIEW_EVENTS if layout.tool == "GA4" else kind in ("1", "pageview", "")
    if is_view and page:
        events["views"].append((order if isinstance(order, float) else 0.0,
                                order if isinstance(order, str) else line, page))
    elif name and (name.lower() in CONVERSION_EVENTS or name in extra):
        events["conversions"] += 1
        value = amount("revenue") if layout.columns.get("revenue") else None
        if value:
            events["revenue"] += value
        export.goals.setdefault(name, [0.0, None])[0] += 1
        if value:
            export.goals[name][1] = (export.goals[name][1] or 0.0) + value


def read_exports(paths, conversion_events=()) -> list[Export]:
    """Read every export (:class:`AnalyticsError` on the first that cannot be read).
    ``conversion_events``: event names counted as conversions beyond :data:`CONVERSION_EVENTS`
    (the goal names of ``[values]``). The same file given twice is read once; of two exports
    counting the same entries or goals over overlapping periods (two tools' exports of the same
    month), the first is kept and the other's entries or goals left out; Matomo's folder rows
    are skipped; exports of different periods are said (each is scaled to a month): warnings."""
    from analysis.formats.safe import safe

    exports: list[Export] = []
    seen: dict = {}
    for path in paths:
        try:
            with open(path, "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
        except OSError:
            digest = None
        if digest is not None and digest in seen:
            if os.path.realpath(path) == os.path.realpath(seen[digest]):
                logger.warning("warning: --analytics %s: given twice: read once", safe(path))
            else:
                logger.warning("warning: --analytics %s: the same export as %s: read once", safe(path), safe(seen[digest]))
            continue
        e = read_export(path, conversion_events)
        if digest is not None:
            seen[digest] = path
        if e.folders:
            shown = ", ".join(safe(f) for f in e.folders[:EXAMPLES])
            logger.warning("warning: %s: %d folder row%s of Matomo's report left out (%s): each sums the pages under it, not "
                           "one page; export the report flattened (flat=1) to count every page", safe(e.name),
                           len(e.folders), "s" if len(e.folders) != 1 else "", shown)
        for kind, attr in ((ENTRIES, "entries"), (GOALS, "goals")):
            if not getattr(e, attr) or (kind == ENTRIES and e.kind != ENTRIES):
                continue
            other = next((x for x in exports if getattr(x, attr) and (kind == GOALS or x.kind == ENTRIES)
                          and _overlap(x, e)), None)
            if other is not None:
                what = "entry pages" if kind == ENTRIES else "conversions"
                # (of two entry exports, the one with conversions by entry page: its conversions go with its entries)
                keep, drop = (e, other) if kind == ENTRIES and _converts(e) and not _converts(other) else (other, e)
                logger.warning("warning: %s and %s both count %s%s: kept %s, left out %s's%s (give one export of each "
                               "report per period)", safe(other.name), safe(e.name), what, _periods_words(other, e),
                               safe(keep.name), safe(drop.name),
                               "" if keep is other else f" ({safe(keep.name)} has conversions by entry page)")
                setattr(drop, attr, {})
                if not (drop.entries or drop.goals or drop.views or drop.sessions):
                    drop.start = drop.end = None  # (nothing of it is counted: its period is none of the counts')
        exports.append(e)
    periods = {(x.start, x.end) for x in exports if x.start and x.end}
    if len(periods) > 1:
        logger.warning("warning: the exports cover different periods (%s): each is counted as a month's worth of its own",
                       "; ".join(f"{safe(x.name)} {x.start} to {x.end}" for x in exports if x.start and x.end))
    return exports


def _converts(e: Export) -> bool:
    """An entry pages export with conversions by entry page (GA4's key events, Matomo's goals view)."""
    return any(row[1] for row in e.entries.values())


def _overlap(a: Export, b: Export) -> bool:
    """Two exports of overlapping periods (or of a period one of them does not say)."""
    if not (a.start and a.end and b.start and b.end):
        return True
    return a.start <= b.end and b.start <= a.end


def _periods_words(a: Export, b: Export) -> str:
    if a.start and a.end and b.start and b.end:
        return f" over overlapping periods ({a.start} to {a.end}, {b.start} to {b.end})"
    return " (a period one of them does not say)"


# -- onto the crawl -------------------------------------------------------------------------------
@dataclass
class Traffic:
    """The exports matched onto one crawl's pages (:func:`match`). Counts are over the exports'
    period (``days``); :meth:`monthly` turns them into a month's."""
    files: list[dict]
    days: float
    assumed: bool                  # the exports do not say their period: taken as a month
    start: str | None = None
    end: str | None = None
    entries: dict = field(default_factory=dict)      # walked page URL -> entry visits
    observed: dict = field(default_factory=dict)     # entry page URL -> {"visits", "conversions", "revenue"}
    reached: dict = field(default_factory=dict)      # entry page URL -> [sessions, sessions that reached an offer]
    transitions: Counter = field(default_factory=Counter)  # (page URL, next page URL or None) -> sessions
    goals: dict = field(default_factory=dict)        # goal name -> [conversions, revenue or None]
    entry_visits: float = 0.0      # every entry visit of the exports, matched or not
    unmatched: dict = field(default_factory=lambda: {"rows": 0, "visits": 0.0, "examples": []})
    views: int = 0                 # page-view rows read (not entries: counted, not used)

    @property
    def scale(self) -> float:
        """A count over the period times this is a month's."""
        return DAYS_PER_MONTH / self.days if self.days > 0 else 1.0

    def monthly(self, count: float) -> float:
        return count * self.scale

    @property
    def matched_visits(self) -> float:
        return sum(self.entries.values())


def _host_of(text: str | None) -> str | None:
    """``--analytics-host``'s host: ``acme.example`` or a URL."""
    if not text:
        return None
    text = text.strip()
    return (urlsplit(text if "://" in text else "//" + text).hostname or "").lower() or None


# Query parameters of ads and search results the crawl's folding keeps (they can name real pages
# of a crawl) but an export's landing page only carries for attribution: folded here alone.
ANALYTICS_PARAMS = re.compile(r"^(srsltid|ref|hsa_[a-z_]+|_gl|_ga|gad_source|gbraid|wbraid)$", re.I)


def _fold_query(page: str) -> str:
    """An export's page without the attribution parameters of :data:`ANALYTICS_PARAMS`.

    >>> _fold_query("/?srsltid=AfmB&ref=producthunt"), _fold_query("/blog/?page=2&hsa_cam=1"), _fold_query("/a")
    ('/', '/blog/?page=2', '/a')
    """
    if "?" not in page:
        return page
    from urllib.parse import parse_qsl, urlencode

    base, _, rest = page.partition("?")
    query, hash_, fragment = rest.partition("#")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if not ANALYTICS_PARAMS.match(k)]
    return base + (f"?{urlencode(kept)}" if kept else "") + (hash_ + fragment if hash_ else "")


class _Mapper:
    """Export pages -> the crawl's page keys, with the crawl's own folding; cached per page."""

    def __init__(self, g, host: str | None):
        from crawler.urls import normalize

        self.g, self.normalize = g, normalize
        target = g.graph["crawl"]["targets"][0]
        parts = urlsplit(target)
        self.scheme = parts.scheme or "https"
        self.site_host = parts.netloc
        self.host = _host_of(host)
        self.cache: dict = {}

    def url(self, host: str, page: str) -> str:
        page = _fold_query(page.strip())
        if page in ("/index", "index"):  # Matomo's label of the root page
            page = "/"
        elif page.endswith("/index") and not page.startswith(("http://", "https://")):  # pricing/index: /pricing/
            page = page[:-len("index")]
        if page.startswith(("http://", "https://")):
            return page
        if page.startswith("//"):
            return f"{self.scheme}:{page}"
        if re.match(r"^[a-z0-9.-]+\.[a-z]{2,}(:\d+)?/", page, re.I):  # acme.example/pricing (Matomo, Umami)
            return f"{self.scheme}://{page}"
        host = host or self.host or self.site_host  # (a host the export names wins)
        return f"{self.scheme}://{host}{'' if page.startswith('/') else '/'}{page}"

    def node(self, host: str, page: str) -> str | None:
        """The crawl's node for an export page (through redirects), None when it has none."""
        cached = self.cache.get((host, page), False)
        if cached is not False:
            return cached
        from analysis.graph import landing_page

        found = None
        try:
            url = self.normalize(self.url(host, page))[0]
        except ValueError:
            url = None
        if url is not None:
            key = self.g.graph["key"](url)
            candidates = [key]
            path_end = key.split("?", 1)[0]
            if not path_end.endswith("/"):
                candidates.append(key.replace(path_end, path_end + "/", 1))
            elif path_end.count("/") > 3:
                candidates.append(key.replace(path_end, path_end.rstrip("/"), 1))
            for k in candidates:
                if k in self.g:
                    found = landing_page(self.g, k)
                    break
        self.cache[(host, page)] = found
        return found


def match(exports: list[Export], g, host: str | None = None, period: dict | None = None) -> Traffic:
    """The exports' entries, conversions, transitions and goals on the crawl's pages (see the
    module docstring). A page is matched when it is one the funnel metrics walk (an owned page
    read and answering ok); every other row is counted in ``unmatched``, with examples.

    >>> from analysis.graph import graph_from
    >>> home = "https://a.example/"
    >>> g = graph_from([{"url": home, "role": "page", "status": 200, "parsed": 1},
    ...                 {"url": home + "pricing/", "role": "page", "status": 200, "parsed": 1}],
    ...                [(home, home + "pricing/", "main", "other")], site=[home])
    >>> e = Export("x.csv", "Plausible", "entry pages", ENTRIES, entries={("", "/"): [300.0, None, None],
    ...     ("", "/pricing"): [100.0, None, None], ("", "/gone/"): [7.0, None, None]})
    >>> t = match([e], g)
    >>> t.entries, t.unmatched
    ({'https://a.example/': 300.0, 'https://a.example/pricing/': 100.0}, {'rows': 1, 'visits': 7.0, 'examples': ['/gone/']})
    """
    from analysis.metrics import _in_walk, _offers

    mapper = _Mapper(g, host)
    nodes = g.node_data

    def walked(url):
        return url is not None and _in_walk(nodes.get(url) or {})

    def miss(page: str, visits: float) -> None:
        unmatched["rows"] += 1
        unmatched["visits"] += visits
        if len(unmatched["examples"]) < EXAMPLES and page not in unmatched["examples"]:
            unmatched["examples"].append(page)

    starts = [e.start for e in exports if e.start]
    ends = [e.end for e in exports if e.end]
    spans = [((e.end - e.start).days + 1) for e in exports if e.start and e.end]
    days = float(max(spans)) if spans else ASSUMED_DAYS
    traffic = Traffic(files=[{"name": e.name, "tool": e.tool, "report": e.report, "rows": e.rows} for e in exports
                             if e.kind != PERIOD or e.start],
                      days=days, assumed=not spans, start=min(starts).isoformat() if starts else None,
                      end=max(ends).isoformat() if ends else None)
    if period:  # --analytics-period: what the exports cover, said by the user
        days = traffic.days = float(period["days"])
        traffic.assumed = False
        traffic.start, traffic.end = period.get("start"), period.get("end")
        spans = []
    unmatched = traffic.unmatched
    has_entries = any(e.entries for e in exports)
    for e in exports:
        # an export of a shorter or longer period than the longest counts as that many days' worth
        f = days / ((e.end - e.start).days + 1) if e.start and e.end and spans else 1.0
        for (h, page), (visits, conversions, revenue) in e.entries.items():
            visits, conversions = visits * f, None if conversions is None else conversions * f
            revenue = None if revenue is None else revenue * f
            traffic.entry_visits += visits
            url = mapper.node(h, page)
            if not walked(url):
                miss(page, visits)
                continue
            traffic.entries[url] = traffic.entries.get(url, 0.0) + visits
            if conversions is not None:
                seen = traffic.observed.setdefault(url, {"visits": 0.0, "conversions": 0.0, "revenue": None})
                seen["visits"] += visits
                seen["conversions"] += conversions
                if revenue is not None:
                    seen["revenue"] = (seen["revenue"] or 0.0) + revenue
        for name, (conversions, revenue) in e.goals.items():
            slot = traffic.goals.setdefault(name, [0.0, None])
            slot[0] += conversions * f
            if revenue is not None:
                slot[1] = (slot[1] or 0.0) + revenue * f
        traffic.views += len(e.views)
        for h, pages, conversions, revenue in e.sessions:
            if not pages:
                continue
            urls = [mapper.node(h, p) for p in pages]
            entry = urls[0]
            if not has_entries:  # (entry pages of a report win over the sessions' first pages)
                traffic.entry_visits += 1
                if walked(entry):
                    traffic.entries[entry] = traffic.entries.get(entry, 0.0) + 1
                else:
                    miss(pages[0], 1)
                    unmatched["sessions"] = unmatched.get("sessions", 0) + 1  # (a session of event rows, not a row)
            if walked(entry):
                seen = traffic.observed.setdefault(entry, {"visits": 0.0, "conversions": 0.0, "revenue": None})
                seen["visits"] += 1
                seen["conversions"] += conversions
                if revenue:
                    seen["revenue"] = (seen["revenue"] or 0.0) + revenue
                reach = traffic.reached.setdefault(entry, [0, 0])
                reach[0] += 1
                reach[1] += any(u is not None and _offers(nodes.get(u) or {}) for u in urls)
            for a, b in zip(urls, urls[1:]):
                if walked(a) and not _offers(nodes.get(a) or {}):  # (an offer ends the walk: no click after)
                    traffic.transitions[a, b if b is not None and b in nodes else None] += 1
    unmatched["visits"] = round(unmatched["visits"], 6)
    return traffic


# -- what a conversion is worth ----------------------------------------------------------------------
PAGE_GOAL = re.compile(r"^visit\s+(/\S*)$", re.I)   # Plausible's page-view goals: "Visit /thank-you/"


def conversion_values(g, traffic: Traffic, values: dict | None, host: str | None = None,
                      config_name: str = "funnel.toml") -> dict | None:
    """Money per conversion: ``{"pages": {offer page URL: value}, "default": value or None,
    "currency", "source"}`` from ``[values]`` (keys: an offer's path or URL, a goal name,
    ``default``, ``currency``) and the exports' revenue (a goal's revenue over its conversions).
    The default (an offer without a value of its own) is ``[values] default``, else the goals'
    values weighted by their conversions. None when nothing gives a value.

    >>> from analysis.graph import graph_from
    >>> home = "https://a.example/"
    >>> g = graph_from([{"url": home, "role": "page", "status": 200, "parsed": 1},
    ...                 {"url": home + "pricing/", "role": "page", "status": 200, "parsed": 1}],
    ...                [(home, home + "pricing/", "main", "other")], site=[home])
    >>> t = Traffic([], 30, False, goals={"Signup": [10.0, 500.0], "Trial": [30.0, None]})
    >>> conversion_values(g, t, {"/pricing/": 1900, "Trial": 20, "currency": "€"})
    {'pages': {'https://a.example/pricing/': 1900.0}, 'default': 27.5, 'currency': '€', 'source': 'funnel.toml and the export'}
    """
    values = dict(values or {})
    currency = str(values.pop("currency", "$"))
    default = values.pop("default", None)
    mapper = _Mapper(g, host)
    pages: dict[str, float] = {}
    goal_values: dict[str, float] = {}
    weights: dict[str, float] = {}
    from_export = False
    for name, (conversions, revenue) in traffic.goals.items():
        weights[name] = conversions
        if revenue is not None and conversions > 0:
            goal_values[name] = revenue / conversions
            from_export = True
    from_config = bool(values) or default is not None
    from analysis.formats.safe import safe
    from analysis.metrics import _offers

    for key, value in values.items():
        if key.startswith(("/", "http://", "https://")):
            url = mapper.node("", key)
            if url is None:
                logger.warning("warning: value of %s (%s): no page the crawl read has this address: it values nothing",
                               safe(key), money(float(value), currency))
            elif not _offers(g.node_data.get(url) or {}):
                logger.warning("warning: value of %s (%s): not an offer page (pricing, checkout, contact, a form): the model "
                               "values only the offers visitors reach, so it values nothing; value an offer page or "
                               "a goal", safe(key), money(float(value), currency))
            else:
                pages[url] = float(value)
        else:
            key = next((n for n in traffic.goals if n.casefold() == key.casefold()), key)  # (Purchase = purchase)
            goal_values[key] = float(value)
            if traffic.goals and key not in traffic.goals:
                logger.warning("warning: value of goal %s (%s): no export has this goal (theirs: %s): it values no "
                               "conversion, only offers without a value of their own", safe(repr(key)),
                               money(float(value), currency), safe(", ".join(sorted(traffic.goals))[:200]))
    for name, value in goal_values.items():  # Plausible's "Visit /path" goals value that page
        m = PAGE_GOAL.match(name)
        if m:
            url = mapper.node("", m.group(1))
            if url is not None:
                pages.setdefault(url, value)
    if default is None and goal_values:
        total = sum(weights.get(n) or 0.0 for n in goal_values)
        default = (sum(v * (weights.get(n) or 0.0) for n, v in goal_values.items()) / total if total > 0
                   else sum(goal_values.values()) / len(goal_values))
    if not pages and default is None:
        return None
    source = " and ".join(s for s, on in ((config_name, from_config), ("the export", from_export)) if on)
    return {"pages": pages, "default": None if default is None else round(float(default), 2), "currency": currency,
            "source": source or None}


def money(amount: float | None, currency: str = "$") -> str:
    """An amount as a marketer reads it: two significant figures from 100 on.

    >>> money(1904.2), money(87.4, "€"), money(123456), money(None)
    ('$1,900', '€87', '$123,000', '—')
    """
    if amount is None:
        return "—"
    if abs(amount) >= 100:
        amount = round(amount, -(len(str(int(abs(amount)))) - (3 if abs(amount) >= 1000 else 2)))
    return f"{currency}{amount:,.0f}"


def about(count: float) -> str:
    """A count a month, rounded as an estimate.

    >>> about(138.6), about(12404), about(0.4), about(7.2), about(0.5)
    ('~140', '~12,400', 'fewer than 1', '~7', '~1')
    """
    if count < 0.5:
        return "fewer than 1"
    if count < 1.5:
        return "~1"  # (never "~0": 0.5 rounds to even)
    if count >= 100:
        count = round(count, -(len(str(int(count))) - (3 if count >= 1000 else 2)))
    return f"~{count:,.0f}"


# -- model against reality -----------------------------------------------------------------------------
PLAN_KEPT = 20      # action-plan items kept with the crawl (diff and the e-mail show the first 3)
MIN_CLICKS = 20      # observed clicks on from a page before its behaviour is compared with the model
MIN_EXPECTED = 5.0   # clicks a region is expected to get before its weight is fitted
BEHAVIOUR_MAX = 10   # pages listed whose real behaviour differs most from the model
CLASSES = ("an offer", "the blog", "the site")


def _path(url: str) -> str:
    p = urlsplit(url)
    return (p.path or "/") + (f"?{p.query}" if p.query else "")


def _pct(p: float) -> str:
    return f"{100 * p:.0f}%" if p >= 0.01 or p == 0 else f"{100 * p:.1f}%"


def as_often(ratio: float) -> str:
    """A ratio below 1 in words ("about half as often", never "1.7x less often").

    >>> as_often(0.51), as_often(0.34), as_often(0.26), as_often(0.6), as_often(0.02)
    ('about half as often', 'about a third as often', 'about a quarter as often', '0.6x as often', 'hardly ever as often')
    """
    for value, words in ((0.5, "about half as often"), (1 / 3, "about a third as often"),
                         (0.25, "about a quarter as often")):
        if abs(ratio - value) <= 0.025:
            return words
    return f"{ratio:.1f}x as often" if ratio >= 0.05 else "hardly ever as often"


def _short(text: str, limit: int = 60) -> str:
    """A long page of an export shortened for a line: its start and its end, … between.

    >>> _short("/blog/" + "x" * 100 + "/end/")
    '/blog/xxxxxxxxxxxxxxxxxxxxxxxxxxxxx…xxxxxxxxxxxxxxxxxxx/end/'
    """
    if len(text) <= limit:
        return text
    head = (limit - 1) * 3 // 5
    return text[:head] + "…" + text[-(limit - 1 - head):]


def behaviour(g, traffic: Traffic, weights: dict | None = None) -> tuple[list[dict], dict | None]:
    """Real clicks (``traffic.transitions``) against the model's: per page with at least
    :data:`MIN_CLICKS` observed clicks on to a page the crawl read, the share going to an offer,
    the blog and the rest of the site, observed and predicted from its links (the model's click
    weights); the pages that differ most first, each with ``words``. And the link weights the
    clicks fit: per region, how much likelier a link there was clicked than a link picked at
    random on the same page (``{"weights", "clicks", "option"}``, None without clicks)."""
    import numpy as np

    from analysis.metrics import EXTERNAL, REGIONS, SOCIAL_LEAK, walk_graph

    if not traffic.transitions:
        return [], None
    walk = walk_graph(g, (), weights)
    n = walk.n
    index = {u: i for i, u in enumerate(walk.urls)}
    observed: dict[int, Counter] = defaultdict(Counter)
    for (a, b), count in traffic.transitions.items():
        s = index.get(a)
        t = index.get(b) if b is not None else None
        if s is not None:
            observed[s][t] += count
    sources = np.array(sorted(observed), np.int64)
    from_observed = np.isin(walk.src, sources)
    # regions whose links also lead off the site (social, other sites): those clicks are no page view
    out_of_site = (walk.dst == n + SOCIAL_LEAK) | (walk.dst == n + EXTERNAL)
    offsite = {REGIONS[r] for r in set(walk.region[from_observed & out_of_site].tolist())}
    keep = from_observed & (walk.dst < n)
    src, dst, region = walk.src[keep].tolist(), walk.dst[keep].tolist(), walk.region[keep].tolist()
    w = walk.table[walk.region[keep]].tolist()
    model: dict[int, Counter] = defaultdict(Counter)       # source -> target -> weight
    counts: dict[int, Counter] = defaultdict(Counter)      # source -> region -> links
    pair_regions: dict[tuple, Counter] = defaultdict(Counter)  # (source, target) -> region -> links
    for s, t, r, x in zip(src, dst, region, w):
        model[s][t] += x
        counts[s][r] += 1
        pair_regions[s, t][r] += 1

    def cls(t: int) -> str:
        return CLASSES[0] if walk.offers[t] else CLASSES[1] if walk.tiers[t] == "blog" else CLASSES[2]

    rows = []
    expected_r: Counter = Counter()
    observed_r: Counter = Counter()
    for s, seen in observed.items():
        on = {t: c for t, c in seen.items() if t is not None}
        total = sum(on.values())
        linked = {t: c for t, c in on.items() if t in model[s]}
        clicks = sum(linked.values())
        links = sum(counts[s].values())
        if clicks and links:
            for r, k in counts[s].items():
                expected_r[r] += clicks * k / links
            for t, c in linked.items():
                here = pair_regions[s, t]
                k = sum(here.values())
                for r, m in here.items():
                    observed_r[r] += c * m / k
        weight = sum(model[s].values())
        if total < MIN_CLICKS or weight <= 0:
            continue
        o = Counter()
        for t, c in on.items():
            o[cls(t)] += c / total
        m = Counter()
        for t, x in model[s].items():
            m[cls(t)] += x / weight
        worst = max(CLASSES, key=lambda c: (abs(o[c] - m[c]), c))
        gap = abs(o[worst] - m[worst])
        if gap < 0.05:
            continue
        path = _path(walk.urls[s])
        if m[worst] == 0:
            words = f"{_pct(o[worst])} of the clicks from {path} go to {worst}, which it does not link"
        elif o[worst] >= m[worst]:
            words = (f"visitors go from {path} to {worst} {o[worst] / m[worst]:.1f}x as often as its links suggest "
                     f"({_pct(o[worst])} of their clicks on, the model {_pct(m[worst])})")
        elif o[worst] == 0:
            words = (f"visitors never go from {path} to {worst}, though its links would send {_pct(m[worst])} of "
                     "their clicks there")
        else:
            words = (f"visitors go from {path} to {worst} {as_often(o[worst] / m[worst])} as its links "
                     f"suggest ({_pct(o[worst])} of their clicks on, the model {_pct(m[worst])})")
        rows.append({"url": walk.urls[s], "clicks": total, "monthly_clicks": round(traffic.monthly(total), 1),
                     "to": worst, "observed": round(o[worst], 4), "model": round(m[worst], 4),
                     "unlinked": round(1 - clicks / total, 4) if total else 0.0,
                     "observed_shares": {c: round(o[c], 4) for c in CLASSES},
                     "model_shares": {c: round(m[c], 4) for c in CLASSES}, "words": words, "score": total * gap})
    rows.sort(key=lambda r: (-r["score"], r["url"]))
    for r in rows:
        del r["score"]
    fitted = {REGIONS[r]: observed_r[r] / e for r, e in expected_r.items() if e >= MIN_EXPECTED}
    fit = None
    if fitted:
        base = next((fitted[r] for r in ("main", "body") if fitted.get(r)), max(fitted.values()))
        if base > 0:
            fitted = {r: round(v / base, 2) for r, v in sorted(fitted.items(), key=lambda kv: REGIONS.index(kv[0]))}
            # a region that links off the site too keeps its weight when its links to pages went unclicked:
            # its clicks out (to social profiles) are not page views, so the exports cannot show them
            kept = [r for r, v in fitted.items() if r in offsite and v < 0.05]
            # (a region whose weight in use is the one fitted needs no option: --weights body=1 changes nothing)
            from analysis.metrics import check_weights
            used = check_weights(weights)
            option = {r: v for r, v in fitted.items() if r not in kept and abs(used[r] - v) >= 0.005}
            fit = {"weights": fitted, "clicks": int(sum(observed_r.values()) + 0.5),
                   "option": "--weights " + ",".join(f"{r}={v:g}" for r, v in option.items()) if option else None,
                   "kept": kept,
                   "note": "clicks out to other sites (social profiles) are not page views: the fit sees only clicks "
                           "between your pages" + (f"; {' and '.join(kept)} also link{'s' if len(kept) == 1 else ''} "
                                                   f"off the site, so {'its' if len(kept) == 1 else 'their'} weight "
                                                   "stays as it is" if kept else "")}
    return rows[:BEHAVIOUR_MAX], fit


def entry_comparison(metrics: dict, traffic: Traffic) -> list[dict]:
    """Per entry page with observed conversions: the model's chance to reach an offer against
    what the export shows (``basis``: ``reached an offer`` from sessions, the same event as the
    model's; ``converted`` from the export's conversions by entry page, a stricter one), and the
    error (model minus observed), the most visited first."""
    rows = []
    for e in metrics.get("entries") or ():
        url = e["url"]
        reached = traffic.reached.get(url)
        seen = traffic.observed.get(url)
        if reached and reached[0]:
            visits, observed, basis = reached[0], reached[1] / reached[0], "reached an offer"
        elif seen and seen["visits"] > 0:
            visits, observed, basis = seen["visits"], seen["conversions"] / seen["visits"], "converted"
        else:
            continue
        predicted = e.get("conversion")
        rows.append({"url": url, "visits": round(traffic.monthly(traffic.entries.get(url, visits)), 1),
                     "sessions": visits, "predicted": predicted, "observed": round(observed, 4), "basis": basis,
                     "error": None if predicted is None else round(predicted - observed, 4)})
    rows.sort(key=lambda r: (-r["visits"], r["url"]))
    return rows


# Plausible's built-in goals that count clicks and errors, not conversions.
NOT_CONVERSIONS = re.compile(r"^(outbound link|cloaked link|file download|404|wp search queries)\b", re.I)
# A page-view goal ("Visit /checkout/") is a conversion when its page is a step after the offer,
# not the offer itself (visiting /pricing/ is reaching an offer, which the model counts already).
CONVERSION_PAGES = re.compile(r"checkout|thank|success|confirm|sign-?up|register|subscribe|order|purchase|"
                              r"welcome|booked|download|receipt|complete", re.I)


def observed_conversions(traffic: Traffic, values: dict | None = None) -> dict | None:
    """What the exports observed (over their period): ``{"conversions", "revenue" (None when
    unknown), "goals": [(name, conversions)], "from"}``: the goals (key events, conversion
    events; only the goals ``[values]`` names when it names some; never Plausible's built-in
    click goals), else the conversions by entry page. Revenue is the export's, or a goal's
    conversions times its ``[values]`` amount (that part also as ``"valued"``, when there is
    one: no export observed it). None when the exports give no conversions.

    >>> t = Traffic([], 30, False, goals={"Signup": [140.0, None], "Visit /checkout/": [70.0, None],
    ...                                   "Outbound Link: Click": [520.0, None]})
    >>> observed_conversions(t, {"Signup": 20})
    {'conversions': 140.0, 'revenue': 2800.0, 'goals': [('Signup', 140.0)], 'from': 'goals', 'valued': 2800.0}
    >>> t.goals["Visit /pricing/"] = [1200.0, None]   # (reaching an offer, not a conversion)
    >>> observed_conversions(t)["goals"], observed_conversions(t)["revenue"]
    ([('Signup', 140.0), ('Visit /checkout/', 70.0)], None)
    """
    values = {k: v for k, v in (values or {}).items() if k not in ("currency", "default")
              and not str(k).startswith(("/", "http://", "https://"))}
    values = {str(k).casefold(): v for k, v in values.items()}
    goals = {n: g for n, g in traffic.goals.items() if not NOT_CONVERSIONS.match(n.strip())
             and not (PAGE_GOAL.match(n.strip()) and not CONVERSION_PAGES.search(n) and g[1] is None)}
    named = {n: g for n, g in goals.items() if n.casefold() in values}
    goals = named or goals
    if goals and sum(c for c, _ in goals.values()) > 0:
        revenue = None
        valued = 0.0
        for name, (conversions, rev) in goals.items():
            if rev and rev > 0 or (rev is not None and name.casefold() not in values):
                revenue = (revenue or 0.0) + rev
            elif name.casefold() in values:  # (your value of a goal the export gives no revenue for)
                worth = conversions * float(values[name.casefold()])
                revenue = (revenue or 0.0) + worth
                valued += worth
        ranked = sorted(goals.items(), key=lambda kv: (-kv[1][0], kv[0]))
        out = {"conversions": sum(c for c, _ in goals.values()), "revenue": revenue,
               "goals": [(n, c) for n, (c, _) in ranked], "from": "goals"}
        if valued > 0:
            out["valued"] = valued
        return out
    seen = [o for o in traffic.observed.values() if o["conversions"]]
    if seen:
        revenues = [o["revenue"] for o in seen if o["revenue"] is not None]
        return {"conversions": sum(o["conversions"] for o in seen), "revenue": sum(revenues) if revenues else None,
                "goals": [], "from": "entry pages"}
    return None


# -- the audit with traffic -------------------------------------------------------------------------------
def traffic_metrics(g, findings, analytics: dict, weights: dict | None = None, entry: str | None = None) -> dict:
    """The funnel metrics (:func:`analysis.metrics.funnel_metrics`) weighted by the site's real
    traffic: ``analytics`` is ``{"exports": [Export], "host": --analytics-host, "values":
    [values]}``. The entry visits replace the equal start distribution, the money per conversion
    values the offers, the action plan is priced and ranked by money (:func:`analysis.plan.priced`),
    and ``metrics["analytics"]`` says what was read, matched and compared (:func:`summary`)."""
    from analysis.metrics import funnel_metrics
    from analysis.plan import priced

    traffic = match(analytics["exports"], g, analytics.get("host"), analytics.get("period"))
    worth = conversion_values(g, traffic, analytics.get("values"), analytics.get("host"),
                              analytics.get("values_from") or "funnel.toml")
    metrics = funnel_metrics(g, findings, weights, entry, visits=traffic.entries or None, values=worth)
    site = metrics["site"]
    for url in site.pop("unvalued_offers", None) or ():
        logger.warning("warning: value of %s: the model's visitors never reach it first (they stop at the first offer page "
                       "they reach, and another comes before it): it values nothing; value that offer, or a goal",
                       _path(url))
    weighted = site.get("weighted") == "visits" and site.get("conversion") is not None
    monthly = traffic.monthly(sum(traffic.entries.get(e["url"], 0.0) for e in metrics["entries"])) if weighted else 0.0
    currency = (worth or {}).get("currency", str((analytics.get("values") or {}).get("currency", "$")))
    observed = observed_conversions(traffic, analytics.get("values"))
    reach = (site.get("conversion") or 0.0) * monthly   # visits a month the model sends to an offer
    rate = None   # observed conversions per visit reaching an offer (None: unknown, taken as every one)
    per_conversion = site.get("value_per_conversion")
    if observed and reach > 0:
        rate = min(1.0, traffic.monthly(observed["conversions"]) / reach)
        if observed["revenue"] is not None and observed["conversions"] > 0:
            per_conversion = observed["revenue"] / observed["conversions"]
            revenue_wins(analytics.get("values"), traffic, worth, observed, currency, _Mapper(g, analytics.get("host")))
    if weighted:
        metrics["fix_first"] = priced(metrics["fix_first"], monthly, per_conversion,
                                      (worth or {}).get("pages"), currency, rate)
    rows, fit = behaviour(g, traffic, weights)
    metrics["analytics"] = summary(traffic, metrics, worth, monthly, currency, rows, fit,
                                   observed=observed, rate=rate, per_conversion=per_conversion)
    return metrics


def revenue_wins(values: dict | None, traffic: Traffic, worth: dict | None, observed: dict, currency: str,
                 mapper=None) -> list:
    """The values of ``[values]`` (or ``--value``) the exports' revenue overrides, said in a
    warning: with observed revenue, the money a month and the plan are priced at the revenue
    per conversion, so ``default`` and a goal the exports give revenue for value nothing, and
    an offer page's value prices only the repair of a broken link to that page.

    >>> from analysis.graph import graph_from
    >>> home = "https://a.example/"
    >>> g = graph_from([{"url": home + p, "role": "page", "status": 200, "parsed": 1} for p in ("", "pricing/")],
    ...                [(home, home + "pricing/", "main", "other")], site=[home])
    >>> t = Traffic([], 30, False, goals={"Purchase": [50.0, 5000.0], "Lead": [9.0, None]})
    >>> o = {"conversions": 59.0, "revenue": 5000.0}
    >>> revenue_wins({"/pricing/": 300, "/gone/": 9, "Purchase": 80, "Lead": 20, "currency": "$"}, t,
    ...              {"pages": {home + "pricing/": 300.0}}, o, "$", _Mapper(g, None))
    ['/pricing/', 'Purchase']
    """
    from analysis.formats.safe import safe

    valued = set((worth or {}).get("pages") or ())
    pages = {k for k in (values or {}) if k.startswith(("/", "http://", "https://"))}
    with_revenue = {n.casefold() for n, (_, rev) in traffic.goals.items() if rev and rev > 0}
    out = []
    for key in values or {}:
        if key == "currency":
            continue
        if key in pages:
            if mapper is None or mapper.node("", key) not in valued:
                continue  # (it values no page: said already)
        elif key != "default" and key.casefold() not in with_revenue:
            continue
        out.append(key)
    if out:
        per = observed["revenue"] / observed["conversions"]

        logger.warning("warning: value of %s: the exports' revenue wins (%s for %s conversions: %s each): it prices "
                       "the money a month and the action plan%s", safe(", ".join(
                           f"{k} ({money(float(values[k]), currency)})" for k in out)),
                       money(observed["revenue"], currency), f"{observed['conversions']:,.0f}", money(per, currency),
                       "; a page's value prices only the repair of a broken link to that page"
                       if pages & set(out) else "")
    return out


def summary(traffic: Traffic, metrics: dict, worth: dict | None, monthly: float, currency: str, behaviour_rows,
            fit, observed: dict | None = None, rate: float | None = None, per_conversion: float | None = None) -> dict:
    """What the reports and ``diff`` show of the traffic (JSON-ready; kept with the crawl).
    ``monthly_conversions`` is the model's visits a month reaching an offer; ``rate`` the
    observed conversions per such visit (None: no conversions known, every one taken to convert);
    ``monthly_value`` the model's money a month at that rate."""
    site = metrics["site"]
    conversion = site.get("conversion") if monthly else None
    per_visit = site.get("value_per_visit") if monthly else None
    if per_visit is not None and rate is not None:
        per_visit = per_visit * rate
        if observed and observed["revenue"] is not None and conversion:
            per_visit = (per_conversion or 0.0) * rate * conversion
    elif per_visit is None and rate is not None and per_conversion is not None and conversion:
        per_visit = per_conversion * rate * conversion
    out = {
        "files": traffic.files,
        "period": {"start": traffic.start, "end": traffic.end, "days": round(traffic.days, 2),
                   "assumed": traffic.assumed},
        "entry_visits": round(traffic.monthly(traffic.entry_visits), 1),   # a month, every entry of the exports
        "monthly_entries": round(monthly, 1),                               # a month, on the pages the model walks
        "entry_pages": len(traffic.entries),
        "unmatched": {**traffic.unmatched, "visits": round(traffic.monthly(traffic.unmatched["visits"]), 1)},
        "currency": currency,
        "value_per_conversion": (per_conversion if rate is not None else site.get("value_per_conversion"))
        if monthly else None,
        "values_from": (worth or {}).get("source"),
        "conversion": conversion,
        "monthly_conversions": round(conversion * monthly, 1) if conversion is not None else None,
        "monthly_value": round(per_visit * monthly, 2) if per_visit is not None else None,
        "observed": None if not observed else {
            "conversions": round(observed["conversions"], 2), "revenue": None if observed["revenue"] is None
            else round(observed["revenue"], 2), "goals": [[n, c] for n, c in observed["goals"]],
            "from": observed["from"], **({"valued": round(observed["valued"], 2)} if observed.get("valued") else {})},
        "rate": None if rate is None or not monthly else round(rate, 6),
        "entries": entry_comparison(metrics, traffic),
        "behaviour": behaviour_rows,
        "fitted_weights": fit,
        "plan": [{"id": x["id"], "severity": x["severity"], "cost": x["cost"], "words": x["words"], "fix": x.get("fix"),
                  "visits": x.get("visits"), "conversions": x.get("conversions"), "money": x.get("money")}
                 for x in metrics["fix_first"] if "visits" in x][:PLAN_KEPT],
    }
    out["sentence"] = sentence(out)
    return out


def observed_words(o: dict | None, currency: str = "$") -> str:
    """The exports' own conversions and revenue, in words (raw text: the caller escapes it).

    >>> observed_words({"conversions": 210.0, "revenue": 8400.0, "goals": [["Signup", 140.0], ["Checkout", 70.0]],
    ...                 "from": "goals"})
    'Signup 140, Checkout 70, $8,400'
    >>> observed_words({"conversions": 280.0, "revenue": None, "goals": [], "from": "entry pages"})
    '280 conversions'

    Revenue worked out from your values is said as such:

    >>> observed_words({"conversions": 50.0, "revenue": 4000.0, "goals": [["Purchase", 50.0]], "valued": 4000.0})
    'Purchase 50 (worth $4,000 at your values: no export gives their revenue)'
    >>> observed_words({"conversions": 230.0, "revenue": 15600.0, "goals": [["generate_lead", 150.0],
    ...                 ["purchase", 80.0]], "valued": 6000.0})
    'generate_lead 150, purchase 80, $15,600 ($6,000 of it at your values)'
    """
    if not o:
        return ""
    parts = [f"{n} {c:,.0f}" for n, c in (o.get("goals") or [])[:4]]
    if len(o.get("goals") or ()) > 4:
        parts.append(f"{len(o['goals']) - 4} more goals")
    if not parts:
        parts = [f"{o['conversions']:,.0f} conversion{'s' if o['conversions'] != 1 else ''}"]
    valued = o.get("valued")
    if o.get("revenue") is not None and valued and valued >= o["revenue"] - 0.005:
        return ", ".join(parts) + f" (worth {money(o['revenue'], currency)} at your values: no export gives their revenue)"
    if o.get("revenue") is not None:
        parts.append(money(o["revenue"], currency)
                     + (f" ({money(valued, currency)} of it at your values)" if valued else ""))
    return ", ".join(parts)


def sentence(a: dict) -> str:
    """The traffic in one line, for the top of a report: the model's figures said as the model's,
    the exports' own conversions next to them.

    >>> a = {"monthly_entries": 12404.0, "conversion": 0.2133, "monthly_conversions": 2645.8,
    ...      "monthly_value": 52000.0, "currency": "$", "unmatched": {"rows": 3, "visits": 310.0},
    ...      "entry_pages": 35, "period": {"assumed": False}}
    >>> sentence(a)
    'of your ~12,400 monthly entries (on 35 pages), the model sends 21% to an offer: ~2,650 visits a month reach one, worth about $52,000 a month if every one converts (the exports give no conversions); 3 rows (~310 entries a month) match no page the crawl read'
    >>> sentence({**a, "unmatched": {"rows": 0}, "rate": 0.02, "monthly_value": 1040.0,
    ...           "observed": {"conversions": 52.0, "revenue": 1040.0, "goals": [["Signup", 52.0]]}})
    'of your ~12,400 monthly entries (on 35 pages), the model sends 21% to an offer: ~2,650 visits a month reach one; observed: Signup 52, $1,040, so 2.0% of the visits reaching an offer convert: worth about $1,040 a month'
    """
    if not a.get("monthly_entries"):
        if not a["unmatched"]["rows"]:
            return "the exports count no entries (no entry pages or sessions): the funnel metrics keep equal entry weights"
        return (f"no entry page of the analytics exports matches a page the crawl read "
                f"({a['unmatched']['rows']} row{'s' if a['unmatched']['rows'] != 1 else ''} unmatched): the funnel "
                "metrics keep equal entry weights")
    text = (f"of your {about(a['monthly_entries'])} monthly entries (on {a['entry_pages']} "
            f"page{'s' if a['entry_pages'] != 1 else ''}), the model sends {_pct(a['conversion'] or 0)} to an offer: "
            f"{about(a['monthly_conversions'] or 0)} visits a month reach one")
    rate = a.get("rate")
    if rate is not None and a.get("observed"):
        days = (a.get("period") or {}).get("days")
        over = (f" in {days:g} days" if days and not a["period"].get("assumed")
                else "")  # (the exports' own counts, beside figures a month)
        text += f"; observed{over}: {observed_words(a['observed'], a['currency'])}, "
        text += (f"so {100 * rate:.1f}% of the visits reaching an offer convert" if rate < 1 else
                 "as many as or more than the model's visits reaching an offer (the model undercounts them), "
                 "taken as every one converting")
        if a.get("monthly_value") is not None:
            text += f": worth about {money(a['monthly_value'], a['currency'])} a month"
    elif a.get("monthly_value") is not None:
        text += (f", worth about {money(a['monthly_value'], a['currency'])} a month if every one converts (the "
                 "exports give no conversions)")
    rows = a["unmatched"]["rows"]
    if rows:
        unit = "session" if a["unmatched"].get("sessions") == rows else "row"
        lost = a["unmatched"]["visits"]
        entries = f"{about(lost)} {'entry' if 0.5 <= lost < 1.5 else 'entries'} a month"
        text += (f"; {rows:,} {unit}{'s' if rows != 1 else ''} ({entries}) "
                 f"start{'s' if rows == 1 else ''} on no page the crawl read" if unit == "session" else
                 f"; {rows:,} row{'s' if rows != 1 else ''} ({entries}) "
                 f"match{'es' if rows == 1 else ''} no page the crawl read")
    if a["period"].get("assumed"):
        text += " (the exports do not say their period: taken as one month)"
    return text


def parse_period(text: str | None) -> dict | None:
    """``--analytics-period``: a number of days or ``FROM:TO`` (ISO dates, both days counted).

    >>> parse_period("30"), parse_period("2024-11-01:2024-11-30")
    ({'days': 30.0, 'start': None, 'end': None}, {'days': 30.0, 'start': '2024-11-01', 'end': '2024-11-30'})
    >>> parse_period("last month")
    Traceback (most recent call last):
    analysis.analytics.AnalyticsError: --analytics-period 'last month': give a number of days (30) or FROM:TO (2024-11-01:2024-11-30)
    """
    if text is None or not str(text).strip():
        return None
    raw = str(text).strip()
    wrong = AnalyticsError(f"--analytics-period {raw!r}: give a number of days (30) or FROM:TO (2024-11-01:2024-11-30)")
    if ":" in raw:
        a, _, b = raw.partition(":")
        try:
            start, end = date.fromisoformat(a.strip()), date.fromisoformat(b.strip())
        except ValueError:
            raise wrong from None
        if end < start:
            raise AnalyticsError(f"--analytics-period {raw!r}: the period ends before it starts")
        return {"days": float((end - start).days + 1), "start": start.isoformat(), "end": end.isoformat()}
    try:
        days = float(raw)
    except ValueError:
        raise wrong from None
    if not math.isfinite(days) or not 1 <= days <= 3660:
        raise AnalyticsError(f"--analytics-period {raw!r}: a number of days from 1 to 3660")
    return {"days": days, "start": None, "end": None}


def check_host(host: str | None) -> str | None:
    """``--analytics-host``: a host name or a URL naming one.

    >>> check_host("acme.example"), check_host("https://blog.acme.example/")
    ('acme.example', 'https://blog.acme.example/')
    >>> check_host("my site")
    Traceback (most recent call last):
    analysis.analytics.AnalyticsError: --analytics-host 'my site': not a host name (acme.example or https://acme.example/)
    """
    if host is None:
        return None
    name = _host_of(host)
    if not name or not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*", name) or (
            " " in host.strip()):
        raise AnalyticsError(f"--analytics-host {host!r}: not a host name (acme.example or https://acme.example/)")
    return host


def load(paths, host: str | None = None, values: dict | None = None, period: str | None = None,
         values_from: str | None = None) -> dict | None:
    """``--analytics FILE...``, read and checked before anything is crawled (None without files):
    the ``analytics`` argument of :func:`traffic_metrics`. ``values_from``: where ``values`` come
    from, in words (funnel.toml, --value)."""
    check_host(host)
    if not paths:
        if period:
            parse_period(period)
        return None
    goals = [k for k in (values or {}) if not k.startswith(("/", "http://", "https://")) and k not in
             ("currency", "default")]
    return {"exports": read_exports(paths, goals), "host": host, "values": values, "period": parse_period(period),
            "values_from": values_from}


def _files(a: dict) -> str:
    names = ", ".join(f["name"] for f in a.get("files") or ())
    period = a.get("period") or {}
    if period.get("start") and period.get("end"):
        names += f"; {period['start']} to {period['end']}"
    return names


def kept_line(kept: dict | None) -> str | None:
    """The traffic summary an earlier audit with ``--analytics`` kept with the crawl
    (:meth:`crawler.store.Store.analytics`), in one line, for a report run without the exports.

    >>> kept_line({"files": [{"name": "e.csv"}], "period_start": "2024-11-01", "period_end": "2024-11-30",
    ...            "monthly_entries": 12580.8, "conversion": 0.461, "monthly_conversions": 5800.1,
    ...            "monthly_value": 6087.5, "currency": "$", "value_per_conversion": 120.0})
    'Traffic (kept with the audit of this crawl: e.csv; 2024-11-01 to 2024-11-30): of ~12,600 monthly entries, the model sent 46% to an offer (~5,800 visits a month), worth about $6,090 a month (at the 0.9% of them the exports saw convert); give --analytics again to weight this report by it'

    Without conversions in the exports the money took every visit reaching an offer to convert:

    >>> kept_line({"files": [{"name": "e.csv"}], "monthly_entries": 1500.0, "conversion": 0.236, "monthly_conversions":
    ...            354.2, "monthly_value": 35420.0, "currency": "$", "value_per_conversion": 100.0,
    ...            "period_assumed": True}).split("worth ")[1]
    'about $35,400 a month if every one converts (the exports did not say their period: taken as one month); give --analytics again to weight this report by it'
    """
    if not kept or not kept.get("monthly_entries"):
        return None
    names = ", ".join(f.get("name", "") for f in kept.get("files") or ())
    if kept.get("period_start") and kept.get("period_end"):
        names += f"; {kept['period_start']} to {kept['period_end']}"
    text = (f"Traffic (kept with the audit of this crawl: {names}): of {about(kept['monthly_entries'])} monthly "
            f"entries, the model sent {_pct(kept.get('conversion') or 0)} to an offer "
            f"({about(kept.get('monthly_conversions') or 0)} visits a month)")
    if kept.get("monthly_value") is not None:
        text += f", worth about {money(kept['monthly_value'], kept.get('currency') or '$')} a month"
        per, reach = kept.get("value_per_conversion"), kept.get("monthly_conversions")
        if per and reach:  # (the rate the audit priced them at: 1 when the exports gave no conversions)
            rate = kept["monthly_value"] / (per * reach)
            text += (" if every one converts" if abs(rate - 1) <= 0.005 else
                     f" (at the {100 * rate:.1f}% of them the exports saw convert)")
    if kept.get("period_assumed"):
        text += " (the exports did not say their period: taken as one month)"
    return text + "; give --analytics again to weight this report by it"


def traffic_lines(a: dict | None, n: int = 3) -> list[tuple[str, list[str]]]:
    """The traffic block of a text report: ``(heading line, [detail lines])`` in words (raw
    text: the caller escapes it), the first ``n`` rows of each comparison.

    >>> a = {"files": [{"name": "e.csv"}], "period": {"start": "2024-11-01", "end": "2024-11-30", "assumed": False},
    ...      "monthly_entries": 400.0, "entry_pages": 2, "conversion": 0.25, "monthly_conversions": 100.0,
    ...      "monthly_value": 5000.0, "currency": "$", "unmatched": {"rows": 1, "visits": 7.0, "examples": ["/gone/"]},
    ...      "entries": [{"url": "https://a.example/", "visits": 300.0, "predicted": 0.3, "observed": 0.1,
    ...                   "basis": "converted", "error": 0.2}], "behaviour": [], "fitted_weights": None}
    >>> for head, rest in traffic_lines(a): print(head); print(rest)
    Traffic (e.csv; 2024-11-01 to 2024-11-30): of your ~400 monthly entries (on 2 pages), the model sends 25% to an offer: ~100 visits a month reach one, worth about $5,000 a month if every one converts (the exports give no conversions); 1 row (~7 entries a month) matches no page the crawl read
    ['not matched: /gone/']
    Model vs reality (the model's chance to reach an offer, against the export's):
    ['/ (~300 entries a month): model 30%, observed 10% converted']
    """
    if not a:
        return []
    if a.get("kept"):
        return [(a["kept"], [])]
    out = [(f"Traffic ({_files(a)}): {a['sentence'] if 'sentence' in a else sentence(a)}",
            [f"not matched: {', '.join(_short(x) for x in a['unmatched']['examples'])}"]
            if a["unmatched"].get("examples") else [])]
    if a.get("entries"):
        out.append(("Model vs reality (the model's chance to reach an offer, against the export's):",
                    [f"{_path(e['url'])} ({about(e['visits'])} entries a month): model "
                     f"{_pct(e['predicted'] or 0)}, observed {_pct(e['observed'])} {e['basis']}"
                     + (f" (of {e['sessions']:,.0f} session{'s' if e['sessions'] != 1 else ''} in the event rows)"
                        if e["basis"] == "reached an offer" else "")
                     for e in a["entries"][:n]]))
    if a.get("behaviour"):
        out.append(("Real clicks against the model:", [r["words"] for r in a["behaviour"][:n]]))
    fit = a.get("fitted_weights")
    if fit:
        shown = ", ".join(f"{r} {v:g}" for r, v in fit["weights"].items())
        tried = f" (try {fit['option']})" if fit.get("option") else ""
        out.append((f"Link weights the real clicks fit ({fit['clicks']:,} clicks): {shown}{tried}",
                    [fit["note"]] if fit.get("note") else []))
    return out
