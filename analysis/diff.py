"""What changed between two stored crawls of a site (issue 11, part 2): ``funnelcheck diff``.

Both crawls are analysed again with the rules of *this* funnelcheck
(:func:`analysis.report.audit`), so a new version's rules never show up as changes of the
site; one crawl at a time (analysed, what the diff needs taken out, let go, then the other),
so two big graphs are never held at once. What one crawl has and the other has not is worked
out by SQLite over the store's URL ids, shared by every crawl of a store
(:meth:`crawler.store.Store.pages_except`, :meth:`~crawler.store.Store.links_except`): never a
Python set of every link.

:func:`diff_crawls` returns one JSON-ready dict (keys in a fixed order, lists sorted):

``site``            the site's name (host of the first target, ``www.`` dropped)
``old``, ``new``    crawl headers: ``id``, ``targets``, ``started``, ``status``, ``version`` (the
                    funnelcheck that crawled), ``pages`` (owned pages read)
``options_differ``  names of the crawl options whose values differ (and ``targets``)
``headline``        the e-mail subject (:func:`headline`)
``summary``         what changed for the funnel, most important first (:func:`summary`): offers
                    (template links to them, their reach, links to them broken), conversion,
                    backward routes, the plain link check; each item ``kind``, ``impact``,
                    ``change``, ``words``, ``short`` and what it is about
``pages``           ``added`` / ``removed``: owned pages read in one crawl only,
                    each ``{"count": n, "urls": [first LIST_MAX]}``
``links``           ``added`` / ``removed``, each ``{"owned": …, "social": …, "offer": …}`` with
                    ``{"count": n, "grouped": g, "links": [{"source", "target"}, … first LIST_MAX]}``:
                    distinct (page, target) pairs of clickable links (``<a>``, ``<area>``) from an
                    owned page read in both crawls to an owned URL (the site, the blog, the
                    company's other hosts), a social platform or an offer on another site (``g`` of
                    them in template changes, which ``links`` leaves out); ``groups``: the template
                    changes, one per target added to or removed from many pages of a kind
                    (:func:`is_group`): ``change``, ``class``, ``target``, ``pages``, ``by_class``
                    and ``of`` (pages changed and pages read in both crawls, per kind of page:
                    ``site``, ``blog-post``, ``blog-page``), the link's usual ``region``, ``text``
                    and ``icon``, ``offer`` (``purchase``/``lead``/None), ``platform``
``backward``        ``new`` / ``fixed``: backward-social and backward-blog findings (not the
                    info-level identity markup) that appeared or went, by stable id
``broken``          ``new``: link targets broken now that were not before (``before_status``:
                    what the URL answered in the old crawl, None when it was not fetched;
                    ``offer``: the kind of offer the target is, if it is one);
                    ``fixed``: targets broken before and not now (``now``: ``works``,
                    ``no longer linked`` or ``not checked``)
``findings``        ``new`` / ``resolved`` by stable id, every rule; ``changed``: in both, with
                    another severity or many more or fewer pages (:func:`changed_a_lot`)
``metrics``         ``{"old", "new", "delta"}`` of the funnel metrics (:mod:`analysis.metrics`):
                    ``site`` (``conversion``, ``social_leak``, ``clicks_to_conversion``,
                    ``conversion_depth``, ``unreachable_posts`` as a count), ``blog`` (the mean
                    ``conversion`` and ``social_leak`` of the blog's entry pages), ``landing``
                    (those of each target's landing page); ``unreachable_posts``: ``new`` and
                    ``fixed`` blog pages without / again with a path to an offer;
                    ``conversion_pages``: per conversion page whose reach changed, the entry
                    pages (and of them blog pages) reaching it in each crawl, and those in both
                    crawls that ``lost`` or ``gained`` it (:func:`conversion_reach`);
                    ``conversion_reach``: False when that could not be compared
``fix_first``       the new crawl's action plan, its first :data:`PLAN_MAX` items (``id``,
                    ``severity``, ``cost``, ``words``, ``fix``: :mod:`analysis.plan`); when the new
                    crawl was audited with ``--analytics``, that audit's plan, ranked by money, with
                    ``visits``, ``conversions`` and ``money`` a month
``money``           when both crawls were audited with ``--analytics`` (their summaries kept in the
                    store: :meth:`crawler.store.Store.analytics`), ``{"old", "new", "delta"}`` of
                    ``monthly_entries``, ``conversion``, ``monthly_conversions``, ``monthly_value``,
                    with ``currency`` and each crawl's ``files``; absent otherwise. With the same
                    inputs, the new crawl's money is priced at the old crawl's observed
                    conversion rate (``rate``; ``kept``: the new audit's own figure, which the
                    exports' conversions pin): :func:`money_changes`
``sentences``       what a marketer reads, most important first: the summary's words, then the
                    rest (other findings, pages, link counts)

:func:`headline` is the e-mail subject, :func:`changed` says whether anything changed at
all, :func:`latest_pair` picks the two crawls to compare. Rendering is
:mod:`analysis.formats.diff`.
"""
from __future__ import annotations

import gc
import logging
import math
import re
from dataclasses import dataclass, field, fields
from functools import cache
from urllib.parse import urlsplit

import numpy as np

from analysis.rules.common import REGION_WORDS
from analysis.words import joined
from crawler.options import CrawlOptions
from crawler.scope import BLOG, COMPANY, OWNED, SITE, SOCIAL, Scope

logger = logging.getLogger(__name__)
PLAN_MAX = 3   # action plan items the diff (and its e-mail) carries
PLAN_KEYS = ("id", "severity", "cost", "words", "fix")

LIST_MAX = 200          # pages and links listed per kind of change (the counts are exact)
BACKWARD_RULES = ("backward-social", "backward-blog")
REACH_SEARCHES = 200    # graph searches allowed for conversion reach (the smaller of entries, conversion pages)
METRIC_NOISE = 0.0005   # a probability moving less than this (0.05 points) has not changed
CLICK_NOISE = 0.005     # nor clicks moving less than this
SAY_POINTS = 0.005      # a probability is worth a sentence when it moved at least half a point
SAY_CLICKS = 0.1
SAID = 5                # items named in a sentence before "and N more"
HEADLINE_MAX = 150      # characters of the e-mail subject
HEADLINE_POINTS = 0.01  # a conversion probability is in the subject when it moved a point or more
GROUP_MIN = 3           # pages changing the same link before it can be one (template) change
GROUP_MANY = 20         # ... that many are one change whatever share of their pages they are
GROUP_SHARE = 0.5       # ... else at least this share of the pages of their kind (read in both crawls)
GROUPS_MAX = 50         # template changes named per direction (the most pages first)


class NotEnoughCrawls(ValueError):
    """Fewer than two complete crawls of the site to compare (the message is one line)."""


# -- choosing the crawls -------------------------------------------------------------------
def site_key(url: str) -> str:
    """A URL compared as a site name: no scheme, no ``www.``, no trailing slash, lower case.

    >>> site_key("HTTPS://www.Acme.example/"), site_key("http://acme.example")
    ('acme.example', 'acme.example')
    """
    rest = url.strip().split("://", 1)[-1].lower()
    return rest.removeprefix("www.").rstrip("/")


def latest_pair(store, site: str | None = None) -> tuple[int, int]:
    """``(old, new)`` of :func:`comparison` (no note).

    >>> import tempfile, os
    >>> from crawler.store import Store
    >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
    >>> def crawl(target, status="complete", pages=1):
    ...     cid = s.create_crawl([target], {})
    ...     for n in range(pages):
    ...         s.write_page(cid, {"url": f"{target}{n}", "role": "page", "status": 200, "parsed": 1}, [])
    ...     s.finish_crawl(cid, status)
    >>> for target in ("https://a.example/", "https://b.example/", "https://a.example/", "https://b.example/"):
    ...     crawl(target)
    >>> latest_pair(s), latest_pair(s, "a.example")
    ((2, 4), (1, 3))
    >>> latest_pair(s, "https://c.example/")
    Traceback (most recent call last):
    analysis.diff.NotEnoughCrawls: no complete crawl of https://c.example/ in the store: a diff needs two
    """
    found = comparison(store, site)
    return found["old"], found["new"]


