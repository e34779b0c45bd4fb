"""Page extraction: HTML bytes -> title, anchors, lead forms and every link.

A pure function over bytes (no Scrapy, no network), so it is tested on fixture
strings. Pages are parsed as a browser parses them: lexbor (through selectolax)
builds the HTML5 tree, so an unclosed ``<div>`` cannot move a footer into the
body and deep nesting loses nothing. lexbor keeps no source positions, so each
start tag is marked with its line before parsing (:func:`mark_lines`).
"""
from __future__ import annotations

import codecs
import json
import re
from typing import NamedTuple
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from .signals import EMBED_MARKS, Signals, classify_form, embedded_form, next_value, structured_facts
from .urls import resolve

# Tag -> attributes holding a URL; the order of LINK_TAGS is the order of the checks.
URL_ATTRS = {
    "a": ("href",), "area": ("href",), "link": ("href",), "img": ("src", "srcset"),
    "script": ("src",), "iframe": ("src",), "frame": ("src",), "source": ("src", "srcset"),
    "video": ("src", "poster"), "audio": ("src",), "track": ("src",), "embed": ("src",),
    "object": ("data",), "form": ("action",), "meta": (), "input": (),
}
# Tags whose targets are pages a visitor navigates to (crawled when in scope).
NAVIGATION_TAGS = frozenset({"a", "area", "iframe", "frame", "meta"})
# The elements extract() reads, as one selector (lexbor matches it in document order): those with
# URLs, ids and styles, and those page signals read (crawler.signals).
_SELECTOR = ", ".join([*URL_ATTRS, "[style]", "style", "[id]", "a[name]", "title", "base", "article", "time", "button"])

REGION_TAGS = {"header": "header", "nav": "nav", "main": "main", "article": "main",
               "aside": "aside", "footer": "footer"}
REGION_ROLES = {"banner": "header", "navigation": "nav", "main": "main", "article": "main",
                "complementary": "aside", "contentinfo": "footer", "menu": "nav", "menubar": "nav"}
# Class/id heuristics, used only where no semantic landmark encloses a link. They match a
# whole class token or id value (never part of one: "has-sticky-footer" is not a footer) and
# are never read from <body> or <html>. When one element has several, the first region of
# _GUESS_ORDER wins.
_GUESS_EXACT = {
    **dict.fromkeys(("footer", "site-footer", "page-footer", "colophon", "bottom-bar", "elementor-location-footer"),
                    "footer"),
    **dict.fromkeys(("header", "site-header", "masthead", "topbar", "top-bar", "elementor-location-header"), "header"),
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
# Menus marked only by class names (WordPress, Elementor, off-canvas and mobile menus, often placed
# after the footer without a <nav>): a class token holding one of these as a whole hyphenated part
# ("menu-item-10933", "resources-menu-item", "elementor-nav-menu--main") is navigation.
MENU_TOKENS = ("menu-item", "nav-menu", "sub-menu", "mega-menu", "megamenu", "mobile-menu", "mobile-nav",
               "mobile-navigation", "offcanvas", "off-canvas", "elementor-location-popup", "menubar")
_MENU = re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(re.escape(t) for t in MENU_TOKENS) + r")(?![A-Za-z0-9])",
                   re.I | re.ASCII)
# An outer header/footer wins over a nav or aside nested in it.
_OUTER = frozenset({"header", "footer"})
_INNER = frozenset({"nav", "aside"})
_REFRESH = re.compile(r"^\s*(\d*)\s*[;,]?\s*url\s*=\s*['\"]?([^'\"]+)", re.I)  # delay, URL
REFRESH_STUB_SECONDS = 5   # a <meta refresh> later than this reloads a page someone reads (news), no redirect


def _other_host(named: str, url: str) -> bool:
    """Does the http(s) URL ``named`` stand on another host than ``url`` (``www.`` aside)?

    >>> _other_host("http://13.51.214.76/p/", "https://www.a.example/p/"), _other_host("https://a.example/p", "https://www.a.example/p/")
    (True, False)
    """
    def host(u):
        parts = urlsplit(u)
        return (parts.hostname or "").removeprefix("www.") if parts.scheme in ("http", "https") else None
    theirs = host(named)
    return bool(theirs) and theirs != host(url)


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
    quoted: bool = False  # inside a quotation (<blockquote>, <q>: an embedded tweet, a testimonial): someone else's words


