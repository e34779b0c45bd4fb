"""The options a crawl runs with: one typed object, stored with the crawl as JSON.

:mod:`crawler.config` turns defaults, ``funnel.toml`` and the command line into validated
options; :meth:`CrawlOptions.from_validated` keeps those a crawl needs, and that object is
what ``crawls.options`` holds (:meth:`to_json`), what the crawl process and every report read
back (:meth:`from_json`, tolerant of stores written before a field existed).
"""
from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields, replace

from crawler.scope import Scope


@dataclass(frozen=True)
class CrawlOptions:
    """What one crawl was told.

    >>> o = CrawlOptions(site=("https://a.example/",), max_pages=50)
    >>> CrawlOptions.from_json(o.to_json()) == o, o.to_json()["max_pages"], CrawlOptions.from_json({"depth": 2}).depth
    (True, 50, 2)
    """
    site: tuple[str, ...] = ()
    blog: tuple[str, ...] = ()
    social: tuple[str, ...] = ()
    conversion: tuple[str, ...] = ()
    remap: tuple[str, ...] = ()
    max_pages: int = 10000              # 0: no limit
    depth: int | None = None
    max_time_seconds: float | None = None
    check_external: bool = True
    check_social: bool = True
    sitemaps: bool = True
    cache_age_seconds: float = 86400.0
    insecure: bool = False
    ignore_robots: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    exclude_path: tuple[str, ...] = ()
    accept: tuple[int, ...] = ()
    timeout: float = 20
    max_size: float = 10                # MiB, after decompression
    allow_private: tuple[str, ...] = ()  # networks a crawl may reach besides its targets' addresses
    concurrency: int = 8
    user_agent: str | None = None
    render: str = "never"               # --render: auto (the CLI's default), always, never; a crawl stored
                                        # before --render existed read its pages as served (crawler.render)
    chromium: str | None = None         # the Chromium that renders (found when the audit started), None: none
    # [profiles] in funnel.toml: {profile URL: {"links": [...], "checked": "YYYY-MM-DD"}}, what the
    # user states a profile funnelcheck cannot read links to (crawler.config.check_profiles)
    profiles: dict = field(default_factory=dict, compare=False)
    # where directory targets are: the folder (a resume serves it again) and its local address
    directories: dict = field(default_factory=dict, compare=False)
    mounts: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_validated(cls, options: dict, site: list[str], directories: dict | None = None) -> "CrawlOptions":
        """From :func:`crawler.config.validate`'s output (``site``: the owned prefixes, defaulted).

        How the crawl runs (``workers``, ``redis``) is not what it is: left out, so a resume with
        other ``--workers`` continues the same crawl, and comparisons of crawls ignore them.

        >>> given = {"max_pages": 5, "workers": 4, "redis": "redis://10.0.0.5:6379/0"}
        >>> o = CrawlOptions.from_validated(given, ["https://a.example/"])
        >>> o == CrawlOptions.from_validated({**given, "workers": 1, "redis": None}, ["https://a.example/"])
        True
        >>> "workers" in o.to_json() or "redis" in o.to_json()
        False
        """
        values = {f.name: options[f.name] for f in fields(cls) if f.name in options}
        values.update(site=site, directories=directories or {})
        return cls.from_json(values)

    @classmethod
    def from_json(cls, data: dict) -> "CrawlOptions":
        """From ``crawls.options`` (unknown keys ignored: a newer field's absence is its default)."""
        values = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if value is None and f.default not in (None, MISSING):
                continue  # a null where there is a default: the default
            values[f.name] = tuple(value) if isinstance(value, list) else value
        return cls(**values)

    def to_json(self) -> dict:
        out = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    def scope(self) -> Scope:
        return Scope(site=self.site, blog=self.blog, social=self.social, conversion=self.conversion)

    def with_mounts(self, mounts: dict) -> "CrawlOptions":
        return replace(self, mounts=dict(mounts))
