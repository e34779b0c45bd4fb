"""Audit options: defaults, ``funnel.toml``, the command line, validated once.

The resolved options are stored with the crawl (``crawls.options``) so any
report can be rebuilt from the store alone, and the crawl process reads them
from there.
"""
from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from crawler.scope import _host, _strip_www
from crawler.urls import RemapRule, URLError, normalize, origin, redact_argument

DEFAULTS: dict = {
    "targets": [],
    "base_url": [],
    "site": [],
    "blog": [],
    "social": [],
    "conversion": [],
    "remap": [],
    "max_pages": 10000,
    "depth": None,
    "max_time": None,
    "check_external": True,
    "check_social": True,
    "sitemaps": True,
    "cache_age": "1d",
    "insecure": False,
    "ignore_robots": False,
    "include": [],
    "exclude": [],
    "exclude_path": [],
    "accept": [],
    "timeout": 20,
    "max_size": 10,   # MiB a response may have, counted after decompression
    "allow_private": [],
    "concurrency": 8,
    "user_agent": None,
    "render": "auto",   # --render: auto, always, never (FUNNELCHECK_RENDER changes the default)
    "chromium": None,   # --chromium PATH (default: chromium on PATH)
    "fail_on": "high",
    "format": "terminal",
    "db": None,
    "output": None,
    "email": None,   # the [email] table (SMTP settings of --email-diff): checked by analysis.mail
    # the site's analytics exports and what a conversion is worth (read by analysis.analytics; never
    # stored with the crawl: they say how it is reported, not what was crawled)
    "analytics": [],         # export files (relative to funnel.toml)
    "analytics_host": None,  # the host a bare path of the exports belongs to (default: the site's)
    "values": None,          # the [values] table: offer path or URL, or goal name -> money per conversion
    "profiles": None,  # the [profiles] table: what the user states a profile funnelcheck cannot read links to
    # how the crawl runs, not what it is (never stored with the crawl: a resume may use others)
    "workers": 1,    # crawl processes on this machine; 1 without redis: one process, no Redis
    "redis": None,   # URL of the Redis the workers share (default: a private redis-server when workers > 1)
}
LISTS = {k for k, v in DEFAULTS.items() if isinstance(v, list)}
# The type each key takes in funnel.toml (lists hold strings; "targets" too).
TYPES = {**{k: list for k in LISTS}, **{k: bool for k, v in DEFAULTS.items() if isinstance(v, bool)},
         "max_pages": int, "depth": int, "timeout": (int, float), "max_size": (int, float), "concurrency": int, "cache_age": (str, int), "max_time": (str, int),
         "user_agent": str, "render": str, "chromium": str, "fail_on": str, "format": str, "db": str, "output": str, "accept": list, "email": dict,
         "workers": int, "redis": str, "analytics_host": str, "values": dict, "profiles": dict}
TYPE_NAMES = {list: "a list of strings", bool: "true or false", int: "a whole number", str: "a string",
              dict: "a table ([email], [values], [profiles])"}
FAIL_LEVELS = ("high", "medium", "low", "info", "never")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def has_html(directory: str) -> bool:
    """Does ``directory`` (or a folder in it) hold an HTML page?"""
    for _, _, files in os.walk(directory):
        if any(f.lower().endswith((".html", ".htm")) for f in files):
            return True
    return False


class ConfigError(ValueError):
    """A bad option value or configuration file (exit code 2)."""


