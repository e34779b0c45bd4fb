"""URL normalisation and remapping: pure functions, no I/O.

Every URL funnelcheck stores is *public* (what a visitor sees) and normalised by
:func:`normalize`. Where it is *fetched* is a separate question answered by
:class:`Remapper` (``--remap`` rules and the directory a target is served from).
"""
from __future__ import annotations

import hashlib
import logging
import re
import sys
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
FETCHABLE_SCHEMES = frozenset({"http", "https"})
RECORDED_SCHEMES = frozenset({"mailto", "tel"})
IGNORED_SCHEMES = frozenset({"javascript", "data", "about", "blob"})

# Query parameters that only track a visit; they never change which page is served.
TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|gclid|dclid|fbclid|msclkid|yclid|igshid|igsh|mc_cid|mc_eid|_hsenc|_hsmi|_ga|_gl|ref_src|ref_url|si)$",
    re.I,
)
# The ones that tie a visit to a campaign (what untracked-inbound looks for).
CAMPAIGN_PARAMS = re.compile(r"^(utm_[a-z_]+|gclid|dclid|fbclid|msclkid|yclid|mc_cid|mc_eid|_hsenc|_hsmi)$", re.I)
INDEX_FILES = ("index.html", "index.htm", "index.php")

# Already canonical (the fast path): lower-case http(s) host without a trailing dot, a port
# without leading zeros, no escapes, nothing to decode, no empty query. normalize() returns
# such a URL unchanged unless it has a default port, a dot segment or a port out of range.
_SIMPLE = re.compile(r"^https?://[a-z0-9.-]*[a-z0-9-](:(?:0|[1-9]\d*))?(/[A-Za-z0-9/_~.,:@!$&'()*+;=-]*)?"
                     r"(?:\?[A-Za-z0-9/_~.,:@!$&'()*+;=?-]+)?(?:#([^%\s]*))?$")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")


class URLError(ValueError):
    """A URL that cannot be crawled (malformed, or not http/https)."""


