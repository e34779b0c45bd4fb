"""The pipeline that streams each fetched URL into the crawl store as it arrives."""
from __future__ import annotations

import logging
import os
import tempfile

from scrapy import signals

from crawler.store import Store, StoreError, write_error, write_failure

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
    """Writes the items (a fetched URL, its links, the URLs it queued) in batches: up to
    ``FUNNEL_STORE_BATCH`` items (20) or ``FUNNEL_STORE_BATCH_SECONDS`` (0.1 s), whichever comes
    first, in one transaction (:meth:`Store.batch`), and what is left when the crawl closes.

    A crawl killed at any moment leaves every page of its last committed batch in the store,
    and the URLs they queued in its frontier: a resume fetches the rest again. Memory holds one
    batch at most, never the crawl. ``FUNNEL_STORE_BATCH = 1``: one transaction per item.
    """

    def __init__(self, db_path: str, crawl_id: int, crawler=None, batch: int = 20, batch_seconds: float = 0.1):
        self.db_path, self.crawl_id, self.crawler = db_path, crawl_id, crawler
        self.store: Store | None = None
        self.state_seq = 0   # the newest crawl state written
        self.failure: str | None = None   # why the store took no more writes (the crawl then stops)
        self.reserve = None
        self.batch, self.batch_seconds = max(1, batch), batch_seconds
        self.pending: list = []   # items waiting for the next commit (at most ``batch``)
        self.timer = None         # flushes what waits every ``batch_seconds``

    @classmethod
    def from_crawler(cls, crawler):
        s = crawler.settings
        pipeline = cls(s.get("FUNNEL_DB"), s.getint("FUNNEL_CRAWL_ID"), crawler,
                       s.getint("FUNNEL_STORE_BATCH", 20), s.getfloat("FUNNEL_STORE_BATCH_SECONDS", 0.1))
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self, spider=None):
        self.store = Store(self.db_path)
        self.reserve = reserve(self.db_path)
        if self.batch > 1 and self.batch_seconds > 0:
            from twisted.internet import task

            self.timer = task.LoopingCall(self.flush)
            self.timer.start(self.batch_seconds, now=False)

    def process_item(self, item, spider=None):
        if self.failure is not None:  # the crawl is stopping: what is still on its way is not written
            return item
        self.pending.append(item)
        if len(self.pending) >= self.batch:
            self.flush()
        return item

    def flush(self) -> None:
        """Commit the items waiting, in one transaction; a store that takes no write stops the crawl."""
        if not self.pending or self.failure is not None or self.store is None:
            self.pending.clear()
            return
        items, self.pending = self.pending, []
        seq = self.state_seq
        try:
            with self.store.batch():
                for item in items:
                    self._write(item)
        except Exception as exc:
            self.state_seq = seq  # (the batch was rolled back, its states with it)
            if write_failure(exc):
                self._failed(exc)
            else:  # a bug in one item: the others are written one by one, that one is logged
                self._write_each(items)

    def _write_each(self, items) -> None:
        for item in items:
            try:
                self._write(item)
            except Exception as exc:
                if write_failure(exc):
                    self._failed(exc)
                    return
                logger.error("cannot store %s", item.get("page", {}).get("url"), exc_info=True)

    def _failed(self, exc: BaseException) -> None:
        """The store took no write (a full disk, a file gone read-only): stop the crawl. Every page
        of the batches committed before stays; spider_closed marks the crawl failed."""
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
        page = item["page"]
        if item.get("cache") and page.get("reason") == "cached":
            item["cache"] = False  # an answer read from the cache does not renew it
        state = item.get("state")
        if state is not None:  # items are written out of the order their states were taken in
            if state.get("seq", 0) < self.state_seq:
                state = None
            else:
                self.state_seq = state.get("seq", 0)
        self.store.write_page(self.crawl_id, page, item["links"], item["discovered"], state,
                              partial=item.get("partial", False), replace_links=item.get("replace_links", False))
        if item.get("cache"):
            self.store.cache(page["url"], page["status"], page.get("location"), page.get("headers"),
                             page.get("content_type"))

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
            try:
                with Store(self.db_path) as store:
                    store.finish_crawl(self.crawl_id, "failed", self.failure)
            except Exception as exc:
                if not (isinstance(exc, StoreError) or write_failure(exc)):
                    raise
                logger.error("crawl #%d could not be marked failed in the store: %s", self.crawl_id, exc)
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
                store.set_limits(self.crawl_id, CrawlLimits.from_crawler(self.crawler).summary(
                    dupefilter_of(self.crawler).seen_digest, finished=reason == "finished", earlier=earlier))
            store.finish_crawl(self.crawl_id, "complete" if reason == "finished" else "interrupted",
                               None if reason == "finished" else why)

    def close_spider(self, spider=None):
        """(Scrapy calls it before ``spider_closed``, which marks the crawl finished or interrupted.)"""
        if self.timer is not None and self.timer.running:
            self.timer.stop()
        self.timer = None
        self.flush()
        if self.store is not None:
            self.store.close()
            self.store = None
