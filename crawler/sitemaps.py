"""Sitemaps read as a stream: one ``<loc>`` at a time, never the whole tree.

A sitemap may list 50,000 URLs (and a crawl may be told of several): Scrapy's ``Sitemap``
builds the whole lxml tree first. Here the file is read with ``iterparse`` and each element
dropped once read, entities never resolved, nothing fetched.
"""
from __future__ import annotations

from io import BytesIO
from typing import Iterator

from lxml import etree


class SitemapError(ValueError):
    """Not a sitemap: not XML, or neither a ``urlset`` nor a ``sitemapindex``."""


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def read_sitemap(body: bytes) -> Iterator[tuple[str, str]]:
    """``(type, loc)`` for each entry: type ``urlset`` or ``sitemapindex``.

    >>> xml = (b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    ...        b'<url><loc> https://a.example/ </loc></url><url><loc>https://a.example/b</loc></url></urlset>')
    >>> list(read_sitemap(xml))
    [('urlset', 'https://a.example/'), ('urlset', 'https://a.example/b')]
    """
    kind = None
    try:
        for event, elem in etree.iterparse(BytesIO(body), events=("start", "end"), resolve_entities=False,
                                           no_network=True, recover=True, huge_tree=False):
            if kind is None:
                kind = _local(elem.tag)
                if kind not in ("urlset", "sitemapindex"):
                    raise SitemapError(f"not a sitemap (root element {kind!r})")
                continue
            if event != "end":
                continue
            name = _local(elem.tag)
            if name == "loc":
                parent = elem.getparent()
                if parent is not None and _local(parent.tag) in ("url", "sitemap") and elem.text and elem.text.strip():
                    yield kind, elem.text.strip()
            elif name in ("url", "sitemap"):
                elem.clear()  # read: let it go, and the siblings before it
                while elem.getprevious() is not None:
                    del elem.getparent()[0]
    except etree.XMLSyntaxError as exc:
        if kind is None:
            raise SitemapError(f"not XML: {exc}") from None
    if kind is None:
        raise SitemapError("empty")