def _fix_percent(part: str, safe: str) -> str:
    """Uppercase percent-escapes, decode unreserved ones, encode what must be."""

    def repl(m: re.Match) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()

    part = _PCT.sub(repl, part)
    return quote(part, safe=safe + "%")


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 remove_dot_segments (empty segments, ``//``, are kept).

    >>> _remove_dot_segments("/a/b/c/./../../g"), _remove_dot_segments("/docs//./guide")
    ('/a/g', '/docs//guide')
    """
    if not path:
        return "/"
    if "." not in path:
        return path
    out: list[str] = []  # output buffer as pieces; each is "/segment" except a relative path's first
    if not path.startswith("/"):
        while path.startswith(("../", "./")):  # rule A
            path = path[3:] if path[1] == "." else path[2:]
        if path in (".", ".."):  # rule D
            return ""
        first, slash, rest = path.partition("/")
        if first:  # rule E on the first, slash-less segment
            out.append(first)
        path = slash + rest
    segments = path.split("/")[1:] if path else []
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        if seg == ".":  # rules B ("/./" -> "/") and "/." -> "/"
            if i == last:
                out.append("/")
        elif seg == "..":  # rule C: drop the last output segment
            if out:
                out.pop()
            if i == last:
                out.append("/")
        else:  # rule E
            out.append("/" + seg)
    return "".join(out)


def scheme_of(href: str) -> str:
    """The lower-cased scheme of an href, or '' for a relative reference.

    >>> scheme_of("MailTo:a@b.example"), scheme_of("/x")
    ('mailto', '')
    """
    if href.startswith("https://"):  # (most links: asked for every link of every page)
        return "https"
    if href.startswith("http://"):
        return "http"
    m = _SCHEME.match(href)
    return m.group(1).lower() if m else ""


_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*):")


def normalize(url: str) -> tuple[str, str]:
    """Return ``(url, fragment)``: the URL in canonical form and its fragment apart.

    Lower-cases scheme and host, drops default ports, removes dot segments,
    normalises percent-encoding and gives an empty path as ``/``. Query
    parameters (tracking ones included) are kept: see :func:`dedupe_key`.

    >>> normalize("HTTPS://Acme.Example:443/a/./b/../c%7e?q=1#Top")
    ('https://acme.example/a/c~?q=1', 'Top')
    >>> normalize("http://bob:secret@intranet.example/x")[0]
    'http://intranet.example/x'
    """
    url = url.strip()
    m = _SIMPLE.match(url)
    if (m and m.group(2) and m.group(1) not in (":80", ":443") and "/." not in url
            and (not m.group(1) or int(m.group(1)[1:]) <= 65535)):
        base, _, fragment = url.partition("#")
        return base, fragment
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise URLError(f"malformed URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in FETCHABLE_SCHEMES:
        raise URLError(f"not an http(s) URL: {url!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host or " " in host:
        raise URLError(f"malformed URL {url!r}: no host")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host.lower()
    except UnicodeError:
        raise URLError(f"malformed URL {url!r}: bad host name") from None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    # (no user:password@: a page is one page whoever's credentials a link carries, and a
    # password never reaches a request line, an error message or the store)
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _remove_dot_segments(_fix_percent(parts.path, "/:@!$&'()*+,;=")) or "/"
    query = _fix_percent(parts.query, "=&/:@!$'()*+,;?")
    return urlunsplit((scheme, netloc, path, query, "")), unquote(parts.fragment)


_NUMBERS = re.compile(r"\d+")  # a run of digits in a path: a number or part of a date
_IP_OR_LOCAL = re.compile(r"^(\d+\.\d+\.\d+\.\d+|\[.*\]|localhost)$")


def origin_aliases(owned: Iterable[str]) -> dict[str, str]:
    """Variant origin -> canonical origin for the owned sites (the first form given wins).

    ``http://`` and ``https://`` (on default ports) and the host with and without ``www.``
    are one site: each variant maps to the form of the first URL of its group in
    ``owned`` (the targets come first, so the target's form is the page's name).

    >>> a = origin_aliases(["https://acme.example/", "http://www.acme.example/blog/"])
    >>> a["http://www.acme.example"], a["https://acme.example"], "http://127.0.0.1:80" in a
    ('https://acme.example', 'https://acme.example', False)
    """
    aliases: dict[str, str] = {}
    for url in owned:
        try:
            parts = urlsplit(url)
            host, port = (parts.hostname or "").lower(), parts.port
        except ValueError:
            continue
        scheme = parts.scheme.lower()
        if scheme not in FETCHABLE_SCHEMES or not host:
            continue
        canonical = origin(normalize(f"{scheme}://{parts.netloc.rpartition('@')[2]}/")[0])
        for variant in _variants(scheme, host, port):
            aliases.setdefault(variant, canonical)
    return aliases


def _variants(scheme: str, host: str, port: int | None) -> list[str]:
    if ":" in host:
        host = f"[{host}]"
    hosts = [host] if _IP_OR_LOCAL.match(host) else [host.removeprefix("www."), "www." + host.removeprefix("www.")]
    if port is None or port == DEFAULT_PORTS[scheme]:
        return [f"{s}://{h}" for s in ("https", "http") for h in hosts]
    return [f"{scheme}://{h}:{port}" for h in hosts]


def fold_origin(url: str, aliases: dict[str, str] | None) -> str:
    """``url`` under the canonical form of its origin (see :func:`origin_aliases`).

    >>> fold_origin("http://www.acme.example/a?b", {"http://www.acme.example": "https://acme.example"})
    'https://acme.example/a?b'
    """
    if not aliases:
        return url
    end = url.find("/", url.find("//") + 2) if "//" in url else -1
    head = url if end < 0 else url[:end]
    canonical = aliases.get(head)
    if canonical is None or canonical == head:
        return url
    return canonical + (url[end:] if end >= 0 else "/")


def dedupe_key(url: str, aliases: dict[str, str] | None = None) -> str:
    """The identity of a normalised URL: tracking parameters and index files dropped, and an
    owned origin's scheme and ``www.`` variants folded into one (``aliases``).

    >>> dedupe_key("https://acme.example/blog/index.html?utm_source=x&page=2")
    'https://acme.example/blog/?page=2'
    >>> dedupe_key("http://www.acme.example/a/index.htm", {"http://www.acme.example": "https://acme.example"})
    'https://acme.example/a/'

    On an owned origin a run of slashes in the path is one (a static host serves ``//about/`` as
    ``/about/``); elsewhere it is kept (``web.archive.org/web/1/https://a.example/``):

    >>> owned = {"https://acme.example": "https://acme.example"}
    >>> dedupe_key("https://acme.example//about//team/", owned), dedupe_key("https://b.example//x", owned)
    ('https://acme.example/about/team/', 'https://b.example//x')
    """
    url = fold_origin(url, aliases)
    parts = urlsplit(url)
    path = parts.path
    if "//" in path and aliases and f"{parts.scheme}://{parts.netloc}" in aliases:
        path = _SLASHES.sub("/", path)  # //about/ and /about/ on an owned site: one page
    for name in INDEX_FILES:
        if path.endswith("/" + name):
            path = path[: -len(name)]
            break
    query = _drop_tracking(parts.query) if parts.query else ""
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def _drop_tracking(query: str) -> str:
    """A query without its tracking parameters (``utm_*``, ``fbclid`` …), or ``""`` when none is left."""
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if not TRACKING_PARAMS.match(k)]
    return urlencode(pairs, quote_via=quote, safe="/:@!$'()*+,;") if pairs else ""


_SLASHES = re.compile(r"/{2,}")


def fold_slashes(url: str) -> str:
    """``url`` with each run of slashes in its path made one (an owned page's one name).

    >>> fold_slashes("https://acme.example//docs//guide/?q=a//b")
    'https://acme.example/docs/guide/?q=a//b'
    """
    start = url.find("/", url.find("//") + 2) if "//" in url else -1
    if start < 0:
        return url
    end = min((i for i in (url.find("?", start), url.find("#", start)) if i >= 0), default=len(url))
    path = url[start:end]
    return url[:start] + _SLASHES.sub("/", path) + url[end:] if "//" in path else url
_ENTITY_AMP = re.compile(r"&(?:#0*38|amp);", re.I)


def route_key(key: str, fragment: str) -> str:
    """The key of a single-page app's route: ``key`` and the ``#/route`` fragment, its query's
    tracking parameters dropped (and ``&#038;``, an ampersand a WordPress export left encoded,
    read as ``&``).

    >>> route_key("https://portal.acme.example/", "/signup?utm_source=site&#038;utm_medium=ref&plan=pro")
    'https://portal.acme.example/#/signup?plan=pro'
    >>> route_key("https://app.acme.example/", "!/login")
    'https://app.acme.example/#!/login'
    """
    route, _, query = fragment.partition("?")
    if query:
        query = _drop_tracking(_ENTITY_AMP.sub("&", query))
    return f"{key}#{quote(route, safe=_ROUTE_SAFE)}" + (f"?{query}" if query else "")


_ROUTE_SAFE = "/!:@$&'()*+,;=-._~%"


def trap_template(url: str) -> str | None:
    """The pattern a URL shares with its crawler-trap siblings, or None for a plain path.

    Numbers in the path (a calendar's ``/cal/2026/12``, ``/day-2027-01-05``) become ``{n}``, so
    URLs that differ only in numbers or dates are one pattern; query strings are reduced to their
    parameter names (an endless calendar's ``?month=…``, a query that keeps growing
    ``?a=1&a=1&a=1``); a path in which segments come back three times or more (relative links
    that nest themselves, ``/docs/docs/docs/docs/``, ``/x/a/b/a/a/b/``) is one pattern per top
    folder (the folder itself when it is one of those that come back): relative links nest in
    every order, and one pattern for each would be one finding for each. A path with none of
    these is no pattern.

    >>> trap_template("https://a.example/cal?month=2031-05&view=m"), trap_template("https://a.example/x/")
    ('https://a.example/cal?month=…&view=…', None)
    >>> trap_template("https://a.example/cal/2026/12"), trap_template("https://a.example/blog/2024/05/a-post/")
    ('https://a.example/cal/{n}/{n}', 'https://a.example/blog/{n}/{n}/a-post/')
    >>> trap_template("https://a.example/d/a/d/a/d/a/d/a/"), trap_template("https://a.example/x/a/b/b/a/b/")
    ('https://a.example/… (repeating path)', 'https://a.example/x/… (repeating path)')
    >>> trap_template("https://a.example/x/b/a/a/a/a/")
    'https://a.example/x/… (repeating path)'

    A session id in the path (``;jsessionid=…``) is one pattern whatever its value:

    >>> trap_template("https://a.example/shop/cart;jsessionid=A1B2C3?item=7")
    'https://a.example/shop/cart;jsessionid=…?item=…'
    """
    parts = urlsplit(url)
    segments = [seg for seg in parts.path.split("/") if seg]
    if len(segments) - len(set(segments)) >= 3:
        head = segments[0] + "/" if segments.count(segments[0]) == 1 else ""  # a top folder, if it is no repeat
        return f"{parts.scheme}://{parts.netloc}/{head}… (repeating path)"
    path = _NUMBERS.sub("{n}", _PATH_SESSION.sub(r";\1=…", parts.path) if ";" in parts.path else parts.path)
    if parts.query:
        names = sorted({k for k, _ in parse_qsl(parts.query, keep_blank_values=True)})
        return f"{parts.scheme}://{parts.netloc}{path}?" + "&".join(f"{n}=…" for n in names)
    if path != parts.path:
        return f"{parts.scheme}://{parts.netloc}{path}"
    return None


# Query parameters (and ``;name=`` path parameters) that carry a visitor's session: a new value
# on every visit makes every link a new URL, so a pattern with one is a trap by its shape.
SESSION_PARAMS = re.compile(r"^(jsessionid|phpsessid|aspsessionid\w*|sessionid|session_id|sessid|sid|cfid|cftoken|"
                            r"zenid|oscsid|osCsid|s_id)$", re.I)
_PATH_SESSION = re.compile(r";(jsessionid|phpsessid|sessionid|sid)=[^/;]*", re.I)
_QUERY_NAMES = re.compile(r"[?&]([^=&]+)=")


def trap_kind(template: str) -> str | None:
    """What a :func:`trap_template` is by its shape alone: ``"repeating"`` (a path that nests
    itself), ``"session"`` (a session id in the URL), or None (numbers, dates, query values:
    a trap or a catalogue, as its variants are found, see :class:`crawler.extensions.CrawlLimits`).

    >>> trap_kind("https://a.example/x/… (repeating path)"), trap_kind("https://a.example/p?PHPSESSID=…&id=…")
    ('repeating', 'session')
    >>> trap_kind("https://a.example/cart;jsessionid=…"), trap_kind("https://a.example/p/{n}")
    ('session', None)
    """
    if template.endswith("(repeating path)"):
        return "repeating"
    head, _, query = template.partition("?")
    if ";" in head and _PATH_SESSION.search(head.replace("…", "x")):
        return "session"
    if query and any(SESSION_PARAMS.match(name) for name in _QUERY_NAMES.findall("?" + query)):
        return "session"
    return None


def trap_family(template: str) -> str:
    """The trap a pattern belongs to: patterns of numbers under one folder are one (a calendar's
    months and its days); any other pattern is its own.

    >>> trap_family("https://a.example/cal/{n}/{n}/{n}"), trap_family("https://a.example/cal?day=…")
    ('https://a.example/cal/…', 'https://a.example/cal?day=…')
    """
    cut = template.find("{n}")
    if cut < 0:
        return template
    return template[: template.rfind("/", 0, cut) + 1] + "…"


def has_tracking(url: str) -> bool:
    """True when the URL carries campaign parameters (utm_source and friends).

    >>> has_tracking("https://acme.example/?utm_source=twitter"), has_tracking("https://acme.example/")
    (True, False)
    """
    return any(CAMPAIGN_PARAMS.match(k) for k, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True))


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL.

    >>> origin("https://acme.example/a/b?c")
    'https://acme.example'
    """
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}"


def resolve(base: str, href: str) -> str:
    """Resolve ``href`` against ``base`` the way a browser does (whitespace trimmed).

    Raises :class:`URLError` (a ``ValueError``) when ``href`` or ``base`` cannot be
    parsed, e.g. ``//[oops/x``; an absolute http(s) ``href`` is returned as it is.

    >>> resolve("https://acme.example/a/b", "../c"), resolve("https://acme.example/a/b", "x//y?q#f")
    ('https://acme.example/c', 'https://acme.example/a/x//y?q#f')

    In an http(s) URL a backslash before the query is a slash, as in every browser:

    >>> b = chr(92)
    >>> resolve("https://acme.example/a/", f"http:{b}{b}10.0.0.1{b}admin?x={b}"), resolve("https://a.example/a/", f"..{b}b")
    ('http://10.0.0.1/admin?x=\\\\', 'https://a.example/b')
    """
    href = href.strip()
    if "\n" in href or "\r" in href or "\t" in href:
        href = href.replace("\n", "").replace("\r", "").replace("\t", "")
    if "\\" in href and (scheme_of(href) in FETCHABLE_SCHEMES
                         or (not scheme_of(href) and base.startswith(("http://", "https://")))):
        cut = min((i for i in (href.find("?"), href.find("#")) if i >= 0), default=len(href))
        href = href[:cut].replace("\\", "/") + href[cut:]
    if href.startswith(("http://", "https://")):
        return href
    if href.startswith("/") and not href.startswith("//") and base.startswith(("http://", "https://")):
        end = base.find("/", base.find("//") + 2)
        return (base if end < 0 else base[:end]) + href
    if (href and href[0] not in "/?#" and not scheme_of(href) and base.startswith(("http://", "https://"))
            and "//" in href):
        # A relative path keeps its empty segments, as browsers do (urljoin drops them):
        # "b//c" against /x/y is /x/b//c, "(https://d/)" stays "(https://d/)".
        head = base.split("#", 1)[0].split("?", 1)[0]
        end = head.find("/", head.find("//") + 2)
        root, path = (head, "/") if end < 0 else (head[:end], head[end:])
        cut = min((i for i in (href.find("?"), href.find("#")) if i >= 0), default=len(href))
        return root + _remove_dot_segments(path[: path.rfind("/") + 1] + href[:cut]) + href[cut:]
    try:
        return urljoin(base, href)
    except ValueError as exc:
        raise URLError(f"cannot resolve {href!r} against {base!r}: {exc}") from None


@dataclass(frozen=True)
class RemapRule:
    pattern: re.Pattern
    replacement: str

    @classmethod
    def parse(cls, text: str) -> "RemapRule":
        """Parse ``'REGEX REPLACEMENT'`` (split on the last run of whitespace).

        >>> RemapRule.parse(r"^https://twitter\\.com/ http://127.0.0.1:9/").replacement
        'http://127.0.0.1:9/'
        """
        parts = text.strip().rsplit(None, 1)
        if len(parts) != 2:
            raise URLError(f"--remap needs 'REGEX REPLACEMENT', got {text!r}")
        try:
            return cls(re.compile(parts[0]), parts[1])
        except re.error as exc:
            raise URLError(f"--remap {text!r}: bad regular expression: {exc}") from None


class Remapper:
    """Maps a public URL to the URL it is fetched from.

    User rules are tried in order and the first that matches rewrites the URL
    (``re.sub`` syntax); then the *mounts* (a public prefix served from a local
    address, as for a directory target) apply to the result.

    >>> r = Remapper(["^https://twitter\\\\.com/(.*) https://acme.example/_social/\\\\1"],
    ...              {"https://acme.example/": "http://127.0.0.1:8000/"})
    >>> r.fetch_url("https://twitter.com/acme")
    'http://127.0.0.1:8000/_social/acme'
    """

    def __init__(self, rules=(), mounts: dict[str, str] | None = None):
        self.rules = [r if isinstance(r, RemapRule) else RemapRule.parse(r) for r in rules]
        self.mounts = sorted((mounts or {}).items(), key=lambda kv: -len(kv[0]))

    def fetch_url(self, public: str) -> str:
        url = public
        for rule in self.rules:
            new, n = rule.pattern.subn(rule.replacement, url, count=1)
            if n:
                url = new
                break
        for prefix, local in self.mounts:
            if url.startswith(prefix):
                return local + url[len(prefix):]
        return url

    def __bool__(self) -> bool:
        return bool(self.rules or self.mounts)


_USERINFO = re.compile(r"(?i)([a-z][a-z0-9+.-]*://)([^/?#@\s:]*):([^/?#@\s]*)@")


def redact_credentials(text):
    """``text`` with every URL's password shown as ``***`` (``user:pass@`` -> ``user:***@``): a
    password in a link never reaches the store, a report or a log.

    >>> redact_credentials("https://bob:s3cr%40t@intranet.example/x"), redact_credentials("https://bob@a.example/")
    ('https://bob:***@intranet.example/x', 'https://bob@a.example/')
    >>> redact_credentials("fetching http://a:b@c.example and ftp://u:p@d.example"), redact_credentials(None)
    ('fetching http://a:***@c.example and ftp://u:***@d.example', None)
    """
    if not text or "@" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2)}:***@", text)


_BARE_USERINFO = re.compile(r"^[^/?#@\s:]*:[^/?#@\s]*@")


def redact_argument(value):
    """One command-line value (a ``--redis`` URL, an argument logged) with its password shown as
    ``***``: a URL's (:func:`redact_credentials`), and ``user:password@`` written without a scheme.
    Anything but a string is returned as it is.

    >>> redact_argument("http://:hunter2@127.0.0.1:1/0"), redact_argument("bob:pw@host:6379")
    ('http://:***@127.0.0.1:1/0', '***@host:6379')
    >>> redact_argument("a@b.example"), redact_argument(6379)
    ('a@b.example', 6379)
    """
    if not isinstance(value, str) or "@" not in value:
        return value
    return _BARE_USERINFO.sub("***@", redact_credentials(value))


class RedactingFilter(logging.Filter):
    """A log handler's filter: passwords in URLs become ``***`` in every message (Scrapy logs
    the URLs it fetches)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "@" in message:
            record.msg, record.args = redact_credentials(message), None
        return True


def redact_logs() -> None:
    """Put :class:`RedactingFilter` on every handler of the root logger."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def _blake2b64(key: str) -> int:
    """A URL key's 64-bit digest where Python's hash is narrower (a 32-bit build), signed as
    :class:`crawler.dupefilter.DigestSet` keeps it."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big",
                          signed=True)


# Python's own hash of a str is 64-bit SipHash on 64-bit builds, computed once per string (the
# seen-set is asked about each link's key up to twice): as good a digest as any for a set that
# never leaves its process (a collision, 2**-64 per pair, would skip one URL). What is shared
# between processes (Redis's ``seen``) is ``crawler.cluster.digest``, stable everywhere.
key_digest = hash if sys.hash_info.width >= 64 else _blake2b64
