"""Scrapy's downloader, with its per-host concurrency held.

In Scrapy 2.19 ``Downloader._process_queue`` hands every queued request of a slot to a new
task before any of them runs, and a request only counts as transferring once its task
starts: with ``CONCURRENT_REQUESTS_PER_DOMAIN = 1`` a server saw ten requests at once.
Here a request counts from the moment it leaves the queue, so ``--concurrency`` is what a
server sees. Installed with the ``DOWNLOADER`` setting.

In a crawl with many workers (settings ``FUNNEL_REDIS_URL`` and ``FUNNEL_CLUSTER_TOKEN``), a
request leaves the queue only with a lease of its host from :class:`crawler.leases.HostLeases`
(taken for as many queued requests as the slot has room for, in one Redis round trip); when
none is free, or the host is paused by a ``Retry-After``, the slot asks again shortly, on a
timer (the reactor never waits). The lease goes back when the download ends (answer, error,
timeout, cancel), with the host's pause set first when the answer was a 429/503 with
``Retry-After``. Without those settings nothing of this runs.
"""
from __future__ import annotations

import logging
import random
from time import monotonic

from scrapy.core import downloader as _scrapy
from twisted.web import _newclient

from scrapy.exceptions import IgnoreRequest

from crawler.errors import HeadersTooLarge

logger = logging.getLogger(__name__)

LEASE_RETRY = 0.02   # seconds a slot that got no lease waits before asking again (+ up to 50 % jitter)


class Dropped(IgnoreRequest):
    """A request still queued in the downloader when a worker of a cluster crawl leaves it
    (:meth:`Downloader.drop_queued`): never sent to its host, and still pending in Redis."""


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
    """Holds per-host concurrency (above), across workers too when in a cluster, stamps when
    each attempt starts (the time budget of :class:`crawler.middlewares.TimeBudgetMiddleware`
    counts network time, not time queued) and caps response headers."""

    def __init__(self, crawler) -> None:
        super().__init__(crawler)
        self.dropping = False   # the worker leaves the crawl: no request is sent any more
        cap_response_headers(crawler.settings.getint("FUNNEL_MAX_HEADER_BYTES", 65536))
        from crawler.leases import HostLeases

        self.leases = HostLeases.from_settings(crawler.settings)
        if self.leases is not None:
            if not _PATCHABLE:
                logger.warning("this Scrapy's downloader cannot be extended: --concurrency holds per worker only")
                self.leases = None
            else:
                from crawler.middlewares import rate_limit_pause

                self._leased: dict = {}   # request -> (host, lease id)
                self._back: dict = {}     # host -> leases given back, sent with its next take
                self._flush_call = None
                self._pause_for = lambda response: rate_limit_pause(response, crawler.settings)
                self.handlers = _ReleasingHandlers(self.handlers, self._release)
                self._redis_failed = False

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
        leases = None
        if self.leases is not None and slot.queue and slot.free_transfer_slots() > 0:
            leases = self._take(slot, 1 if delay else min(len(slot.queue), slot.free_transfer_slots()))
            if leases is None:
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            if leases is not None:
                if not leases:
                    slot.latercall = _scrapy.call_later(LEASE_RETRY * (1 + random.random() / 2), self._latercall, slot)
                    return
                lease = leases.pop()
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            if leases is not None:
                self._leased[request] = (request.meta[self.DOWNLOAD_SLOT], lease)
            request.meta["funnel_attempt_started"] = now
            slot.transferring.add(request)  # counted now; _download adds it again and removes it when done
            _scrapy._schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:
                self._process_queue(slot)
                break

    def _take(self, slot, wanted: int) -> list | None:
        """Leases for ``wanted`` requests of ``slot``'s host; None (and the slot asks again on a
        timer) when the host is paused or Redis did not answer."""
        host = slot.queue[0][0].meta[self.DOWNLOAD_SLOT]
        back = self._back.pop(host, [])
        try:
            granted, wait = self.leases.take(host, wanted, back, limit=slot.concurrency,
                                             mine=len(slot.transferring))
        except Exception as exc:  # redis errors: wait for Redis (or for the worker to be stopped)
            if back:
                self._back.setdefault(host, []).extend(back)
            if not self._redis_failed:
                logger.error("Redis did not answer a lease of %s: %s (waiting)", host, exc)
                self._redis_failed = True
            granted, wait = [], 1.0
        else:
            self._redis_failed = False
        if wait > 0:
            slot.latercall = _scrapy.call_later(wait, self._latercall, slot)
            return None
        return granted

    def _release(self, request, response=None) -> None:
        """The download of ``request`` ended: its lease goes back with the host's next take (the
        slot usually takes one at once) or, at the latest, on the reactor's next turn; a
        ``Retry-After`` pause goes to Redis at once, with the lease."""
        held = self._leased.pop(request, None)
        pause = self._pause_for(response) if response is not None else 0.0
        if held is None and not pause:
            return
        host = held[0] if held else request.meta.get(self.DOWNLOAD_SLOT) or self.get_slot_key(request)
        if held is not None:
            self._back.setdefault(host, []).append(held[1])
        if pause:
            self._give_back(host, pause)
        elif self._flush_call is None:
            self._flush_call = _scrapy.call_later(0, self._give_back_all)

    def _give_back(self, host: str, pause: float = 0.0) -> None:
        try:
            self.leases.release(host, self._back.pop(host, ()), pause)
        except Exception as exc:  # the leases expire by themselves
            logger.warning("Redis did not take back the leases of %s: %s", host, exc)

    def _give_back_all(self) -> None:
        self._flush_call = None
        for host in list(self._back):
            self._give_back(host)

    def drop_queued(self) -> int:
        """Fail every request still queued (not sent yet) with :class:`Dropped`, and send no more:
        a worker that leaves the crawl (stopped, its writer or coordinator gone) ends with the
        downloads in flight, not with every request its queues held (in the trial: 64 pages
        fetched, and thrown away, after the writer was killed). Returns how many were dropped."""
        from twisted.python.failure import Failure

        self.dropping = True
        dropped = 0
        for slot in list(self.slots.values()):
            while slot.queue:
                request, queue_dfd = slot.queue.popleft()
                queue_dfd.errback(Failure(Dropped("the worker is leaving the crawl")))
                dropped += 1
        if dropped:
            logger.info("left %d queued requests to the other workers", dropped)
        return dropped

    async def _enqueue_request(self, request):
        if self.dropping:  # (a request that reaches the downloader after the drop)
            raise Dropped("the worker is leaving the crawl")
        return await super()._enqueue_request(request)

    def close(self) -> None:
        super().close()
        if self.leases is not None:
            if self._flush_call is not None:
                self._flush_call.cancel()
                self._flush_call = None
            for request in list(self._leased):
                self._release(request)
            self._give_back_all()


class _ReleasingHandlers:
    """Scrapy's download handlers, giving a request's lease back the moment its download ends
    (before the slot looks at its queue again, so the next request can take it)."""

    def __init__(self, handlers, release) -> None:
        self._handlers, self._release = handlers, release

    def __getattr__(self, name):
        return getattr(self._handlers, name)

    async def download_request_async(self, request):
        response = None
        try:
            response = await self._handlers.download_request_async(request)
            return response
        finally:
            self._release(request, response)
