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
``pages``           ``added`` / ``removed``: owned pages read in one crawl only,
                    each ``{"count": n, "urls": [first LIST_MAX]}``
``links``           ``added`` / ``removed``, each ``{"owned": …, "social": …}`` with
                    ``{"count": n, "links": [{"source", "target"}, … first LIST_MAX]}``: distinct
                    (page, target) pairs of clickable links (``<a>``, ``<area>``) from an owned
                    page read in both crawls to an owned URL or a social platform
``backward``        ``new`` / ``fixed``: backward-social and backward-blog findings (not the
                    info-level identity markup) that appeared or went, by stable id
``broken``          ``new``: link targets broken now that were not before (``before_status``:
                    what the URL answered in the old crawl, None when it was not fetched);
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
``sentences``       what a marketer reads, most important first

:func:`headline` is the e-mail subject, :func:`changed` says whether anything changed at
all, :func:`latest_pair` picks the two crawls to compare. Rendering is
:mod:`analysis.formats.diff`.
"""
from __future__ import annotations

import gc
import logging
import math
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit

import numpy as np

from crawler.options import CrawlOptions
from crawler.scope import BLOG, COMPANY, OWNED, SITE, SOCIAL

logger = logging.getLogger(__name__)

LIST_MAX = 200          # pages and links listed per kind of change (the counts are exact)
BACKWARD_RULES = ("backward-social", "backward-blog")
REACH_SEARCHES = 200    # graph searches allowed for conversion reach (the smaller of entries, conversion pages)
METRIC_NOISE = 0.0005   # a probability moving less than this (0.05 points) has not changed
CLICK_NOISE = 0.005     # nor clicks moving less than this
SAY_POINTS = 0.005      # a probability is worth a sentence when it moved at least half a point
SAY_CLICKS = 0.1
SAID = 5                # items named in a sentence before "and N more"
HEADLINE_MAX = 150      # characters of the e-mail subject


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
    """``(old, new)``: the ids of the last two complete crawls of one site (the same targets).
    The site is that of the latest complete crawl, or the one whose targets include ``site``.

    >>> import tempfile, os
    >>> from crawler.store import Store
    >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
    >>> for targets in (["https://a.example/"], ["https://b.example/"], ["https://a.example/"], ["https://b.example/"]):
    ...     s.finish_crawl(s.create_crawl(targets, {}), "complete")
    >>> latest_pair(s), latest_pair(s, "a.example")
    ((2, 4), (1, 3))
    >>> latest_pair(s, "https://c.example/")
    Traceback (most recent call last):
    analysis.diff.NotEnoughCrawls: no complete crawl of https://c.example/ in the store: a diff needs two
    """
    crawls = [c for c in store.crawls() if c["status"] == "complete"]
    what = "" if site is None else f" of {site}"
    if site is not None:
        key = site_key(site)
        crawls = [c for c in crawls if any(site_key(t) == key for t in c["targets"])]
    if not crawls:
        raise NotEnoughCrawls(f"no complete crawl{what} in the store: a diff needs two")
    latest = crawls[-1]
    same = [c for c in crawls if sorted(c["targets"]) == sorted(latest["targets"])]
    if len(same) < 2:
        raise NotEnoughCrawls(f"only one complete crawl of {' '.join(latest['targets'])} in the store (#{latest['id']}):"
                              " a diff needs two (audit it again, or name two crawls: funnelcheck diff OLD NEW)")
    return same[-2]["id"], same[-1]["id"]


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


def _finding_row(f) -> dict:
    return {"id": f.id, "rule": f.rule, "severity": f.severity, "target": f.target, "region": f.region,
            "message": f.message, "pages": f.count}


def _owned_sources(g, url: str) -> int:
    """How many owned pages link to ``url`` (one indexed query)."""
    nodes = g.node_data
    return len({source for source, _, _ in g.links(key=url)
                if (nodes.get(source) or {}).get("tier") in OWNED})


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
                        "pages": f.count if len(targets) == 1 else _owned_sources(g, url), "message": f.message}
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


def _classifier(g):
    """A link key's class for the link diff: ``owned``, ``social`` or None (left out)."""
    nodes, scope = g.node_data, g.graph["scope"]

    def classify(url: str) -> str | None:
        node = nodes.get(url)
        tier = node.get("tier") if node is not None else scope.tier(url)
        return "owned" if tier in COMPANY else "social" if tier == SOCIAL else None  # (a sign-up on app.: owned)

    return classify


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
    removed = store.links_except(old_id, new_id, _classifier(analysed.graph), limit=limit)
    del analysed
    gc.collect()  # the old graph goes before the new one is built
    new, analysed = _side(store, new_id, weights, entry)
    added = store.links_except(new_id, old_id, _classifier(analysed.graph), limit=limit)
    fixed = []
    for url in sorted(old.broken.keys() - new.broken.keys()):
        state = _now(analysed.graph, url)
        if state is None:
            continue
        now, status = state
        row = old.broken[url]
        fixed.append({"target": url, "id": row["id"], "pages": row["pages"], "message": row["message"],
                      "now": now, "status": status})
    del analysed
    gc.collect()
    newly = []
    for url in sorted(new.broken.keys() - old.broken.keys()):
        before = store.page(old_id, url) if url.startswith(("http://", "https://")) else None
        row = new.broken[url]
        newly.append({"target": url, "id": row["id"], "severity": row["severity"], "status": row["status"],
                      "label": row["label"], "pages": row["pages"], "message": row["message"],
                      "before_status": before["status"] if before else None})
    newly.sort(key=lambda r: (_RANK[r["severity"]], -r["pages"], r["target"]))

    pages = {}
    for name, (a, b) in (("added", (new_id, old_id)), ("removed", (old_id, new_id))):
        count, urls = store.pages_except(a, b, limit)
        pages[name] = {"count": count, "urls": urls}
    links = {}
    for name, found in (("added", added), ("removed", removed)):
        links[name] = {kind: {"count": found.get(kind, (0, []))[0],
                              "links": [{"source": s, "target": t} for s, t in found.get(kind, (0, []))[1]]}
                       for kind in ("owned", "social")}

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
    }
    out["sentences"] = sentences(out)
    return out