def comparison(store, site: str | None = None, new_id: int | None = None) -> dict:
    """Which crawls a diff compares: ``{"old", "new", "skipped", "note"}``.

    ``new`` is ``new_id`` (the crawl an audit just made), else the latest complete crawl of one
    site: that of the latest complete crawl, or the one whose targets include ``site``. ``old`` is
    the latest crawl before it, of the same targets, that can be compared with
    (:func:`crawler.store.comparable`: complete, at least one page read): a failed, interrupted or
    empty crawl never is (a site down at cron time must not make next week's diff an alarm).
    ``skipped`` says in words the crawls in between left out, ``note`` which crawl was taken and
    why (empty when none was left out).

    >>> import tempfile, os
    >>> from crawler.store import Store
    >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
    >>> def crawl(status, pages=1, error=None):
    ...     cid = s.create_crawl(["https://a.example/"], {})
    ...     for n in range(pages):
    ...         s.write_page(cid, {"url": f"https://a.example/{n}", "role": "page", "status": 200, "parsed": 1}, [])
    ...     s.finish_crawl(cid, status, error)
    >>> crawl("complete"); crawl("failed", 0, "cannot reach https://a.example/: connection refused")
    >>> crawl("complete", 0); crawl("complete")
    >>> c = comparison(s)
    >>> c["old"], c["new"], c["skipped"]
    (1, 4, ['crawl #2 failed: cannot reach https://a.example/: connection refused', 'crawl #3 read no pages'])
    >>> c["note"].split(" of ")[0], c["note"].split("; ", 1)[1]
    ('compared with crawl #1', 'crawl #2 failed: cannot reach https://a.example/: connection refused; crawl #3 read no pages')
    """
    from crawler.store import comparable, why_not_comparable

    crawls = store.crawls()
    what = "" if site is None else f" of {site}"
    if new_id is not None:
        latest = next((c for c in crawls if c["id"] == new_id), None)
        if latest is None:
            raise NotEnoughCrawls(f"no crawl #{new_id} in the store")
    else:
        done = [c for c in crawls if c["status"] == "complete"]
        if site is not None:
            key = site_key(site)
            done = [c for c in done if any(site_key(t) == key for t in c["targets"])]
        if not done:
            raise NotEnoughCrawls(f"no complete crawl{what} in the store: a diff needs two")
        latest = done[-1]
    same = [c for c in crawls if c["id"] < latest["id"] and sorted(c["targets"]) == sorted(latest["targets"])]
    base = next((c for c in reversed(same) if comparable(c)), None)
    skipped = [why_not_comparable(c) for c in same if (base is None or c["id"] > base["id"])
               and c["status"] != "running" and not comparable(c)]
    if base is None:
        left_out = f" ({'; '.join(skipped[-SAID:])})" if skipped else ""
        raise NotEnoughCrawls(f"only one complete crawl of {' '.join(latest['targets'])} in the store (#{latest['id']})"
                              f"{left_out}: a diff needs two (audit it again, or name two crawls: funnelcheck diff "
                              "OLD NEW)")
    shown = skipped if len(skipped) <= SAID else [*skipped[:SAID], f"and {len(skipped) - SAID} more"]
    note = (f"compared with crawl #{base['id']} of {(base['started'] or '')[:10]}; " + "; ".join(shown)) if skipped else ""
    return {"old": base["id"], "new": latest["id"], "skipped": skipped, "note": note}


def comparable_options(crawl: dict) -> dict:
    """The options of a stored crawl that decide what it finds, defaults filled in (where a
    directory target was served from and on which port are not among them).

    >>> o = comparable_options({"options": {"max_pages": 5, "mounts": {"x": "y"}}})
    >>> o["max_pages"], o["check_external"], "mounts" in o
    (5, True, False)
    """
    opts = CrawlOptions.from_json(crawl.get("options") or {})
    data = opts.to_json()
    return {f.name: data[f.name] for f in fields(CrawlOptions) if f.compare}


def options_differ(old: dict, new: dict) -> list[str]:
    """Names of the options two crawls ran with differently, and ``targets`` if they differ.

    >>> options_differ({"targets": ["https://a.example/"], "options": {"max_pages": 5}},
    ...                {"targets": ["https://a.example/"], "options": {"max_pages": 9, "check_social": False}})
    ['check_social', 'max_pages']
    """
    a, b = comparable_options(old), comparable_options(new)
    out = sorted(name for name in a.keys() | b.keys() if a.get(name) != b.get(name))
    if sorted(old.get("targets") or ()) != sorted(new.get("targets") or ()):
        out.insert(0, "targets")
    return out


# -- what is taken out of one analysed crawl -----------------------------------------------
@dataclass
class _Side:
    """What the diff keeps of one analysed crawl (no graph, no finding objects)."""
    crawl: dict
    header: dict
    findings: dict = field(default_factory=dict)   # id -> row (id, rule, severity, target, region, message, pages)
    broken: dict = field(default_factory=dict)     # target URL -> row (id, severity, status, label, pages, message)
    metrics: dict | None = None
    landing: list = field(default_factory=list)    # the entry pages the targets land on
    reach: dict | None = None                      # see conversion_reach
    plan: list = field(default_factory=list)       # the action plan's first items (analysis.plan)
    profiles: dict = field(default_factory=dict)   # own profile -> its verdict (analysis.profiles), pages linking it


def _finding_row(f) -> dict:
    return {"id": f.id, "rule": f.rule, "severity": f.severity, "target": f.target, "region": f.region,
            "message": f.message, "pages": f.count}


def _owned_sources(g, url: str) -> int:
    """How many owned pages link to ``url`` (one indexed query)."""
    nodes = g.node_data
    return len({source for source, _, _ in g.links(key=url)
                if (nodes.get(source) or {}).get("tier") in OWNED})


def _offer_of(g, url: str) -> str | None:
    """``purchase`` or ``lead`` when ``url`` is an offer (a conversion page by its address, a
    hosted form, a page holding a lead form), else None."""
    node = g.node_data.get(url) or {}
    if node.get("conversion"):
        return node["conversion"]
    if node.get("lead_form"):
        return "lead"
    scope = g.graph["scope"]
    return scope.conversion_kind(url) if url.startswith(("http://", "https://")) and scope.tier(url) == SITE else None


def _broken_targets(g, findings) -> dict:
    """Every URL a broken-link finding is about (a grouped finding's each target) -> its row."""
    out: dict[str, dict] = {}
    for f in findings:
        if f.rule != "broken-link":
            continue
        detail = f.detail if isinstance(f.detail, dict) else {}
        targets = detail.get("targets") or [f.target]
        for url in targets:
            node = g.nodes.get(url) or {}
            status = node.get("final_status") if node.get("chain") else node.get("status")
            out[url] = {"target": url, "id": f.id, "severity": f.severity,
                        "status": status if status is not None else detail.get("status"),
                        "label": node.get("label") or detail.get("label"),
                        "pages": f.count if len(targets) == 1 else _owned_sources(g, url), "message": f.message,
                        "offer": _offer_of(g, url)}
    return out


def _now(g, url: str) -> tuple[str, int | None] | None:
    """What became of a URL that was broken: ``works``, ``no longer linked`` or ``not checked``
    (and its status); None when it is still broken, only reported by another rule now (a
    redirect loop)."""
    node = g.nodes.get(url)
    if node is None or not _owned_sources(g, url):
        return "no longer linked", None
    status = node.get("final_status") if node.get("chain") else node.get("status")
    if node.get("verdict") == "ok":
        return "works", status
    if node.get("verdict") == "broken":
        return None
    return "not checked", status  # unverified, skipped, or not fetched this time (the options?)