def parse_duration(text) -> float:
    """Seconds in ``30s``, ``15m``, ``12h``, ``1d``, ``2w`` (a bare number is seconds).

    >>> parse_duration("1d"), parse_duration("90")
    (86400.0, 90.0)
    """
    m = _DURATION.match(str(text))
    if not m:
        raise ConfigError(f"bad duration {text!r} (use e.g. 30s, 15m, 12h, 1d)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]


def load_config(path: str | os.PathLike) -> dict:
    """Read a ``funnel.toml``: keys are the long option names with ``_`` for ``-``.

    Relative directory targets are resolved against the file's directory.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"{path}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    for key, value in data.items():
        expected = TYPES[key]
        if key in LISTS and isinstance(value, (str, int)) and not isinstance(value, bool):
            value = data[key] = [value]
        ok = isinstance(value, expected) and not (expected in (int, (int, float)) and isinstance(value, bool))
        if ok and key in LISTS:
            ok = all(isinstance(v, str) or (key == "accept" and isinstance(v, int)) for v in value)
        if not ok:
            want = TYPE_NAMES.get(expected, "a number" if expected == (int, float) else "a string")
            raise ConfigError(f"{path}: {key} must be {want}, got {value!r}")
    check_values(data.get("values"), f"{path}: [values]")
    if data.get("analytics"):  # export files relative to funnel.toml, like directory targets
        data["analytics"] = [a if os.path.isabs(a) else str((path.parent / a).resolve()) for a in data["analytics"]]
    targets = []
    for t in data.get("targets", []):
        if "://" not in t and not os.path.isabs(t):
            t = str((path.parent / t).resolve())
        targets.append(t)
    if targets:
        data["targets"] = targets
    return data


def check_values(values, where: str = "[values]") -> dict | None:
    """The ``[values]`` table: money per conversion by offer path or URL, goal name or
    ``default``, each a number >= 0; ``currency`` a short string.

    >>> check_values({"/pricing/": 1900, "Signup": 120.5, "currency": "€"})
    {'/pricing/': 1900.0, 'Signup': 120.5, 'currency': '€'}
    >>> check_values({"/pricing/": "a lot"})
    Traceback (most recent call last):
    ...
    crawler.config.ConfigError: [values]: '/pricing/' must be a number >= 0 (money per conversion), got 'a lot'
    """
    if values is None:
        return None
    out: dict = {}
    for key, value in values.items():
        if key == "currency":
            if not isinstance(value, str) or not 0 < len(value) <= 5:
                raise ConfigError(f"{where}: currency must be a short string like \"$\" or \"EUR \", got {value!r}")
            out[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"{where}: {key!r} must be a number >= 0 (money per conversion), got {value!r}")
        out[key] = float(value)
    return out


def _check_render_sources(config: dict, cli: dict) -> None:
    """--render and --chromium from the environment or the config file, checked where they come
    from (the error names FUNNELCHECK_RENDER or the config file, not an option never typed).

    >>> _check_render_sources({"render": "sometimes"}, {})
    Traceback (most recent call last):
    crawler.config.ConfigError: render = 'sometimes' in the config file: must be one of auto, always, never
    """
    from crawler.render import RENDER_MODES, find_chromium

    if cli.get("render") is None:
        value, source = (config["render"], "in the config file") if "render" in config else (
            os.environ.get("FUNNELCHECK_RENDER"), "in FUNNELCHECK_RENDER")
        if value and value not in RENDER_MODES:
            raise ConfigError(f"render = {value!r} {source}: must be one of {', '.join(RENDER_MODES)}")
    if cli.get("chromium") is None and config.get("chromium") and find_chromium(config["chromium"]) is None:
        raise ConfigError(f"chromium = {config['chromium']!r} in the config file: no such executable file")


def merge(config: dict, cli: dict) -> dict:
    """Defaults, then the config file, then options given on the command line (``None`` = not given)."""
    options = dict(DEFAULTS)
    options["render"] = os.environ.get("FUNNELCHECK_RENDER") or DEFAULTS["render"]
    options.update(config)
    _check_render_sources(config, cli)
    for key, value in cli.items():
        if value is None or (key in LISTS and not value):
            continue
        options[key] = list(value) if key in LISTS else value
    return options


def check_format(fmt: str, formats) -> str:
    """``fmt`` if it is one of ``formats`` (the report formats, handed in by the caller:
    ``crawler/`` does not know them), else :class:`ConfigError`.

    >>> check_format("json", ("terminal", "json"))
    'json'
    >>> check_format("xml", ("terminal", "json"))
    Traceback (most recent call last):
    ...
    crawler.config.ConfigError: --format must be one of terminal, json, got 'xml'
    """
    if fmt not in formats:
        raise ConfigError(f"--format must be one of {', '.join(formats)}, got {fmt!r}")
    return fmt


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def check_cluster(workers, redis) -> None:
    """How many crawl processes, and the Redis they share: :class:`ConfigError` with one line
    when they do not go together.

    >>> check_cluster(1, None), check_cluster(4, None), check_cluster(0, "redis://10.0.0.5:6379/0")
    (None, None, None)
    >>> check_cluster(0, None)
    Traceback (most recent call last):
    ...
    crawler.config.ConfigError: --workers 0 only coordinates: give --redis URL (or $FUNNELCHECK_REDIS_URL) where workers join
    >>> check_cluster(-1, None)
    Traceback (most recent call last):
    ...
    crawler.config.ConfigError: --workers must be >= 0, got -1
    >>> check_cluster(2, "localhost:6379")
    Traceback (most recent call last):
    ...
    crawler.config.ConfigError: --redis takes a URL like redis://host:6379/0 or unix:///path/redis.sock, got 'localhost:6379'
    >>> check_cluster(2, "redis://:s3cret@127.0.0.1:16391/abc")
    Traceback (most recent call last):
    ...
    crawler.config.ConfigError: --redis names its database by number (redis://host:6379/0), got 'redis://:***@127.0.0.1:16391/abc'
    """
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers!r}")
    if redis is not None and (not isinstance(redis, str) or not redis.lower().startswith(REDIS_SCHEMES)
                              or len(redis) <= len(redis.split("://")[0]) + 3):
        raise ConfigError(f"--redis takes a URL like redis://host:6379/0 or unix:///path/redis.sock, got "
                          f"{redact_argument(redis)!r}")
    if redis is not None and redis.lower().startswith(("redis://", "rediss://")):
        database = urlsplit(redis).path.strip("/")
        if database and not database.isdigit():
            raise ConfigError(f"--redis names its database by number (redis://host:6379/0), got {redact_argument(redis)!r}")
    if workers == 0 and not redis:
        raise ConfigError("--workers 0 only coordinates: give --redis URL (or $FUNNELCHECK_REDIS_URL) where workers join")


def cluster_redis(workers, redis):
    """The Redis of a crawl with ``workers``: ``redis`` as given (option or funnel.toml), else,
    for ``--workers 0`` (coordinate only: it needs one), ``$FUNNELCHECK_REDIS_URL``, as
    ``funnelcheck worker`` reads it (a password kept out of the process list).

    >>> import os; os.environ["FUNNELCHECK_REDIS_URL"] = "redis://:pw@10.0.0.5:6379/0"
    >>> cluster_redis(0, None), cluster_redis(2, None), cluster_redis(0, "redis://b:6379/0")
    ('redis://:pw@10.0.0.5:6379/0', None, 'redis://b:6379/0')
    >>> del os.environ["FUNNELCHECK_REDIS_URL"]; cluster_redis(0, None) is None
    True
    """
    if redis or workers != 0:
        return redis
    return os.environ.get("FUNNELCHECK_REDIS_URL") or None


def check_render(mode, chromium: str | None) -> str | None:
    """The Chromium a crawl renders with for ``--render mode`` (None: none, or not rendering);
    :class:`ConfigError` with one line when ``mode`` is wrong or needs a Chromium there is not.

    >>> check_render("never", None) is None
    True
    >>> check_render("sometimes", None)
    Traceback (most recent call last):
    ...
    crawler.config.ConfigError: --render must be one of auto, always, never, got 'sometimes'
    >>> check_render("auto", "/nonexistent/chromium")
    Traceback (most recent call last):
    ...
    crawler.config.ConfigError: --chromium /nonexistent/chromium: no such executable file
    """
    from crawler.render import RENDER_MODES, find_chromium

    if mode not in RENDER_MODES:
        raise ConfigError(f"--render must be one of {', '.join(RENDER_MODES)}, got {mode!r}")
    found = find_chromium(chromium)
    if chromium and found is None:
        raise ConfigError(f"--chromium {chromium}: no such executable file")
    if mode == "always" and found is None:
        raise ConfigError("--render always needs Chromium, and none is installed (no chromium on PATH): install it "
                          "(apt-get install chromium) or give --chromium PATH")
    return found if mode != "never" else None


def validate(options: dict, formats=()) -> dict:
    """Check and complete merged options; raises :class:`ConfigError` with one readable line.

    Directory targets stay paths here (``crawler.audit`` serves them); URLs are
    normalised; ``site`` defaults to the first target's origin. ``formats`` are the
    report format names (the CLI passes ``analysis.formats.WRITERS``); the ``format``
    option is checked against them when given.
    """
    o = dict(options)
    if not o["targets"]:
        raise ConfigError("no TARGET given (a URL, or a directory holding a built site)")
    targets, dirs = [], []
    for t in o["targets"]:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", t):
            try:
                targets.append(normalize(t)[0])
            except URLError as exc:
                raise ConfigError(str(exc)) from None
        elif os.path.isdir(t):
            if not has_html(t):
                raise ConfigError(f"TARGET {t!r} holds no HTML page (no .html or .htm file): nothing to audit")
            dirs.append(os.path.abspath(t))
            targets.append(os.path.abspath(t))
        else:
            raise ConfigError(f"TARGET {t!r} is neither an http(s) URL nor an existing directory")
    o["targets"] = targets
    base_urls = []
    for b in o["base_url"]:
        try:
            u = normalize(b)[0]
        except URLError as exc:
            raise ConfigError(f"--base-url: {exc}") from None
        base_urls.append(u if u.endswith("/") else u + "/")
    if len(base_urls) > len(dirs):
        raise ConfigError("--base-url given more often than there are directory targets")
    # a folder without --base-url stands for the address its home page names (canonical link,
    # og:url, CNAME, robots.txt), so the site's absolute links to itself are its own; else localhost
    from crawler.serve import public_address

    o["base_url_found"] = []
    for d in dirs[len(base_urls):]:
        found = public_address(d)
        base_urls.append(found[0] if found else "http://localhost/")
        if found:
            o["base_url_found"].append((d, *found))
    o["base_url"] = base_urls
    for key in ("site", "blog", "social"):
        out = []
        for u in o[key]:
            try:
                out.append(normalize(u)[0])
            except URLError as exc:
                raise ConfigError(f"--{key}: {exc}") from None
        o[key] = out
    for key in ("conversion", "include", "exclude", "exclude_path"):
        for rx in o[key]:
            try:
                re.compile(rx)
            except re.error as exc:
                raise ConfigError(f"--{key.replace('_', '-')} {rx!r}: bad regular expression: {exc}") from None
    for r in o["remap"]:
        try:
            RemapRule.parse(r)
        except URLError as exc:
            raise ConfigError(str(exc)) from None
    try:
        o["accept"] = sorted({int(s) for item in o["accept"] for s in str(item).split(",") if s.strip()})
    except ValueError:
        raise ConfigError(f"--accept takes status codes like 200,403, got {o['accept']!r}") from None
    for key, low in (("max_pages", 0), ("depth", 0), ("concurrency", 1)):
        if o[key] is not None and o[key] < low:
            raise ConfigError(f"--{key.replace('_', '-')} must be >= {low}, got {o[key]!r}")
    bad = [c for c in o["accept"] if not 100 <= c <= 599]
    if bad:
        raise ConfigError(f"--accept takes HTTP status codes (100 to 599), got {bad[0]}")
    for key, low, high in (("timeout", 0, 86400), ("max_size", 0.001, 1048576)):   # seconds; MiB
        value, name = o[key], f"--{key.replace('_', '-')}"
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ConfigError(f"{name} must be a number > 0, got {value!r}")
        if not low <= value <= high:  # (a cap under one byte would be Scrapy's 0: no cap at all)
            raise ConfigError(f"{name} must be between {low} and {high}, got {value!r}")
    networks = []
    for cidr in o["allow_private"]:
        try:
            networks.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except ValueError:
            raise ConfigError(f"--allow-private takes an address or network like 10.0.0.0/8, got {cidr!r}") from None
    o["allow_private"] = networks
    if o["fail_on"] not in FAIL_LEVELS:
        raise ConfigError(f"--fail-on must be one of {', '.join(FAIL_LEVELS)}, got {o['fail_on']!r}")
    if formats:
        check_format(o["format"], formats)
    o["redis"] = cluster_redis(o.get("workers", 1), o.get("redis"))
    check_cluster(o.get("workers", 1), o["redis"])
    o["chromium"] = check_render(o.get("render", "auto"), o.get("chromium"))
    o["profiles"] = check_profiles(o.get("profiles"), [*public_targets(o), *o["site"], *o["blog"]])
    o["cache_age_seconds"] = parse_duration(o["cache_age"])
    o["max_time_seconds"] = None
    if o["max_time"] not in (None, "", 0, "0"):
        try:
            o["max_time_seconds"] = parse_duration(o["max_time"])
        except ConfigError:
            raise ConfigError(f"--max-time takes a duration like 90s, 30m, 2h, got {o['max_time']!r}") from None
        if o["max_time_seconds"] <= 0:
            raise ConfigError(f"--max-time must be > 0, got {o['max_time']!r}")
    return o


def check_profiles(table, own=(), today=None) -> dict:
    """The ``[profiles]`` table of ``funnel.toml``: what the user states a profile links to, and the
    day they looked (for the platforms funnelcheck cannot read). Keys are the profiles' URLs: never
    a page on the hosts of ``own`` (the targets, site and blog), and ``checked`` never after
    ``today``.

    >>> import datetime
    >>> check_profiles({"https://www.LinkedIn.com/company/acme": {"links": ["https://blog.acme.example/"],
    ...                 "checked": datetime.date(2026, 11, 30)}})
    {'https://www.linkedin.com/company/acme': {'links': ['https://blog.acme.example/'], 'checked': '2026-11-30'}}
    >>> check_profiles({"https://x.com/acme": {"links": []}})
    Traceback (most recent call last):
    ...
    crawler.config.ConfigError: [profiles] "https://x.com/acme": give checked = YYYY-MM-DD, the day you looked at the profile
    >>> check_profiles({"https://www.acme.example/about/": {"checked": "2026-11-30"}}, ["https://acme.example/"])
    Traceback (most recent call last):
    ...
    crawler.config.ConfigError: [profiles] "https://www.acme.example/about/" is a page of your site, not a social profile: [profiles] states what a profile funnelcheck cannot read links to
    >>> check_profiles({"https://x.com/acme": {"checked": "2026-12-08"}}, today=datetime.date(2026, 12, 7))
    Traceback (most recent call last):
    ...
    crawler.config.ConfigError: [profiles] "https://x.com/acme": checked = 2026-12-08 is in the future: give the day you looked at the profile
    """
    import datetime

    today = today or datetime.date.today()
    hosts = {_strip_www(_host(u)) for u in own} - {""}
    out = {}
    for url, entry in (table or {}).items():
        where = f"[profiles] {url!r}".replace("'", '"')
        try:
            key = normalize(url)[0]
        except URLError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if _strip_www(_host(key)) in hosts:
            raise ConfigError(f"{where} is a page of your site, not a social profile: [profiles] states what a "
                              "profile funnelcheck cannot read links to")
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a table: links = [...], checked = YYYY-MM-DD")
        unknown = sorted(set(entry) - {"links", "checked"})
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]} (links, checked)")
        links = entry.get("links", [])
        if isinstance(links, str):
            links = [links]
        if not isinstance(links, list) or not all(isinstance(u, str) for u in links):
            raise ConfigError(f"{where}: links must be a list of URLs")
        try:
            links = [normalize(u)[0] for u in links]
        except URLError as exc:
            raise ConfigError(f"{where}: links: {exc}") from None
        checked = entry.get("checked")
        if isinstance(checked, datetime.datetime):
            checked = checked.date()
        if isinstance(checked, str):
            try:
                checked = datetime.date.fromisoformat(checked.strip())
            except ValueError:
                raise ConfigError(f"{where}: checked must be a date like 2026-11-30, got {checked!r}") from None
        if not isinstance(checked, datetime.date):
            raise ConfigError(f"{where}: give checked = YYYY-MM-DD, the day you looked at the profile")
        if checked > today:
            raise ConfigError(f"{where}: checked = {checked.isoformat()} is in the future: give the day you looked at "
                              "the profile")
        out[key] = {"links": links, "checked": checked.isoformat()}
    return out


def public_targets(options: dict) -> list[str]:
    """Targets as public URLs: a directory target stands for its ``--base-url``."""
    out, dirs = [], iter(options["base_url"])
    for t in options["targets"]:
        out.append(next(dirs) if "://" not in t else t)
    return out


def default_site(options: dict) -> list[str]:
    """``--site`` if given, else the origin of every target (each target is owned).

    >>> default_site({"site": [], "base_url": [], "targets": ["https://a.example/x", "https://docs.a.example/"]})
    ['https://a.example/', 'https://docs.a.example/']
    """
    if options["site"]:
        return options["site"]
    return list(dict.fromkeys(origin(t) + "/" for t in public_targets(options)))
