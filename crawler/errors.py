"""Download failures named the way reports name them: dns, timeout, refused, tls, connection ..."""
from __future__ import annotations

import re

from scrapy.exceptions import IgnoreRequest


class NotFetched(IgnoreRequest):
    """Not fetched, on purpose: the error kind and reason the report gives."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind, self.reason = kind, reason


class HostDown(NotFetched):
    """Not fetched: another site's host gave no answer at all to earlier links (see
    :class:`crawler.middlewares.DeadHostMiddleware`)."""


class PrivateAddress(NotFetched):
    """Not fetched: the host is (or resolves to) an address of the user's own network and the
    crawl's target is not (see :mod:`crawler.guard`)."""

    def __init__(self, address: str):
        super().__init__("private", f"skipped (private address {address})")


class HeadersTooLarge(Exception):
    """A response whose status line and headers run past ``FUNNEL_MAX_HEADER_BYTES``."""

    def __init__(self, limit: int):
        super().__init__(f"response headers larger than {limit // 1024} KiB")


def _mib(size: int) -> str:
    """``10 MiB``, ``0.5 MiB``: a size cap as the report says it.

    >>> _mib(10 * 1024 * 1024), _mib(512 * 1024)
    ('10 MiB', '0.5 MiB')
    """
    return f"{size / 1048576:g} MiB"


def _causes(exc, depth: int = 0):
    """The exception and those it wraps (Twisted's ``reasons``, ``__cause__``)."""
    yield exc
    if depth < 3:
        for reason in getattr(exc, "reasons", None) or ():
            yield from _causes(getattr(reason, "value", reason), depth + 1)
        if exc.__cause__ is not None:
            yield from _causes(exc.__cause__, depth + 1)


def size_reason(max_size: int | None, decompressed: bool = False) -> str:
    """The reason given for an answer over the size cap.

    >>> size_reason(10 * 1024 * 1024, decompressed=True)
    'too large (over 10 MiB after decompression)'
    """
    cap = _mib(max_size) if max_size else "the size cap"
    return f"too large (over {cap}{' after decompression' if decompressed else ''})"


# Exception class names (Twisted's and Scrapy's, old and new) -> error kind.
ERROR_CLASSES = {
    "CannotResolveHostError": "dns", "DNSLookupError": "dns",
    "DownloadTimeoutError": "timeout", "TimeoutError": "timeout", "TCPTimedOutError": "timeout",
    "DownloadConnectionRefusedError": "refused", "ConnectionRefusedError": "refused", "NoRouteError": "refused",
    "DownloadCancelledError": "too-large",
    "ResponseDataLossError": "incomplete", "ConnectionLost": "connection", "ConnectionDone": "connection",
    "ResponseFailed": "connection", "ResponseNeverReceived": "connection", "ConnectError": "connection",
}
ERROR_REASONS = {"dns": "DNS lookup failed", "timeout": "timed out", "refused": "connection refused",
                 "too-large": "too large (over the size cap)"}


def _broken_answer(exc) -> tuple[str, str] | None:
    """A server that answered, then broke the answer off or wrote no HTTP: (kind, reason), or None.

    incomplete: the connection closed (or was reset) before the whole response came (a body
    shorter than its Content-Length, a chunked body cut short, headers cut off); bad-response:
    what came is no HTTP response (a garbage status line, an invalid or conflicting
    Content-Length); bad-encoding: a body its Content-Encoding cannot decode."""
    causes = list(_causes(exc))
    names = {type(c).__name__ for c in causes}
    for c in causes:
        if type(c).__name__ == "BadGzipFile" or (type(c).__name__ == "error" and type(c).__module__ == "zlib"):
            return "bad-encoding", f"the body does not decompress as its Content-Encoding says ({c})"[:200]
    for c in causes:
        if type(c).__name__ == "ParseError" or type(c) is ValueError:
            detail = ": ".join(a.decode("latin-1") if isinstance(a, bytes) else str(a) for a in c.args) or str(c)
            return "bad-response", f"malformed HTTP response: {detail}"[:200]
    reset = "ConnectionLost" in names
    if "ResponseDataLossError" in names or "_DataLoss" in names:
        how = ("a chunked body cut short" if any("chunked" in str(c).lower() for c in causes)
               else "connection reset" if reset else "fewer bytes than its Content-Length")
        return "incomplete", f"connection closed before the whole response ({how})"
    if "ResponseNeverReceived" in names and names & {"ConnectionDone", "ConnectionLost"}:
        return "connection", "connection reset before any answer" if reset else "connection closed before any answer"
    if "ResponseFailed" in names and names & {"ConnectionDone", "ConnectionLost"}:
        return "incomplete", "connection closed before the whole response (in its headers)"
    return None


def error_kind(failure, max_size: int | None = None) -> tuple[str, str]:
    """Name a download failure: dns, timeout, refused, tls, connection, robots, too-large, protocol
    (``max_size``: the size cap in bytes, for the reason of an answer over it).

    >>> from twisted.python.failure import Failure
    >>> from twisted.internet.error import DNSLookupError
    >>> error_kind(Failure(DNSLookupError("x.invalid")))
    ('dns', 'DNS lookup failed')
    >>> error_kind(Failure(DNSLookupError("ssl-certificate.tls.invalid")))
    ('dns', 'DNS lookup failed')
    """
    exc = failure.value
    if isinstance(exc, NotFetched):
        return exc.kind, exc.reason
    for cause in _causes(exc):
        if type(cause).__name__ == "_DecompressionMaxSizeExceeded":  # Scrapy's HttpCompressionMiddleware
            return "too-large", size_reason(getattr(cause, "max_size", max_size), decompressed=True)
        if isinstance(cause, HeadersTooLarge):
            return "protocol", str(cause)
    if "DownloadCancelledError" in {cls.__name__ for cls in type(exc).__mro__}:
        return "too-large", size_reason(max_size)
    text = " ".join(m for m in (str(c).strip() for c in _causes(exc)) if m) or type(exc).__name__
    if isinstance(exc, IgnoreRequest):
        return ("robots", "disallowed by robots.txt") if "robots" in text.lower() else ("ignored", text)
    broken = _broken_answer(exc)
    if broken is not None:
        return broken
    classes = [ERROR_CLASSES.get(cls.__name__) for cls in type(exc).__mro__]
    for kind in ("dns", "refused", "timeout"):  # named by its class: a host called ssl.example is no TLS error
        if kind in classes:
            return kind, ERROR_REASONS[kind]
    lowered = text.lower()
    if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
        m = re.search(r"certificate verify failed[^'\]\)]*|wrong version number|handshake failure|"
                      r"hostname mismatch|self.signed certificate[^'\]\)]*|packet length too long|"
                      r"unexpected eof|record layer failure", text, re.I)
        return "tls", (m.group(0) if m else "TLS handshake failed")[:200]
    for cls in type(exc).__mro__:
        kind = ERROR_CLASSES.get(cls.__name__)
        if kind:
            if kind == "connection":
                return kind, f"{type(exc).__name__}: {text}"[:200]
            return kind, ERROR_REASONS[kind]
    return "connection", f"{type(exc).__name__}: {text}"[:200]