def conversion_reach(g, weights=None, entry=None, searches: int = REACH_SEARCHES) -> dict | None:
    """For each conversion page the entry pages a visitor can reach it from by clicking.

    Conversion pages: the owned pages walked by the funnel metrics that are offers by their
    address, a hosted form or a contact page's ``mailto:`` (``conversion``), or site pages
    holding a lead form (a blog post's newsletter box is not counted: a post would be one).
    Reachable: a path of clickable links (weight above 0) between owned pages, through
    offers too (a visitor on /pricing/ can go on to /demo/). Worked out by breadth-first
    searches (scipy), from each entry page or back from each conversion page, whichever
    are fewer; more than ``searches`` of them: None (too costly for a diff).

    Returns ``{"entries": {url id: is a blog page}, "pages": {conversion URL: sorted array of
    the url ids of the entry pages reaching it}}`` (ids of the store's ``urls`` table: the
    same in every crawl).
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import breadth_first_order

    from analysis.metrics import entry_pages, walk_graph

    walk = walk_graph(g, (), weights)
    n = walk.n
    nodes = g.node_data
    conv = np.array([i for i, url in enumerate(walk.urls) if walk.offers[i] and (
        nodes[url].get("conversion") or walk.tiers[i] == SITE)], np.int64)
    entries = entry_pages(g, walk, entry)
    if min(len(conv), len(entries)) > searches:
        logger.info("conversion reach left out: %d entry pages and %d conversion pages", len(entries), len(conv))
        return None
    inside = walk.dst < n
    A = sp.csr_matrix((np.ones(int(inside.sum())), (walk.src[inside], walk.dst[inside])), shape=(n, n))
    walk.release()
    ids = g.store.url_ids([walk.urls[i] for i in entries] + [walk.urls[i] for i in conv])
    url_id = np.array([ids.get(u, -1) for u in walk.urls], np.int64) if n else np.zeros(0, np.int64)
    is_entry, is_conv = np.zeros(n, bool), np.zeros(n, bool)
    is_entry[entries], is_conv[conv] = True, True
    found: dict[int, list] = {int(c): [] for c in conv}
    if len(conv) and len(entries):
        if len(entries) <= len(conv):
            for e in entries.tolist():
                reached = breadth_first_order(A, e, directed=True, return_predecessors=False)
                for c in reached[is_conv[reached]].tolist():
                    found[c].append(url_id[e])
        else:
            back = A.T.tocsr()
            for c in conv.tolist():
                reached = breadth_first_order(back, c, directed=True, return_predecessors=False)
                found[c] = url_id[reached[is_entry[reached]]].tolist()
    return {"entries": {int(url_id[i]): walk.tiers[i] == BLOG for i in entries.tolist()},
            "pages": {walk.urls[c]: np.unique(np.array(e, np.int64)) for c, e in found.items()}}


def _side(store, crawl_id: int, weights=None, entry=None) -> tuple[_Side, object]:
    """Analyse one crawl with the current rules; what the diff keeps, and the audit (to drop)."""
    from analysis.graph import landing_page
    from analysis.report import audit

    a = audit(store, crawl_id, weights=weights, entry=entry)
    crawl = a.crawl
    g = a.graph
    header = {"id": crawl["id"], "targets": crawl["targets"], "started": crawl["started"], "status": crawl["status"],
              "version": crawl.get("version"), "pages": a.summary["pages_crawled"]}
    side = _Side(crawl={"targets": crawl["targets"], "options": crawl["options"]}, header=header,
                 findings={f.id: _finding_row(f) for f in a.findings}, broken=_broken_targets(g, a.findings),
                 # (not the link score of every page, nor fix-first: what is compared)
                 metrics={k: a.metrics[k] for k in ("site", "entries")} if a.metrics else None)
    side.plan = [{k: x[k] for k in PLAN_KEYS} for x in (a.metrics or {}).get("fix_first", ())[:PLAN_MAX]]
    side.profiles = {each["key"]: each for each in ((a.summary.get("profiles") or {}).get("each") or ())}
    for target in crawl["targets"]:
        key = g.graph["key"](target)
        if key in g:
            side.landing.append(landing_page(g, key))
    if a.metrics is not None:
        try:
            side.reach = conversion_reach(g, a.metrics["site"].get("weights"), entry)
        except MemoryError:
            logger.warning("conversion reach left out: out of memory")
    return side, a


LINK_CLASSES = ("owned", "social", "offer")
LINK_WORDS = (("social", "Links to social platforms"), ("owned", "Links between owned pages"),
              ("offer", "Links to offers on other sites"))   # (kind, the heading of its changes)
EMPTY = {"count": 0, "grouped": 0, "links": []}


def _classifier(g):
    """A link key's class for the link diff: ``owned`` (the site, the blog, the company's other
    hosts), ``social``, ``offer`` (an offer on another site: a hosted form, a ``--conversion``
    match) or None (left out)."""
    nodes, scope = g.node_data, g.graph["scope"]

    def classify(url: str) -> str | None:
        node = nodes.get(url)
        tier = node.get("tier") if node is not None else scope.tier(url)
        if tier in COMPANY:
            return "owned"
        if tier == SOCIAL:
            return "social"
        return "offer" if node is not None and node.get("conversion") else None

    return classify


# Blog pages that list posts rather than being one (by their address, when the page's own
# signals do not say): a blog's root, its pages 2, 3 …, its categories, tags, authors, archives.
LISTING = re.compile(r"/(page|category|categories|tag|tags|topic|topics|author|authors|archive|archives)(/|$)"
                     r"|/\d{4}/(\d{1,2}/)?$", re.I)
PAGE_CLASSES = ("site", "blog-post", "blog-page")  # the kinds of owned page a template change is said for


def page_class(tier: str | None, url: str, signals: dict | None = None, root: str | None = None) -> str | None:
    """The kind of owned page ``url`` is, for grouping link changes: ``site`` (``site:/docs/``
    for a page in a folder of the site: its section), ``blog-post`` or ``blog-page`` (a
    listing: the blog's root ``root``, a category, page 2 …); None for any other tier. A
    page's own signals (``posting``, ``articles``) win over its address.

    >>> page_class("blog", "https://a.example/blog/how-to/"), page_class("blog", "https://a.example/blog/tag/x/")
    ('blog-post', 'blog-page')
    >>> page_class("blog", "https://a.example/blog/", root="https://a.example/blog/"), page_class("site", "https://a.example/")
    ('blog-page', 'site')
    >>> page_class("blog", "https://a.example/blog/news/", {"articles": 12}), page_class("social", "https://x.com/a")
    ('blog-page', None)
    >>> page_class("site", "https://a.example/docs/setup/"), page_class("site", "https://a.example/docs/")
    ('site:/docs/', 'site:/docs/')
    >>> page_class("site", "https://a.example/about.html")
    'site'
    """
    if tier == SITE:
        folders = [part for part in (urlsplit(url).path or "/").split("/")[1:-1] if part]
        return f"site:/{folders[0]}/" if folders else "site"
    if tier != BLOG:
        return None
    signals = signals or {}
    if signals.get("posting"):
        return "blog-post"
    if (signals.get("articles") or 0) > 1 or url == root or LISTING.search(urlsplit(url).path or "/"):
        return "blog-page"
    return "blog-post"


def _page_classifier(g):
    nodes, scope = g.node_data, g.graph["scope"]

    def classify(url: str) -> str | None:
        node = nodes.get(url)
        if node is None:
            return None
        tier = node.get("tier")
        return page_class(tier, url, node.get("signals"), scope.blog_root(url) if tier == BLOG else None)

    return classify


def kinds(by_class: dict) -> tuple[dict, str | None]:
    """Page counts per :func:`page_class` summed per kind of page (:data:`PAGE_CLASSES`), and
    the site section they all are in, if they are all in one.

    >>> kinds({"site:/docs/": 3, "site": 2, "blog-post": 4}), kinds({"site:/docs/": 3})
    (({'site': 5, 'blog-post': 4}, None), ({'site': 3}, '/docs/'))
    """
    out: dict[str, int] = {}
    sections = set()
    for cls, n in by_class.items():
        kind, _, section = cls.partition(":")
        out[kind] = out.get(kind, 0) + n
        sections.add(section or None)
    one = sections.pop() if len(sections) == 1 else None
    return {k: out[k] for k in PAGE_CLASSES if k in out}, one


def is_group(key: str, kind: str, by_class: dict, totals: dict) -> bool:
    """Are the pages that changed a link to ``key`` one change (a template's), not many?
    At least :data:`GROUP_MIN` pages, and :data:`GROUP_MANY` or :data:`GROUP_SHARE` of the
    pages of their kinds, or of the one site section they are all in (``by_class`` and
    ``totals`` by :func:`page_class`).

    >>> is_group("u", "owned", {"blog-post": 40}, {"blog-post": 40, "site": 5}), is_group("u", "owned", {"site": 3}, {"site": 40})
    (True, False)
    >>> is_group("u", "social", {"site": 25}, {"site": 400}), is_group("u", "owned", {"site": 2}, {"site": 2})
    (True, False)
    >>> is_group("u", "owned", {"site:/docs/": 4}, {"site:/docs/": 5, "site": 40})
    True
    """
    n = sum(by_class.values())
    if n < GROUP_MIN:
        return False
    mine, section = kinds(by_class)
    all_kinds, _ = kinds(totals)
    if n >= GROUP_MANY or n >= GROUP_SHARE * sum(all_kinds.get(k, 0) for k in mine):
        return True
    return section is not None and n >= GROUP_SHARE * totals.get(f"site:{section}", 0)


def _link_changes(store, crawl_id: int, other_id: int, g, change: str, limit: int) -> dict:
    """The links of ``crawl_id`` that ``other_id`` has not (:meth:`crawler.store.Store.link_changes`),
    with the template changes among them described from ``g`` (the graph of ``crawl_id``)."""
    found = store.link_changes(crawl_id, other_id, _classifier(g), limit=limit, page_class=_page_classifier(g),
                               grouped=is_group, group_min=GROUP_MIN, groups_max=GROUPS_MAX)
    scope = g.graph["scope"]
    groups = []
    of, _ = kinds(found["classes"])
    for grp in found["groups"]:
        platform = scope.platform(grp["key"]) if grp["class"] == "social" else None
        by_class, section = kinds(grp["by_class"])
        groups.append({"change": change, "class": grp["class"], "target": grp["key"], "pages": grp["pages"],
                       "by_class": by_class, "of": of, "section": section,
                       "section_of": found["classes"].get(f"site:{section}") if section else None,
                       "region": grp["region"], "text": grp["text"], "icon": grp["icon"],
                       "offer": _offer_of(g, grp["key"]) if grp["class"] != "social" else None,
                       "platform": platform.name if platform else None})
    found["groups"] = groups
    return found


# -- the diff ---------------------------------------------------------------------------------
def diff_crawls(store, old_id: int, new_id: int, *, weights: dict | None = None, entry: str | None = None,
                limit: int = LIST_MAX) -> dict:
    """What changed from crawl ``old_id`` to crawl ``new_id`` of ``store`` (see the module
    docstring for the keys). ``weights`` and ``entry`` are the funnel metrics' (``--weights``,
    ``--entry``); ``limit`` caps the pages and links listed (counts stay exact)."""
    store.require_ids("funnelcheck diff")  # StoreError for a schema 1 store
    for crawl_id in (old_id, new_id):
        store.crawl(crawl_id)  # a missing crawl: StoreError before any work
    old, analysed = _side(store, old_id, weights, entry)
    removed = _link_changes(store, old_id, new_id, analysed.graph, "removed", limit)
    del analysed
    gc.collect()  # the old graph goes before the new one is built
    new, analysed = _side(store, new_id, weights, entry)
    added = _link_changes(store, new_id, old_id, analysed.graph, "added", limit)
    fixed = []
    for url in sorted(old.broken.keys() - new.broken.keys()):
        state = _now(analysed.graph, url)
        if state is None:
            continue
        now, status = state
        row = old.broken[url]
        fixed.append({"target": url, "id": row["id"], "pages": row["pages"], "message": row["message"],
                      "now": now, "status": status, "offer": row["offer"]})
    del analysed
    gc.collect()
    newly = []
    for url in sorted(new.broken.keys() - old.broken.keys()):
        before = store.page(old_id, url) if url.startswith(("http://", "https://")) else None
        row = new.broken[url]
        newly.append({"target": url, "id": row["id"], "severity": row["severity"], "status": row["status"],
                      "label": row["label"], "pages": row["pages"], "message": row["message"],
                      "before_status": before["status"] if before else None, "offer": row["offer"]})
    newly.sort(key=lambda r: (_RANK[r["severity"]], -r["pages"], r["target"]))

    pages = {}
    for name, (a, b) in (("added", (new_id, old_id)), ("removed", (old_id, new_id))):
        count, urls = store.pages_except(a, b, limit)
        pages[name] = {"count": count, "urls": urls}
    links = {}
    for name, found in (("added", added), ("removed", removed)):
        pairs = found["pairs"]
        links[name] = {kind: {"count": pairs.get(kind, (0, []))[0], "grouped": found["grouped"].get(kind, 0),
                              "links": [{"source": s, "target": t} for s, t in pairs.get(kind, (0, []))[1]]}
                       for kind in LINK_CLASSES}
    links["groups"] = removed["groups"] + added["groups"]

    ids_new, ids_old = new.findings.keys() - old.findings.keys(), old.findings.keys() - new.findings.keys()

    def by_rank(r):
        return _RANK[r["severity"]], -r["pages"], r["rule"], r["target"] or "", r["region"] or ""

    f_new = sorted((new.findings[i] for i in ids_new), key=by_rank)
    f_resolved = sorted((old.findings[i] for i in ids_old), key=by_rank)
    f_changed = []
    for i in sorted(new.findings.keys() & old.findings.keys()):
        a, b = old.findings[i], new.findings[i]
        if a["severity"] != b["severity"] or changed_a_lot(a["pages"], b["pages"]):
            f_changed.append({"id": i, "rule": b["rule"], "target": b["target"], "region": b["region"],
                              "message": b["message"], "severity": {"old": a["severity"], "new": b["severity"]},
                              "pages": {"old": a["pages"], "new": b["pages"]}})
    f_changed.sort(key=lambda r: (_RANK[r["severity"]["new"]], -r["pages"]["new"], r["id"]))

    def backward(rows):
        return [r for r in rows if r["rule"] in BACKWARD_RULES and r["severity"] != "info"]

    out = {
        "site": site_name(new.header["targets"] or old.header["targets"]),
        "old": old.header,
        "new": new.header,
        "options_differ": options_differ(old.crawl, new.crawl),
        "pages": pages,
        "links": links,
        "backward": {"new": backward(f_new), "fixed": backward(f_resolved)},
        "broken": {"new": newly, "fixed": fixed},
        "findings": {"new": f_new, "resolved": f_resolved, "changed": f_changed},
        "metrics": _metrics(old, new),
        "fix_first": new.plan,
    }
    out.update({k: v for k, v in money_changes(store.analytics(old_id), store.analytics(new_id), new.plan).items()
                if v is not None})  # (no "money" unless both crawls have it)
    profiles = stated_profiles_gone(old.profiles, new.profiles)
    if profiles["stated_gone"]:  # (only then: a diff without stated profiles is as it was)
        out["profiles"] = profiles
    items = summary(out)
    said = {"headline": headline(out, items=items), "summary": items}
    out = {**{k: out[k] for k in ("site", "old", "new", "options_differ")}, **said,
           **{k: v for k, v in out.items() if k not in said}}
    out["sentences"] = sentences(out, items)
    return out


_RANK = {"high": 0, "medium": 1, "low": 2, "info": 3}


def stated_profiles_gone(old: dict, new: dict) -> dict:
    """The profiles whose links the user stated (``[profiles]``) that the site linked to in the
    old crawl and no longer links to: the statement is about an account the site dropped.

    >>> old = {"k": {"url": "https://www.linkedin.com/company/acme", "platform": "LinkedIn", "pages": 3,
    ...              "stated_on": "2026-11-30"}}
    >>> stated_profiles_gone(old, {"k": dict(old["k"], pages=0)})["stated_gone"][0]["pages"]
    3
    >>> stated_profiles_gone(old, old)
    {'stated_gone': []}
    """
    gone = []
    for key, row in sorted(old.items()):
        now = new.get(key)
        stated_on = (now or {}).get("stated_on") or row.get("stated_on")
        if stated_on and row.get("pages") and not (now or {}).get("pages"):
            gone.append({"url": row["url"], "platform": row["platform"], "stated_on": stated_on,
                         "pages": row["pages"]})
    return {"stated_gone": gone}


def changed_a_lot(old: int, new: int) -> bool:
    """Has a finding's page count changed a lot: by 5 pages or more, or by half and at least 2?

    >>> changed_a_lot(5, 4), changed_a_lot(2, 4), changed_a_lot(100, 104), changed_a_lot(100, 105)
    (False, True, False, True)
    """
    d = abs(new - old)
    return d >= 5 or (d >= 2 and d >= 0.5 * max(old, 1))


def site_name(targets) -> str:
    """The name a site goes by in a subject line: its first target's host, without ``www.``.

    >>> site_name(["https://www.acme.example/shop/"]), site_name([])
    ('acme.example', 'crawl')
    """
    for target in targets or ():
        host = urlsplit(target).hostname
        if host:
            return host.removeprefix("www.")
    return "crawl"


# -- money (issue 24) ------------------------------------------------------------------------------
MONEY_KEYS = ("monthly_entries", "conversion", "monthly_conversions", "monthly_value")


def money_changes(old: dict | None, new: dict | None, plan: list[dict]) -> dict:
    """``money`` and ``fix_first`` of the diff from the traffic summaries kept with the two crawls
    (None: that crawl was not audited with ``--analytics``): the money figures only when both
    have them; the new crawl's plan in money when it has them.

    >>> a = {"monthly_entries": 1000.0, "conversion": 0.2, "monthly_conversions": 200.0, "monthly_value": 20000.0,
    ...      "currency": "$", "files": [], "plan": []}
    >>> b = {**a, "conversion": 0.15, "monthly_conversions": 150.0, "monthly_value": 15000.0,
    ...      "plan": [{"id": "f1", "severity": "high", "cost": 5.0, "words": "w; in your traffic: …", "fix": "x",
    ...                "visits": 50.0, "conversions": 50.0, "money": 5000.0}]}
    >>> d = money_changes(a, b, [])
    >>> d["money"]["monthly_value"], d["fix_first"][0]["money"]
    ({'old': 20000.0, 'new': 15000.0, 'delta': -5000.0}, 5000.0)
    >>> money_changes(None, b, [{"id": "f0"}])["money"] is None
    True

    The exports' conversions pin each audit's money to what they observed (the conversions
    observed are divided among the model's visits reaching an offer): audited with the same
    exports, both crawls would show the same money whatever the site did. So with the same
    inputs the new crawl is priced at the old crawl's rate (the conversions per visit reaching
    an offer the exports observed with the old site): its money is the model's for the new
    site at the same traffic and the same rate (``rate``: that rate; ``kept``: the new audit's
    own, pinned figure).

    >>> pinned = {"monthly_entries": 1500.0, "conversion": 0.236111, "monthly_conversions": 354.2,
    ...           "monthly_value": 5000.0, "value_per_conversion": 100.0, "currency": "$", "files": [], "plan": []}
    >>> m = money_changes(pinned, {**pinned, "conversion": 0.283333, "monthly_conversions": 425.0}, [])["money"]
    >>> m["monthly_value"], m["conversion"]["delta"], m["rate"], m["kept"]
    ({'old': 5000.0, 'new': 5999.44, 'delta': 999.44}, 0.047222, 0.141163, 5000.0)
    """
    out: dict = {"money": None}
    if new and new.get("plan") and all("severity" in x for x in new["plan"]):
        out["fix_first"] = new["plan"][:PLAN_MAX]
    if old and new:
        out["money"] = {**{k: _row(old.get(k), new.get(k), 6 if k == "conversion" else 2) for k in MONEY_KEYS},
                        "currency": new.get("currency") or old.get("currency") or "$",
                        "currencies": {"old": old.get("currency") or "$", "new": new.get("currency") or "$"},
                        "files": {"old": old.get("files"), "new": new.get("files")},
                        "changed": inputs_changed(old, new)}
        rate_old, rate_new = _rate(old), _rate(new)
        if (not out["money"]["changed"] and rate_old is not None and rate_new is not None
                and abs(rate_old - rate_new) > 0.001 * rate_old):
            value = round(new["value_per_conversion"] * new["monthly_conversions"] * rate_old, 2)
            out["money"].update(monthly_value=_row(old["monthly_value"], value, 2), rate=round(rate_old, 6),
                                kept=new["monthly_value"])
    return out


def _rate(a: dict) -> float | None:
    """The conversions per visit reaching an offer a crawl's money was priced at (1: every one,
    when the exports gave no conversions); None when a figure is missing."""
    value, per, reach = (a.get(k) for k in ("monthly_value", "value_per_conversion", "monthly_conversions"))
    if value is None or not per or not reach:
        return None
    return value / (per * reach)


def _exports(files) -> str:
    return ", ".join(f"{f.get('name')} ({f.get('tool')})" for f in files or ()) or "none"


def inputs_changed(old: dict, new: dict) -> list[str]:
    """What changed between two crawls' analytics inputs rather than on the site (the money
    figures then compare different measures): the currency, the value per conversion, the
    exports (their tools or files).

    >>> a = {"currency": "$", "value_per_conversion": 120.0, "files": [{"name": "e.csv", "tool": "Plausible"}]}
    >>> inputs_changed(a, {**a, "currency": "€", "files": [{"name": "l.csv", "tool": "GA4"}]})
    ['the currency ($ to €)', 'the analytics exports (e.csv (Plausible) to l.csv (GA4))']
    >>> inputs_changed(a, a)
    []
    """
    out = []
    if (old.get("currency") or "$") != (new.get("currency") or "$"):
        out.append(f"the currency ({old.get('currency') or '$'} to {new.get('currency') or '$'})")
    elif old.get("value_per_conversion") is not None and new.get("value_per_conversion") is not None and abs(
            old["value_per_conversion"] - new["value_per_conversion"]) > 0.005 * abs(old["value_per_conversion"]):
        from analysis.analytics import money
        cur = new.get("currency") or "$"
        out.append(f"the value per conversion ({money(old['value_per_conversion'], cur)} to "
                   f"{money(new['value_per_conversion'], cur)})")
    def tools(a: dict) -> list:
        return [(f.get("name"), f.get("tool")) for f in a.get("files") or ()]

    if tools(old) != tools(new):
        out.append(f"the analytics exports ({_exports(old.get('files'))} to {_exports(new.get('files'))})")
    return out


def _money_items(diff: dict) -> list[dict]:
    """The summary item of the money a month (the model's, at the exports' traffic), when it moved."""
    from analysis.analytics import about, money

    m = diff.get("money")
    if not m:
        return []
    value, entries = m["monthly_value"], m["monthly_entries"]
    currencies = m.get("currencies") or {"old": m["currency"], "new": m["currency"]}
    changed = m.get("changed") or []
    out = []
    if value["old"] is not None and value["new"] is not None and (
            changed or abs(value["delta"]) >= max(1.0, 0.005 * abs(value["old"]))):
        up = value["delta"] > 0
        traffic = ""
        if m.get("rate") is not None:  # (both crawls at the old crawl's conversion rate: the site's doing)
            old_id = (diff.get("old") or {}).get("id")
            traffic = (f" (the model at the same traffic, at the {_pct_words(m['rate'])} of the visits reaching an "
                       f"offer that converted{f' with crawl #{old_id}' if old_id else ''})")
        elif entries["old"] and entries["new"] and entries["old"] != entries["new"]:
            traffic = f" (your entries: {about(entries['old'])} to {about(entries['new'])} a month)"
        a, b = money(value["old"], currencies["old"]), money(value["new"], currencies["new"])
        if changed:  # (not the site's doing: the measure changed)
            out.append(_item("money", "conversion", "neutral",
                             f"What the visits reaching an offer are worth went from {a} to {b} a month{traffic}, "
                             f"but the analytics inputs changed, not only the site: {'; '.join(changed)}. Compare "
                             "crawls audited with the same exports and values.",
                             f"worth {a} to {b} a month (other analytics inputs)", old=value["old"], new=value["new"]))
            return out
        out.append(_item("money", "conversion", "better" if up else "worse",
                         f"What the visits reaching an offer are worth {'rose' if up else 'fell'} from {a} to {b} a "
                         f"month{traffic}.", f"worth {a} to {b} a month", old=value["old"], new=value["new"]))
    return out


def _pct_words(p: float) -> str:
    """>>> _pct_words(0.141163), _pct_words(0.004)
    ('14%', '0.4%')"""
    return f"{100 * p:.0f}%" if p >= 0.095 else f"{100 * p:.1f}%"


# -- metrics ------------------------------------------------------------------------------------
def _num(value) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def _row(old, new, digits: int = 6) -> dict:
    old, new = _num(old), _num(new)
    delta = None if old is None or new is None else round(new - old, digits)
    return {"old": old, "new": new, "delta": delta}


def _mean(values: list) -> float | None:
    return round(sum(values) / len(values), 6) if values else None


def _metric_rows(m: dict | None) -> dict:
    """The numbers compared: site-wide and from the blog (the mean over the blog's entry pages)."""
    if not m:
        return {}
    site = m.get("site") or {}
    blog = {"conversion": [], "social_leak": []}  # (the blog rows' two figures: the rows one at a time, none kept)
    for e in m.get("entries") or ():
        if e.get("tier") == BLOG:
            for key, values in blog.items():
                if e.get(key) is not None:
                    values.append(e[key])
    return {"conversion": site.get("conversion"), "social_leak": site.get("social_leak"),
            "clicks_to_conversion": site.get("clicks_to_conversion"), "conversion_depth": site.get("conversion_depth"),
            "unreachable_posts": len(site.get("unreachable_posts") or ()) if site else None,
            "blog_conversion": _mean(blog["conversion"]), "blog_social_leak": _mean(blog["social_leak"])}


def _metrics(old: _Side, new: _Side) -> dict:
    from analysis.entries import by_url

    a, b = _metric_rows(old.metrics), _metric_rows(new.metrics)
    site = {name: _row(a.get(name), b.get(name)) for name in
            ("conversion", "social_leak", "clicks_to_conversion", "conversion_depth", "unreachable_posts")}
    blog = {"conversion": _row(a.get("blog_conversion"), b.get("blog_conversion")),
            "social_leak": _row(a.get("blog_social_leak"), b.get("blog_social_leak"))}
    entries_a = by_url((old.metrics or {}).get("entries") or ())  # (a view's: a lookup, no dict of every row)
    entries_b = by_url((new.metrics or {}).get("entries") or ())
    landing = []
    for url in dict.fromkeys(new.landing + old.landing):
        ea, eb = entries_a.get(url) or {}, entries_b.get(url) or {}
        if ea or eb:
            landing.append({"url": url, "conversion": _row(ea.get("conversion"), eb.get("conversion")),
                            "social_leak": _row(ea.get("social_leak"), eb.get("social_leak"))})
    stuck_a = set(((old.metrics or {}).get("site") or {}).get("unreachable_posts") or ())
    stuck_b = set(((new.metrics or {}).get("site") or {}).get("unreachable_posts") or ())
    posts_b = {e["url"] for e in entries_b.values() if e.get("tier") == BLOG} | stuck_b
    return {"site": site, "blog": blog, "landing": landing,
            "unreachable_posts": {"new": sorted(stuck_b - stuck_a),
                                  # a post that went is not one that found its way to an offer
                                  "fixed": sorted(u for u in stuck_a - stuck_b if u in posts_b)},
            "conversion_pages": _reach_changes(old.reach, new.reach),
            "conversion_reach": old.reach is not None and new.reach is not None}


def _reach_changes(old: dict | None, new: dict | None) -> list[dict]:
    """Per conversion page whose reach changed: entry pages (and how many of them blog pages)
    reaching it in each crawl, and those of the entry pages in both crawls that lost or
    found their way to it."""
    if old is None or new is None:
        return []
    common = np.array(sorted(old["entries"].keys() & new["entries"].keys()), np.int64)
    blog = {i for i, is_blog in new["entries"].items() if is_blog} | {i for i, is_blog in old["entries"].items()
                                                                       if is_blog}
    empty = np.zeros(0, np.int64)

    def count(ids, entries) -> dict:
        return {"entries": len(ids), "blog": sum(1 for i in ids.tolist() if entries.get(i))}

    def counted(ids) -> dict:
        return {"entries": len(ids), "blog": sum(1 for i in ids.tolist() if i in blog)}

    out = []
    for url in sorted(old["pages"].keys() | new["pages"].keys()):
        a, b = old["pages"].get(url), new["pages"].get(url)
        sa, sb = (a if a is not None else empty), (b if b is not None else empty)
        lost = np.setdiff1d(np.intersect1d(sa, common), sb)
        gained = np.setdiff1d(np.intersect1d(sb, common), sa)
        row = {"url": url, "old": None if a is None else count(a, old["entries"]),
               "new": None if b is None else count(b, new["entries"]), "lost": counted(lost), "gained": counted(gained)}
        if row["old"] != row["new"] or len(lost) or len(gained):
            out.append(row)
    return out


# -- sentences ----------------------------------------------------------------------------------
def _s(n: int, word: str, plural: str | None = None) -> str:
    """``1 page``, ``2 pages``.

    >>> _s(1, "page"), _s(3, "entry page"), _s(2, "entry", "entries")
    ('1 page', '3 entry pages', '2 entries')
    """
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def pct_pair(old: float, new: float) -> tuple[str, str]:
    """Two probabilities as percentages, whole ones unless that would make them look equal.

    >>> pct_pair(0.312, 0.241), pct_pair(0.312, 0.3149), pct_pair(0.5, 0.50004)
    (('31%', '24%'), ('31.2%', '31.5%'), ('50.00%', '50.00%'))
    """
    for digits in (0, 1):
        a, b = f"{100 * old:.{digits}f}%", f"{100 * new:.{digits}f}%"
        if a != b:
            return a, b
    return f"{100 * old:.2f}%", f"{100 * new:.2f}%"


def short(url: str, base: str | None) -> str:
    """A URL of the site's own origin as its path (``/demo/``); any other as it is.

    >>> short("https://acme.example/demo/", "https://acme.example/"), short("https://x.com/a", "https://acme.example/")
    ('/demo/', 'https://x.com/a')
    """
    if base:
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(base))
        if url.startswith(origin + "/"):
            return url[len(origin):]
    return url


