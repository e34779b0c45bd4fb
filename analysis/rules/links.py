"""Link checking: broken links, redirects, missing anchors, links not checked, orphan pages."""
from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from itertools import chain
from urllib.parse import unquote, urlsplit

from analysis.findings import Finding, Location
from analysis.graph import edge_of, landing_page, refresh_target
from analysis.rules.common import (IGNORED_FRAGMENTS, SCRIPT_STATE, _Group, _in_sources, _owned_page_tiers, _owned_pages,
                                   _plural, _targets, rule)
from analysis.rules.offers import plumbing_targets
from analysis.status import BROKEN, SKIPPED, UNVERIFIED
from analysis.words import listing
from crawler.scope import COMPANY, OWNED
from crawler.signals import NOT_LEAD
from crawler.urls import URLError, normalize, origin


# A path segment that is a host name typed without its scheme (href="www.example.com"), or an
# e-mail address typed without mailto: (the TLDs that make "name.tld" look like a host).
HOST_LIKE = re.compile(r"^(www\d?\.[a-z0-9-]+(\.[a-z0-9-]+)+|[a-z0-9-]+(\.[a-z0-9-]+)*\.(com|org|net|io|dev|co|app|ai|"
                       r"example|edu|gov|info|biz|me|us|uk|de|fr|eu|ca|au|nl|ch|es|it|se|no|jp|in|xyz|tech|site|"
                       r"online|shop|store|cloud))$", re.I)


EMAIL_LIKE = re.compile(r"^[^@/\s]+@[a-z0-9-]+(\.[a-z0-9-]+)+$", re.I)


def url_hint(url: str, sources) -> str | None:
    """What a link that answers 404 probably meant, when its href lacks a scheme.

    >>> url_hint("https://a.example/about/www.example.com", ["https://a.example/about/"])
    'did you mean https://www.example.com/?'
    >>> url_hint("https://a.example/info@a.example", ["https://a.example/"])
    'an e-mail address without mailto: (write mailto:info@a.example)'
    >>> url_hint("https://a.example/p/(https://b.example/)", ["https://a.example/p/"])
    'did you mean https://b.example/?'
    >>> url_hint("https://a.example/docs/v1.2/", ["https://a.example/"]) is None
    True
    """
    for source in sources:
        folder = source[: source.rfind("/") + 1]
        if url.startswith(folder):
            rest = url[len(folder):]
        elif url.startswith(origin(source) + "/"):
            rest = url[len(origin(source)) + 1:]
        else:
            continue
        embedded = re.search(r"https?:/+[^\s()\[\]<>\"']+", unquote(rest))
        if embedded:  # href="(https://example.org/)": an absolute URL wrapped in something
            fixed = re.sub(r"^(https?:)/+", r"\1//", embedded.group())
            return f"did you mean {fixed}?"
        first, slash, tail = unquote(rest.split("?", 1)[0]).partition("/")
        if EMAIL_LIKE.match(first) and not tail:
            return f"an e-mail address without mailto: (write mailto:{first})"
        if HOST_LIKE.match(first):
            return f"did you mean https://{first.lower()}/{tail}?"
        return None
    return None


def page_relative(url: str, sources) -> str | None:
    """The href every source would have written for ``url`` when it is the same folder-relative
    path under each of them (``_/js/app.js`` on /a/ and /b/c/), else None.

    >>> page_relative("https://a.example/b/_/x.js", ["https://a.example/b/", "https://a.example/b/index"])
    '_/x.js'
    """
    rel = None
    for source in sources:
        folder = source[: source.rfind("/") + 1]
        if not url.startswith(folder) or url == folder:
            return None
        here = url[len(folder):]
        if rel is not None and here != rel:
            return None
        rel = here
    return rel


def form_endpoint(g, url: str) -> bool:
    """Is ``url`` only ever a form's action (an endpoint a form posts to, where a 405 to the
    crawler's GET means it works)?

    >>> from analysis.graph import graph_from
    >>> p = "https://a.example/"
    >>> g = graph_from([{"url": p, "role": "page", "status": 200, "parsed": 1}],
    ...                [(p, p + "subscribe", "footer", "other", "form"), (p, p + "x", "main", "other")], site=[p])
    >>> form_endpoint(g, p + "subscribe"), form_endpoint(g, p + "x")
    (True, False)
    """
    seen = False
    for _, _, e in g.in_edges(url, data=True):
        if e["tag"] != "form" or e["attr"] == "next":
            return False
        seen = True
    return seen


TEMPLATE_MIN = 3  # distinct broken URLs that make one template's page-relative link


STRAY_WORDS = ("only pages shipped inside the site's plugin or library files hold it (no page links to them; no "
               "visitor reaches them)")
# Folders of bundled code (a CMS's plugins, a package manager's libraries): an HTML file there that no
# page links to is a library's demo or docs page that came with the code, no page of the company's.
BUNDLED = re.compile(r"/(wp-content/plugins|wp-content/themes|wp-includes|node_modules|bower_components|vendor)/", re.I)


