"""Page extraction: HTML bytes -> title, anchors, lead forms and every link.

A pure function over bytes (no Scrapy, no network), so it is tested on fixture
strings. lxml does the parsing on the hot path; BeautifulSoup is the fallback
for documents lxml refuses.
"""
from __future__ import annotations

import json
import re
from typing import NamedTuple
from urllib.parse import urlsplit

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
# Class/id heuristics, used only where no semantic landmark encloses a link. They match a
# whole class token or id value (never part of one: "has-sticky-footer" is not a footer) and
# are never read from <body> or <html>. When one element has several, the first region of
# _GUESS_ORDER wins.
_GUESS_EXACT = {
    **dict.fromkeys(("footer", "site-footer", "page-footer", "colophon", "bottom-bar"), "footer"),
    **dict.fromkeys(("header", "site-header", "masthead", "topbar", "top-bar"), "header"),
    **dict.fromkeys(("nav", "navbar", "navigation", "menu", "main-menu"), "nav"),
    **dict.fromkeys(("sidebar", "aside", "widget-area"), "aside"),
    **dict.fromkeys(("content", "main", "post", "entry", "article", "entry-content", "post-body",
                     "post-content"), "main"),
}
_GUESS_PREFIXES = (("footer", "footer"), ("header", "header"), ("nav", "nav"), ("sidebar", "aside"))
_GUESS_ORDER = {"footer": 0, "header": 1, "nav": 2, "aside": 3, "main": 4}
_GUESS = re.compile(r"(?:^|\s)((?:footer|header|nav|sidebar)\S*|"
                    + "|".join(re.escape(t) for t in sorted(_GUESS_EXACT, key=len, reverse=True))
                    + r")(?=\s|$)", re.I | re.ASCII)  # ASCII: "ſidebar" is not a sidebar
_NO_GUESS = frozenset({"body", "html"})
# An outer header/footer wins over a nav or aside nested in it.
_OUTER = frozenset({"header", "footer"})
_INNER = frozenset({"nav", "aside"})
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


def _guess(names: str) -> str | None:
    """The region class tokens / an id value suggest (see _GUESS_EXACT), or None."""
    best = None
    for m in _GUESS.finditer(names):
        token = m.group(1).lower()
        region = _GUESS_EXACT.get(token)
        if region is None:
            region = next((r for prefix, r in _GUESS_PREFIXES if token.startswith(prefix)), None)
            if region is None:
                continue
        if best is None or _GUESS_ORDER[region] < _GUESS_ORDER[best]:
            best = region
    return best


# A <header>/<footer> inside one of these belongs to it, not to the page (the HTML spec's scoping).
_SECTIONING = frozenset({"article", "section", "main", "aside", "nav"})


def _in_section(el) -> bool:
    return any(a.tag in _SECTIONING for a in el.iterancestors())


# <link rel=...> that name origins or CMS endpoints (answering 405 to GET), not documents.
_SKIPPED_RELS = frozenset({"preconnect", "dns-prefetch", "edituri", "wlwmanifest", "pingback", "shortlink"})
_NOT_LEAD = re.compile(r"comment|search|login|log-in|signin|sign-in|password", re.I)


def _not_a_lead_form(el) -> bool:
    """An email field in a comment, search or login form does not capture a lead."""
    for anc in el.iterancestors("form"):
        return bool(_NOT_LEAD.search(f"{anc.get('id') or ''} {anc.get('class') or ''} {anc.get('action') or ''}"))
    return False


def _region(el) -> str:
    """Where a link sits: head, or the landmark around it (header, nav, main, aside, footer), or body.

    The nearest semantic landmark (tag or ARIA role) decides, except that an outer
    header/footer (by tag, role, or class/id name) wins over a nav/aside inside it. A
    ``<header>``/``<footer>`` inside article/section/main/aside/nav is that section's, not the
    page's. Class/id names are a fallback for pages with no landmark around the link: the
    nearest guess, an outer header/footer guess first.
    """
    landmark = None  # nearest nav/aside landmark, waiting for an outer header/footer
    guess = outer_guess = None
    for anc in el.iterancestors():
        tag = anc.tag
        if tag == "head":
            return "head"
        region = REGION_TAGS.get(tag)
        if region in _OUTER and _in_section(anc):
            region = None  # <article><footer>: the post's footer, not the page's (HTML's scoping)
        if region is None:
            role = anc.get("role")
            if role:
                region = REGION_ROLES.get(role.strip().lower())
        if region is not None:
            if landmark is None:
                if region not in _INNER:
                    return region
                landmark = region
            elif region in _OUTER or (region == "main" and landmark == "nav"):
                return region  # a nav inside the main content (a row of icons in a post) is the body
        elif tag not in _NO_GUESS and (landmark is not None or outer_guess is None):
            ident, cls = anc.get("id"), anc.get("class")
            if ident or cls:
                region = _guess(f"{ident or ''} {cls or ''}" if ident and cls else ident or cls)
                if landmark is not None:
                    if region in _OUTER:  # <div id="footer"><nav>: still the footer
                        return region
                elif region in _OUTER:
                    outer_guess = region
                elif guess is None:
                    guess = region
    return landmark or outer_guess or guess or "body"


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