def _listed(items: list[str], total: int | None = None) -> str:
    """``a, b and c`` (the first :data:`SAID`, then "and N more")."""
    total = len(items) if total is None else total
    shown = items[:SAID]
    more = total - len(shown)
    if more > 0:
        return ", ".join(shown) + f" and {more} more"
    return joined(shown)


def _entries_words(c: dict, more: str = "") -> str:
    """``4 blog pages``, ``3 entry pages``, ``4 entry pages (3 blog pages)``; ``more="more "``:
    ``4 more entry pages (3 blog pages)``.

    >>> _entries_words({"entries": 4, "blog": 3}, "more "), _entries_words({"entries": 1, "blog": 1})
    ('4 more entry pages (3 blog pages)', '1 blog page')
    """
    n, blog = c["entries"], c["blog"]
    if blog == n:
        return _s(n, more + "blog page")
    if not blog:
        return _s(n, more + "entry page")
    return f"{_s(n, more + 'entry page')} ({_s(blog, 'blog page')})"


def _moved(row: dict, noise: float) -> bool:
    return row["delta"] is not None and abs(row["delta"]) >= noise


# The order of funnel impact: what a change does to the offers first, then to conversion, then
# to the routes backward (to social), then the plain link check; within each, what got worse
# before what got better.
IMPACTS = ("offer", "conversion", "backward", "links")
CHANGES = ("worse", "better", "neutral")
CLASS_WORDS = {"site": ("site page", "site pages"), "blog-post": ("blog post", "blog posts"),
               "blog-page": ("blog listing page", "blog listing pages")}