@rule("broken-link")
def broken_link(g):
    """A link whose target answered 4xx/5xx or could not be reached (redirect loops have their own rule).

    A page-relative href in a template (``./_/js/search.js`` in every page's head) resolves
    to a different URL under each folder and 404s on each: one finding for the href, listing
    the pages, instead of one per folder. The missing files a stylesheet alone names (its
    rules' background images, fonts) are one finding per stylesheet. A broken link that only
    pages of bundled code hold (:data:`BUNDLED`: a plugin's library demo page nozzle's export
    ships, ``/wp-content/plugins/…/index.html``), pages no page links to nor a sitemap lists, is
    low: no visitor reaches it.
    """
    found = list(_broken_links(g))
    # the pages of bundled code among the high findings' pages (never a set of all of them)
    sources = {s for f in found if f.severity == "high" for s in f.sources if BUNDLED.search(s)}
    stray = _stray_files(g, sources) if sources else set()
    for f in found:
        if f.severity == "high" and f.sources and stray.issuperset(f.sources):
            f.severity = "low"
            f.message += f": {STRAY_WORDS}"
            f.detail["hint"] = STRAY_WORDS
        yield f


def _stray_files(g, pages) -> set[str]:
    """Those of ``pages`` that came with bundled code (:data:`BUNDLED`) and that no crawled page
    links to (nor a sitemap lists; not a crawl target): pages no visitor reaches."""
    targets = _targets(g)
    candidates = [u for u in pages if BUNDLED.search(urlsplit(u).path) and u not in targets]
    if not candidates:
        return set()
    return {u for u in _unlinked(g, candidates)
            if not any(e["tag"] == "sitemap" for _, _, e in g.in_edges(u, data=True))}


def _broken_links(g):
    template: dict[tuple, list] = defaultdict(list)
    styled: dict[str, list] = defaultdict(list)  # owned 404s only stylesheets name, per stylesheet
    missing: list[tuple[str, _Group]] = []  # owned 404s: one by one, or a whole missing section
    plumbed = plumbing_targets(g)
    for url, data in g.nodes(data=True):
        if data.get("verdict") != BROKEN or data.get("loop"):
            continue
        status = data.get("final_status")
        if status == 405 and form_endpoint(g, url):
            continue  # it takes what the form sends (the crawler only asked it with HEAD and GET)
        if url in plumbed and form_purposes(g, url):
            continue  # only lead, newsletter or comment forms lead there: lead-form-target says so
        grp = _in_sources(g, url)
        if grp is None or (grp.sources and all(foreign_page(g, s) for s in grp.sources)):
            continue  # (only another site's pages link it: canonical-elsewhere says to delete them)
        if status == 404 and data.get("tier") in OWNED and not data.get("chain"):
            rel = page_relative(url, grp.sources)
            stylesheets = [s for s in grp.sources if g.nodes[s].get("role") == "asset"]
            if stylesheets and len(stylesheets) == len(grp.sources):  # named only in stylesheets' rules
                styled[min(stylesheets)].append((url, grp))
            elif rel is not None:
                template[(origin(url), rel)].append((url, grp))
            else:
                missing.append((url, grp))
            continue
        yield _broken(g, url, data, grp)
    rest: list[tuple[str, _Group]] = []
    for css, hits in styled.items():
        if len(hits) < 2:
            rest.extend(hits)
            continue
        merged = _merged(hits)
        urls = sorted(u for u, _ in hits)
        paths = [urlsplit(u).path for u in urls]
        folder = posixpath.commonpath([p.rsplit("/", 1)[0] or "/" for p in paths]).rstrip("/") + "/"
        shown = listing((p[len(folder):] for p in paths), STYLED_SHOWN)
        yield Finding("broken-link", "high", css,
                      f"{css} names {len(urls)} {asset_kind(urls)} that do not exist (each answers 404) in {folder}: "
                      f"{shown}",
                      None, merged.pages(), merged.locations,
                      {"status": 404, "error_kind": None, "label": "client error", "cause": "stylesheet",
                       "kind": "stylesheet", "targets": urls})
    for (site, rel), hits in template.items():
        if len(hits) < TEMPLATE_MIN:
            rest.extend(hits)
            continue
        merged = _merged(hits)
        n = len(merged.sources)
        yield Finding("broken-link", "high", rel,
                      f"page-relative link '{rel}' is broken on {_plural(n, 'page')}: it resolves under each page's "
                      f"own folder ({len(hits)} URLs, each answering 404); write it relative to the site root",
                      None, merged.pages(), merged.locations,
                      {"status": 404, "error_kind": None, "label": "client error", "cause": "page-relative",
                       "targets": sorted(u for u, _ in hits)})
    yield from _missing_sections(g, rest + missing)


STYLED_SHOWN = 5  # missing files a stylesheet names, listed in its finding's message (all in its detail)
IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif", ".ico", ".bmp")
FONT_TYPES = (".woff", ".woff2", ".ttf", ".otf", ".eot")


def asset_kind(urls) -> str:
    """What a stylesheet's missing files are, in a word: images, fonts or files.

    >>> asset_kind(["https://a.example/i/bg.png?v=2", "https://a.example/x.SVG"]), asset_kind(["https://a.example/f.woff2", "https://a.example/i.gif"])
    ('images', 'files')
    """
    paths = [urlsplit(u).path.lower() for u in urls]
    for word, types in (("images", IMAGE_TYPES), ("fonts", FONT_TYPES)):
        if all(p.endswith(types) for p in paths):
            return word
    return "files"


def _merged(hits: list[tuple[str, _Group]]) -> _Group:
    """One group of the pages behind several broken URLs that share a cause."""
    merged = _Group()
    for _, grp in hits:
        for loc in grp.locations:
            merged.add(loc["url"], loc["line"], "high")
    return merged


