"""Page extraction: HTML bytes -> title, anchors, lead forms and every link.

A pure function over bytes (no Scrapy, no network), so it is tested on fixture
strings. lxml does the parsing on the hot path; BeautifulSoup is the fallback
for documents lxml refuses.
"""
from __future__ import annotations

import json
import re
from typing import NamedTuple

from lxml import etree

from .urls import resolve

# Tag -> attributes holding a URL; the order of LINK_TAGS is the order of the checks.
URL_ATTRS = {
    "a": ("href",), "area": ("href",), "link": ("href",), "img": ("src", "srcset"),
    "script": ("src",), "iframe": ("src",), "frame": ("src",), "source": ("src", "srcset"),
    "video": ("src", "poster"), "audio": ("src",), "track": ("src",), "embed": ("src",),
    "object": ("data",), "form": (), "meta": (), "input": (),
}
# Tags whose targets are pages a visitor navigates to (crawled when in scope).
NAVIGATION_TAGS = frozenset({"a", "area", "iframe", "frame", "meta"})

REGION_TAGS = {"header": "header", "nav": "nav", "main": "main", "article": "main",
               "aside": "aside", "footer": "footer"}
REGION_ROLES = {"banner": "header", "navigation": "nav", "main": "main", "article": "main",
                "complementary": "aside", "contentinfo": "footer"}
_REGION_WORDS = [
    ("footer", re.compile(r"(^|[\s_-])(footer|site-footer|colophon|bottom-bar)($|[\s_-])", re.I)),
    ("header", re.compile(r"(^|[\s_-])(header|masthead|site-header|topbar|top-bar)($|[\s_-])", re.I)),
    ("nav", re.compile(r"(^|[\s_-])(nav|navbar|navigation|menu|main-menu)($|[\s_-])", re.I)),
    ("aside", re.compile(r"(^|[\s_-])(sidebar|aside|widget-area)($|[\s_-])", re.I)),
    ("main", re.compile(r"(^|[\s_-])(content|main|post|entry|article|entry-content|post-body)($|[\s_-])", re.I)),
]
# An outer header/footer wins over a nav or aside nested in it.
_OUTER = frozenset({"header", "footer"})
_REFRESH = re.compile(r"^\s*\d*\s*[;,]?\s*url\s*=\s*['\"]?([^'\"]+)", re.I)
_WS = re.compile(r"\s+")


class Link(NamedTuple):
    url: str        # absolute, resolved against the page's public URL and <base>
    tag: str        # a, img, link, script, meta (refresh), script (sameAs) ...
    attr: str       # href, src, srcset, content, sameAs ...
    text: str       # anchor text, or alt / aria-label / title for icon links
    region: str     # header, nav, main, aside, footer, body, head
    rel: str
    icon: bool      # the link shows only an image/icon, no text
    sameas: bool    # schema.org sameAs (an identity claim, not a route)
    line: int | None


class PageFacts(NamedTuple):
    title: str
    links: list[Link]
    anchors: list[str]   # ids and <a name> targets a #fragment can point to
    lead_form: bool      # a form with an email or telephone input


def _region(el) -> str:
    found = None
    for anc in el.iterancestors():
        tag = anc.tag if isinstance(anc.tag, str) else ""
        region = REGION_TAGS.get(tag.lower()) or REGION_ROLES.get((anc.get("role") or "").lower())
        if region is None:
            names = f"{anc.get('id') or ''} {anc.get('class') or ''}".strip()
            if names:
                for name, rx in _REGION_WORDS:
                    if rx.search(names):
                        region = name
                        break
        if region:
            if region in _OUTER:
                return region
            if found is None:
                found = region
        if tag == "head":
            return "head"
    return found or "body"


def _text(el) -> tuple[str, bool]:
    text = _WS.sub(" ", el.text_content() if hasattr(el, "text_content") else "".join(el.itertext())).strip()
    if text:
        return text[:200], False
    label = el.get("aria-label") or el.get("title") or ""
    has_media = False
    for child in el.iter("img", "svg", "i", "span", "picture"):
        if child is el:
            continue
        has_media = True
        label = label or child.get("alt") or child.get("aria-label") or child.get("title") or ""
    return label.strip()[:200], has_media or bool(label)


