"""Pages built with JavaScript: which to render, and the system's Chromium that renders them.

funnelcheck reads the HTML a server sends. A single-page app sends an empty ``<div id="root">``
and builds its menu, its footer's follow icons and its lead form with scripts: read raw, it has
no links at all. ``--render`` decides what is rendered in Chromium too:

``never``
    nothing (the raw crawl).
``always``
    every owned HTML page.
``auto`` (the default)
    a page whose raw HTML shows it needs JavaScript (:func:`needs_javascript`), and the first
    :data:`SAMPLES` pages of each template (:func:`template_of`), to compare their raw and
    rendered links: a template whose samples differ is rendered from then on
    (:class:`RenderPlan`). Social profiles and external links are never rendered.

A page is always fetched raw first (its status, headers and redirects are the crawl's facts);
a page to render is then loaded in Chromium through scrapy-playwright (:class:`crawler.browser.RenderHandler`,
the download handler of the requests with ``meta["playwright"]``), and its rendered DOM read
by the same extraction as a raw page. The links of both readings are compared
(:func:`link_diff`): what only the rendered page has exists only after JavaScript.

Chromium never touches the network itself: every request it makes is fetched by Scrapy's HTTP
client, through the SSRF guard (:mod:`crawler.guard`), ``--remap`` and ``--max-size``, and given
back to it (:meth:`crawler.browser.RenderHandler.route`); anything else (a WebSocket, WebRTC, a DNS lookup, a
preconnect) goes to a proxy that is not there. It is the system's Chromium (``chromium`` on
PATH or ``--chromium PATH``, :func:`find_chromium`): nothing is downloaded. The driver and the
browser die with the crawl process, even on ``kill -9`` (:func:`crawler.browser.exec_wrapper`).

A crawl of several workers (``--workers N``) reads pages as one process does: the plan is the
crawl's, in Redis (:class:`crawler.clustered.ClusterRenderPlan`: a template's samples are taken
once for all workers, and a template one sample shows to differ renders on every worker), each
worker renders in its own machine's Chromium, and a worker on a machine without one does not
join a crawl that renders (:func:`chromium_here`: one line, exit 2). The writer stores a page's
rendered reading over its reading as served (the item ``rereads`` it: :mod:`crawler.writer`).
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

RENDER_MODES = ("auto", "always", "never")
BROWSERS = ("chromium", "chromium-browser")   # looked for on PATH, in this order
SAMPLES = 3           # pages of each template rendered to compare their raw and rendered links
MAX_TEMPLATES = 10000  # templates remembered; past this, new ones are not sampled (a hostile site)
PAGES_AT_ONCE = 4     # pages open in the browser at once (at most --concurrency): ~20 MiB each
FEW_LINKS = 3         # fewer links than this in the raw HTML, with scripts and little text: needs JavaScript
LITTLE_TEXT = 200     # characters of visible text that count as "almost none"
SETTLE_MAX = 5.0      # seconds a rendered page may take to settle after its load event
QUIET = 0.5           # seconds without a DOM change (and no timer of the page due) that count as settled
HEAP_MIB = 128        # V8 heap of a page (--max-old-space-size): a page that needs more crashes, alone
REQUEUE = 200         # pages read as served before their template's samples differed, rendered after all
MAX_SUBREQUESTS = 300  # requests one page may make; past this they are refused
RENDER_SLOT = "funnelcheck-render"   # the download slot of rendered pages (their concurrency)
# What the browser may fetch for a page: its scripts, styles and data, never images, fonts or media
# (a page's links do not depend on them) nor another frame's document.
FETCHED_TYPES = frozenset({"document", "script", "stylesheet", "xhr", "fetch"})
# A proxy that is not there: whatever Chromium would fetch past the route (a WebSocket, a
# preconnect) fails. (Port 9, discard: a closed port on every ordinary machine.)
NO_PROXY = "http://127.0.0.1:9"
FLAGS = [f"--proxy-server={NO_PROXY}", "--proxy-bypass-list=<-loopback>", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
         "--webrtc-ip-handling-policy=disable_non_proxied_udp", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-extensions", "--mute-audio",
         # a page that allocates without end crashes at this heap (its renderer alone: no process limit,
         # so a page that hangs or crashes never takes another page's renderer with it)
         f"--js-flags=--max-old-space-size={HEAP_MIB}"]

# Elements a single-page app mounts itself into (React, Vue, Angular, Next, Nuxt, Gatsby, Svelte).
APP_ROOTS = ("#root", "#app", "#__next", "#__nuxt", "#___gatsby", "#svelte", "#q-app", "#react-root", "app-root",
             "[data-reactroot]", "[ng-app]", "[data-v-app]")
_INSTALL = "install it (apt-get install chromium) or put it on PATH"


def chromium_here(crawl: dict, path: str | None = None) -> dict:
    """The crawl row (``FUNNEL_CRAWL``) a worker on this machine runs: a crawl that renders
    (``--render auto|always``, with the coordinator's Chromium in its options) renders with this
    machine's Chromium, the one the coordinator named if it is here, else ``chromium`` on PATH;
    every worker reads every page as one process does. A machine without Chromium cannot, so
    it does not join: :class:`ValueError` with the one line that says so (``funnelcheck worker``
    exits 2 with it; the other workers crawl on). A crawl that renders nothing is unchanged.
``path``: where to look instead of ``$PATH``.

    >>> crawl = {"id": 1, "options": {"render": "auto", "chromium": "/nonexistent/chromium"}}
    >>> chromium_here(crawl, path="/nonexistent")  # (a machine with no chromium on its PATH)
    Traceback (most recent call last):
    ...
    ValueError: it renders pages built with JavaScript (--render auto) and this machine has no Chromium (not /nonexistent/chromium, no chromium on PATH): install it (apt-get install chromium) or put it on PATH
    >>> chromium_here({"id": 1, "options": {"render": "never", "chromium": "/nonexistent/chromium"}})["options"]["chromium"]
    '/nonexistent/chromium'
    """
    options = crawl.get("options") or {}
    if isinstance(options, str):  # (a crawl row read raw)
        import json

        options = json.loads(options)
    given = options.get("chromium")
    if options.get("render", "never") == "never" or not given:
        return crawl  # (no Chromium where the crawl started: no worker renders, as that one process would not)
    found = find_chromium(given, path) or find_chromium(None, path)
    if found is None:
        raise ValueError(f"it renders pages built with JavaScript (--render {options.get('render')}) and this "
                         f"machine has no Chromium (not {given}, no chromium on PATH): {_INSTALL}")
    if found == given:
        return crawl
    return {**crawl, "options": {**options, "chromium": found}}


_ASKS_FOR_JS = re.compile(r"(enable|turn on|activate|allow|requires?|need|switch on|support)\W+(?:\w+\W+){0,6}?"
                          r"javascript|javascript\W+(?:\w+\W+){0,4}?(required|disabled|needed|must be)", re.I)
# a <noscript> that names JavaScript (not Google Tag Manager's <noscript><iframe>): worth a parse
_NOSCRIPT = re.compile(rb"<noscript\b(?:(?!</noscript)[^\x00]){0,2000}?javascript", re.I | re.S)


def find_chromium(given: str | None = None, path: str | None = None) -> str | None:
    """The Chromium to render with: ``given`` (``--chromium PATH``) if it is an executable file,
    else ``chromium`` (or ``chromium-browser``) on PATH (``path``: on that instead); None when
    there is none.

    >>> find_chromium("/nonexistent/chromium") is None, find_chromium(path="/nonexistent") is None
    (True, True)
    """
    if given:
        found = shutil.which(given, path=path) if os.sep not in given else given
        return os.path.abspath(found) if found and os.path.isfile(found) and os.access(found, os.X_OK) else None
    for name in BROWSERS:
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


_SCRIPT = re.compile(r"<script", re.I)


def needs_javascript(body: bytes, text: str, nav_links: int) -> str | None:
    """Why the raw HTML of a page shows that its content is built by JavaScript, or None:
    an empty app root, a ``<noscript>`` asking for JavaScript, or scripts with almost no links
    or text. ``body`` is the raw HTML, ``text`` it decoded, ``nav_links`` its ``<a>``/``<area>``
    links. Pages with links are parsed again only when a ``<noscript>`` of theirs names JavaScript.

    >>> needs_javascript(b"", '<div id="root"></div><script src="/app.js"></script>', 0)
    'an empty app root (#root)'
    >>> needs_javascript(b"<noscript>JavaScript</noscript>", '<a href=/a>a</a><a href=/b>b</a><a href=/c>c</a>'
    ...     '<noscript>You need to enable JavaScript to run this app.</noscript><script>go()</script>', 3)
    'a <noscript> that asks for JavaScript'
    >>> needs_javascript(b"", '<body><h1>Hi</h1><script>render()</script></body>', 0)
    'scripts and almost no links or text'
    >>> needs_javascript(b"", '<body><h1>Hi</h1><p>' + 'words ' * 50 + '</p></body>', 0) is None
    True
    """
    if nav_links >= FEW_LINKS and not _NOSCRIPT.search(body):
        return None
    if not _SCRIPT.search(text):
        return None  # nothing runs: what is served is the page (and no second parse of it)
    from crawler.extract import parse_html

    tree = parse_html(text)  # (as extract() parses: a page nested 100,000 deep costs no seconds)
    scripts = [s for s in tree.css("script") if (s.attributes.get("type") or "").lower() not in
               ("application/ld+json", "application/json", "text/template", "text/x-template")]
    if not scripts:
        return None  # nothing runs: what is served is the page
    if nav_links < FEW_LINKS:
        for selector in APP_ROOTS:
            root = tree.css_first(selector)
            if root is not None and not (root.text(deep=True) or "").strip() and root.css_first("a, img, form") is None:
                return f"an empty app root ({selector})"
    for noscript in tree.css("noscript"):
        if _ASKS_FOR_JS.search(noscript.text(deep=True) or ""):
            return "a <noscript> that asks for JavaScript"
    if nav_links < FEW_LINKS:
        tree.strip_tags(["script", "style", "noscript", "template"])
        body_el = tree.body
        visible = re.sub(r"\s+", " ", body_el.text(deep=True) if body_el is not None else "").strip()
        if len(visible) < LITTLE_TEXT:
            return "scripts and almost no links or text"
    return None


_SCRIPT_TAG = re.compile(rb"<script\b([^>]*)>", re.I)
_SCRIPT_TYPE = re.compile(rb"""\btype\s*=\s*["']?([^"'\s>]+)""", re.I)
_DATA_TYPES = (b"application/ld+json", b"application/json", b"text/template", b"text/x-template", b"text/plain")
_HANDLER = re.compile(rb"<[a-z][^>]*\son[a-z]{3,}\s*=", re.I)


def runs_scripts(body: bytes) -> bool:
    """Does the raw HTML run any JavaScript (a ``<script>`` that is not data, or an inline
    ``on...=`` handler)? A page that runs none is the same rendered: it is never rendered.

    >>> runs_scripts(b'<p>Hi</p><script type="application/ld+json">{}</script>')
    False
    >>> runs_scripts(b'<script src="/app.js" defer></script>'), runs_scripts(b'<body onload="go()">')
    (True, True)
    """
    for match in _SCRIPT_TAG.finditer(body):
        kind = _SCRIPT_TYPE.search(match.group(1))
        if kind is None or kind.group(1).lower() not in _DATA_TYPES:
            return True
    return _HANDLER.search(body) is not None


_NUMBER = re.compile(r"\d+")


def template_of(url: str) -> str:
    """The template a page most likely shares with others: its host and first folder (pages at
    the top level share one), numbers made ``{n}``.

    >>> template_of("https://a.example/blog/2024/post/"), template_of("https://a.example/about/")
    ('https://a.example/blog/*', 'https://a.example/*')
    >>> template_of("https://a.example/p/17/"), template_of("https://a.example/")
    ('https://a.example/p/*', 'https://a.example/*')
    """
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    folder = _NUMBER.sub("{n}", segments[0]) + "/" if len(segments) > 1 else ""
    return f"{parts.scheme}://{parts.netloc}/{folder}*"


SAMPLE = "a sample of its template"
SAME_LINKS = "a sample of its template, the same links once rendered: read as served"
TEMPLATE = "its template shows other links once rendered"
ALWAYS = "--render always"


class RenderPlan:
    """Which owned pages a crawl renders (``mode``: auto, always or never; ``browser``: whether
    there is a Chromium), template by template. Holds a few numbers per template, never per page.

    >>> plan = RenderPlan("auto", browser=True)
    >>> [plan.decide("https://a.example/b/%d" % i, None) for i in range(4)]
    ['a sample of its template', 'a sample of its template', 'a sample of its template', None]
    >>> plan.learn("https://a.example/b/*", differs=True)   # (b/3 was read as served meanwhile: rendered too)
    ['https://a.example/b/3']
    >>> plan.decide("https://a.example/b/9", None)
    'its template shows other links once rendered'
    >>> plan.decide("https://a.example/x/1", "an empty app root (#root)")
    'needs JavaScript: an empty app root (#root)'
    >>> RenderPlan("auto", browser=False).decide("https://a.example/x/1", None) is None
    True
    >>> plan.decide("https://a.example/static/1", None, scripts=False) is None   # nothing runs on it
    True

    Pages of a template read as served while its samples were out are rendered once one differs:

    >>> plan = RenderPlan("auto", browser=True)
    >>> [plan.decide("https://a.example/c/%d" % i, None) for i in range(5)][-2:]
    [None, None]
    >>> plan.learn("https://a.example/c/*", differs=True), plan.missed
    (['https://a.example/c/3', 'https://a.example/c/4'], {})
    """

    def __init__(self, mode: str, browser: bool):
        self.mode, self.browser = mode, browser
        self.sampled: dict[str, int] = {}     # template -> samples sent
        self.renders: set[str] = set()        # templates whose samples differed
        self.learned: dict[str, int] = {}     # template -> samples compared
        self.waiting: dict[str, list[str]] = {}  # template -> pages read as served while its samples were out
        self.waited = 0                       # pages in ``waiting`` (at most REQUEUE in all)
        self.missed: dict[str, int] = {}      # template -> pages read as served past REQUEUE (never rendered)

    @property
    def active(self) -> bool:
        """Is anything looked at (auto or always)?"""
        return self.mode != "never"

    def decide(self, url: str, need: str | None, scripts: bool = True) -> str | None:
        """Why the page at ``url`` is rendered (None: read as served); ``need``: what its raw
        HTML showed (:func:`needs_javascript`); ``scripts``: does it run any (:func:`runs_scripts`)."""
        if self.mode == "never" or not scripts:
            return None
        if need:
            return f"needs JavaScript: {need}"
        if self.mode == "always":
            return ALWAYS
        if not self.browser:
            return None
        return self.by_template(url)

    def by_template(self, url: str) -> str | None:
        """:meth:`decide` for a page that runs scripts and shows no need of its own (``--render
        auto``): what its template's samples said, or it is one of them."""
        template = template_of(url)
        if template in self.renders:
            return TEMPLATE
        n = self.sampled.get(template, 0)
        if n >= SAMPLES and self.learned.get(template, 0) < n:  # its samples are still out: wait and see
            if self.waited < REQUEUE:
                self.waiting.setdefault(template, []).append(url)
                self.waited += 1
            else:
                self.missed[template] = self.missed.get(template, 0) + 1
        if n >= SAMPLES or (not n and len(self.sampled) >= MAX_TEMPLATES):
            return None
        self.sampled[template] = n + 1
        return SAMPLE

    def unrendered(self) -> dict[str, int]:
        """Pages of templates rendered after all that were read as served past :data:`REQUEUE`
        (never rendered): ``{template: pages}``, for the report (the crawl's ``limits``)."""
        return {t: n for t, n in sorted(self.missed.items()) if t in self.renders}

    def learn(self, template: str, differs: bool) -> list[str]:
        """A sample of ``template`` was compared: its links ``differs`` once rendered or not.
        Returns the pages of the template read as served meanwhile, to render now (it differs)."""
        self.learned[template] = self.learned.get(template, 0) + 1
        if differs and template not in self.renders:
            self.renders.add(template)
            again = self.waiting.pop(template, [])
            self.waited -= len(again)
            return again
        if differs or self.learned[template] >= self.sampled.get(template, 0):  # (all alike: forget them)
            self.waited -= len(self.waiting.pop(template, []))
        return []


# Links compared between the raw and the rendered page: those a visitor (or a crawler) follows.
COMPARED_TAGS = frozenset({"a", "area", "form", "iframe"})


def same_link(key: str) -> str:
    """A link's identity as :func:`link_diff` compares it: the crawl's key of its URL with a
    trailing slash folded (a hydrating script rewrites ``/blog`` to ``/blog/``: one link).

    >>> same_link("https://a.example/blog/"), same_link("https://a.example/blog?page=2")
    ('https://a.example/blog', 'https://a.example/blog?page=2')
    >>> same_link("https://a.example/blog/?page=2"), same_link("https://a.example/")
    ('https://a.example/blog?page=2', 'https://a.example')
    """
    base, sep, query = key.partition("?")
    return base.rstrip("/") + sep + query if base.endswith("/") else key


# Links that lead somewhere (a #fragment of the page itself, as a table of contents has, does not)
WAY_TAGS = frozenset({"a", "area"})


def link_diff(raw, rendered, identity=None, own: str | None = None) -> tuple[set, set]:
    """``(only rendered, only raw)``: the ``(url, tag)`` of the links (:class:`crawler.extract.Link`)
    that exist only after JavaScript, and those in the raw HTML that rendering removes. Links are
    compared by ``identity`` (the crawl's key of a link's URL: fragment, tracking parameters and
    index file dropped; by default the URL without its fragment) with a trailing slash folded
    (:func:`same_link`); a ``#fragment`` of the page itself (``own``: its key), as a script's
    table of contents adds, is no way on and not compared (a menu's link to the page it is on is
    compared: the template's menu is one row of links on every page).

    >>> from crawler.extract import Link
    >>> a = lambda url, tag="a": Link(url, tag, "href", "", "body", "", False, False, None)
    >>> link_diff([a("https://a.example/x"), a("https://a.example/s.js", "script")],
    ...           [a("https://a.example/demo"), a("https://a.example/s.js", "script")])
    ({('https://a.example/demo', 'a')}, {('https://a.example/x', 'a')})
    >>> link_diff([a("https://a.example/zh-CN/blog")], [a("https://a.example/zh-CN/blog/"), a("https://a.example/p#part")],
    ...           own="https://a.example/p")
    (set(), set())
    """
    ident = identity or (lambda link: link.url.partition("#")[0])
    mine = same_link(own) if own is not None else None

    def compared(links) -> dict:
        seen: dict[tuple, list] = {}
        for link in links:
            if link.tag in COMPARED_TAGS:
                same = same_link(ident(link))
                if not (same == mine and "#" in link.url and link.tag in WAY_TAGS):
                    seen.setdefault((same, link.tag), []).append((link.url, link.tag))
        return seen

    before, after = compared(raw), compared(rendered)
    return ({pair for k, pairs in after.items() if k not in before for pair in pairs},
            {pair for k, pairs in before.items() if k not in after for pair in pairs})


def context_options(user_agent: str) -> dict:
    """The browser context a page is rendered in (made with the first page rendered: a crawl that
    renders nothing starts no browser): the crawl's User-Agent, no service worker (its requests
    would not be routed), TLS left to Scrapy, no downloads."""
    return {"user_agent": user_agent, "service_workers": "block", "ignore_https_errors": True,
            "accept_downloads": False}


def playwright_settings(options, chromium: str, timeout: float, user_agent: str) -> dict:
    """The Scrapy settings that render with scrapy-playwright in ``chromium`` (crawler.run adds
    them only when the crawl renders: the raw crawl keeps Scrapy's own HTTP handler)."""
    pages = max(1, min(PAGES_AT_ONCE, options.concurrency))
    return {
        "DOWNLOAD_HANDLERS": {"http": "crawler.browser.RenderHandler", "https": "crawler.browser.RenderHandler"},
        "FUNNEL_CHROMIUM": chromium,
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": {"executable_path": chromium, "headless": True, "args": FLAGS,
                                      "handle_sigint": False, "handle_sigterm": False, "handle_sighup": False},
        "PLAYWRIGHT_MAX_CONTEXTS": 1,
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": pages,
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": timeout * 1000,
        "PLAYWRIGHT_RESTART_DISCONNECTED_BROWSER": True,
        "DOWNLOAD_SLOTS": {RENDER_SLOT: {"concurrency": pages, "delay": 0}},
        "FUNNEL_RENDER_CONTEXT": context_options(user_agent),
    }


__all__ = ["RENDER_MODES", "RenderPlan", "chromium_here", "find_chromium", "link_diff", "needs_javascript", "same_link", "runs_scripts",
           "playwright_settings", "template_of"]