SECTION_MIN = 5  # broken URLs under one folder where nothing answers: one missing section


def _section(url: str) -> str:
    """The folder two levels down a URL's path (``/manual/latest/``), or its first folder."""
    head, _, path = url.partition("://")[2].partition("/")
    parts = path.split("/")[:-1][:2]
    return url.split("://")[0] + "://" + head + "/" + "".join(p + "/" for p in parts)


def _missing_sections(g, broken: list[tuple[str, _Group]]):
    """Owned 404s one by one, except where five or more lie under one folder that holds no page
    that answers (a section left out of the build, a removed manual): one finding for it."""
    by_section: dict[str, list] = defaultdict(list)
    for url, grp in broken:
        by_section[_section(url)].append((url, grp))
    # the sections asked about that a page answers in, or is (only those: never a set of every page)
    asked = {section for section, hits in by_section.items() if len(hits) >= SECTION_MIN and section.count("/") > 3}
    alive = set()
    for u, d in g.nodes(data=True) if asked else ():
        if d.get("verdict") == "ok" and d.get("role") == "page":
            if u in asked:
                alive.add(u)
            section = _section(u)
            if section in asked:
                alive.add(section)
    for section, hits in by_section.items():
        if len(hits) < SECTION_MIN or section in alive or section.count("/") <= 3:
            for url, grp in hits:
                yield _broken(g, url, g.nodes[url], grp)
            continue
        merged = _merged(hits)
        heads = set()   # (a section only the head links: oEmbed, wp-json)
        for url, _ in hits:
            heads.add(head_only(g, url))
            if None in heads:
                break
        head = None if None in heads else "icon" if "icon" in heads else "plumbing"
        yield Finding("broken-link", HEAD_SEVERITY[head] if head else "high", section,
                      f"{len(hits)} broken links into {section} on {_plural(len(merged.sources), 'page')}: nothing "
                      "under it answers (a section missing from the site?)", None, merged.pages(),
                      merged.locations, {"status": 404, "error_kind": None, "label": "client error",
                                         "cause": "missing-section", "targets": sorted(u for u, _ in hits),
                                         **({"kind": f"head-{head}", "hint": HEAD_WORDS[head]} if head else {})})


# <link rel> kinds no visitor sees or clicks: a page's plumbing for bots, feed readers and CMS
# clients (a WordPress export's humans.txt, wp-json, oEmbed links on every page). Broken, they are a
# low finding; a missing icon (the browser tab's) a medium one. (EditURI, pingback, wlwmanifest and
# shortlink are never links at all: crawler.extract skips them.)
PLUMBING_RELS = frozenset({"author", "alternate", "https://api.w.org/", "profile", "publisher", "manifest", "search",
                           "license", "help", "index", "home", "start", "archives", "me"})
ICON_RELS = frozenset({"icon", "shortcut", "apple-touch-icon", "apple-touch-icon-precomposed", "mask-icon"})


def head_only(g, url: str) -> str | None:
    """'plumbing' or 'icon' when every owned page's link to ``url`` is a head ``<link>`` of that
    kind (:func:`head_kind`); None when a visitor meets one of them."""
    return head_kind((e.get("tag"), e.get("rel")) for _, _, e in g.in_edges(url, data=True))


def head_kind(links) -> str | None:
    """'plumbing' or 'icon' when every one of ``links`` (``(tag, rel)``) is a head ``<link>`` no
    visitor clicks (an icon where one is), else None.

    >>> head_kind([("link", "author")]), head_kind([("link", "alternate"), ("link", "shortcut icon")])
    ('plumbing', 'icon')
    >>> head_kind([("link", "author"), ("a", None)]), head_kind([("link", "stylesheet")]), head_kind([])
    (None, None, None)
    """
    kinds = set()
    for tag, rel in links:
        rels = set((rel or "").lower().split())
        if tag != "link" or not rels:
            return None
        if rels <= PLUMBING_RELS:
            kinds.add("plumbing")
        elif rels <= PLUMBING_RELS | ICON_RELS:
            kinds.add("icon")
        else:
            return None
    return ("icon" if "icon" in kinds else "plumbing") if kinds else None


HEAD_SEVERITY = {"plumbing": "low", "icon": "medium"}
HEAD_WORDS = {"plumbing": "only bots and feed readers follow it (a <link> in the page head)",
              "icon": "the browser tab's icon (a <link rel=icon> in the page head)"}


