"""The pipeline that streams each fetched URL into the crawl store as it arrives."""
from __future__ import annotations

import logging
import os
import tempfile

from crawler.store import Store, StoreError, mark_crawl_failed, write_error, write_failure

logger = logging.getLogger(__name__)

# Why a crawl stopped early, by Scrapy's close reason (an interrupted crawl can be resumed).
STOPPED = {"closespider_timeout": "stopped: --max-time reached", "shutdown": "interrupted by the user"}
STORE_FAILED = "store-error"   # the close reason of a crawl whose store stopped taking writes
RESERVE = 256 * 1024           # bytes of the store's disk held back to record that, should the disk fill up


def reserve(db_path: str, size: int = RESERVE):
    """Hold ``size`` bytes on the store's file system: an unnamed file (``O_TMPFILE``), freed when
    it is closed or the process ends however it ends, so none is ever left behind. When the disk
    fills up, closing it gives SQLite the room to mark the crawl failed. None if it cannot be made."""
    try:
        fh = tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(db_path)))
    except OSError:
        return None
    try:
        try:
            os.posix_fallocate(fh.fileno(), 0, size)
        except (OSError, AttributeError):  # a file system without fallocate: blocks written
            fh.write(b"\0" * size)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError:
        fh.close()
        return None
    return fh


class StorePipeline:
    """Writes one item (a fetched URL, its links, the URLs it queued) per transaction.

    Nothing is buffered: a crawl killed at any moment leaves every page it
    finished in the store, and memory does not grow with the number of links.
    """

    def __init__(self, db_path: str, crawl_id: int, crawler=None):
        self.db_path, self.crawl_id, self.crawler = db_path, crawl_id, crawler
        self.store: Store | None = None
        self.state_seq = 0   # the newest crawl state written
        self.failure: str | None = None   # why the store took no more writes (the crawl then stops)
        self.reserve = None

    @classmethod
    def from_crawler(cls, crawler):
        from scrapy import signals  # (here: the cluster's writer imports this module for reserve(), without Scrapy)

        pipeline = cls(crawler.settings.get("FUNNEL_DB"), crawler.settings.getint("FUNNEL_CRAWL_ID"), crawler)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self, spider=None):
        self.store = Store(self.db_path)
        self.reserve = reserve(self.db_path)

    def process_item(self, item, spider=None):
        if self.failure is not None:  # the crawl is stopping: what is still on its way is not written
            return item
        try:
            self._write(item)
        except Exception as exc:
            if not write_failure(exc):
                raise
            self._failed(exc)
        return item

    def _failed(self, exc: BaseException) -> None:
        """The store took no write (a full disk, a file gone read-only): stop the crawl. Every page
        written before stays (one transaction each); spider_closed marks the crawl failed."""
        self.failure = write_error(self.db_path, exc)
        logger.error("%s: stopping the crawl", self.failure)
        if self.crawler is not None:
            self.crawler.stats.set_value("funnelcheck/store_error", self.failure)
            engine = getattr(self.crawler, "engine", None)
            if engine is not None and hasattr(engine, "close_spider_async"):  # Scrapy >= 2.14
                from scrapy.utils.defer import deferred_from_coro

                deferred_from_coro(engine.close_spider_async(reason=STORE_FAILED))
            elif engine is not None:
                engine.close_spider(engine.spider, STORE_FAILED)

    def _write(self, item) -> None:
        self.state_seq = self.store.write_item(self.crawl_id, item, self.state_seq)

    def spider_closed(self, spider, reason):
        try:
            if self.failure is None:
                self._close(reason)
        except Exception as exc:  # the last writes of a crawl can find the disk full too
            if not (isinstance(exc, StoreError) or write_failure(exc)):
                raise
            self.failure = str(exc) if isinstance(exc, StoreError) else write_error(self.db_path, exc)
            if self.crawler is not None:
                self.crawler.stats.set_value("funnelcheck/store_error", self.failure)
        if self.failure is not None:
            if self.reserve is not None:  # the room to say so
                self.reserve.close()
                self.reserve = None
            mark_crawl_failed(self.db_path, self.crawl_id, self.failure)
        if self.reserve is not None:
            self.reserve.close()
            self.reserve = None

    def _close(self, reason) -> None:
        why = STOPPED.get(reason, f"stopped: {reason}")
        with Store(self.db_path) as store:
            if self.crawler is not None:  # what --depth, --max-pages and traps left out
                from crawler.dupefilter import dupefilter_of
                from crawler.extensions import CrawlLimits

                earlier = store.crawl(self.crawl_id).get("limits")
                limits = CrawlLimits.from_crawler(self.crawler).summary(
                    dupefilter_of(self.crawler).seen_digest, finished=reason == "finished", earlier=earlier)
                plan = getattr(getattr(self.crawler, "spider", None), "render", None)
                if plan is not None and plan.unrendered():  # (--render auto: pages past the re-render bound)
                    limits["unrendered"] = plan.unrendered()
                store.set_limits(self.crawl_id, limits)
            store.finish_crawl(self.crawl_id, "complete" if reason == "finished" else "interrupted",
                               None if reason == "finished" else why)

    def close_spider(self, spider=None):
        if self.store is not None:
            self.store.close()
            self.store = None
