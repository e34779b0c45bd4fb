"""A finding: one thing to fix, with where it stands and how bad it is."""
from __future__ import annotations

import hashlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

SEVERITIES = ("high", "medium", "low", "info")
RANK = {s: i for i, s in enumerate(SEVERITIES)}


def at_or_above(severity: str, threshold: str) -> bool:
    """Is ``severity`` at least as bad as ``threshold`` ('never' matches nothing)?

    >>> at_or_above("high", "medium"), at_or_above("low", "medium"), at_or_above("high", "never")
    (True, False, False)
    """
    if threshold in ("never", "none"):
        return False
    return RANK[severity] <= RANK[threshold]


def worst(severities) -> str:
    """The most severe of several severities.

    >>> worst(["low", "high", "medium"])
    'high'
    """
    return min(severities, key=RANK.__getitem__)


class Location(tuple):
    """Where a finding stands: ``(url, line)``, read as ``loc["url"]`` and ``loc["line"]`` too.
    A tuple, not a dict: a finding on every page of a 100,000-page site holds 100,000 of them.

    >>> loc = Location("https://a.example/", 3); loc["url"], loc["line"], loc.get("line"), loc.as_dict()
    ('https://a.example/', 3, 3, {'url': 'https://a.example/', 'line': 3})
    """
    __slots__ = ()
    _FIELDS = {"url": 0, "line": 1}

    def __new__(cls, url: str, line: int | None):
        return tuple.__new__(cls, (url, line))

    def __getitem__(self, key):
        return tuple.__getitem__(self, self._FIELDS[key] if isinstance(key, str) else key)

    def get(self, key, default=None):
        return self[key] if key in self._FIELDS else default

    def as_dict(self) -> dict:
        return {"url": self[0], "line": self[1]}

    def __getnewargs__(self):  # (pickled as its two values: see analysis.parking)
        return tuple(self)


class Locations(Sequence):
    """The locations of a finding as two compact columns (page URLs, line numbers) rather than
    a tuple each: a footer icon on 100,000 pages costs 12 bytes a page, not 64. Reads as a
    list of :class:`Location`.

    >>> locs = Locations(); locs.append("https://a.example/b", 7); locs.append("https://a.example/a", None)
    >>> locs.sort(); list(locs), locs[0]["url"], len(locs)
    ([('https://a.example/a', None), ('https://a.example/b', 7)], 'https://a.example/a', 2)
    """
    __slots__ = ("urls", "lines")

    def __init__(self):
        self.urls: list[str] = []
        self.lines = array("i")  # 0: no line known

    def append(self, url: str, line: int | None = None) -> None:
        self.urls.append(url)
        self.lines.append(line or 0)

    def __len__(self) -> int:
        return len(self.urls)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return Location(self.urls[i], self.lines[i] or None)

    def __iter__(self):
        for url, line in zip(self.urls, self.lines):
            yield Location(url, line or None)

    def sort(self, key=None) -> None:
        """In page order, then line order (``key`` is accepted for list's sake and ignored)."""
        order = sorted(range(len(self.urls)), key=lambda i: (self.urls[i], self.lines[i]))
        self.urls = [self.urls[i] for i in order]
        self.lines = array("i", (self.lines[i] for i in order))

    def __eq__(self, other) -> bool:
        return list(self) == list(other)

    def __repr__(self) -> str:
        return repr(list(self))


@dataclass
class Finding:
    rule: str
    severity: str
    target: str
    message: str
    region: str | None = None
    sources: list[str] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)  # where it was found, page by page
    detail: dict = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.sources)

    @property
    def id(self) -> str:
        """A stable fingerprint of what the finding is about (rule, target, region, kind): the
        same finding has the same id in every crawl, whatever its pages or message.

        >>> Finding("broken-link", "high", "https://a.example/x", "m").id
        'fc-7a618ae631f2'
        """
        kind = self.detail.get("kind", "") if isinstance(self.detail, dict) else ""
        whose = self.detail.get("profile", "") if isinstance(self.detail, dict) else ""
        # (whose: untracked-inbound's profile, so two profiles linking the same page are two ids)
        text = "\x1f".join((self.rule, self.target, self.region or "", kind) + ((whose,) if whose else ()))
        return "fc-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    def as_dict(self) -> dict:
        return {"id": self.id, "rule": self.rule, "severity": self.severity, "target": self.target,
                "region": self.region, "sources": self.sources, "count": self.count, "message": self.message,
                "locations": [loc.as_dict() if isinstance(loc, Location) else loc for loc in self.locations],
                "detail": self.detail}

    def record(self) -> dict:
        """What the store keeps of a finding (:meth:`crawler.store.Store.save_findings`): the
        :meth:`as_dict` fields but its pages and locations, which the crawl's links already hold
        (as_dict of a footer icon on 100,000 pages builds 100,000 location dicts)."""
        return {"id": self.id, "rule": self.rule, "severity": self.severity, "target": self.target,
                "region": self.region, "count": self.count, "message": self.message, "detail": self.detail}

    def sort_key(self):
        """Most important first: the worst severity, then the most pages."""
        return (RANK[self.severity], -self.count, self.rule, self.target, self.region or "")
