"""Scrapy's downloader, with its per-host concurrency held.

In Scrapy 2.19 ``Downloader._process_queue`` hands every queued request of a slot to a new
task before any of them runs, and a request only counts as transferring once its task
starts: with ``CONCURRENT_REQUESTS_PER_DOMAIN = 1`` a server saw ten requests at once.
Here a request counts from the moment it leaves the queue, so ``--concurrency`` is what a
server sees. Installed with the ``DOWNLOADER`` setting.
"""
from __future__ import annotations

from time import monotonic

from scrapy.core import downloader as _scrapy
from twisted.web import _newclient

from crawler.errors import HeadersTooLarge


# The internals this leans on (Scrapy 2.19); a Scrapy without them gets its own downloader.
_PATCHABLE = all(hasattr(_scrapy, name) for name in ("_schedule_coro", "call_later")) and hasattr(
    _scrapy.Downloader, "_wait_for_download")


def cap_response_headers(limit: int) -> None:
    """Bound the status line and headers of every response to ``limit`` bytes.

    Twisted caps one header line (16 KiB) but neither their number nor continuation lines: a
    server could stream headers until the timeout and fill memory. Past the cap the response
    fails with :class:`crawler.errors.HeadersTooLarge` (HTTP11ClientProtocol turns an exception
    of its parser into a failed response and drops the connection).
    """
    from scrapy.core.downloader.handlers import http11

    # Twisted's parser, and Scrapy's lenient copy of its lineReceived (Scrapy 2.19), if there.
    for parser in (_newclient.HTTPParser, getattr(http11, "_LenientHTTPClientParser", None)):
        if parser is None or "lineReceived" not in vars(parser):
            continue
        original = vars(parser).get("_funnel_original_lineReceived", vars(parser)["lineReceived"])
        parser._funnel_original_lineReceived = original
        parser.lineReceived = _capped(original, limit)


def _capped(original, limit: int):
    def lineReceived(self, line):
        if self.state != _newclient.BODY:
            self._funnel_header_bytes = getattr(self, "_funnel_header_bytes", 0) + len(line) + 2
            if limit and self._funnel_header_bytes > limit:
                raise HeadersTooLarge(limit)
        return original(self, line)
    return lineReceived


class Downloader(_scrapy.Downloader):
    """Holds per-host concurrency (above), stamps when each attempt starts (the time budget of
    :class:`crawler.middlewares.TimeBudgetMiddleware` counts network time, not time queued) and
    caps response headers."""

    def __init__(self, crawler) -> None:
        super().__init__(crawler)
        cap_response_headers(crawler.settings.getint("FUNNEL_MAX_HEADER_BYTES", 65536))

    def _process_queue(self, slot) -> None:
        if not _PATCHABLE:
            return super()._process_queue(slot)
        if slot.latercall:
            return
        now = monotonic()
        delay = slot.download_delay()
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                slot.latercall = _scrapy.call_later(penalty, self._latercall, slot)
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            request.meta["funnel_attempt_started"] = now
            slot.transferring.add(request)  # counted now; _download adds it again and removes it when done
            _scrapy._schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:
                self._process_queue(slot)
                break