def _broken(g, url: str, data: dict, grp: _Group) -> Finding:
    status = data.get("final_status")
    what = f"{status}" if status else (data.get("label") or "error")
    if data.get("chain"):
        what = f"redirects to {data.get('final_url')}, which answers {what}"
    elif status:
        what = f"answers {status} ({data.get('label')})"
    severity = "high" if data.get("tier") in COMPANY else "medium"  # (a sign-up on the app host is the company's)
    hint = url_hint(url, grp.sources) if status == 404 else None
    detail = {"status": status, "error_kind": data.get("final_error") or data.get("error_kind"),
              "label": data.get("label")}
    forms = form_purposes(g, url)
    if forms:  # only forms lead there: say which (a comment or search form's endpoint matters less)
        purposes, attrs = forms
        detail["forms"] = sorted(purposes)
        how = "posts" if attrs == {"action"} else "sends its visitor" if attrs == {"next"} else "posts or sends its visitor"
        named = " and ".join(sorted(purposes - {"other"}))
        hint = f"where {f'the {named} form' if named else 'a form'} {how}" + (f"; {hint}" if hint else "")
        if severity == "high" and purposes and purposes <= NOT_LEAD:
            severity = "medium"
    head = head_only(g, url) if severity == "high" and data.get("tier") in OWNED else None
    if head:  # no visitor clicks it: noted below the links they do
        severity, hint, detail["kind"] = HEAD_SEVERITY[head], HEAD_WORDS[head], f"head-{head}"
    if hint:
        detail["hint"] = hint
    name = url
    if data.get("role") == "profile":  # an account, as the pages write it (x.com/Acme, not its key twitter.com/acme)
        from analysis.rules.social import _spelling, account_name
        name = account_name({_spelling(e["target"] or url) for _, _, e in g.in_edges(url, data=True)} or {url})
    return Finding("broken-link", severity, url, f"broken link: {name} {what}" + (f": {hint}" if hint else ""),
                   None, grp.pages(), grp.locations, detail)


def form_purposes(g, url: str) -> tuple[set[str], set[str]] | None:
    """When only forms lead to ``url`` (their action, or the page they send the visitor to):
    the purposes of those forms (``crawler.signals``: lead, newsletter, comment, search ...) and
    how they lead there (``action``, ``next``); None when a link leads there too.

    >>> from analysis.graph import build_graph
    >>> from crawler.store import Store
    >>> s = Store(":memory:"); p = "https://a.example/"; cid = s.create_crawl([p], {"site": [p]})
    >>> s.write_page(cid, {"url": p, "role": "page", "status": 200, "parsed": 1, "signals": '{"forms": [{"purpose":'
    ...     ' "comment", "method": "post", "action": "https://a.example/wp-comments-post.php", "next": null}]}'},
    ...     [(p, p + "wp-comments-post.php", p + "wp-comments-post.php", None, "form", "action", "", "main", "", 0,
    ...       "other", 9, 4)])
    >>> form_purposes(build_graph(s, cid), p + "wp-comments-post.php")
    ({'comment'}, {'action'})
    """
    key = g.graph["key"]
    purposes: set[str] = set()
    attrs: set[str] = set()
    for source, _, e in g.in_edges(url, data=True):
        if e["tag"] != "form":
            return None
        attrs.add(e["attr"])
        for form in (g.nodes[source].get("signals") or {}).get("forms", ()):
            target = form.get(e["attr"])
            if not target:
                continue
            try:
                if key(normalize(target)[0]) == url:
                    purposes.add(form["purpose"])
            except URLError:
                continue
    return (purposes, attrs) if attrs else None


def foreign_page(g, url: str) -> bool:
    """Is ``url`` an owned page whose ``<link rel=canonical>`` names a page of another site (not
    the company's: a page a hacked plugin injected; rule canonical-elsewhere)? Its own broken
    links are no broken links of the company's.

    >>> from analysis.graph import graph_from
    >>> s = "https://a.example/"
    >>> g = graph_from([{"url": s + "loan/", "role": "page", "status": 200, "parsed": 1,
    ...                  "signals": '{"canonical": "http://13.51.214.76/loan/"}'},
    ...                 {"url": s, "role": "page", "status": 200, "parsed": 1, "signals": '{"canonical": "https://www.a.example/"}'}],
    ...                [], site=[s])
    >>> foreign_page(g, s + "loan/"), foreign_page(g, s), foreign_page(g, "https://b.example/")
    (True, False, False)
    """
    data = g.node_data.get(url)
    canonical = ((data or {}).get("signals") or {}).get("canonical")
    return bool(canonical) and data.get("tier") in OWNED and g.graph["scope"].tier(canonical) not in COMPANY


@rule("canonical-elsewhere")
def canonical_elsewhere(g):
    """Owned pages whose ``<link rel=canonical>`` names a page of another site: search engines
    list that page instead of the company's. One finding per host they name; high when it is
    a bare IP address (pages a hacked plugin injected, copied from a spam server), else medium.
    The company's own hosts (the blog, the app, another of its domains given as a target) are fine.
    """
    groups: dict[str, _Group] = defaultdict(_Group)
    named: dict[str, list] = defaultdict(list)
    scope = g.graph["scope"]
    for url, data in _owned_pages(g):
        if not foreign_page(g, url):
            continue
        canonical = data["signals"]["canonical"]
        host = urlsplit(canonical).hostname or canonical
        groups[host].add(url, None, "high" if _ip_host(host) else "medium")
        named[host].append(canonical)
    for host, grp in groups.items():
        n = len(grp.sources)
        spam = " (pages injected into the site, or copied from it?)" if _ip_host(host) else ""
        yield Finding("canonical-elsewhere", "high" if _ip_host(host) else "medium", min(named[host]),
                      f"{_plural(n, 'page')} name{'s' if n == 1 else ''} a page on {host} as {'its' if n == 1 else 'their'}"
                      f" canonical address: search engines list that page instead{spam}", None, grp.pages(),
                      grp.locations, {"host": host, "canonical": sorted(set(named[host]))})


def _ip_host(host: str) -> bool:
    """Is ``host`` a bare IP address?

    >>> _ip_host("13.51.214.76"), _ip_host("[::1]"), _ip_host("www.a.example")
    (True, True, False)
    """
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


