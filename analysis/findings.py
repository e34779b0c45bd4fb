"""A finding: one thing to fix, with where it stands and how bad it is."""
from __future__ import annotations

import hashlib
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
        text = "\x1f".join((self.rule, self.target, self.region or "", kind))
        return "fc-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    def as_dict(self) -> dict:
        return {"id": self.id, "rule": self.rule, "severity": self.severity, "target": self.target,
                "region": self.region, "sources": self.sources, "count": self.count, "message": self.message,
                "locations": [loc.as_dict() if isinstance(loc, Location) else loc for loc in self.locations],
                "detail": self.detail}

    def sort_key(self):
        """Most important first: the worst severity, then the most pages."""
        return (RANK[self.severity], -self.count, self.rule, self.target, self.region or "")