class PageFacts(NamedTuple):
    title: str
    links: list[Link]    # in document (DOM) order: a link's index here is its ``pos``
    anchors: list[str]   # ids and <a name> targets a #fragment can point to
    lead_form: bool      # a lead or newsletter form (crawler.signals.classify_form), or an e-mail field outside any form
    signals: dict        # crawler.signals.Signals.as_dict(): only the truthy signals


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
    if (best is None or _GUESS_ORDER[best] > _GUESS_ORDER["nav"]) and _MENU.search(names):
        best = "nav"
    return best


# A <header>/<footer> inside one of these belongs to it, not to the page (HTML-AAM's scoping, which
# browsers' accessibility trees follow: a <header> in <main> is a hero section, Docusaurus's home).
_SECTIONING = frozenset({"article", "section", "main", "aside", "nav"})
# Names (a whole class token or id) only the site's own header/footer carries, which keep a
# <header>/<footer> the page's even inside sectioning content: an unclosed <article> of a theme
# (nozzle's testimonials listing) swallows the site's footer, which a reader still sees as the footer.
# Theme builders' locations included (Elementor Pro, JetThemeCore).
SITE_CHROME_NAMES = {
    **dict.fromkeys(("site-footer", "page-footer", "colophon", "elementor-location-footer",
                     "jet-theme-core-location--footer-location"), "footer"),
    **dict.fromkeys(("site-header", "masthead", "elementor-location-header",
                     "jet-theme-core-location--header-location"), "header"),
}
_MAX_DEPTH = 1024  # ancestors read per element: a browser's parser nests no deeper than 512


def _ancestors(el):
    """The element's ancestors, nearest first (stopping at the document)."""
    anc = el.parent
    n = 0
    while anc is not None and n < _MAX_DEPTH:
        if anc.tag == "-document":
            return
        yield anc
        anc = anc.parent
        n += 1


def _form_of(el):
    """The ``<form>`` an element sits in, or None."""
    return next((anc for anc in _ancestors(el) if anc.tag == "form"), None)


# Quotations: what is inside is someone else's words (an embedded tweet is a <blockquote>), so an
# @mention there is no follow link the business placed. A <blockquote> quotes when it says so: an
# embed's or a quote block's class, a cite attribute, a <cite> or <footer> naming who spoke, a
# <figure> around it; a bare one is a Markdown callout ("> Follow us on X"), the business's words.
_QUOTES = frozenset({"blockquote", "q"})
_QUOTE_CLASSES = re.compile(r"tweet|instagram-media|tiktok-embed|quote|testimonial|review|citation", re.I)


def _cites(el) -> bool:
    """Is a ``<blockquote>`` a quotation of someone (see :data:`_QUOTE_CLASSES`)?"""
    if el.tag == "q" or el.attributes.get("cite") is not None or _QUOTE_CLASSES.search(el.attributes.get("class") or ""):
        return True
    parent = el.parent
    return (parent is not None and parent.tag == "figure") or el.css_first("cite, footer") is not None


def _quoted(el, cache: dict) -> bool:
    """Is ``el`` inside a quotation (:data:`_QUOTES`)? ``cache``: element -> answer, filled for
    every ancestor read (a page's links share them).

    >>> from selectolax.lexbor import LexborHTMLParser
    >>> t = LexborHTMLParser('<blockquote class="twitter-tweet"><p><a href="/x">@acme</a></p></blockquote><a href="/y">y</a>'
    ...     '<blockquote><p>Follow us on <a href="/z">X</a></p></blockquote>')
    >>> [_quoted(a, {}) for a in t.css("a")]
    [True, False, False]
    """
    chain = []
    answer = False
    for anc in _ancestors(el):
        known = cache.get(anc.mem_id)
        if known is not None:
            answer = known
            break
        if anc.tag in _QUOTES and _cites(anc):
            answer = True
            break
        chain.append(anc.mem_id)
    for key in chain:
        cache[key] = answer
    return answer