_SRCSET_URL = re.compile(r"[\t\n\f\r ,]*([^\t\n\f\r ]*)")
_SRCSET_DESCRIPTORS = re.compile(r"(?:[^,(]|\([^)]*\)?)*,?")


def _srcset(value: str) -> list[str]:
    """The URLs of a srcset, split as the HTML spec's "parse a srcset attribute" does.

    A URL is a run of non-whitespace (so it may hold commas); trailing commas end the
    candidate, otherwise its descriptors run to the next comma outside parentheses.

    >>> _srcset("/i/w_300,c_scale/a.jpg 300w, b.png 2x,c.png 3x,d.png, data:x;base64,AA= 1x")
    ['/i/w_300,c_scale/a.jpg', 'b.png', 'c.png', 'd.png', 'data:x;base64,AA=']
    """
    out = []
    pos = 0
    while True:
        m = _SRCSET_URL.match(value, pos)
        url = m.group(1)
        if not url:
            return out
        pos = m.end()
        if url[-1] == ",":
            url = url.rstrip(",")
        else:
            pos = _SRCSET_DESCRIPTORS.match(value, pos).end()
        out.append(url)


def _same_as(data) -> list[str]:
    found: list[str] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "sameAs":
                    if isinstance(value, str):
                        found.append(value)
                    elif isinstance(value, list):
                        found.extend(v for v in value if isinstance(v, str))
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


# An XML declaration (and a BOM) before an XHTML document: dropped when we decode ourselves.
_XML_DECL = re.compile(r"\ufeff?\s*<\?xml(?=[\s?])[^>]*>")


def _empty():
    return etree.fromstring(b"<html></html>", etree.HTMLParser())


def _resolve(base: str, href: str) -> str:
    """``href`` resolved against ``base``; the raw href when it cannot be (the spider then
    records it as a malformed link)."""
    try:
        return resolve(base, href)
    except ValueError:
        return href


def parse_html(body: bytes, encoding: str | None = None):
    """Parse HTML bytes to an lxml tree; never raises.

    lxml decodes the bytes itself when it knows ``encoding``. Python codec names libxml2
    does not know (``euc_jp``, ``iso2022_jp``, ``mac-roman``, ``utf-8-sig``...) are decoded
    here and parsed as UTF-8, with a leading XML declaration / BOM dropped (newlines kept,
    so source lines stay right). BeautifulSoup is the last resort for what lxml refuses.
    """
    try:
        parser = etree.HTMLParser(encoding=encoding or None, recover=True, huge_tree=False)
    except LookupError:
        parser = None
    if parser is not None:
        try:
            root = etree.fromstring(body, parser)
            if root is not None:
                return root
        except (etree.ParserError, etree.XMLSyntaxError, ValueError, LookupError):
            pass
    try:
        text = body.decode(encoding or "utf-8", "replace")
    except (LookupError, ValueError):  # unknown codec, or not a text encoding
        text = body.decode("utf-8", "replace")
    m = _XML_DECL.match(text)
    if m:
        text = "\n" * m.group().count("\n") + text[m.end():]
    elif text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        return _empty()
    utf8 = etree.HTMLParser(encoding="utf-8", recover=True, huge_tree=False)
    try:
        root = etree.fromstring(text.encode("utf-8", "replace"), utf8)
        if root is not None:
            return root
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        pass
    try:
        from bs4 import BeautifulSoup

        root = etree.fromstring(str(BeautifulSoup(text, "html.parser")).encode("utf-8", "replace"), utf8)
    except Exception:  # noqa: BLE001 - the last resort must not raise either
        root = None
    return root if root is not None else _empty()


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
            try:
                candidate = resolve(url, b.get("href"))
                urlsplit(candidate).port  # a base that does not parse is ignored, as browsers do
                base = candidate
            except ValueError:
                pass
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
            if not lead_form and ((el.get("type") or "").lower() in ("email", "tel")
                                  or "email" in (el.get("name") or "").lower()) and not _not_a_lead_form(el):
                lead_form = True
            continue
        if tag == "form":
            continue
        if tag == "meta":
            if (el.get("http-equiv") or "").lower() == "refresh":
                m = _REFRESH.match(el.get("content") or "")
                if m:
                    links.append(Link(_resolve(base, m.group(1)), "meta", "content", "", "head", "", False, False, el.sourceline))
            continue
        rel = (el.get("rel") or "").strip().lower()
        if tag == "link" and _SKIPPED_RELS.intersection(rel.split()):
            continue  # connection hints and CMS plumbing, not links anyone follows
        sameas = (el.get("itemprop") or "").lower() == "sameas"
        if tag == "script" and (el.get("type") or "").lower() == "application/ld+json":
            try:
                data = json.loads("".join(el.itertext()) or "null")
            except (ValueError, RecursionError):
                continue
            sameas_region = _region(el)
            for target in _same_as(data):
                links.append(Link(_resolve(base, target), "script", "sameAs", "", sameas_region, "", False, True,
                                  el.sourceline))
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
                links.append(Link(_resolve(base, v), tag, attr, text, region, rel, icon, sameas, el.sourceline))
    anchors = [a for a in root.xpath("//@id | //a/@name") if a]
    return PageFacts(title, links, list(dict.fromkeys(anchors)), lead_form)
