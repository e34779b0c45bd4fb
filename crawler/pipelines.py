"""The pipeline that streams each fetched URL into the crawl store as it arrives."""
from __future__ import annotations

from scrapy import signals

from crawler.store import Store

# Why a crawl stopped early, by Scrapy's close reason (an interrupted crawl can be resumed).
STOPPED = {"closespider_timeout": "stopped: --max-time reached", "shutdown": "interrupted by the user"}


class StorePipeline:
    """Writes one item (a fetched URL, its links, the URLs it queued) per transaction.

    Nothing is buffered: a crawl killed at any moment leaves every page it
    finished in the store, and memory does not grow with the number of links.
    """

    def __init__(self, db_path: str, crawl_id: int, crawler=None):
        self.db_path, self.crawl_id, self.crawler = db_path, crawl_id, crawler
        self.store: Store | None = None
        self.state_seq = 0   # the newest crawl state written

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = cls(crawler.settings.get("FUNNEL_DB"), crawler.settings.getint("FUNNEL_CRAWL_ID"), crawler)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def open_spider(self, spider=None):
        self.store = Store(self.db_path)

    def process_item(self, item, spider=None):
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
        return item

    def spider_closed(self, spider, reason):
        why = STOPPED.get(reason, f"stopped: {reason}")
        with Store(self.db_path) as store:
            if self.crawler is not None:  # what --depth, --max-pages and traps left out
                from crawler.dupefilter import dupefilter_of
                from crawler.extensions import CrawlLimits

                earlier = store.crawl(self.crawl_id).get("limits")
                store.set_limits(self.crawl_id, CrawlLimits.from_crawler(self.crawler).summary(
                    dupefilter_of(self.crawler).seen, finished=reason == "finished", earlier=earlier))
            store.finish_crawl(self.crawl_id, "complete" if reason == "finished" else "interrupted",
                               None if reason == "finished" else why)

    def close_spider(self, spider=None):
        if self.store is not None:
            self.store.close()
            self.store = None