def _names_site_chrome(attributes, region: str) -> bool:
    """Do an element's id or class tokens name the site's own ``region`` (:data:`SITE_CHROME_NAMES`)?

    >>> _names_site_chrome({"id": "jet-theme-core-footer", "class": "jet-theme-core-location--footer-location"}, "footer")
    True
    >>> _names_site_chrome({"class": "entry-footer"}, "footer"), _names_site_chrome({"id": "colophon"}, "header")
    (False, False)
    """
    names = f"{attributes.get('id') or ''} {attributes.get('class') or ''}".lower().split()
    return any(SITE_CHROME_NAMES.get(name) == region for name in names)


def _in_section(el) -> bool:
    return any(a.tag in _SECTIONING for a in _ancestors(el))


# <link rel=...> that name origins or CMS endpoints (answering 405 to GET), not documents.
_SKIPPED_RELS = frozenset({"preconnect", "dns-prefetch", "edituri", "wlwmanifest", "pingback", "shortlink"})
def _landmark(anc) -> tuple[str, str | None, bool, str | None]:
    """What one ancestor says about the region: (tag, landmark region, is an article,
    region its class/id names suggest)."""
    tag = anc.tag
    region = REGION_TAGS.get(tag)
    a = anc.attributes
    if region in _OUTER and _in_section(anc) and not _names_site_chrome(a, region):
        region = None  # <article><footer>: the post's footer, not the page's (HTML's scoping)
    role = a.get("role")
    if region is None and role:
        region = REGION_ROLES.get(role.strip().lower())
    is_article = region is not None and (tag == "article" or (role or "").strip().lower() == "article")
    named = None
    if region is None and tag not in _NO_GUESS:
        ident, cls = a.get("id"), a.get("class")
        if ident or cls:
            named = _guess(f"{ident or ''} {cls or ''}" if ident and cls else ident or cls)
    return tag, region, is_article, named


def _region(el, cache: dict | None = None) -> str:
    """Where a link sits: head, or the landmark around it (header, nav, main, aside, footer), or body.

    The rules (the README's region table):

    - the nearest semantic landmark (tag or ARIA role) decides, except that an outer
      header/footer (by tag, role, or class/id name) wins over a nav, aside or article
      inside it: ``<header><nav>`` is the header, ``<footer><article>`` the footer;
    - a nav inside the main content or an article, and an aside inside an article, are body
      content (a row of icons in a post, a pull quote, a guest's bio): region ``main``;
      an aside elsewhere in the main content is a sidebar;
    - a ``<header>``/``<footer>`` inside article/section/main/aside/nav is that section's, not
      the page's, unless its id/class names the site's own (``site-footer``, a theme builder's
      footer location: :data:`SITE_CHROME_NAMES`): then it is the nearest landmark, and decides;
    - class/id names are a fallback for links no landmark encloses: the nearest guess,
      an outer header/footer guess first.
    """
    landmark = None  # nearest nav/aside/article landmark, waiting for an outer header/footer
    article = False
    guess = outer_guess = None
    facts = {} if cache is None else cache
    for anc in _ancestors(el):
        key = anc.mem_id
        fact = facts.get(key)
        if fact is None:
            fact = facts[key] = _landmark(anc)
        tag, region, is_article, named = fact
        if tag == "head":
            return "head"
        if region is not None:
            if landmark is None:
                if region not in _INNER and not is_article:
                    return region
                landmark, article = region, is_article
            elif region in _OUTER:
                return region
            elif region == "main" and (landmark == "nav" or (landmark == "aside" and is_article)):
                return "main"  # a row of icons in the main content, a pull quote in a post: the body
            elif article and region == "aside":
                return "aside"  # an article in the sidebar (a widget) is the sidebar
        elif named is not None and (landmark is not None or outer_guess is None):
            if landmark is not None:
                if named in _OUTER:  # <div id="footer"><nav>: still the footer
                    return named
            elif named in _OUTER:
                outer_guess = named
            elif guess is None:
                guess = named
    return landmark or outer_guess or guess or "body"