_RANK = {"high": 0, "medium": 1, "low": 2, "info": 3}


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


# -- metrics ------------------------------------------------------------------------------------
def _num(value) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def _row(old, new, digits: int = 6) -> dict:
    old, new = _num(old), _num(new)
    delta = None if old is None or new is None else round(new - old, digits)
    return {"old": old, "new": new, "delta": delta}


def _mean(rows, key) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return round(sum(values) / len(values), 6) if values else None


def _metric_rows(m: dict | None) -> dict:
    """The numbers compared: site-wide and from the blog (the mean over the blog's entry pages)."""
    if not m:
        return {}
    site = m.get("site") or {}
    blog = [e for e in m.get("entries") or () if e.get("tier") == BLOG]
    return {"conversion": site.get("conversion"), "social_leak": site.get("social_leak"),
            "clicks_to_conversion": site.get("clicks_to_conversion"), "conversion_depth": site.get("conversion_depth"),
            "unreachable_posts": len(site.get("unreachable_posts") or ()) if site else None,
            "blog_conversion": _mean(blog, "conversion"), "blog_social_leak": _mean(blog, "social_leak")}


def _metrics(old: _Side, new: _Side) -> dict:
    a, b = _metric_rows(old.metrics), _metric_rows(new.metrics)
    site = {name: _row(a.get(name), b.get(name)) for name in
            ("conversion", "social_leak", "clicks_to_conversion", "conversion_depth", "unreachable_posts")}
    blog = {"conversion": _row(a.get("blog_conversion"), b.get("blog_conversion")),
            "social_leak": _row(a.get("blog_social_leak"), b.get("blog_social_leak"))}
    entries_a = {e["url"]: e for e in (old.metrics or {}).get("entries") or ()}
    entries_b = {e["url"]: e for e in (new.metrics or {}).get("entries") or ()}
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
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def _entries_words(c: dict) -> str:
    """``4 blog pages``, ``3 entry pages``, ``4 entry pages (3 blog pages)``."""
    n, blog = c["entries"], c["blog"]
    if blog == n:
        return _s(n, "blog page")
    if not blog:
        return _s(n, "entry page")
    return f"{_s(n, 'entry page')} ({_s(blog, 'blog page')})"


def _moved(row: dict, noise: float) -> bool:
    return row["delta"] is not None and abs(row["delta"]) >= noise