@rule("redirect")
def redirect(g):
    """An owned page links to a URL that redirects permanently: link the final URL instead.

    Links that redirect only to add a trailing slash (``/docs`` -> ``/docs/``) share one
    cause and one fix: one finding per site lists them all.
    """
    slash: dict[str, _Group] = defaultdict(_Group)
    slashed: dict[str, list] = defaultdict(list)
    stubbed: dict[str, _Group] = defaultdict(_Group)   # pages' links to <meta refresh> stubs, per site
    stubs: dict[str, list] = defaultdict(list)
    for url, data in g.nodes(data=True):
        if data.get("stub") and data.get("tier") in OWNED:  # a redirect the browser makes: one more load
            grp = _in_sources(g, url)
            pages = [loc for loc in (grp.locations if grp is not None else ())
                     if g.nodes[loc["url"]].get("role") == "page" and not g.nodes[loc["url"]].get("stub")]
            if pages:
                site = origin(url) + "/"
                for loc in pages:
                    stubbed[site].add(loc["url"], loc["line"], "low")
                stubs[site].append({"url": url, "final_url": landing_page(g, url)})
            continue
        if not data.get("permanent") or data.get("loop") or data.get("tier") not in OWNED:
            continue
        grp = _in_sources(g, url)
        if grp is None:
            continue
        final = landing_page(g, url)  # through <meta refresh> stubs too: the page a visitor ends on
        if final == url.split("?", 1)[0] + "/" + ("?" + url.split("?", 1)[1] if "?" in url else "") \
                and len(data.get("chain") or []) == 1:
            site = origin(url) + "/"
            for loc in grp.locations:
                slash[site].add(loc["url"], loc["line"], "low")
            slashed[site].append({"url": url, "final_url": final})
            continue
        yield Finding("redirect", "low", url,
                      f"{url} redirects permanently to {final}: link the final URL", None,
                      grp.pages(), grp.locations, {"final_url": final,
                                                         "redirects": len(data.get("chain") or [])})
    for site, grp in slash.items():
        urls = sorted(slashed[site], key=lambda r: r["url"])
        yield Finding("redirect", "low", site,
                      f"{_plural(len(urls), 'link target')} on {_plural(len(grp.sources), 'page')} redirect only to add "
                      f"a trailing slash (e.g. {urls[0]['url']} -> {urls[0]['final_url']}): link the / form",
                      None, grp.pages(), grp.locations, {"cause": "trailing-slash", "redirects": urls})
    for site, grp in stubbed.items():
        urls = sorted(stubs[site], key=lambda r: r["url"])
        first = f"{urls[0]['url']} -> {urls[0]['final_url']}"
        what = (f"{urls[0]['url']} is a <meta refresh> stub that sends visitors on to {urls[0]['final_url']}"
                if len(urls) == 1 else f"{len(urls)} link targets are <meta refresh> stubs that send visitors on "
                                       f"(e.g. {first})")
        yield Finding("redirect", "low", site if len(urls) > 1 else urls[0]["url"],
                      f"{what}, linked from {_plural(len(grp.sources), 'page')}: link "
                      f"{'the pages they lead' if len(urls) > 1 else 'the page it leads'} to", None, grp.pages(), grp.locations, {"cause": "refresh-stub", "redirects": urls})


@rule("redirect-chain")
def redirect_chain(g):
    """More than two redirect hops before the final answer."""
    for url, data in g.nodes(data=True):
        chain = data.get("chain") or []
        if len(chain) <= 2 or data.get("loop"):
            continue
        grp = _in_sources(g, url)
        if grp is not None:
            yield Finding("redirect-chain", "medium", url, f"{url} takes {len(chain)} redirects to reach "
                          f"{data.get('final_url')}", None, grp.pages(), grp.locations,
                          {"redirects": [{"url": u, "status": s} for u, s in chain]})


@rule("redirect-loop")
def redirect_loop(g):
    """A redirect chain that comes back to a URL it already visited."""
    for url, data in g.nodes(data=True):
        if not data.get("loop"):
            continue
        grp = _in_sources(g, url)
        if grp is not None:
            chain = data.get("chain") or []
            yield Finding("redirect-loop", "high", url, f"redirect loop: {' -> '.join(u for u, _ in chain)} -> "
                          f"{data.get('final_url')}", None, grp.pages(), grp.locations,
                          {"redirects": [{"url": u, "status": s} for u, s in chain]})