_MEDIA = "img, svg, i, span, picture"
_ICON_CLASS = re.compile(r"(?:^|\s)(?:bi|fa[bsrl]?|fa-brands|icon|glyphicon|mdi|ti|ri|uk-icon)(?:-[\w-]+)?(?=\s|$)", re.I)


def _text(el) -> tuple[str, bool]:
    text = _WS.sub(" ", el.text(deep=True)).strip()
    if text:
        return text[:200], False
    a = el.attributes
    label = a.get("aria-label") or a.get("title") or ""
    has_media = False
    for child in el.css(_MEDIA):
        has_media = True
        c = child.attributes
        label = label or c.get("alt") or c.get("aria-label") or c.get("title") or ""
    # <a class="bi bi-twitter-x"></a>: an icon font draws it
    return label.strip()[:200], has_media or bool(label) or bool(_ICON_CLASS.search(a.get("class") or ""))


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


def resolve_href(base: str, href: str) -> str:
    """``href`` resolved against ``base``; the raw href when it cannot be (the spider then
    records it as a malformed link)."""
    try:
        return resolve(base, href)
    except ValueError:
        return href


# The encodings browsers decode (the WHATWG Encoding Standard), as Python names them. Any other
# codec Python knows (johab, utf-7, EBCDIC, rot13 ...) is one a browser never uses: a charset that
# names one, or a guess that lands on one, is not trusted with a page's markup.
_BROWSER_CODECS = frozenset({
    "utf-8", "ascii", "iso8859-1", "cp1252", "cp866", "koi8-r", "koi8-u", "mac-roman", "mac-cyrillic", "cp874",
    "tis-620", "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258",
    *(f"iso8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16)),
    "gbk", "gb2312", "gb18030", "big5", "big5hkscs", "cp950", "euc_jp", "euc_jis_2004", "euc_jisx0213",
    "iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_3", "iso2022_jp_ext", "shift_jis", "cp932",
    "shift_jis_2004", "shift_jisx0213", "euc_kr", "cp949", "utf-16", "utf-16-le", "utf-16-be",
})
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def _codec(name: str | None) -> str | None:
    """Python's canonical name of a text codec, or None (unknown, or bytes-to-bytes like rot13)."""
    if not name:
        return None
    try:
        info = codecs.lookup(name.strip())
    except (LookupError, ValueError):
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _wide(body: bytes) -> str | None:
    """``utf-16-le`` / ``utf-16-be`` when the body's first bytes look like UTF-16 (a NUL beside
    most ASCII characters), else None: an ASCII page declared UTF-16 is not UTF-16."""
    head = body[:1024]
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if max(even, odd) * 4 < len(head):  # fewer NULs than a quarter of the bytes
        return None
    return "utf-16-le" if odd >= even else "utf-16-be"


def _sniff(body: bytes) -> str:
    """A page without a usable transport charset, decoded as a browser does: an in-band declaration
    (``<meta charset>``, the XML declaration; one naming UTF-16 means UTF-8: an ASCII-compatible
    page cannot be UTF-16), else UTF-8 when it is valid, else UTF-16 by its NULs, else a guess among
    the browsers' encodings, else windows-1252."""
    from w3lib.encoding import html_body_declared_encoding

    try:
        declared = _codec(html_body_declared_encoding(body[:4096]))
    except Exception:  # noqa: BLE001 - sniffing must not raise
        declared = None
    if declared and declared.startswith(("utf-16", "utf-32")):
        declared = "utf-8"
    if declared in _BROWSER_CODECS:
        return body.decode(declared, "replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    wide = _wide(body)
    if wide:
        return body.decode(wide, "replace")
    try:
        from charset_normalizer import from_bytes

        match = from_bytes(body[:65536]).best()
        guess = _codec(match.encoding) if match else None
    except Exception:  # noqa: BLE001 - a guess is optional
        guess = None
    if guess in _BROWSER_CODECS and not guess.startswith("utf-16"):
        return body.decode(guess, "replace")
    return body.decode("cp1252", "replace")


def decode(body: bytes, encoding: str | None = None) -> str:
    """The text of an HTML document; never raises.

    A byte order mark wins; then ``encoding`` (Scrapy's, from the headers, ``<meta charset>`` or
    its guess) when it is one browsers use and the body can be in it (an ASCII page is not
    UTF-16, whatever it declares); else the body is sniffed as a browser does (:func:`_sniff`).
    So a bogus or hostile charset costs at most the text of a title, never the markup: a codec
    that swallows ``<`` after a high byte (johab) or reads ASCII as UTF-16 is never used.

    >>> decode(b'<meta charset="latin-1"><p>caf\\xe9')
    '<meta charset="latin-1"><p>café'
    >>> decode(b'<meta charset="utf-16"><a href="/x">caf\\xc3\\xa9</a>', "utf-16")
    '<meta charset="utf-16"><a href="/x">café</a>'
    >>> decode(b"<title>\\xe9</title><a href='/a'>a</a>", "johab")
    "<title>é</title><a href='/a'>a</a>"
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(codec, "replace")
    codec = _codec(encoding)
    if codec in _BROWSER_CODECS:
        if codec.startswith("utf-16"):
            wide = _wide(body)
            codec = (codec if codec != "utf-16" else wide) if wide else None
        if codec:
            text = body.decode(codec, "replace")
            return text[1:] if text.startswith("\ufeff") else text
    try:
        return _sniff(body)
    except Exception:  # noqa: BLE001 - decoding must not raise
        return body.decode("utf-8", "replace")


# What a server that mislabels a download sends as text/html: file signatures, then the share of
# bytes no text holds (the MIME Sniffing Standard's "binary data bytes").
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"GIF87a", "a GIF image"), (b"GIF89a", "a GIF image"),
               (b"\xff\xd8\xff", "a JPEG image"), (b"%PDF-", "a PDF document"), (b"PK\x03\x04", "a ZIP archive"),
               (b"\x1f\x8b", "gzip data"), (b"\x7fELF", "a program (ELF)"), (b"\x00asm", "WebAssembly"),
               (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"), (b"wOFF", "a font (WOFF)"), (b"wOF2", "a font (WOFF2)"),
               (b"OggS", "Ogg media"), (b"ID3", "MP3 audio"), (b"\x1aE\xdf\xa3", "WebM/Matroska video"))
_BINARY_BYTES = frozenset([*range(9), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20)])
_BINARY_DELETE = bytes(sorted(_BINARY_BYTES))  # (counted by what bytes.translate takes out: no loop per byte)


BINARY_DATA = "binary data"


def binary_kind(body: bytes) -> str | None:
    """What a body that is no text at all is (``"a PNG image"`` by its signature, or
    :data:`BINARY_DATA` when more than 1 byte in 16 of its first 1,024 is a control byte no text
    holds), or None for text: HTML with stray NULs or control characters is still HTML, and
    UTF-16 (a NUL beside every ASCII character) is text.

    >>> binary_kind(b"\\x89PNG\\r\\n\\x1a\\n..."), binary_kind(bytes(range(256)) * 4), binary_kind(b"<p>a\\x00b</p>")
    ('a PNG image', 'binary data', None)
    >>> binary_kind("<html><title>x</title>".encode("utf-16-le")) is None
    True
    """
    for signature, name in _SIGNATURES:
        if body.startswith(signature):
            return name
    if body[4:8] == b"ftyp":
        return "MP4/QuickTime media"
    if body.startswith(b"RIFF") and body[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return {b"WEBP": "a WebP image", b"WAVE": "WAV audio", b"AVI ": "AVI video"}[body[8:12]]
    head = body[:1024]
    if not head or _wide(body) or body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    binary = len(head) - len(head.translate(None, _BINARY_DELETE))
    return BINARY_DATA if binary >= 16 and binary * 16 > len(head) else None  # more than 1 byte in 16


LINE_ATTR = "data-funnelcheck-line"
# Comments, raw-text elements (their content is text, not tags) and start tags, with quoted
# attribute values taken whole so a "<" inside one is not a tag.
# (runs of plain characters taken whole, and never given back: a tag's attributes split one way
# only, so the same matches as one character at a time, with a fifth of the steps)
_ATTRS = r"""(?:[^>"']+|"[^"]*"|'[^']*')*+"""
_TAGS = re.compile(r"<!--.*?(?:-->|\Z)|<(?:(script|style|textarea|title|xmp|iframe|noembed|noframes|plaintext)"
                   r"(?=[\s/>])(" + _ATTRS + r")>.*?(?:</\1\s*>|\Z)|([A-Za-z][A-Za-z0-9:-]*)(?=[\s/>])" + _ATTRS
                   + r"(?:>|\Z)|/[A-Za-z])", re.S | re.I)
_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
# Browsers nest no deeper than 512 (Chromium's parser); past that, lexbor's tree builder, like
# the HTML5 algorithm, costs the depth for every tag. Containers opened deeper than this are
# dropped (their content kept), which keeps a hostile page linear and every link in it.
MAX_NESTING = 512
_KEEP = frozenset({*URL_ATTRS, "style", "title", "base", "header", "footer", "nav", "main", "aside", "article",
                   "section", "body", "html", "head", *_QUOTES})


# The start tags extract() needs a line for: link elements, and any element with a style
# attribute. The rest are left unmarked (fewer matches, less Python work per page).
_LINKS = re.compile(r"<!--.*?(?:-->|\Z)|<(?:(script|style|textarea|title|xmp|iframe|noembed|noframes|plaintext)"
                    r"(?=[\s/>])(" + _ATTRS + r")>.*?(?:</\1\s*>|\Z)|(" + "|".join(sorted(URL_ATTRS)) + r"|base)"
                    r"(?=[\s/>])" + _ATTRS + r"(?:>|\Z)|([A-Za-z][A-Za-z0-9:-]*)(?=\s(?:[^>\"']|\"[^\"]*\"|'[^']*')*?"
                    r"\bstyle\s*=)" + _ATTRS + r"(?:>|\Z))", re.S | re.I)
_OPEN = re.compile(r"<[A-Za-z]")


def mark_lines(text: str) -> str:
    """Give start tags their source line as an attribute, for the HTML5 tree to carry.

    The tree builder moves and clones elements (unclosed tags, misnested formatting, foster
    parenting); the attribute moves with them, so each element keeps the line it was
    written on. Comments and the content of raw-text elements are left as they are. Only
    the elements :func:`extract` reports a line for are marked, unless the page may nest
    deeper than :data:`MAX_NESTING` (more start tags than end tags by that much): then every
    tag is read, and containers past that depth are dropped.

    >>> mark_lines('<p>\\n<a href="<b>">x</a><!-- <i> --><script>"<a>"</script><div style="x">')
    '<p>\\n<a data-funnelcheck-line=2 href="<b>">x</a><!-- <i> --><script data-funnelcheck-line=2>"<a>"</script><div data-funnelcheck-line=2 style="x">'
    """
    deep = len(_OPEN.findall(text)) - text.count("</") > MAX_NESTING
    return _mark(text, _TAGS if deep else _LINKS, cap=deep)


def _mark(text: str, pattern: re.Pattern, cap: bool) -> str:
    """Insert the line attributes after the tag names ``pattern`` finds; with ``cap``, every
    tag is read and containers opened deeper than :data:`MAX_NESTING` are dropped."""
    out = []
    pos, line, depth = 0, 1, 0
    styled = pattern.groups >= 4  # _LINKS: group 4 is any element with a style attribute
    for m in pattern.finditer(text):
        raw = m.group(1)
        name = raw or m.group(3) or (m.group(4) if styled else None)
        if name is None:
            if cap and m.group().startswith("</"):
                depth = max(0, depth - 1)
            continue  # a comment, an end tag
        if cap:
            lowered = name.lower()
            if lowered not in _VOID:
                if depth >= MAX_NESTING and lowered not in _KEEP:
                    out.append(text[pos:m.start()])
                    line += text.count("\n", pos, m.end())
                    pos = m.end()
                    continue
                depth += not raw
        name_end = m.start() + 1 + len(name)
        line += text.count("\n", pos, name_end)
        out.append(text[pos:name_end])
        out.append(f" {LINE_ATTR}={line}")
        pos = name_end
        if raw:  # the raw text inside: counted, copied as it is
            line += text.count("\n", name_end, m.end())
            out.append(text[name_end:m.end()])
            pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def parse_html(text: str):
    """Parse HTML text to a lexbor tree (the HTML5 algorithm) with line marks; never raises."""
    return LexborHTMLParser(mark_lines(text.replace("\x00", "\ufffd")))


def _line(el, attrs: dict | None = None) -> int | None:
    value = (el.attributes if attrs is None else attrs).get(LINE_ATTR)
    return int(value) if value else None


_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)|@import\s+(?:"([^"]*)"|'([^']*)')""", re.I)
_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|\Z)", re.S)