def sentences(diff: dict) -> list[str]:
    """The plain-language lines of a diff, most important first: a note on how the crawls
    differ, then what got worse (new backward links, newly broken links, conversion pages
    out of reach, metrics falling, other serious findings), then what got better, then the
    rest (pages, links, minor findings)."""
    base = (diff["new"]["targets"] or diff["old"]["targets"] or [None])[0]
    notes, worse, better, rest = [], [], [], []
    if diff["options_differ"]:
        notes.append(f"The two crawls ran with different options ({', '.join(diff['options_differ'])}): "
                     "some of the changes below may come from that.")
    for side in ("old", "new"):
        h = diff[side]
        if h["status"] != "complete":
            notes.append(f"Crawl #{h['id']} is {h['status']}: pages it did not reach show up as changes.")

    for r in diff["backward"]["new"]:
        worse.append(f"New backward link ({r['severity']}): {r['message']}.")
    # a finding in both crawls that got worse (or better) is said with the bad (good) news
    for r in diff["findings"]["changed"]:
        sev, pages = r["severity"], r["pages"]
        what = []
        if sev["old"] != sev["new"]:
            what.append(f"{sev['old']} → {sev['new']}")
        if pages["old"] != pages["new"]:
            what.append(f"on {pages['new']} pages, was {pages['old']}")
        into = (worse if _RANK[sev["new"]] < _RANK[sev["old"]] else better if _RANK[sev["new"]] > _RANK[sev["old"]]
                else rest)
        into.append(f"Changed ({', '.join(what)}): {r['message']}.")
    newly = diff["broken"]["new"]
    for r in newly[:SAID]:
        what = f"answers {r['status']}" if r["status"] else (r["label"] or "fails")
        was = " (it worked before)" if r["before_status"] and 200 <= r["before_status"] < 400 else ""
        worse.append(f"Newly broken: {short(r['target'], base)} {what}{was}, linked from {_s(r['pages'], 'page')}.")
    if len(newly) > SAID:
        worse.append(f"… and {len(newly) - SAID} more newly broken links.")

    m = diff["metrics"]
    for r in m["conversion_pages"]:
        where = short(r["url"], base)
        if r["old"] is None:
            rest.append(f"New conversion page {where}, reachable from {_entries_words(r['new'])}."
                        if r["new"]["entries"] else f"New conversion page {where}, reachable from no entry page.")
            continue
        if r["lost"]["entries"]:
            worse.append(f"{where} is no longer reachable from {_entries_words(r['lost'])}.")
        if r["gained"]["entries"]:
            better.append(f"{where} is now reachable from {_entries_words(r['gained'])} more.")

    def say(row: dict, what: str, good_up: bool, threshold: float = SAY_POINTS, fmt=pct_pair) -> None:
        if not _moved(row, threshold):
            return
        a, b = fmt(row["old"], row["new"])
        up = row["delta"] > 0
        (better if up == good_up else worse).append(f"{what} {'rose' if up else 'fell'} from {a} to {b}.")

    site, blog = m["site"], m["blog"]
    say(site["conversion"], "Conversion probability (site-wide)", True)
    say(blog["conversion"], "Conversion probability from the blog", True)
    for row in m["landing"]:
        where = short(row["url"], base)
        say(row["conversion"], "Conversion probability from " + ("the home page" if where == "/" else where), True)
    say(site["social_leak"], "The leak to social (site-wide)", False)
    say(blog["social_leak"], "The leak to social from the blog", False)
    say(site["clicks_to_conversion"], "Clicks to a conversion", False, SAY_CLICKS, lambda a, b: (f"{a:.1f}", f"{b:.1f}"))
    stuck = m["unreachable_posts"]
    if stuck["new"]:
        worse.append(f"{_s(len(stuck['new']), 'blog page')} can no longer reach any offer: "
                     f"{_listed([short(u, base) for u in stuck['new']])}.")
    if stuck["fixed"]:
        better.append(f"{_s(len(stuck['fixed']), 'blog page')} can reach an offer again: "
                      f"{_listed([short(u, base) for u in stuck['fixed']])}.")

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
    for r in diff["backward"]["fixed"]:
        better.append(f"Fixed backward link ({r['severity']}, was on {_s(r['pages'], 'page')}): {r['message']}.")
    fixed = diff["broken"]["fixed"]
    for r in fixed[:SAID]:
        now = {"works": f"works now ({r['status']})" if r["status"] else "works now",
               "no longer linked": "is no longer linked"}.get(r["now"], "was not checked this time")
        better.append(f"Broken link fixed: {short(r['target'], base)} {now}.")
    if len(fixed) > SAID:
        better.append(f"… and {len(fixed) - SAID} more broken links fixed.")

    for name, word in (("added", "added"), ("removed", "removed")):
        p = diff["pages"][name]
        if p["count"]:
            rest.append(f"{_s(p['count'], 'page')} {word}: {_listed([short(u, base) for u in p['urls']], p['count'])}.")
    links = diff["links"]
    for kind, what in (("social", "links to social platforms"), ("owned", "links between owned pages")):
        a, r = links["added"][kind]["count"], links["removed"][kind]["count"]
        if a or r:
            rest.append(f"{what[0].upper() + what[1:]}: {a} added, {r} removed (on pages in both crawls).")
    each([r for r in others_new if r not in serious], "New finding", rest)
    each([r for r in others_gone if r["severity"] not in ("high", "medium")], "Resolved finding", rest)
    if not m["conversion_reach"] and diff["old"]["pages"] and diff["new"]["pages"]:
        rest.append("Which entry pages reach each conversion page was not compared (too many of both, or no "
                    "funnel metrics).")
    return notes + worse + better + rest