REGION_OWNER = {"header": "the header's", "nav": "the navigation's", "footer": "the footer's", "aside": "the sidebar's"}
PLATFORM_NAMES = {"twitter": "Twitter", "twitter-links": "Twitter", "linkedin": "LinkedIn", "youtube": "YouTube",
                  "tiktok": "TikTok", "bluesky": "Bluesky", "whatsapp": "WhatsApp", "vk": "VK", "addtoany": "AddToAny"}
TEXT_MAX = 40  # characters of a link's text used as its name ("the Signup link")


def where_words(by_class: dict, of: dict, section: str | None = None, section_of: int | None = None) -> str:
    """The pages a template change touched, by kind: ``every blog post (40)``, ``12 of 40
    site pages``, ``every page (44)`` when it is every page of every kind read in both
    crawls; ``every page under /docs/ (30)`` when they are the site pages of one section.

    >>> where_words({"blog-post": 40}, {"blog-post": 40, "site": 4})
    'every blog post (40)'
    >>> where_words({"site": 4, "blog-post": 40}, {"site": 4, "blog-post": 40})
    'every page (44)'
    >>> where_words({"site": 12, "blog-post": 40}, {"site": 30, "blog-post": 40, "blog-page": 2})
    '12 of 30 site pages and every blog post (40)'
    >>> where_words({"blog-post": 100, "blog-page": 63}, {"site": 9, "blog-post": 100, "blog-page": 63})
    'every blog page (163)'
    >>> where_words({"site": 12}, {"site": 30}, "/docs/", 12), where_words({"site": 5}, {"site": 30}, "/docs/", 12)
    ('every page under /docs/ (12)', '5 of 12 pages under /docs/')
    """
    if len(by_class) > 1 and all(by_class.get(c, 0) == n for c, n in of.items()):
        return f"every page ({sum(by_class.values())})"
    blog = ("blog-post", "blog-page")
    if all(by_class.get(c) and by_class[c] >= of.get(c, 0) for c in blog):
        rest = where_words({c: n for c, n in by_class.items() if c not in blog}, of, section, section_of)
        said = f"every blog page ({sum(by_class[c] for c in blog)})"
        return f"{rest} and {said}" if rest else said
    parts = []
    for c in PAGE_CLASSES:
        n = by_class.get(c)
        if not n:
            continue
        one, many = CLASS_WORDS[c]
        total = of.get(c, n)
        if c == "site" and section and section_of and n < total:
            parts.append(f"every page under {section} ({n})" if n >= section_of
                         else f"{n} of {section_of} pages under {section}")
            continue
        parts.append(f"every {one} ({n})" if n >= total else f"{n} of {total} {many if total != 1 else one}")
    return " and ".join(parts)


