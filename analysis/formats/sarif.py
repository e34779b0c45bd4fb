"""SARIF 2.1.0: findings for code scanning (GitHub, GitLab, Azure DevOps, the VS Code viewer).

One run; ``tool.driver`` is funnelcheck with one ``reportingDescriptor`` per rule of
:data:`analysis.rules.RULES` (``shortDescription``: the first sentence of the rule's
docstring, ``fullDescription`` the rest of its prose; ``help``: its line in :data:`analysis.rules.FIXES`, and the lines for the
rule's kinds; ``defaultConfiguration.level`` from :data:`DEFAULT_SEVERITY`). One
``result`` per finding: ``ruleId``, ``level`` (:data:`LEVELS`: high -> error, medium ->
warning, low and info -> note), ``message.text``, up to :data:`LOCATIONS` locations,
one per page the finding stands on (``artifactLocation.uri`` the page URL,
``region.startLine`` the line when known; a finding about a target with no page, the
target itself), and ``partialFingerprints`` ``{"funnelcheckId/v1": finding id}`` (the
stable id, so a code-scanning alert stays one alert from crawl to crawl).

Locations are URLs, not files in a repository: viewers list them, they cannot annotate a
source line. Text is kept exact (JSON escapes what it must).
"""
from __future__ import annotations

import inspect
import json
import re
from datetime import datetime, timezone
from typing import TextIO

from analysis.rules import FIXES, RULES
from crawler.store import funnelcheck_version
from analysis.formats.json import Escaping

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/funnelcheck/funnelcheck"
LEVELS = {"high": "error", "medium": "warning", "low": "note", "info": "note"}
LOCATIONS = 5  # SARIF viewers show the first; the JSON report keeps every page
FINGERPRINT = "funnelcheckId/v1"
# The severity each rule reports by default (its worst, for rules whose severity depends
# on where the link stands; the README's findings table). A rule missing here is medium.
DEFAULT_SEVERITY = {
    "backward-social": "high", "backward-blog": "low", "dead-end": "medium", "stranded-social": "medium",
    "social-before-offer": "medium", "untracked-inbound": "low", "rel-me-missing": "low", "broken-link": "high", "redirect": "low",
    "redirect-chain": "medium", "redirect-loop": "high", "missing-anchor": "medium", "orphan-page": "low",
    "unverified-link": "info", "skipped-link": "info", "unsupported-scheme": "info", "malformed-url": "medium",
    "crawl-trap": "medium", "insecure-link": "low", "too-many-links": "low", "canonical-elsewhere": "high",
}


def describe(rule_id: str) -> str:
    """The first sentence of rule ``rule_id``'s docstring, in one line, without RST markup.

    >>> describe("redirect-chain")
    'More than two redirect hops before the final answer.'
    >>> describe("malformed-url")
    'A link that is not a URL at all (http:/x, http://, an unbalanced [): a typo every visitor hits.'
    """
    doc = inspect.getdoc(RULES.get(rule_id)) if rule_id in RULES else None
    if not doc:
        return rule_id
    first = " ".join(doc.split("\n\n")[0].split()).replace("``", "")
    m = re.match(r"(.+?[.!?])(\s+[A-Z(]|$)", first)
    return m.group(1) if m else first


def explain(rule_id: str) -> str:
    """Rule ``rule_id``'s docstring as prose: its paragraphs without the examples, RST markup dropped.

    >>> explain("stranded-social")
    "A social profile that does not link back to the blog or the site. Profiles owned pages link to are checked, and the business's own (--social, and those stated in [profiles]) even where no page links to them. Only a profile that was read (or whose links the user stated) can be stranded; a platform that could not be read is one info line per platform, with the reason (see analysis/profiles.py). LinkedIn and X are never read (a login wall: readable = false in platforms.toml): a 999, or a page that answers 200 and shows no link (X's login wall), is one line per platform, not checkable there, never a profile that links to neither."
    """
    doc = inspect.getdoc(RULES.get(rule_id)) if rule_id in RULES else None
    paragraphs = [" ".join(p.split()).replace("``", "") for p in (doc or "").split("\n\n")]
    return " ".join(p for p in paragraphs if p and not p.startswith(">>>")) or rule_id