def _srcset(value: str) -> list[str]:
    out = []
    for candidate in value.split(","):
        url = candidate.strip().split(" ")[0]
        if url:
            out.append(url)
    return out


def _same_as(data) -> list[str]:
    found: list[str] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "sameAs":
                    found.extend([value] if isinstance(value, str) else [v for v in value if isinstance(v, str)])
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def parse_html(body: bytes, encoding: str | None = None):
    """Parse HTML bytes to an lxml tree; BeautifulSoup rescues what lxml refuses."""
    try:
        parser = etree.HTMLParser(encoding=encoding, recover=True, huge_tree=False)
        root = etree.fromstring(body, parser)
        if root is not None:
            return root
    except (etree.ParserError, etree.XMLSyntaxError, ValueError, LookupError):
        pass
    from bs4 import BeautifulSoup

    text = str(BeautifulSoup(body, "html.parser")) or "<html></html>"
    root = etree.fromstring(text, etree.HTMLParser(recover=True))
    return root if root is not None else etree.fromstring("<html></html>", etree.HTMLParser())


def extract(body: bytes, url: str, encoding: str | None = None) -> PageFacts:
    """Extract what funnelcheck needs from one HTML page at public ``url``.

    >>> facts = extract(b'<html><head><title> Hi </title></head><body><header>'
    ...     b'<a href="https://twitter.com/acme"><img alt="Twitter"></a></header>'
    ...     b'<main id="top"><a href="/pricing/#plans">Plans</a></main></body></html>',
    ...     "https://acme.example/")
    >>> facts.title, facts.anchors
    ('Hi', ['top'])
    >>> [(l.url, l.region, l.icon, l.text) for l in facts.links]
    [('https://twitter.com/acme', 'header', True, 'Twitter'), ('https://acme.example/pricing/#plans', 'main', False, 'Plans')]
    """
    root = parse_html(body, encoding)
    base = url
    for b in root.iter("base"):
        if b.get("href"):
            base = resolve(url, b.get("href"))
        break
    title = ""
    for t in root.iter("title"):
        title = _WS.sub(" ", "".join(t.itertext())).strip()[:300]
        break
    links: list[Link] = []
    lead_form = False
    for el in root.iter(*URL_ATTRS):
        tag = el.tag
        if tag == "input":
            if (el.get("type") or "").lower() in ("email", "tel") or "email" in (el.get("name") or "").lower():
                lead_form = True
            continue
        if tag == "form":
            continue
        if tag == "meta":
            if (el.get("http-equiv") or "").lower() == "refresh":
                m = _REFRESH.match(el.get("content") or "")
                if m:
                    links.append(Link(resolve(base, m.group(1)), "meta", "content", "", "head", "", False, False, el.sourceline))
            continue
        rel = (el.get("rel") or "").strip().lower()
        sameas = (el.get("itemprop") or "").lower() == "sameas"
        if tag == "script" and (el.get("type") or "").lower() == "application/ld+json":
            try:
                data = json.loads("".join(el.itertext()) or "null")
            except ValueError:
                continue
            for target in _same_as(data):
                links.append(Link(resolve(base, target), "script", "sameAs", "", "head", "", False, True, el.sourceline))
            continue
        attrs = URL_ATTRS[tag]
        region = None
        for attr in attrs:
            value = el.get(attr)
            if value is None:
                continue
            values = _srcset(value) if attr == "srcset" else [value]
            for v in values:
                v = v.strip()
                if not v and tag not in ("a", "area"):
                    continue
                if region is None:
                    region = _region(el)
                    text, icon = _text(el) if tag in ("a", "area") else (el.get("alt") or "", False)
                links.append(Link(resolve(base, v), tag, attr, text, region, rel, icon, sameas, el.sourceline))
    anchors = [a for a in root.xpath("//@id | //a/@name") if a]
    return PageFacts(title, links, list(dict.fromkeys(anchors)), lead_form)