def _link_label(grp: dict) -> str:
    """What a template change's link is called: ``LinkedIn icon``, ``Signup link``, ``link``."""
    thing = "icon" if grp["icon"] else "link"
    if grp.get("platform"):
        label = PLATFORM_NAMES.get(grp["platform"], grp["platform"].capitalize())
        if label == "Twitter" and site_key(grp["target"]).startswith("x.com"):
            label = "X"
    else:
        label = " ".join(str(grp.get("text") or "").split())
        if len(label) > TEXT_MAX or label.lower() in ("", thing):
            label = ""
    return f"{label} {thing}" if label else thing


def group_words(grp: dict, base: str | None) -> tuple[str, str]:
    """A template change in words, and its short form for the subject.

    >>> g = {"change": "removed", "target": "https://a.example/signup/", "text": "Signup", "icon": False,
    ...      "region": "main", "platform": None, "by_class": {"blog-post": 40}, "of": {"blog-post": 40, "site": 4}}
    >>> group_words(g, "https://a.example/")
    ('The Signup link (/signup/) was removed from every blog post (40).', 'Signup link removed from every blog post (40)')
    >>> g.update(change="added", target="https://www.linkedin.com/company/a", icon=True, region="footer",
    ...          platform="linkedin", by_class={"site": 4, "blog-post": 40})
    >>> group_words(g, "https://a.example/")[0]
    "The footer's LinkedIn icon (https://www.linkedin.com/company/a) was added to every page (44)."
    """
    label = _link_label(grp)
    owner = REGION_OWNER.get(grp.get("region") or "", "the")
    where = where_words(grp["by_class"], grp["of"], grp.get("section"), grp.get("section_of"))
    verb = "added to" if grp["change"] == "added" else "removed from"
    words = f"{owner} {label} ({short(grp['target'], base)}) was {verb} {where}."
    return words[0].upper() + words[1:], f"{label[0].upper() + label[1:]} {verb.split()[0]} {verb.split()[1]} {where}"


def _item(kind: str, impact: str, change: str, words: str, short_words: str | None = None, **detail) -> dict:
    return {"kind": kind, "impact": impact, "change": change, "words": words, "short": short_words, **detail}


@cache
def _account(url: str | None) -> tuple:
    """One social account however a page spells its URL (``x.com/acme``, ``twitter.com/ACME/``).

    >>> _account("https://x.com/acme") == _account("http://www.twitter.com/ACME/?ref=nav")
    True
    """
    return Scope().profile_id(url or "") or (site_key(url or "").split("?")[0],)