def css_urls(text: str) -> list[tuple[str, int]]:
    """The URLs a stylesheet (or a ``style`` attribute) loads: ``url(...)`` and ``@import``,
    with the line of each (1-based within ``text``); ``data:`` URLs and ``#id`` references
    (SVG filters, masks) are not fetched and are left out.

    >>> css_urls("a{background:url( 'bg.png' )}\\n/* url(x.png) */@import \\"x.css\\";\\nb{mask:url(#m)}")
    [('bg.png', 1), ('x.css', 2)]
    """
    text = _CSS_COMMENT.sub(lambda m: "\n" * m.group().count("\n"), text)
    out = []
    for m in _CSS_URL.finditer(text):
        url = next((g for g in m.groups() if g is not None), "").strip()
        if url and not url.startswith("#") and not url.lower().startswith("data:"):
            out.append((url, text.count("\n", 0, m.start()) + 1))
    return out


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
    markup = decode(body, encoding)
    tree = parse_html(markup)
    elements, last = [], None
    for el in tree.css(_SELECTOR):  # an element matching two selectors comes twice, in a row
        mid = el.mem_id
        if mid != last:
            elements.append(el)
            last = mid
    base = url
    for el in elements:
        if el.tag == "base" and el.attributes.get("href"):
            try:
                candidate = resolve(url, el.attributes.get("href"))
                urlsplit(candidate).port  # a base that does not parse is ignored, as browsers do
                base = candidate
            except ValueError:
                pass
            break
    title = ""
    links: list[Link] = []
    anchors: list[str] = []
    formless_lead = False  # an e-mail field outside any form (a script-driven signup)
    embeds = any(mark in markup for mark in EMBED_MARKS)  # (scripts read only on pages that have one)
    signals = Signals()
    regions: dict[int, str] = {}  # parent element -> region of its children: links share parents
    facts: dict[int, tuple] = {}  # element -> what it says about regions (see _landmark)
    quotes: dict[int, bool] = {}  # element -> inside a quotation (see _quoted)

    def region_of(el) -> str:
        parent = el.parent
        key = parent.mem_id if parent is not None else 0
        region = regions.get(key)
        if region is None:
            region = regions[key] = _region(el, facts)
        return region

    for el in elements:
        tag = el.tag
        a = el.attributes
        ident = a.get("id")
        if ident:
            anchors.append(ident)
        if tag == "a" and a.get("name"):
            anchors.append(a.get("name"))
        style = a.get("style")
        if style and "url(" in style.lower():
            found = css_urls(style)
            if found:
                region = region_of(el)
                for v, _ in found:
                    links.append(Link(resolve_href(base, v), "css", "style", "", region, "", False, False, _line(el, a)))
        if tag == "title":
            if not title:
                title = _WS.sub(" ", el.text(deep=True)).strip()[:300]
            continue
        if tag == "style":
            region, first = region_of(el), _line(el, a) or 1
            for v, n in css_urls(el.text(deep=True)):
                links.append(Link(resolve_href(base, v), "css", "style", "", region, "", False, False, first + n - 1))
            continue
        if tag not in URL_ATTRS:
            if tag == "article":
                signals.articles += 1
                signals.classes(a.get("class"))
            elif tag == "time":
                signals.time(el, _ancestors)
            elif tag == "button" and not signals.buy:  # (the page's buy signal is known already)
                signals.clickable(_WS.sub(" ", el.text(deep=True)).strip(), None, a.get("class"))
            continue
        if tag == "input":
            kind = (a.get("type") or "").strip().lower()
            if kind == "hidden":
                value = next_value(a)
                if value is not None and _form_of(el) is not None:
                    # where the form sends the visitor once sent (its thank-you page): a link to check
                    links.append(Link(resolve_href(base, value), "form", "next", "", region_of(el),
                                      "", False, False, _line(el, a)))
            elif kind in ("submit", "button", "image"):
                signals.clickable((a.get("value") or "").strip(), None, a.get("class"))
            elif not formless_lead and (kind in ("email", "tel") or "email" in (a.get("name") or "").lower()) \
                    and _form_of(el) is None:
                formless_lead = True
            continue
        if tag == "form":
            signals.forms.append(classify_form(el, base, url, resolve_href))
        elif tag == "link":
            signals.link(a)
            if signals.canonical is None and "canonical" in (a.get("rel") or "").lower().split() and a.get("href"):
                named = resolve_href(base, a.get("href"))
                if _other_host(named, url):  # (a page copied or injected from elsewhere, or a mistake)
                    signals.canonical = named
        if tag == "meta":
            signals.meta(a)
            if (a.get("http-equiv") or "").lower() == "refresh" and not any(
                    anc.tag == "noscript" for anc in _ancestors(el)):  # (browsers that run scripts ignore it)
                m = _REFRESH.match(a.get("content") or "")
                if m and (not m.group(1) or int(m.group(1)[:6]) <= REFRESH_STUB_SECONDS):
                    target = resolve_href(base, m.group(2))
                    links.append(Link(target, "meta", "content", "", "head", "", False, False, _line(el, a)))
                    if target.partition("#")[0] != url.partition("#")[0]:
                        signals.refresh = True  # a stub (an old address): the browser moves on
            continue
        rel = (a.get("rel") or "").strip().lower()
        if tag == "link" and _SKIPPED_RELS.intersection(rel.split()):
            continue  # connection hints and CMS plumbing, not links anyone follows
        sameas = (a.get("itemprop") or "").lower() == "sameas"
        if tag == "script" and (a.get("type") or "").lower() == "application/ld+json":
            try:
                data = json.loads(el.text(deep=True) or "null")
            except (ValueError, RecursionError):
                continue
            sameas_region = region_of(el)
            same_as, types, published = structured_facts(data)
            signals.structured(types, published)
            for target in same_as:
                links.append(Link(resolve_href(base, target), "script", "sameAs", "", sameas_region, "", False, True,
                                  _line(el, a)))
            continue
        if tag == "script" and embeds and not a.get("src"):
            form = embedded_form(el.text(deep=True) or "", base, url, resolve_href)
            if form is not None:  # a form a script draws (HubSpot, Marketo): lead capture
                signals.forms.append(form)
                if form["next"]:
                    links.append(Link(form["next"], "form", "next", "", region_of(el), "", False, False, _line(el, a)))
            continue
        region = None
        for attr in URL_ATTRS[tag]:
            value = a.get(attr)
            if value is None:
                continue
            values = _srcset(value) if attr == "srcset" else [value]
            for v in values:
                v = v.strip()
                if not v and tag not in ("a", "area"):
                    continue
                if region is None:
                    region = region_of(el)
                    text, icon = _text(el) if tag in ("a", "area") else (a.get("alt") or "", False)
                    quoted = (tag == "a" or tag == "area") and _quoted(el, quotes)
                links.append(Link(resolve_href(base, v), tag, attr, text, region, rel, icon, sameas, _line(el, a),
                                  quoted))
        if region is not None and (tag == "a" or tag == "area") and not signals.buy:
            signals.clickable(text, links[-1].url, a.get("class"))
    body_el = tree.body
    if body_el is not None:
        signals.classes(body_el.attributes.get("class"), body=True)
    signals.page(tree, body_el.text(deep=True) if body_el is not None else "")
    return PageFacts(title, links, list(dict.fromkeys(anchors)), signals.lead_form or formless_lead, signals.as_dict())
