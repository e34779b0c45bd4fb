"""Baseline for bench/run.py: a plain Scrapy CrawlSpider, no de-duplication tricks.

    scrapy runspider bench/plain_spider.py -a start=http://127.0.0.1:8080/

Follows every <a>/<area> link on the start URL's host:port (LinkExtractor + Rule(follow=True)),
64 concurrent requests, robots.txt ignored. Counts the unique URLs that answered 200 with an
HTML content type and prints one JSON line on stdout when the spider closes:

    {"pages": 5000, "responses": 5004, "status": {"200": 5000, "404": 4}, ...}

Run it outside any Scrapy project directory (a scrapy.cfg in the working directory would make
runspider load that project's settings); bench/run.py runs it in its temp directory.
"""
import json
import re
import sys
from collections import Counter
from urllib.parse import urlsplit

from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule


class PlainSpider(CrawlSpider):
    name = "plain"
    custom_settings = {
        "CONCURRENT_REQUESTS": 64,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 64,  # Scrapy's default of 8 per domain would cap it
        "LOG_LEVEL": "WARNING",
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "HTTPERROR_ALLOW_ALL": True,  # let 404s reach the callback so they are counted
    }

    def __init__(self, start="http://127.0.0.1:8080/", *args, **kwargs):
        parts = urlsplit(start)
        self.start_urls = [start]
        self.allowed_domains = [parts.hostname]
        origin = re.escape(f"{parts.scheme}://{parts.netloc}")
        # restricted to the start URL's scheme://host:port (allowed_domains ignores the port)
        self.rules = (Rule(LinkExtractor(allow=(rf"^{origin}(/|$)",)), callback="parse_page",
                           follow=True),)
        super().__init__(*args, **kwargs)
        self.pages, self.status, self.responses = set(), Counter(), 0

    def parse_start_url(self, response):
        return self.parse_page(response)

    def parse_page(self, response):
        self.responses += 1
        self.status[str(response.status)] += 1
        ctype = response.headers.get(b"Content-Type", b"").decode("latin-1").lower()
        if response.status == 200 and ctype.startswith("text/html"):
            self.pages.add(response.url)
        return ()

    def closed(self, reason):
        stats = self.crawler.stats.get_stats() if self.crawler and self.crawler.stats else {}
        sys.stdout.write(json.dumps({
            "pages": len(self.pages), "responses": self.responses, "status": dict(self.status),
            "requests": stats.get("downloader/request_count"), "finish_reason": reason,
        }) + "\n")
        sys.stdout.flush()
