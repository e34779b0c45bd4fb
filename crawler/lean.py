"""Scrapy's parts, without per-request costs an audit has no use for (``crawler.settings``).

The log formatter: Scrapy builds a "Crawled (200) <GET ...>" and a "Scraped from <200 ...>" message for every
response and item and hands them to ``logging`` at DEBUG. Its root handler drops them at the
crawl's ``LOG_LEVEL`` (WARNING unless ``-v``), but only after the loggers, left at NOTSET, made
a ``LogRecord`` of each (and the "Scraped" one a dict of the whole item): ~1.5% of a crawl
process's CPU for nothing. Below DEBUG they are not made at all; with ``-vv`` they are as before.
"""
from __future__ import annotations

import logging

from scrapy.logformatter import LogFormatter
from scrapy.statscollectors import MemoryStatsCollector


class QuietLogFormatter(LogFormatter):
    """Scrapy's formatter; ``crawled`` and ``scraped`` say nothing unless ``LOG_LEVEL`` shows DEBUG.

    >>> from scrapy.utils.test import get_crawler
    >>> QuietLogFormatter.from_crawler(get_crawler(settings_dict={"LOG_LEVEL": "WARNING"})).scraped({}, None, None) is None
    True
    >>> QuietLogFormatter.from_crawler(get_crawler(settings_dict={"LOG_LEVEL": "DEBUG"})).debug
    True
    """

    def __init__(self, debug: bool = True):
        super().__init__()
        self.debug = debug

    @classmethod
    def from_crawler(cls, crawler):
        level = crawler.settings.get("LOG_LEVEL") or "DEBUG"
        numeric = level if isinstance(level, int) else logging.getLevelName(str(level).upper())
        return cls(debug=not isinstance(numeric, int) or numeric <= logging.DEBUG)

    def crawled(self, request, response, spider):
        return super().crawled(request, response, spider) if self.debug else None

    def scraped(self, item, response, spider):
        return super().scraped(item, response, spider) if self.debug else None


class StatsCollector(MemoryStatsCollector):
    """Scrapy's stats collector, its methods called directly. Scrapy 2.19 routes every attribute
    of its collector through a ``__getattribute__`` that wraps the methods in a check for a
    deprecated ``spider`` argument, and looks for a cached wrapper first (an ``AttributeError``
    raised and caught for each ``self._stats`` read): ~10 stats calls a request, ~1% of a crawl
    process's CPU. The same counters; no deprecation warning for a ``spider`` argument
    (scrapy-redis passes one).

    >>> from scrapy.utils.test import get_crawler
    >>> stats = StatsCollector(get_crawler()); stats.inc_value("x"); stats.inc_value("x", 2, spider=None)
    >>> stats.get_value("x")
    3
    """

    __getattribute__ = object.__getattribute__
