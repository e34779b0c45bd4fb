"""What the rules share: the registry, the owned-page caches and the grouping of a finding's pages."""
from __future__ import annotations

import re

from typing import Callable, Iterable

from analysis.findings import RANK, SEVERITIES, Finding, Locations
from analysis.graph import CrawlGraph
from analysis.words import plural as _plural  # noqa: F401  (the rules' modules import it from here)
from crawler.scope import OWNED


NAV_TAGS = frozenset({"a", "area"})


FORWARD_TAGS = NAV_TAGS | {"iframe", "meta"}


# Fragments that name no element: the page's top, and widgets' own triggers (HubSpot's chat opens
# on #hs-chat-open); a fragment holding = | & is a script's state (#all|product-traceability, #tab=2).
IGNORED_FRAGMENTS = frozenset({"", "top", "hs-chat-open"})
SCRIPT_STATE = re.compile(r"^[\w.,:%+-]*[=|&][\w.,:%+=|&-]*$")


REGION_WORDS = {"header": "header", "nav": "navigation", "main": "page body", "body": "page body",
                "aside": "sidebar", "footer": "footer", "head": "page head"}


RuleFn = Callable[[CrawlGraph], Iterable[Finding]]


RULES: dict[str, RuleFn] = {}


def rule(rule_id: str):
    """Register a rule function under ``rule_id``."""
    def register(fn: RuleFn) -> RuleFn:
        RULES[rule_id] = fn
        fn.rule_id = rule_id
        return fn
    return register


def id_column(column):
    """A column of store ids (``array("q")``, :meth:`crawler.store.Store.url_id_column`) as a numpy
    array (the same memory); a store of schema 1's URLs (a list) as an array of objects.

    >>> from array import array
    >>> id_column(array("q", [3, -1])).tolist(), id_column(["https://a.example/"]).dtype
    ([3, -1], dtype('O'))
    """
    import numpy as np

    if isinstance(column, list):
        out = np.empty(len(column), object)
        out[:] = column
        return out
    return np.frombuffer(column, np.int64) if len(column) else np.zeros(0, np.int64)


def _is_owned_page(data) -> bool:
    """An owned HTML page that was read (a ``<meta refresh>`` stub is a redirect, not a page)."""
    return data.get("tier") in OWNED and data.get("role") == "page" and bool(data.get("parsed")) and not data.get("stub")


def _owned_page_tiers(g) -> dict[str, str]:
    """url -> tier of every owned page that was read (kept on the graph: rules ask often)."""
    cached = g.graph.get("owned_pages")
    if cached is None:
        cached = g.graph["owned_pages"] = {url: data.get("tier") for url, data in g.nodes(data=True)
                                           if _is_owned_page(data)}
    return cached


def _tier_keys(g, tier: str) -> list[str]:
    """The nodes of ``tier`` (kept on the graph: several rules select the links into them)."""
    cached = g.graph.setdefault("tier_keys", {})
    if tier not in cached:
        cached[tier] = [url for url, data in g.node_data.items() if data.get("tier") == tier]
    return cached[tier]


def _owned_pages(g):
    nodes = g.node_data
    for url in _owned_page_tiers(g):
        yield url, nodes[url]


class _Group:
    """Collects the sources of one grouped finding: compact columns (a group may stand on
    every page of a site), its sources computed when asked."""
    __slots__ = ("locations", "severities")

    def __init__(self):
        self.locations = Locations()
        self.severities = bytearray()  # a rank (analysis.findings.RANK) per location

    def add(self, source: str, line, severity: str = "info") -> None:
        self.locations.append(source, line)
        self.severities.append(RANK[severity])

    @property
    def sources(self) -> dict[str, None]:
        """The distinct pages, in the order first seen."""
        return dict.fromkeys(self.locations.urls)

    def pages(self) -> list[str]:
        """The distinct pages in the order first seen, as a finding's ``sources``: with one
        location a page (a footer icon on every page) the locations' own list, not a second one
        (:func:`analysis.rules.settle` sorts the two as one).

        >>> grp = _Group(); grp.add("https://a.example/b", 3); grp.add("https://a.example/a", None)
        >>> grp.pages() is grp.locations.urls, grp.pages()
        (True, ['https://a.example/b', 'https://a.example/a'])
        >>> grp.add("https://a.example/b", 9); grp.pages() is grp.locations.urls, grp.pages()
        (False, ['https://a.example/b', 'https://a.example/a'])
        """
        distinct = self.sources
        urls = self.locations.urls
        return urls if len(distinct) == len(urls) else list(distinct)

    def worst(self) -> str:
        return SEVERITIES[min(self.severities)]

    def by_severity(self) -> dict[str, dict[str, None]]:
        """severity -> its pages, in the order first seen."""
        out: dict[str, dict[str, None]] = {}
        for url, rank in zip(self.locations.urls, self.severities):
            out.setdefault(SEVERITIES[rank], {})[url] = None
        return out


def _targets(g) -> frozenset[str]:
    """The crawl's targets (their de-duplication keys): findings about them need no linking page."""
    if "targets" not in g.graph:
        key, crawl = g.graph["key"], g.graph["crawl"]
        targets = {key(t) for t in crawl["targets"]}
        # A directory target without index.html: its own URL answers 404, as on its static host;
        # the audit is of the folder's files (each crawled), not of a page no one links to.
        for base in (crawl.get("options") or {}).get("directories") or {}:
            if key(base) in g and g.nodes[key(base)].get("final_status") == 404:
                targets.discard(key(base))
        g.graph["targets"] = frozenset(targets)
    return g.graph["targets"]


def _in_sources(g, url) -> _Group | None:
    """The owned pages that link to ``url``; None when none does and it is not a target either
    (a finding about a URL needs a page to stand on, or to be about what the user asked for)."""
    # Pages first; a <meta refresh> stub, then a sitemap, only when no page links to the URL.
    ranked = (_Group(), _Group(), _Group())
    for s, _, e in g.in_edges(url, data=True):
        node = g.nodes[s]
        if node.get("tier") in OWNED:
            ranked[2 if node.get("role") == "sitemap" else 1 if node.get("stub") else 0].add(s, e["line"])
    grp = next((r for r in ranked if r.sources), ranked[0])
    return grp if grp.sources or url in _targets(g) else None


# What the rules keep on the graph while they run (each read once for several rules).
RULE_CACHES = ("owned_pages", "tier_keys", "offer_links", "offer_links_ahead", "social_pass", "unfetchable",
               "form_faults")