def summary(diff: dict) -> list[dict]:
    """What changed for the funnel, most important first (see :data:`IMPACTS`): each item a
    dict with ``kind``, ``impact`` (``offer``, ``conversion``, ``backward``, ``links``),
    ``change`` (``worse``, ``better``, ``neutral``), ``words`` (a sentence), ``short`` (its
    form in the e-mail subject, None when it stays out of it) and what it is about.

    Kinds: ``offer-link-removed`` / ``offer-link-added`` (a template's link to an offer),
    ``offer-unreachable`` / ``offer-reachable`` / ``offer-new`` (entry pages that reach an
    offer), ``posts-unreachable`` / ``posts-reachable``, ``offer-broken`` / ``offer-fixed`` (a
    link to an offer newly broken, or fixed), ``conversion`` and ``clicks`` (the funnel
    metrics), ``social-link-added`` / ``social-link-removed`` (a template's link to a social
    platform, with the backward-link finding it makes or ends), ``backward-new`` /
    ``backward-fixed`` / ``backward-changed`` (per account and region), ``social-leak``,
    ``link-added`` / ``link-removed`` (a template's other links), ``broken-new`` /
    ``broken-fixed`` (the first :data:`SAID`, then one item with the ``count`` of the rest).
    """
    base = (diff["new"]["targets"] or diff["old"]["targets"] or [None])[0]
    items: list[dict] = []
    groups = (diff.get("links") or {}).get("groups") or []

    # offers: template links to them, their reach, the links to them that broke
    for grp in groups:
        if grp["class"] != "social" and grp.get("offer"):
            words, brief = group_words(grp, base)
            change = "worse" if grp["change"] == "removed" else "better"
            items.append(_item(f"offer-link-{grp['change']}", "offer", change, words, brief, target=grp["target"],
                               pages=grp["pages"]))
    m = diff["metrics"]
    for r in m["conversion_pages"]:
        where = short(r["url"], base)
        if r["old"] is None:
            reach = _entries_words(r["new"]) if r["new"]["entries"] else "no entry page"
            items.append(_item("offer-new", "offer", "better", f"New offer {where}, reachable from {reach}.",
                               f"new offer {where}", target=r["url"], entries=r["new"]["entries"]))
            continue
        if r["lost"]["entries"]:
            if r["new"] is None or not r["new"]["entries"]:
                gone = " (the page is gone)" if r["new"] is None else ""
                words = (f"The offer {where} can no longer be reached from any entry page{gone}: "
                         f"{_entries_words(r['old'])} reached it.")
                brief = f"{where} out of reach"
            else:
                words = f"The offer {where} can no longer be reached from {_entries_words(r['lost'])}."
                brief = f"{where} out of reach from {_s(r['lost']['entries'], 'entry page')}"
            items.append(_item("offer-unreachable", "offer", "worse", words, brief, target=r["url"],
                               entries=r["lost"]["entries"]))
        if r["gained"]["entries"]:
            items.append(_item("offer-reachable", "offer", "better",
                               f"The offer {where} can now be reached from {_entries_words(r['gained'], 'more ')}.",
                               f"{where} reachable from {_s(r['gained']['entries'], 'more entry page')}",
                               target=r["url"], entries=r["gained"]["entries"]))
    stuck = m["unreachable_posts"]
    if stuck["new"]:
        n = len(stuck["new"])
        items.append(_item("posts-unreachable", "offer", "worse",
                           f"{_s(n, 'blog page')} can no longer reach any offer: "
                           f"{_listed([short(u, base) for u in stuck['new']])}.",
                           f"{_s(n, 'blog page')} cut off from every offer", pages=n))
    if stuck["fixed"]:
        n = len(stuck["fixed"])
        items.append(_item("posts-reachable", "offer", "better",
                           f"{_s(n, 'blog page')} can reach an offer again: "
                           f"{_listed([short(u, base) for u in stuck['fixed']])}.",
                           f"{_s(n, 'blog page')} reach an offer again", pages=n))
    for r in diff["broken"]["new"]:
        if not r.get("offer"):
            continue
        what = f"answers {r['status']}" if r["status"] else (r["label"] or "fails")
        was = " (it worked before)" if r["before_status"] and 200 <= r["before_status"] < 400 else ""
        where = short(r["target"], base)
        items.append(_item("offer-broken", "offer", "worse",
                           f"The link to the offer {where} is broken: it {what}{was}, on {_s(r['pages'], 'page')}.",
                           f"{where} link broken" + (f" on {r['pages']} pages" if r["pages"] > 1 else ""),
                           target=r["target"], pages=r["pages"]))
    for r in diff["broken"]["fixed"]:
        if not r.get("offer"):
            continue
        where = short(r["target"], base)
        now = {"works": "works again", "no longer linked": "is no longer linked"}.get(r["now"], "was not checked")
        items.append(_item("offer-fixed", "offer", "better", f"The broken link to the offer {where} {now}.",
                           f"{where} link fixed" if r["now"] == "works" else None, target=r["target"]))

    # conversion
    def metric(kind: str, impact: str, row: dict, what: str, brief: str | None, good_up: bool,
               threshold: float = SAY_POINTS, fmt=pct_pair, **detail) -> None:
        if not _moved(row, threshold):
            return
        a, b = fmt(row["old"], row["new"])
        up = row["delta"] > 0
        shown = brief is not None and (fmt is not pct_pair or abs(row["delta"]) >= HEADLINE_POINTS)
        items.append(_item(kind, impact, "better" if up == good_up else "worse",
                           f"{what} {'rose' if up else 'fell'} from {a} to {b}.",
                           f"{brief} {a} to {b}" if shown else None, old=row["old"], new=row["new"], **detail))

    site, blog = m["site"], m["blog"]
    weighted = (diff.get("money") or {}).get("conversion") or {}
    if weighted.get("old") is not None and weighted.get("new") is not None:  # (with analytics: your entries')
        metric("conversion", "conversion", weighted, "Conversion site-wide (weighted by your entries)", "conversion",
               True, of="site")
    else:
        metric("conversion", "conversion", site["conversion"], "Conversion site-wide", "conversion", True, of="site")
    metric("conversion", "conversion", blog["conversion"], "Conversion from the blog", "blog conversion", True,
           of="blog")
    for row in m["landing"]:
        where = short(row["url"], base)
        where = "the home page" if where == "/" else where
        metric("conversion", "conversion", row["conversion"], f"Conversion from {where}", None, True, of=row["url"])
    metric("clicks", "conversion", site["clicks_to_conversion"], "Clicks to a conversion", None, False, SAY_CLICKS,
           lambda a, b: (f"{a:.1f}", f"{b:.1f}"), of="site")
    items.extend(_money_items(diff))

    # backward routes: template links to social (with the finding they make), then the findings
    said: set[str] = set()
    backward = diff["backward"]
    for grp in groups:
        if grp["class"] != "social":
            continue
        rows = backward["new" if grp["change"] == "added" else "fixed"]
        match = [r for r in rows if _account(r["target"]) == _account(grp["target"])
                 and (r["region"] or "body") in (grp["region"] or "body", "body" if grp["region"] == "main" else "")]
        words, brief = group_words(grp, base)
        if match:
            said.update(r["id"] for r in match)
            sev = ", ".join(dict.fromkeys(r["severity"] for r in match))
            words = words[:-1] + (f": a new backward link ({sev})." if grp["change"] == "added"
                                  else f": a backward link fixed ({sev}).")
        change = "worse" if grp["change"] == "added" else "better"
        items.append(_item(f"social-link-{grp['change']}", "backward", change, words, brief, target=grp["target"],
                           pages=grp["pages"], findings=[r["id"] for r in match]))
    for name, kind, change in (("new", "backward-new", "worse"), ("fixed", "backward-fixed", "better")):
        per: dict[tuple, list] = {}
        for r in backward[name]:
            if r["id"] not in said:
                per.setdefault((_account(r["target"]), r["region"] or ""), []).append(r)
        for rows in per.values():
            r = rows[0]
            pages = sum(x["pages"] for x in rows)
            if len(rows) == 1:
                words = (f"New backward link ({r['severity']}): {r['message']}." if name == "new" else
                         f"Fixed backward link ({r['severity']}, was on {_s(r['pages'], 'page')}): {r['message']}.")
            else:
                region = REGION_WORDS.get(r["region"] or "", r["region"] or "page body")
                sev = ", ".join(dict.fromkeys(x["severity"] for x in rows))
                words = (f"{'New' if name == 'new' else 'Fixed'} backward links ({sev}): the {region} "
                         f"{'links' if name == 'new' else 'linked'} to {r['target']} in {len(rows)} ways, "
                         f"on {_s(pages, 'page')}.")
            items.append(_item(kind, "backward", change, words, None, target=r["target"], region=r["region"],
                               pages=pages, findings=[x["id"] for x in rows]))
    for r in diff["findings"]["changed"]:
        if r["rule"] not in BACKWARD_RULES:
            continue
        change = _change_of(r)
        items.append(_item("backward-changed", "backward", change, _changed_words(r), None, target=r["target"],
                           region=r["region"], findings=[r["id"]]))
    metric("social-leak", "backward", site["social_leak"], "The leak to social site-wide", None, False, of="site")
    metric("social-leak", "backward", blog["social_leak"], "The leak to social from the blog", None, False, of="blog")

    # the plain link check: other template changes, links broken and fixed
    for grp in groups:
        if grp["class"] == "owned" and not grp.get("offer"):
            words, brief = group_words(grp, base)
            items.append(_item(f"link-{grp['change']}", "links", "neutral", words, brief, target=grp["target"],
                               pages=grp["pages"]))
    for r in (diff.get("profiles") or {}).get("stated_gone", ()):
        items.append(_item("stated-profile-gone", "links", "worse",
                           f"The site no longer links to your {r['platform']} profile {r['url']} (it did on "
                           f"{_s(r['pages'], 'page')}); you stated its links on {r['stated_on']}: remove it from "
                           "[profiles] in funnel.toml if the account is gone, or link it again.",
                           f"{r['platform']} profile no longer linked", target=r["url"]))
    newly = [r for r in diff["broken"]["new"] if not r.get("offer")]
    for r in newly[:SAID]:
        what = f"answers {r['status']}" if r["status"] else (r["label"] or "fails")
        was = " (it worked before)" if r["before_status"] and 200 <= r["before_status"] < 400 else ""
        items.append(_item("broken-new", "links", "worse", f"Newly broken: {short(r['target'], base)} {what}{was}, "
                           f"linked from {_s(r['pages'], 'page')}.", None, target=r["target"], pages=r["pages"]))
    if len(newly) > SAID:
        items.append(_item("broken-new", "links", "worse", f"… and {len(newly) - SAID} more newly broken links.",
                           None, count=len(newly) - SAID))
    fixed = [r for r in diff["broken"]["fixed"] if not r.get("offer")]
    for r in fixed[:SAID]:
        now = {"works": f"works now ({r['status']})" if r["status"] else "works now",
               "no longer linked": "is no longer linked"}.get(r["now"], "was not checked this time")
        items.append(_item("broken-fixed", "links", "better", f"Broken link fixed: {short(r['target'], base)} {now}.",
                           None, target=r["target"]))
    if len(fixed) > SAID:
        items.append(_item("broken-fixed", "links", "better", f"… and {len(fixed) - SAID} more broken links fixed.",
                           None, count=len(fixed) - SAID))
    order = {(i, c): n for n, (i, c) in enumerate((i, c) for i in IMPACTS for c in CHANGES)}
    return sorted(items, key=lambda it: order[(it["impact"], it["change"])])  # (stable: the order above within)