@rule("missing-anchor")
def missing_anchor(g):
    """A #fragment link to an owned HTML page that has no such id or name.

    The fragment is looked for on the page the link lands on (after redirects and
    ``<meta refresh>`` stubs); text fragments (``#:~:text=``) name no element and are fine. A
    fragment that is there but reached through a refresh stub is lost on the way (browsers drop
    it; an HTTP redirect keeps it): a low finding.
    """
    groups: dict[tuple, _Group] = defaultdict(_Group)
    lost: dict[tuple, _Group] = defaultdict(_Group)  # ... and fragments a refresh stub drops on the way
    owned = _owned_page_tiers(g)
    for page, target, e in g.links(fragment=True):  # one query: the links with a fragment
        if page not in owned:
            continue
        frag = (e["fragment"] or "").split(":~:", 1)[0]  # a text fragment directive is no element
        if (not frag.strip("#") or frag.lower() in IGNORED_FRAGMENTS or frag.startswith(("/", "!"))
                or SCRIPT_STATE.search(frag)):  # (a route, a widget's trigger, a script's state: no element)
            continue
        t = g.nodes[target]
        if t.get("tier") not in OWNED or t.get("verdict") != "ok":
            continue
        final = landing_page(g, target)
        node = g.nodes[final]
        if node.get("parsed") and frag not in node.get("anchors", ()):
            groups[(target, frag, final)].add(page, e["line"], "medium")
        elif final != target and (stub := refresh_stub(g, target)) is not None:
            lost[(target, frag, stub, final)].add(page, e["line"], "low")
    for (target, frag, final), grp in groups.items():
        via = f" (the page {target} leads to)" if final != target else ""
        yield Finding("missing-anchor", "medium", f"{target}#{frag}",
                      f"no element with id or name '{frag}' on {final}{via}", None, grp.pages(),
                      grp.locations, {"page": final} if final != target else {})
    for (target, frag, stub, final), grp in lost.items():
        yield Finding("missing-anchor", "low", f"{target}#{frag}",
                      f"the fragment #{frag} is lost through the refresh stub at {stub}; link the final page "
                      f"{final}#{frag}", None, grp.pages(), grp.locations,
                      {"page": final, "stub": stub, "kind": "refresh-stub"})


def refresh_stub(g, url: str, hops: int = 5) -> str | None:
    """The first ``<meta refresh>`` stub on the way from ``url`` to the page it lands on (browsers
    keep a ``#fragment`` through an HTTP redirect, not through a refresh), or None.

    >>> from analysis.graph import graph_from
    >>> stub, post = "https://a.example/old/", "https://a.example/new/"
    >>> g = graph_from([{"url": stub, "role": "page", "status": 200, "parsed": 1},
    ...                 {"url": post, "role": "page", "status": 200, "parsed": 1}],
    ...                [(stub, post, "head", "other", "meta")], site=["https://a.example/"])
    >>> refresh_stub(g, stub), refresh_stub(g, post)
    ('https://a.example/old/', None)
    """
    for _ in range(hops):
        node = g.nodes[url]
        final = node.get("final_url")
        if final and final in g:
            url, node = final, g.nodes[final]
        if node.get("stub"):
            return url
        refresh = refresh_target(g, url)
        if refresh is None or refresh == url or not node.get("parsed"):
            return None
        url = refresh
    return None


@rule("unverified-link")
def unverified_link(g):
    """An external link the platform would not let us check (blocked, login wall, rate limited)."""
    for url, data in g.nodes(data=True):
        if data.get("verdict") != UNVERIFIED or data.get("role") == "profile" or data.get("offline"):
            continue  # links left unchecked for want of a network are one line in the summary
        grp = _in_sources(g, url)
        if grp is not None:
            yield Finding("unverified-link", "info", url, f"could not verify {url}: {data.get('label')}", None,
                          grp.pages(), grp.locations, {"reason": data.get("label")})


@rule("skipped-link")
def skipped_link(g):
    """A link funnelcheck did not fetch on purpose (robots.txt, --exclude)."""
    for url, data in g.nodes(data=True):
        if data.get("verdict") != SKIPPED or data.get("role") == "profile":
            continue
        grp = _in_sources(g, url)
        if grp is not None:
            yield Finding("skipped-link", "info", url, f"{url} {data.get('label')}", None, grp.pages(),
                          grp.locations, {"reason": data.get("label")})


@rule("unsupported-scheme")
def unsupported_scheme(g):
    """A link with a well-formed scheme funnelcheck cannot check (ftp:, file:, ...)."""
    yield from _unfetchable(g, malformed=False)


@rule("malformed-url")
def malformed_url(g):
    """A link that is not a URL at all (``http:/x``, ``http://``, an unbalanced ``[``): a typo
    every visitor hits."""
    yield from _unfetchable(g, malformed=True)


def _unfetchable(g, malformed: bool):
    cached = g.graph.get("unfetchable")
    if cached is None:  # one pass for both rules: malformed and unsupported links
        cached = g.graph["unfetchable"] = {True: defaultdict(_Group), False: defaultdict(_Group)}
        nodes, owned = g.nodes, _owned_page_tiers(g)
        other = [url for url, d in g.node_data.items() if d.get("tier") == "other"
                 and not url.startswith(("http://", "https://"))]  # ftp:, javascript:, ...
        malformed_rows = list(g.store.link_rows(g.crawl_id, kind="malformed"))  # a few: typos
        seen = {row[0] for row in malformed_rows}
        rows = chain(malformed_rows, (row for row in (g.store.link_rows(g.crawl_id, keys=other) if other else ())
                                      if row[0] not in seen))
        for page, target, e in map(edge_of, rows):  # malformed, or not http(s): two queries
            data = nodes[target]
            if data.get("role") is not None:
                continue  # fetched, so neither unsupported nor malformed
            bad = e["kind"] == "malformed"
            if (data.get("tier") == "other" or bad) and page in owned:
                cached[bad][target].add(page, e["line"])
    groups = cached[malformed]
    for target, grp in groups.items():
        if malformed:
            yield Finding("malformed-url", "medium", target, f"malformed URL {target!r}: not a link a browser can "
                          "follow", None, grp.pages(), grp.locations)
        else:
            yield Finding("unsupported-scheme", "info", target, f"cannot check {target}: unsupported scheme",
                          None, grp.pages(), grp.locations)


