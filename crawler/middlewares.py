"""Downloader middlewares: robots.txt read the way RFC 9309 says; Retry-After honoured."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from protego import Protego
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.robotstxt import ProtegoRobotParser

logger = logging.getLogger(__name__)


class _Fixed(ProtegoRobotParser):
    """A parser whose answer is fixed: allow all (4xx) or disallow all (5xx)."""

    def __init__(self, allow: bool):  # noqa: D107 - no super(): nothing to parse
        self.rp = Protego.parse("" if allow else "User-agent: *\nDisallow: /\n")
        self.allow = allow


class RobotsMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots middleware with RFC 9309 status handling.

    A robots.txt answered with 2xx is parsed (longest match wins, Protego);
    4xx means no rules (allow all); 5xx or no answer means disallow all, as the
    RFC asks of a crawler that cannot read the file. Requests with
    ``meta["dont_obey_robotstxt"]`` skip the check.
    """

    async def _parse_robots(self, response, netloc, request):
        status = response.status
        if 200 <= status < 300:
            return await super()._parse_robots(response, netloc, request)
        rp = _Fixed(allow=400 <= status < 500 or 300 <= status < 400)
        if status >= 500:
            logger.warning("robots.txt for %s answered %s: treating the host as disallowed", netloc, status)
        dfd = self._parsers[netloc]
        self._parsers[netloc] = rp
        dfd.callback(rp)


def retry_after_seconds(value: str | None, default: float) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date).

    >>> retry_after_seconds("3", 1), retry_after_seconds(None, 1), retry_after_seconds("soon", 2)
    (3.0, 1, 2)
    """
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class RetryAfterMiddleware:
    """Wait and retry on 429 (always) and 503 with Retry-After, a bounded number of times.

    The wait is capped at ``FUNNEL_MAX_RETRY_WAIT`` seconds and happens without
    blocking other hosts. When the host keeps answering 429 the last answer is
    kept: the status policy calls it unverified (rate limited), never broken.
    """

    def __init__(self, max_retries: int, max_wait: float):
        self.max_retries, self.max_wait = max_retries, max_wait

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getint("FUNNEL_RATE_LIMIT_RETRIES", 2),
                   crawler.settings.getfloat("FUNNEL_MAX_RETRY_WAIT", 10.0))

    async def process_response(self, request, response, spider=None):
        status = response.status
        retry_after = response.headers.get("Retry-After")
        if not (status == 429 or (status == 503 and retry_after)):
            return response
        tries = request.meta.get("rate_limit_retries", 0)
        if tries >= self.max_retries:
            return response
        delay = min(self.max_wait, retry_after_seconds(retry_after.decode("latin-1") if retry_after else None,
                                                        float(2 ** tries)))
        logger.info("%s answered %s: retrying in %.1f s", request.url, status, delay)
        await asyncio.sleep(delay)
        meta = dict(request.meta, rate_limit_retries=tries + 1)
        return request.replace(meta=meta, dont_filter=True)
