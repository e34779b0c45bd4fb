"""Downloader middlewares: robots.txt read the way RFC 9309 says."""
from __future__ import annotations

import logging

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
