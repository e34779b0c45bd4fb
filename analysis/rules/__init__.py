"""The audit rules: one small function per rule id, each ``graph -> findings``.

:data:`RULES` is the registry (id -> function); :func:`run_rules` runs them all.
Every rule groups what it finds (one finding per target and region, listing
the pages it stands on) so a footer icon on 600 pages is one line, not 600.

One module per family: :mod:`.social` (social routing), :mod:`.content` (blog and content), :mod:`.offers` (offers and lead plumbing),
:mod:`.links` (link checking), :mod:`.traps` (where the crawl stopped), :mod:`.javascript` (pages built with JavaScript); :mod:`.common` holds the
registry and what the rules share, :mod:`.fixes` the fix line of each rule.
"""
from __future__ import annotations

from typing import Iterable

from analysis.findings import Finding, Locations
from analysis.rules import content, javascript, links, offers, social, traps  # noqa: F401  (each registers its rules)
from analysis.rules.common import REGION_WORDS, RULE_CACHES, RULES, rule
from analysis.rules.fixes import FIXES
from analysis.rules.social import account_name, own_profiles, share_endpoint

# The order rules run in (and findings of equal rank are listed in): social routing first, its
# shared pass read once for backward-social and social-before-offer.
ORDER = ("backward-social", "backward-blog", "dead-end", "content-dead-end", "stranded-social", "rel-me-missing", "social-before-offer", "lead-form-target", "buried-offer", "broken-link",
         "redirect", "redirect-chain", "redirect-loop", "missing-anchor", "untracked-inbound", "unverified-link",
         "skipped-link", "unsupported-scheme", "malformed-url", "insecure-link", "orphan-page", "canonical-elsewhere", "crawl-trap",
         "too-many-links", "javascript-links", "javascript-removed", "javascript-unrendered")
for _id in sorted(RULES, key=lambda r: ORDER.index(r) if r in ORDER else len(ORDER)):
    RULES[_id] = RULES.pop(_id)

__all__ = ["FIXES", "REGION_WORDS", "RULES", "account_name", "own_profiles", "rule", "run_rules", "settle",
           "share_endpoint"]


def run_rules(g, only: Iterable[str] | None = None) -> list[Finding]:
    """Run every registered rule (or those in ``only``); findings sorted worst first."""
    findings: list[Finding] = []
    for rule_id, fn in RULES.items():
        if only is None or rule_id in only:
            findings.extend(fn(g))
    settle(g, findings)
    return findings


def settle(g, findings: list[Finding]) -> None:
    """What follows the rules: each finding's pages and locations sorted, then the findings
    worst first (the same crawl gives the same report, whatever order its pages arrived in),
    and the caches the rules shared dropped (read again if asked; nothing after the rules
    asks: 10 MiB at 100,000 pages)."""
    for name in RULE_CACHES:
        g.graph.pop(name, None)
    for f in findings:
        given = f.sources
        if isinstance(f.locations, Locations) and f.locations.urls is given:
            f.locations.sort()  # (one location a page, one list for both: _Group.pages)
            f.sources = f.locations.urls
        else:
            f.sources.sort()
            f.locations.sort(key=lambda loc: (loc["url"], loc["line"] or 0))
            if isinstance(f.locations, Locations) and f.locations.urls == f.sources:
                f.locations.urls = f.sources  # one location a page: one list of 100,000 URLs, not two
        pages = f.detail.get("pages_by_severity") if isinstance(f.detail, dict) else None
        if pages:  # (one severity on every page: that list is the pages' list, not a third copy)
            for severity, listed in pages.items():
                if listed is given or (len(listed) == len(f.sources) and listed == f.sources):
                    pages[severity] = f.sources
    findings.sort(key=Finding.sort_key)