# -- headline and "did anything change" ---------------------------------------------------------
def changed(diff: dict) -> bool:
    """Did anything change at all (pages, links, findings, metrics)? Options that differ, or
    a crawl that is not complete, are not changes of the site by themselves."""
    if diff["pages"]["added"]["count"] or diff["pages"]["removed"]["count"]:
        return True
    if any(diff["links"][d][k]["count"] for d in ("added", "removed") for k in ("owned", "social")):
        return True
    if diff["broken"]["new"] or diff["broken"]["fixed"]:
        return True
    if any(diff["findings"][k] for k in ("new", "resolved", "changed")):
        return True
    m = diff["metrics"]
    if m["conversion_pages"] or m["unreachable_posts"]["new"] or m["unreachable_posts"]["fixed"]:
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


def headline(diff: dict) -> str:
    """The e-mail subject: the site, then the backward links and broken links that changed,
    the conversion probability if it moved a point or more, else what else changed.

    >>> d = {"site": "acme.example", "backward": {"new": [1, 2], "fixed": [3]}, "broken": {"new": [1, 2, 3], "fixed": []},
    ...      "metrics": {"site": {"conversion": {"old": 0.3, "new": 0.3, "delta": 0.0}}}}
    >>> headline(d)
    'acme.example: 2 new backward links, 1 fixed, 3 newly broken'
    """
    parts = []
    b_new, b_fixed = len(diff["backward"]["new"]), len(diff["backward"]["fixed"])
    if b_new:
        parts.append(f"{b_new} new backward link{'s' if b_new != 1 else ''}")
        if b_fixed:
            parts.append(f"{b_fixed} fixed")
    elif b_fixed:
        parts.append(f"{_s(b_fixed, 'backward link')} fixed")
    k_new, k_fixed = len(diff["broken"]["new"]), len(diff["broken"]["fixed"])
    if k_new:
        parts.append(f"{k_new} newly broken")
    if k_fixed:
        parts.append(f"{_s(k_fixed, 'broken link')} fixed")
    conversion = diff["metrics"]["site"]["conversion"]
    if conversion["delta"] is not None and abs(conversion["delta"]) >= 0.01:
        a, b = pct_pair(conversion["old"], conversion["new"])
        parts.append(f"conversion {a} to {b}")
    if not parts:
        pages, found, links = diff.get("pages") or {}, diff.get("findings") or {}, diff.get("links") or {}
        added, removed = ((pages.get(k) or {}).get("count", 0) for k in ("added", "removed"))
        links_added, links_removed = (sum((links.get(d) or {}).get(k, {}).get("count", 0) for k in ("owned", "social"))
                                      for d in ("added", "removed"))
        if added or removed:
            parts.append(f"{_s(added, 'page')} added, {removed} removed")
        elif found.get("new") or found.get("resolved"):
            parts.append(f"{_s(len(found['new']), 'new finding')}, {len(found['resolved'])} resolved")
        elif links_added or links_removed:
            parts.append(f"{_s(links_added, 'link')} added, {links_removed} removed")
        elif pages and changed(diff):
            parts.append("funnel metrics changed")
        else:
            parts.append("no changes")
    return header_safe(f"{diff['site']}: {', '.join(parts)}")
