"""The funnel metrics' per-page results as columns: :class:`EntryRows` (``metrics["entries"]``,
a row per entry page) and :class:`LinkScores` (``metrics["link_score"]``, page URL -> score).

A million-page crawl has ~800,000 entry pages: a dict per entry page held ~300 MiB and the
link scores' dict of a million URLs ~100 MiB more, beside the graph. Here they are numpy
columns (a few bytes a page) indexed by the page numbers of the walk's sorted URLs, read through
views that read like what they replace: a read-only ``Sequence`` of dicts built on demand (the
same keys, in the same order, the same rounded floats as :func:`analysis.metrics.funnel_metrics`
built them) and a read-only ``Mapping`` URL -> score (looked up by bisection on the sorted URLs).
:func:`analysis.formats.json.write_json` streams both, byte for byte what ``json.dump`` wrote of
the list and the dict.

>>> import numpy as np
>>> urls = ["https://a.example/", "https://a.example/blog/", "https://a.example/pricing/"]
>>> rows = EntryRows(urls, ["site", "blog", "site"], np.array([0, 1]), np.array([[0.61, 0.2, 0.0, 0.19],
...     [0.123456789, 0.5, 0.0, 0.376543211]]), np.array([1.5, np.nan]), np.array([1, -1]))
>>> len(rows), rows[0]["conversion"], rows[-1]["clicks_to_conversion"], rows[1]["conversion_depth"]
(2, 0.61, None, None)
>>> rows[1]
{'url': 'https://a.example/blog/', 'tier': 'blog', 'conversion': 0.123457, 'social_leak': 0.5, 'external': 0.0, 'exit': 0.376543, 'clicks_to_conversion': None, 'conversion_depth': None}
>>> [e["url"] for e in rows] == urls[:2] and rows == list(rows) and rows[:1] == [rows[0]]
True
>>> by_url(rows, "conversion").get("https://a.example/blog/"), by_url(rows).get("https://a.example/pricing/")
(0.123457, None)
>>> scores = LinkScores(urls, np.array([100.0, 0.0, 65.1]))
>>> scores["https://a.example/pricing/"], len(scores), scores == {urls[0]: 100.0, urls[1]: 0.0, urls[2]: 65.1}
(65.1, 3, True)
>>> "https://a.example/contact/" in scores, scores.get("https://a.example/contact/")
(False, None)
"""
from __future__ import annotations

import bisect
import operator
from collections.abc import ItemsView, Mapping, Sequence, ValuesView
from itertools import islice

import numpy as np

from analysis.metrics import ENDS, _number

CHUNK = 4096  # rows built at a time when iterating (a column's slice .tolist()'d at once)


def _find(urls: list[str], url) -> int:
    """The position of ``url`` in the sorted ``urls``; -1 if absent."""
    if not isinstance(url, str):
        return -1
    i = bisect.bisect_left(urls, url)
    return i if i < len(urls) and urls[i] == url else -1


