"""CSV, one row per finding, for a spreadsheet or a script.

Columns (:data:`COLUMNS`): ``id`` (the stable finding id), ``rule``, ``severity``,
``target``, ``region``, ``kind``, ``count`` (pages the finding stands on), ``message``,
``pages`` (the first :data:`PAGES` of them, ``URL:LINE`` or ``URL`` when the line is not
known, separated by spaces), ``fix``. RFC 4180 (comma, CRLF, quotes where needed).

Cells are made safe to open in Excel, LibreOffice or Google Sheets (:func:`cell`):
control characters are written as escapes (``\\x1b``), so every row is one line, and a
cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR, which a spreadsheet would run as
a formula, gets a leading ``'`` (OWASP's advice on CSV injection).
"""
from __future__ import annotations

import csv
from typing import TextIO

from analysis.formats.safe import safe
from analysis.formats.sarif import first_locations, fix_of

COLUMNS = ("id", "rule", "severity", "target", "region", "kind", "count", "message", "pages", "fix")
PAGES = 10
# A formula starts with one of these (OWASP's list, and the fullwidth forms some spreadsheets read
# as ASCII). A tab or CR never gets this far: safe() has escaped it first.
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def cell(value):
    """``value`` as a CSV cell: None is empty, numbers stay numbers, text is escaped and
    defused.

    >>> cell('=HYPERLINK("http://evil.example","x")'), cell("@SUM(1)"), cell("-1+2"), cell("+x")
    ('\\'=HYPERLINK("http://evil.example","x")', "'@SUM(1)", "'-1+2", "'+x")
    >>> cell("\\t=1"), cell("a\\r\\nb"), cell(" =1"), cell(None), cell(3), cell("https://a.example/")
    ('\\\\x09=1', 'a\\\\x0d\\\\x0ab', "' =1", '', 3, 'https://a.example/')
    """
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return value
    text = safe(value)
    return "'" + text if text.lstrip(" ").startswith(_FORMULA) else text


def writer(out: TextIO):
    """A :func:`csv.writer` on ``out``, RFC 4180: comma, CRLF, quoting when needed."""
    return csv.writer(out, lineterminator="\r\n")


def _pages(f) -> str:
    return " ".join(f"{url}:{line}" if line else url for url, line in first_locations(f, PAGES))


def write(audit, out: TextIO) -> None:
    """Write ``audit``'s findings to ``out``, one CSV row each, after a header row."""
    w = writer(out)
    w.writerow(COLUMNS)
    for f in audit.findings:
        kind = f.detail.get("kind") if isinstance(f.detail, dict) else None
        row = (f.id, f.rule, f.severity, f.target, f.region, kind, f.count, f.message, _pages(f), fix_of(f))
        w.writerow([cell(v) for v in row])
