"""The scheduler's queue: Scrapy's per-host priority queue, with file names any host fits in.

Pending requests wait on disk (``JOBDIR``, see :mod:`crawler.run`), one folder per download
slot; Scrapy names the folder after the host in full, and a host name may be 253 characters,
more than a file name can hold (``OSError: File name too long`` lost that host's requests).
"""
from __future__ import annotations

import hashlib

from scrapy.pqueues import DownloaderAwarePriorityQueue, ScrapyPriorityQueue


def folder_name(slot: str) -> str:
    """A file-system-safe, bounded, unique folder name for a download slot.

    >>> folder_name("a.example"), len(folder_name("d" * 253))
    ('a.example-b8e7453371a0', 73)
    """
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in slot)[:60]
    return f"{safe}-{hashlib.sha256(slot.encode('utf-8')).hexdigest()[:12]}"


class HostPriorityQueue(DownloaderAwarePriorityQueue):
    def pqfactory(self, slot: str, startprios=()) -> ScrapyPriorityQueue:
        return ScrapyPriorityQueue(self.crawler, self.downstream_queue_cls, self.key + "/" + folder_name(slot),
                                   startprios, start_queue_cls=self._start_queue_cls)