def fixes(rule_id: str) -> list[tuple[str, str]]:
    """``(kind, fix)`` for rule ``rule_id``: its own fix (kind ``""``) first, then those of its kinds.

    >>> [kind for kind, _ in fixes("backward-social")][:3], [kind for kind, _ in fixes("backward-social")][-4:]
    (['', 'profile:header', 'profile:nav'], ['share', 'content', 'code', 'community'])
    """
    return [(key.partition(":")[2], fix) for key, fix in FIXES.items()
            if key == rule_id or key.startswith(rule_id + ":")]


def fix_of(f) -> str | None:
    """The fix for finding ``f`` that fits its rule, kind and region (:func:`analysis.plan.fix_line`)."""
    from analysis.plan import fix_line
    detail = f.detail if isinstance(f.detail, dict) else {}
    kind = detail.get("kind") or (detail.get("verdict") if detail.get("verdict") in ("not-checkable", "unverified")
                                  else None)
    return fix_line(f.rule, kind, f.region, FIXES)


def first_locations(f, n: int) -> list[tuple[str, int | None]]:
    """The first ``n`` pages of finding ``f`` as ``(url, line)``, one per page (its first line),
    from its locations, else its sources."""
    seen: dict[str, int | None] = {}
    for loc in f.locations:
        if loc["url"] not in seen:
            if len(seen) == n:
                break
            seen[loc["url"]] = loc["line"]
    for url in f.sources:
        if len(seen) >= n:
            break
        seen.setdefault(url, None)
    return list(seen.items())


def _utc(stamp: str | None) -> str | None:
    try:
        t = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return None
    t = t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _rule(rule_id: str) -> dict:
    lines = [fix if not kind else f"{kind}: {fix}" for kind, fix in fixes(rule_id)]
    markdown = [f"**Fix:** {fix}" if not kind else f"- *{kind}*: {fix}" for kind, fix in fixes(rule_id)]
    descriptor = {"id": rule_id, "name": "".join(w.capitalize() for w in rule_id.split("-")),
                  "shortDescription": {"text": describe(rule_id)}, "fullDescription": {"text": explain(rule_id)},
                  "defaultConfiguration": {"level": LEVELS[DEFAULT_SEVERITY.get(rule_id, "medium")]},
                  "helpUri": f"{INFORMATION_URI}#findings"}
    if lines:
        descriptor["help"] = {"text": "\n".join(lines), "markdown": "\n".join(markdown)}
    return descriptor


def _location(url: str, line: int | None) -> dict:
    physical = {"artifactLocation": {"uri": url}}
    if isinstance(line, int) and line >= 1:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


def result(f, rule_index: dict[str, int]) -> dict:
    """The SARIF ``result`` of finding ``f``."""
    where = first_locations(f, LOCATIONS) or ([(f.target, None)] if f.target else [])
    out = {"ruleId": f.rule, "level": LEVELS[f.severity], "message": {"text": f.message},
           "locations": [_location(url, line) for url, line in where],
           "partialFingerprints": {FINGERPRINT: f.id},
           "properties": {"severity": f.severity, "target": f.target, "region": f.region, "pages": f.count}}
    if f.rule in rule_index:
        out["ruleIndex"] = rule_index[f.rule]
    kind = f.detail.get("kind") if isinstance(f.detail, dict) else None
    if kind:
        out["properties"]["kind"] = kind
    return out


def sarif_log(audit) -> dict:
    """``audit`` as a SARIF 2.1.0 log (a dict)."""
    rule_ids = list(RULES) + sorted({f.rule for f in audit.findings} - set(RULES))
    rule_index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    crawl = audit.crawl
    invocation = {"executionSuccessful": crawl.get("status") == "complete"}
    for key, stamp in (("startTimeUtc", crawl.get("started")), ("endTimeUtc", crawl.get("finished"))):
        if _utc(stamp):
            invocation[key] = _utc(stamp)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "funnelcheck", "version": funnelcheck_version(),
                                "informationUri": INFORMATION_URI, "rules": [_rule(r) for r in rule_ids]}},
            "invocations": [invocation],
            "results": [result(f, rule_index) for f in audit.findings],
            "properties": {"crawl": crawl.get("id"), "targets": list(crawl.get("targets") or ()),
                           "status": crawl.get("status")},
        }],
    }


def write(audit, out: TextIO) -> None:
    """Write ``audit``'s findings to ``out`` as one SARIF 2.1.0 log."""
    json.dump(sarif_log(audit), Escaping(out), ensure_ascii=False, indent=1)
    out.write("\n")