class EntryRows(Sequence):
    """The per-entry rows of the funnel metrics, one per entry page (sorted by URL), each read as
    the dict ``{"url", "tier", "conversion", "social_leak", "external", "exit",
    "clicks_to_conversion", "conversion_depth"}`` (and ``"share"`` when given: the walks are
    weighted by visits), built when asked for and not kept.

    ``urls`` and ``tiers``: the walk's pages (``urls`` sorted); ``pages``: the entry pages'
    numbers in them, ascending; ``ends``: per entry page its four end probabilities (columns in
    :data:`ENDS` order); ``clicks``: clicks to a conversion (nan: none); ``depth``: clicks to the
    nearest conversion (< 0: none); ``share``: each entry's share of the walks, or None. The
    floats are rounded when read (:data:`analysis.metrics.DIGITS` decimals: :func:`analysis.metrics._number`; None for nan), as they were when stored as
    dicts. A slice gives a list of dicts; ``==`` compares with any sequence of dicts.
    """

    __slots__ = ("_clicks", "_depth", "_ends", "_pages", "_share", "_tier_codes", "_tier_names", "_urls")

    def __init__(self, urls: list[str], tiers: list[str], pages: np.ndarray, ends: np.ndarray,
                 clicks: np.ndarray, depth: np.ndarray, share: np.ndarray | None = None):
        pages = np.asarray(pages, np.int64)
        self._urls = urls  # (the walk's list: no string copied)
        self._pages = pages.astype(np.int32) if len(urls) < 2 ** 31 else pages
        # a tier as a byte per entry page, not a pointer (8 bytes) per page
        names: dict[str, int] = {}
        codes = [names.setdefault(tiers[i], len(names)) for i in pages.tolist()]
        self._tier_names = tuple(names)
        self._tier_codes = np.array(codes, np.uint8 if len(names) < 256 else np.int32)
        ends = np.asarray(ends, float).reshape(len(pages), len(ENDS))
        self._ends = [np.ascontiguousarray(ends[:, k]) for k in range(len(ENDS))]
        self._clicks = np.asarray(clicks, float)
        self._depth = np.asarray(depth).astype(np.int32)
        self._share = None if share is None else np.asarray(share, float)

    def __len__(self) -> int:
        return len(self._pages)

    def _rows(self, start: int, stop: int) -> list[dict]:
        """The dicts of rows ``start`` to ``stop`` (the columns' slices read into Python at once)."""
        at = slice(start, stop)
        urls, names = self._urls, self._tier_names
        columns = [[_number(v) for v in col[at].tolist()] for col in (*self._ends, self._clicks)]
        depths = [d if d >= 0 else None for d in self._depth[at].tolist()]
        rows = [{"url": urls[i], "tier": names[t], "conversion": c, "social_leak": s, "external": x, "exit": e,
                 "clicks_to_conversion": k, "conversion_depth": d}
                for i, t, c, s, x, e, k, d in zip(self._pages[at].tolist(), self._tier_codes[at].tolist(),
                                                  *columns, depths)]
        if self._share is not None:
            for row, part in zip(rows, self._share[at].tolist()):
                row["share"] = _number(part)
        return rows

    def __getitem__(self, at):
        if isinstance(at, slice):
            start, stop, step = at.indices(len(self))
            if step == 1:
                return self._rows(start, max(start, stop))
            return [self[i] for i in range(start, stop, step)]
        i = operator.index(at)  # (an int or a numpy integer; anything else raises as a list's index would)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("entry row index out of range")
        return self._rows(i, i + 1)[0]

    def __iter__(self):
        for start in range(0, len(self), CHUNK):
            yield from self._rows(start, min(start + CHUNK, len(self)))

    def __eq__(self, other) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # (mutable-looking like a list: unhashable)

    def __repr__(self) -> str:
        return f"<EntryRows: {len(self)} entry pages>"

    def column(self, key: str) -> list:
        """One key's value of every row, in row order (no dict built per row).

        >>> rows = EntryRows(["a", "b"], ["blog", "site"], [0, 1], [[1, 0, 0, 0], [0, 0, 0, 1]], [0, np.nan], [0, -1])
        >>> rows.column("tier"), rows.column("conversion_depth")
        (['blog', 'site'], [0, None])
        """
        if key == "url":
            return [self._urls[i] for i in self._pages.tolist()]
        if key == "tier":
            return [self._tier_names[t] for t in self._tier_codes.tolist()]
        if key == "conversion_depth":
            return [d if d >= 0 else None for d in self._depth.tolist()]
        if key in ENDS:
            return [_number(v) for v in self._ends[ENDS.index(key)].tolist()]
        if key == "clicks_to_conversion":
            return [_number(v) for v in self._clicks.tolist()]
        if key == "share" and self._share is not None:
            return [_number(v) for v in self._share.tolist()]
        raise KeyError(key)

    def position(self, url) -> int:
        """The row of entry page ``url`` (bisection: the rows are in URL order); -1 if it is none."""
        page = _find(self._urls, url)
        if page < 0:
            return -1
        i = int(np.searchsorted(self._pages, page))
        return i if i < len(self._pages) and self._pages[i] == page else -1


class _ByUrl(Mapping):
    """Entry page URL -> its row of an :class:`EntryRows` (or one key of it)."""

    __slots__ = ("_key", "_rows")

    def __init__(self, rows: EntryRows, key: str | None):
        self._rows, self._key = rows, key

    def __getitem__(self, url):
        i = self._rows.position(url)
        if i < 0:
            raise KeyError(url)
        row = self._rows[i]
        return row if self._key is None else row.get(self._key)

    def __iter__(self):
        return iter(self._rows.column("url"))

    def __len__(self) -> int:
        return len(self._rows)


def by_url(entries: Sequence[dict], key: str | None = None) -> Mapping:
    """Entry page URL -> its row (or the row's ``key``) of ``entries``: of a list of dicts, a
    dict; of an :class:`EntryRows`, a lookup on its columns (no dict of every entry page)."""
    if isinstance(entries, EntryRows):
        return _ByUrl(entries, key)
    return {e["url"]: (e if key is None else e.get(key)) for e in entries}


class _Items(ItemsView):
    def __iter__(self):
        return self._mapping._items()


class _Values(ValuesView):
    def __iter__(self):
        return (v for _, v in self._mapping._items())


class LinkScores(Mapping):
    """Page URL -> link score (``metrics["link_score"]``): every walked page, in the walk's URL
    order; ``scores`` already rounded (a float per page in a numpy array, not a dict entry and a
    float object). A lookup bisects the sorted ``urls``; ``items()`` and ``values()`` read the
    array in order (no lookup per page)."""

    __slots__ = ("_scores", "_urls")

    def __init__(self, urls: list[str], scores: np.ndarray):
        self._urls = urls
        self._scores = np.asarray(scores, float)

    def __getitem__(self, url) -> float:
        i = _find(self._urls, url)
        if i < 0:
            raise KeyError(url)
        return float(self._scores[i])

    def __iter__(self):
        return islice(self._urls, len(self))

    def __len__(self) -> int:
        return min(len(self._urls), len(self._scores))

    def _items(self):
        for start in range(0, len(self), CHUNK):
            yield from zip(self._urls[start:start + CHUNK], self._scores[start:start + CHUNK].tolist())

    def items(self) -> ItemsView:
        return _Items(self)

    def values(self) -> ValuesView:
        return _Values(self)

    def __repr__(self) -> str:
        return f"<LinkScores: {len(self)} pages>"