def _change_of(r: dict) -> str:
    sev = r["severity"]
    return ("worse" if _RANK[sev["new"]] < _RANK[sev["old"]] else "better" if _RANK[sev["new"]] > _RANK[sev["old"]]
            else "neutral")


def _changed_words(r: dict) -> str:
    sev, pages = r["severity"], r["pages"]
    what = []
    if sev["old"] != sev["new"]:
        what.append(f"{sev['old']} → {sev['new']}")
    if pages["old"] != pages["new"]:
        what.append(f"on {pages['new']} pages, was {pages['old']}")
    return f"Changed ({', '.join(what)}): {r['message']}."


def notes(diff: dict) -> list[str]:
    """How the two crawls differ (options, a crawl not complete): said before any change."""
    out = []
    if diff["options_differ"]:
        out.append(f"The two crawls ran with different options ({', '.join(diff['options_differ'])}): "
                   "some of the changes below may come from that.")
    for side in ("old", "new"):
        h = diff[side]
        if h["status"] != "complete":
            out.append(f"Crawl #{h['id']} is {h['status']}: pages it did not reach show up as changes.")
    return out


def also(diff: dict) -> list[str]:
    """The changes that are not in :func:`summary`: other findings, pages, link counts."""
    base = (diff["new"]["targets"] or diff["old"]["targets"] or [None])[0]
    worse, better, rest = [], [], []
    for r in diff["findings"]["changed"]:
        if r["rule"] in BACKWARD_RULES:
            continue
        change = _change_of(r)
        (worse if change == "worse" else better if change == "better" else rest).append(_changed_words(r))
    others_new = [r for r in diff["findings"]["new"] if r["rule"] not in BACKWARD_RULES and r["rule"] != "broken-link"]
    others_gone = [r for r in diff["findings"]["resolved"]
                   if r["rule"] not in BACKWARD_RULES and r["rule"] != "broken-link"]

    def each(rows, what: str, into: list) -> None:
        for r in rows[:SAID]:
            into.append(f"{what} ({r['severity']}, {r['rule']}): {r['message']}.")
        if len(rows) > SAID:
            into.append(f"… and {len(rows) - SAID} more {what.lower()}s.")

    serious = [r for r in others_new if r["severity"] in ("high", "medium")]
    each(serious, "New finding", worse)
    each([r for r in others_gone if r["severity"] in ("high", "medium")], "Resolved finding", better)
    for name, word in (("added", "added"), ("removed", "removed")):
        p = diff["pages"][name]
        if p["count"]:
            rest.append(f"{_s(p['count'], 'page')} {word}: {_listed([short(u, base) for u in p['urls']], p['count'])}.")
    links = diff["links"]
    for kind, what in LINK_WORDS:
        a, r = links["added"].get(kind) or EMPTY, links["removed"].get(kind) or EMPTY
        if a["count"] or r["count"]:
            grouped = a.get("grouped", 0) + r.get("grouped", 0)
            said = f"; {grouped} of them in the template changes above" if grouped else ""
            rest.append(f"{what}: {a['count']} added, {r['count']} removed "
                        f"(on pages in both crawls{said}).")
    each([r for r in others_new if r not in serious], "New finding", rest)
    each([r for r in others_gone if r["severity"] not in ("high", "medium")], "Resolved finding", rest)
    m = diff["metrics"]
    if not m["conversion_reach"] and diff["old"]["pages"] and diff["new"]["pages"]:
        rest.append("Which entry pages reach each conversion page was not compared (too many of both, or no "
                    "funnel metrics).")
    return worse + better + rest


def sentences(diff: dict, items: list[dict] | None = None) -> list[str]:
    """The plain-language lines of a diff, most important first: a note on how the crawls
    differ, then what changed for the funnel (:func:`summary`: offers, conversion, backward
    routes, the link check), then the rest (:func:`also`: other findings, pages, links).
    ``items``: the diff's :func:`summary`, when the caller has it already."""
    items = summary(diff) if items is None else items
    return notes(diff) + [item["words"] for item in items] + also(diff)


# -- headline and "did anything change" ---------------------------------------------------------
def changed(diff: dict) -> bool:
    """Did anything change at all (pages, links, findings, metrics)? Options that differ, or
    a crawl that is not complete, are not changes of the site by themselves."""
    if diff["pages"]["added"]["count"] or diff["pages"]["removed"]["count"]:
        return True
    if any(diff["links"][d].get(k, {}).get("count") for d in ("added", "removed") for k in LINK_CLASSES):
        return True
    if diff["broken"]["new"] or diff["broken"]["fixed"]:
        return True
    if (diff.get("profiles") or {}).get("stated_gone"):
        return True
    if any(diff["findings"][k] for k in ("new", "resolved", "changed")):
        return True
    m = diff["metrics"]
    if m["conversion_pages"] or m["unreachable_posts"]["new"] or m["unreachable_posts"]["fixed"]:
        return True
    if _money_items(diff):  # (both crawls audited with --analytics: what the traffic is worth moved)
        return True
    rows = [*m["site"].items(), *m["blog"].items()] + [(k, v) for row in m["landing"] for k, v in row.items()
                                                       if k != "url"]
    return any(_moved(row, CLICK_NOISE if name in ("clicks_to_conversion", "conversion_depth", "unreachable_posts")
                      else METRIC_NOISE) for name, row in rows)


def header_safe(text: str, limit: int = HEADLINE_MAX) -> str:
    """``text`` fit for a mail header: no control, line-break or bidirectional characters
    (each a space), runs of spaces as one, at most ``limit`` characters.

    >>> header_safe("evil.example\\r\\nBcc: x@y.example\\x1b[2J \\u202e")
    'evil.example Bcc: x@y.example [2J'
    >>> len(header_safe("a" * 500))
    150
    """
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text


def headline(diff: dict, limit: int = HEADLINE_MAX, items: list[dict] | None = None) -> str:
    """The e-mail subject: the site, then what changed for the funnel in the order of
    :func:`summary` (template changes and offers, conversion moving a point or more, backward
    links new and fixed, links newly broken and fixed, counted), as much as fits in
    ``limit`` characters (``+N more`` for the rest); else what else changed. ``items``: the
    diff's :func:`summary`, when the caller has it already.

    >>> d = {"site": "acme.example", "new": {"targets": []}, "old": {"targets": []},
    ...      "backward": {"new": [{"id": 1, "target": "https://x.com/a", "region": "header", "severity": "high",
    ...                            "message": "m", "pages": 1}], "fixed": []},
    ...      "broken": {"new": [{"target": "/a", "status": 404, "label": "", "before_status": None, "pages": 1}] * 3,
    ...                 "fixed": []}, "findings": {"changed": []},
    ...      "metrics": {"site": {"conversion": {"old": 0.3, "new": 0.2, "delta": -0.1}, "social_leak": {"delta": None},
    ...                           "clicks_to_conversion": {"delta": None}},
    ...                  "blog": {"conversion": {"delta": None}, "social_leak": {"delta": None}}, "landing": [],
    ...                  "conversion_pages": [], "unreachable_posts": {"new": [], "fixed": []}}}
    >>> headline(d)
    'acme.example: conversion 30% to 20%, 1 new backward link, 3 newly broken'
    """
    counted = {"backward-new": ("new backward link", "new backward links"),
               "backward-fixed": ("backward link fixed", "backward links fixed"),
               "broken-new": ("newly broken", "newly broken"),
               "broken-fixed": ("broken link fixed", "broken links fixed")}
    parts: dict[str, str | list] = {}
    for item in summary(diff) if items is None else items:
        if item["kind"] in counted:
            parts.setdefault(item["kind"], []).append(item)
        elif item["short"]:
            parts[item["short"]] = item["short"]
    said = []
    for key, part in parts.items():
        if isinstance(part, list):
            one, many = counted[key]
            n = sum(item.get("count", 1) for item in part)
            said.append(f"{n} {one if n == 1 else many}")
        else:
            said.append(part)
    if not said:
        pages, found, links = diff.get("pages") or {}, diff.get("findings") or {}, diff.get("links") or {}
        added, removed = ((pages.get(k) or {}).get("count", 0) for k in ("added", "removed"))
        links_added, links_removed = (sum((links.get(d) or {}).get(k, {}).get("count", 0) for k in LINK_CLASSES)
                                      for d in ("added", "removed"))
        if added or removed:
            said.append(f"{_s(added, 'page')} added, {removed} removed")
        elif found.get("new") or found.get("resolved"):
            said.append(f"{_s(len(found['new']), 'new finding')}, {len(found['resolved'])} resolved")
        elif links_added or links_removed:
            said.append(f"{_s(links_added, 'link')} added, {links_removed} removed")
        elif pages and changed(diff):
            said.append("funnel metrics changed")
        else:
            said.append("no changes")
    head = header_safe(diff["site"], limit)
    text = f"{head}: {said[0]}"
    for n, part in enumerate(said[1:], 1):
        left = len(said) - n - 1
        more = f", +{left} more" if left else ""
        if len(f"{text}, {part}{more}") > limit:
            text += f", +{len(said) - n} more"
            break
        text += f", {part}"
    return header_safe(text, limit)