@rule("insecure-link")
def insecure_link(g):
    """``http://`` links to the business's own https site: one finding per site, listing the pages
    and, as examples, the first URLs written so by address (not in the order the crawl read them).

    >>> from analysis.graph import graph_from
    >>> g = graph_from([{"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1}],
    ...     [("https://a.example/", "http://www.a.example/y", "main", "other"),
    ...      ("https://a.example/", "http://a.example/x", "main", "other")], site=["https://a.example/"])
    >>> [(f.target, f.sources, f.detail) for f in insecure_link(g)]
    [('https://a.example/', ['https://a.example/'], {'links': 2, 'examples': ['http://a.example/x', 'http://www.a.example/y']})]
    """
    groups: dict[str, _Group] = defaultdict(_Group)
    written: dict[str, dict[str, None]] = defaultdict(dict)
    nodes, owned = g.nodes, _owned_page_tiers(g)
    for page, target, e in g.links(written_prefix="http://", key_prefix="https://", rewritten=True):  # one query
        if page in owned:
            if target.startswith("https://") and nodes[target].get("tier") in COMPANY:
                site = origin(target) + "/"
                groups[site].add(page, e["line"], "low")
                written[site].setdefault(e["target"], None)
    for site, grp in groups.items():
        n = len(grp.locations)
        yield Finding("insecure-link", "low", site,
                      f"{_plural(n, 'link')} on {_plural(len(grp.sources), 'page')} use http:// for {site}: "
                      "link https:// (visitors are sent through a redirect, or see a warning)", None,
                      grp.pages(), grp.locations, {"links": n, "examples": sorted(written[site])[:5]})


# Files a site holds that no page is meant to link to (policy as data): error pages (404.html,
# 404/index.html, 50x.html, a top-level error.html or not-found.html) and search engines'
# site-verification files.
UNLINKED_BY_DESIGN = re.compile(
    r"(?:/[45](?:\d\d|0x)(?:\.html?)?(?:/|$)|^/(?:errors?|not[-_]?found)(?:\.html?$|/)"
    r"|/google[0-9a-f]{8,}\.html$|/yandex_[0-9a-f]+\.html$|/pinterest-[0-9a-f]+\.html$)", re.I)


def unlinked_by_design(url: str) -> bool:
    """Is ``url`` a file no page is meant to link to (an error page, a site-verification file)?

    >>> [unlinked_by_design("https://a.example" + p) for p in ("/404.html", "/404/error.html", "/404/",
    ...     "/google41fe3ad2898b639e.html", "/50x.html", "/error.html", "/docs/errors.html", "/blog/404-tips/")]
    [True, True, True, True, True, True, False, False]
    """
    return bool(UNLINKED_BY_DESIGN.search(urlsplit(url).path))


# Those of the asked URLs some page of the crawl links to by a link that is no sitemap entry (and
# not to itself), from a page that is none of ``{besides}``: one probe of the key index per URL, not
# a pass over every link (orphan-page's own query; crawler.store.Store.read runs it). The few URLs
# asked about first, then the urls table by its index (CROSS JOIN).
LINKED_AMONG = {
    1: "SELECT x.url FROM {asked} x WHERE EXISTS (SELECT 1 FROM links l WHERE l.crawl_id = ?"
       " AND l.target_key = x.url AND l.tag IS NOT ? AND l.source != l.target_key"
       " AND l.source IN (SELECT url FROM pages WHERE crawl_id = ? AND role = ?)"
       " AND l.source NOT IN (SELECT url FROM {besides}))",
    2: "SELECT x.url FROM {asked} x CROSS JOIN urls u ON u.url = x.url WHERE EXISTS (SELECT 1 FROM links l"
       " WHERE l.crawl_id = ? AND l.key_id = u.id"
       " AND l.tag IS NOT COALESCE((SELECT id FROM terms WHERE term = ?), -1)"
       " AND l.source_id != l.key_id"
       " AND l.source_id IN (SELECT url_id FROM pages WHERE crawl_id = ? AND role = ?)"
       " AND l.source_id NOT IN (SELECT b.id FROM {besides} y JOIN urls b ON b.url = y.url))",
}
# The (asked URL, source) pairs of the links into the asked URLs from the ``{sources}`` (a few
# pages: those no other page links to), sitemap entries left out.
LINKS_FROM = {
    1: "SELECT DISTINCT l.target_key, l.source FROM links l WHERE l.crawl_id = ? AND l.tag IS NOT ?"
       " AND l.target_key IN (SELECT url FROM {asked}) AND l.source IN (SELECT url FROM {sources})",
    2: "SELECT DISTINCT x.url, s.url FROM {asked} x CROSS JOIN urls u ON u.url = x.url"
       " JOIN links l ON l.key_id = u.id JOIN urls s ON s.id = l.source_id WHERE l.crawl_id = ?"
       " AND l.tag IS NOT COALESCE((SELECT id FROM terms WHERE term = ?), -1)"
       " AND l.source_id IN (SELECT v.id FROM {sources} y JOIN urls v ON v.url = y.url)",
}


def linked_among(g, urls, besides=()) -> set[str]:
    """Those of ``urls`` a crawled page (none of ``besides``) links to, by a link that is no sitemap entry.

    >>> from analysis.graph import graph_from
    >>> a = "https://a.example/"
    >>> g = graph_from([{"url": a, "role": "page", "status": 200, "parsed": 1}],
    ...                [(a, a + "b", "main", "other"), (a, a, "main", "other")], site=[a])
    >>> sorted(linked_among(g, [a, a + "b", a + "c"])), sorted(linked_among(g, [a + "b"], besides=[a]))
    (['https://a.example/b'], [])
    """
    return {url for (url,) in g.store.read(LINKED_AMONG, (g.crawl_id, "sitemap", g.crawl_id, "page"), asked=urls,
                                           besides=besides)}


