"""Download failures named the way reports name them: dns, timeout, refused, tls, connection ..."""
from __future__ import annotations

import re

from scrapy.exceptions import IgnoreRequest


class HostDown(IgnoreRequest):
    """Not fetched: another site's host gave no answer at all to earlier links (see
    :class:`crawler.middlewares.DeadHostMiddleware`)."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind, self.reason = kind, reason


# Exception class names (Twisted's and Scrapy's, old and new) -> error kind.
ERROR_CLASSES = {
    "CannotResolveHostError": "dns", "DNSLookupError": "dns",
    "DownloadTimeoutError": "timeout", "TimeoutError": "timeout", "TCPTimedOutError": "timeout",
    "DownloadConnectionRefusedError": "refused", "ConnectionRefusedError": "refused", "NoRouteError": "refused",
    "DownloadCancelledError": "too-large",
    "ResponseDataLossError": "connection", "ConnectionLost": "connection", "ConnectionDone": "connection",
    "ResponseFailed": "connection", "ResponseNeverReceived": "connection", "ConnectError": "connection",
}
ERROR_REASONS = {"dns": "DNS lookup failed", "timeout": "timed out", "refused": "connection refused",
                 "too-large": "response larger than the size cap"}


def _messages(exc, depth: int = 0) -> list[str]:
    """The text of an exception and of the failures it wraps (Twisted's ``reasons``, ``__cause__``)."""
    out = [str(exc).strip()]
    if depth < 3:
        for reason in getattr(exc, "reasons", None) or ():
            out += _messages(getattr(reason, "value", reason), depth + 1)
        if exc.__cause__ is not None:
            out += _messages(exc.__cause__, depth + 1)
    return [m for m in out if m]


def error_kind(failure) -> tuple[str, str]:
    """Name a download failure: dns, timeout, refused, tls, connection, robots, too-large.

    >>> from twisted.python.failure import Failure
    >>> from twisted.internet.error import DNSLookupError
    >>> error_kind(Failure(DNSLookupError("x.invalid")))
    ('dns', 'DNS lookup failed')
    >>> error_kind(Failure(DNSLookupError("ssl-certificate.tls.invalid")))
    ('dns', 'DNS lookup failed')
    """
    exc = failure.value
    if isinstance(exc, HostDown):
        return exc.kind, exc.reason
    text = " ".join(_messages(exc)) or type(exc).__name__
    if isinstance(exc, IgnoreRequest):
        return ("robots", "disallowed by robots.txt") if "robots" in text.lower() else ("ignored", text)
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



