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


# The internals this leans on (Scrapy 2.19); a Scrapy without them gets its own downloader.
_PATCHABLE = all(hasattr(_scrapy, name) for name in ("_schedule_coro", "call_later")) and hasattr(
    _scrapy.Downloader, "_wait_for_download")


class Downloader(_scrapy.Downloader):
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
            slot.transferring.add(request)  # counted now; _download adds it again and removes it when done
            _scrapy._schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:
                self._process_queue(slot)
                break