# The asked URLs no page links to, as :data:`LINKED_AMONG` judges: the few left (a URL the store
# does not hold is linked by none).
UNLINKED_AMONG = {1: LINKED_AMONG[1].replace(" WHERE EXISTS", " WHERE NOT EXISTS", 1),
                  2: LINKED_AMONG[2].replace(" CROSS JOIN urls u ON u.url = x.url WHERE EXISTS",
                                             " LEFT JOIN urls u ON u.url = x.url WHERE NOT EXISTS", 1)}
assert UNLINKED_AMONG[1] != LINKED_AMONG[1] and UNLINKED_AMONG[2] != LINKED_AMONG[2]


def unlinked_among(g, urls, besides=()) -> set[str]:
    """Those of ``urls`` no crawled page (none of ``besides``) links to, by a link that is no
    sitemap entry: :func:`linked_among`'s complement, read as such (only the few unlinked URLs
    read, never the strings of every linked one).

    >>> from analysis.graph import graph_from
    >>> a = "https://a.example/"
    >>> g = graph_from([{"url": a, "role": "page", "status": 200, "parsed": 1}],
    ...                [(a, a + "b", "main", "other"), (a, a, "main", "other")], site=[a])
    >>> sorted(unlinked_among(g, [a, a + "b", a + "c"])), sorted(unlinked_among(g, [a + "b"], besides=[a]))
    (['https://a.example/', 'https://a.example/c'], ['https://a.example/b'])
    """
    return {url for (url,) in g.store.read(UNLINKED_AMONG, (g.crawl_id, "sitemap", g.crawl_id, "page"), asked=urls,
                                           besides=besides)}


def _unlinked(g, pages) -> set[str]:
    """Those of ``pages`` no crawled page links to, directly or through a redirect or a
    ``<meta refresh>`` stub. A stub is no page a visitor is on (the browser moves on), so its
    links count only as the way on from the links into it; a page's link to itself (directly, or
    to an old address or its own canonical that redirects back to it) is no incoming link.

    >>> from analysis.graph import graph_from
    >>> a, p, q = "https://a.example/", "https://a.example/agency/", "https://a.example/trial/"
    >>> page = lambda u, **kw: {"url": u, "role": "page", "status": 200, "parsed": 1, **kw}
    >>> g = graph_from([page(a), page(p), page(q), {"url": p[:-1], "role": "page", "status": 301, "location": p},
    ...                 page(a + "old/")],
    ...     [(p, p[:-1], "head", "other", "link"), (a + "old/", q, "head", "other", "meta"), (a, a + "old/", "main", "other")],
    ...     site=[a])
    >>> sorted(_unlinked(g, [a, p, q]))
    ['https://a.example/', 'https://a.example/agency/']
    """
    stubs = [url for url, data in g.nodes(data=True) if data.get("stub")]
    unlinked = unlinked_among(g, pages, besides=stubs)
    if not unlinked:
        return unlinked
    # the addresses that redirect or refresh to a page no page links to: one probe of the key
    # index per address, then the links into them from the unlinked pages themselves
    hops: dict[str, str] = {}
    for url, data in g.nodes(data=True):
        final = data.get("final_url")
        if (final and final != url) or data.get("stub"):
            landing = landing_page(g, url)
            if landing in unlinked and landing != url:
                hops[url] = landing
    if hops:
        reached = linked_among(g, hops, besides=[*stubs, *unlinked])
        reached.update(hop for hop, source in g.store.read(LINKS_FROM, (g.crawl_id, "sitemap"), asked=hops,
                                                           sources=unlinked) if source != hops[hop])
        unlinked -= {hops[hop] for hop in reached}
    return unlinked


@rule("orphan-page")
def orphan_page(g):
    """A page listed in a sitemap, or a file of an audited folder, that no crawled page links to
    (directly or through a redirect or a stub; a page's link to itself is none)."""
    targets = _targets(g)
    folders = tuple(g.graph["key"](base) for base in (g.graph["crawl"].get("options") or {}).get("directories") or {})
    pages = [url for url, data in g.nodes(data=True) if data.get("role") == "page" and data.get("tier") in OWNED
             and data.get("verdict") == "ok" and url not in targets]
    unlinked = _unlinked(g, pages)
    for url in pages:
        if url not in unlinked:
            continue
        sitemaps = sorted({s for s, _, e in g.in_edges(url, data=True) if e["tag"] == "sitemap"})
        if sitemaps:
            yield Finding("orphan-page", "low", url, f"{url} is in the sitemap but no crawled page links to it",
                          None, sitemaps, [Location(s, None) for s in sitemaps])
        elif url.startswith(folders) and not g.nodes[url].get("stub") and not unlinked_by_design(url):
            # a file of an audited folder (every one is crawled); a <meta refresh> stub is an old
            # address kept for old links, an error page or a site-verification file is never linked
            yield Finding("orphan-page", "low", url, f"{url} is a file in the audited folder, but no page links to it",
                          None, [url], [Location(url, None)], {"kind": "file"})
