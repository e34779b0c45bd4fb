"""The status policy: what a stored answer means, kept as data.

One table (:data:`POLICY`) turns a fetched URL's facts (HTTP status, error
kind, a few headers, where a redirect goes) into a verdict:

========== ===================================================================
ok         the link works (2xx, or a status given to ``--accept``)
redirect   a 3xx hop; the chain is followed to its end
broken     4xx/5xx, or no answer (dns, timeout, refused, tls, connection)
unverified the platform blocked the check (999, Cloudflare challenge, AWS WAF,
           login wall, rate limited): neither working nor broken
skipped    not fetched on purpose (robots.txt, --exclude)
unchecked  never fetched (beyond --depth/--max-pages, externals off)
========== ===================================================================

The README renders the same table for users.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable

OK, REDIRECT, BROKEN, UNVERIFIED, SKIPPED, UNCHECKED = "ok", "redirect", "broken", "unverified", "skipped", "unchecked"

LOGIN_WALL = re.compile(
    r"/(login|signin|sign-in|sign_in|authwall|checkpoint|uas/login|accounts/login|i/flow/login|login\.php|"
    r"challenge|captcha)(/|$|\?|\.)",
    re.I,
)
MAX_HOPS = 10


@dataclass(frozen=True)
class Rule:
    """One row of the policy: when ``test(status, headers)`` holds, the verdict is ``verdict``."""
    name: str
    verdict: str
    test: Callable[[int, dict], bool]
    label: str


POLICY: tuple[Rule, ...] = (
    Rule("linkedin-999", UNVERIFIED, lambda s, h: s == 999, "blocked (LinkedIn answers 999 to crawlers)"),
    Rule("cloudflare-challenge", UNVERIFIED, lambda s, h: s in (403, 503) and "cf-mitigated" in h,
         "blocked (Cloudflare challenge)"),
    Rule("aws-waf", UNVERIFIED, lambda s, h: "x-amzn-waf-action" in h, "blocked (AWS WAF challenge)"),
    Rule("rate-limited", UNVERIFIED, lambda s, h: s == 429, "rate limited (429)"),
    Rule("success", OK, lambda s, h: 200 <= s < 300, "ok"),
    Rule("redirect", REDIRECT, lambda s, h: 300 <= s < 400, "redirect"),
    Rule("client-error", BROKEN, lambda s, h: 400 <= s < 500, "client error"),
    Rule("server-error", BROKEN, lambda s, h: s >= 500 or s < 100, "server error"),
)

# Error kinds (no HTTP answer) -> verdict. Anything not listed is broken.
ERROR_KINDS = {
    "robots": (SKIPPED, "skipped (robots.txt)"),
    "excluded": (SKIPPED, "skipped (excluded)"),
    "too-long": (SKIPPED, "skipped (URL longer than 2,048 characters)"),
    "private": (SKIPPED, "skipped (private address)"),
    "scheme": (SKIPPED, "skipped (only http and https are fetched)"),
    "rate-limited": (UNVERIFIED, "rate limited"),
    # a profile API's hourly budget for anonymous calls is spent (its reason names the platform)
    "hourly-limit": (UNVERIFIED, None),
    # a profile API answered something that is not a profile of the platform
    "not-a-profile": (UNVERIFIED, None),
    # a profile API failed (a 500, a 503, a 400 other than "no such account"): the account may well
    # exist; only the platform's own "not found" makes it missing (crawler.profiles.says_missing)
    "platform-error": (UNVERIFIED, None),
    "dns": (BROKEN, "DNS lookup failed"),
    "timeout": (BROKEN, "timed out"),
    "refused": (BROKEN, "connection refused"),
    "tls": (BROKEN, "TLS error"),
    "connection": (BROKEN, "connection failed"),
    # It answered, but not a whole or well-formed answer (crawler.errors._broken_answer).
    "incomplete": (BROKEN, "connection closed before the whole response"),
    "bad-response": (BROKEN, "malformed HTTP response"),
    "bad-encoding": (BROKEN, "body does not decompress (Content-Encoding)"),
    # It answered, with more than the size cap (a big download, a decompression bomb): not read,
    # not broken either. The label is the stored reason: "too large (over 10 MiB after decompression)".
    "too-large": (UNVERIFIED, None),
    "protocol": (BROKEN, None),     # not HTTP as a browser reads it (headers past the cap ...)
}


@dataclass
class Verdict:
    """The verdict on a URL once its redirect chain is followed."""
    verdict: str
    label: str
    status: int | None = None
    error_kind: str | None = None
    chain: list[tuple[str, int]] = field(default_factory=list)  # (url, status) per redirect hop
    final_url: str | None = None
    loop: bool = False
    permanent: bool = False  # the first hop is a permanent redirect (301/308)

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "label": self.label, "status": self.status,
                "error_kind": self.error_kind, "final_url": self.final_url,
                "redirects": [{"url": u, "status": s} for u, s in self.chain], "loop": self.loop}


def judge(row: dict, accept: frozenset[int] = frozenset()) -> tuple[str, str]:
    """Verdict and label for one stored answer, without following redirects.

    >>> judge({"status": 999}), judge({"status": 404}), judge({"error_kind": "dns"})
    (('unverified', 'blocked (LinkedIn answers 999 to crawlers)'), ('broken', 'client error'), ('broken', 'DNS lookup failed'))
    >>> judge({"status": 403}, accept=frozenset({403}))
    ('ok', 'accepted (403)')
    """
    status = row.get("status")
    if status is None:
        kind = row.get("error_kind") or "connection"
        verdict, label = ERROR_KINDS.get(kind, (BROKEN, kind))
        return verdict, label or row.get("reason") or kind
    if status in accept:
        return OK, f"accepted ({status})"
    headers = row.get("headers") or {}
    if isinstance(headers, str):
        headers = json.loads(headers)
    for rule in POLICY:
        if rule.test(status, headers):
            return rule.verdict, rule.label
    return BROKEN, "unknown status"


def resolve(url: str, rows: dict[str, dict], accept: frozenset[int] = frozenset(),
            platform_of: Callable[[str], object] | None = None, key: Callable[[str], str] | None = None) -> Verdict:
    """Follow ``url``'s redirect chain through the stored ``rows`` (keyed by URL).

    >>> rows = {"a": {"status": 301, "location": "b"}, "b": {"status": 200}}
    >>> v = resolve("a", rows); (v.verdict, v.chain, v.final_url, v.permanent)
    ('ok', [('a', 301)], 'b', True)
    >>> resolve("x", {"x": {"status": 302, "location": "y"}, "y": {"status": 302, "location": "x"}}).loop
    True

    ``key`` names the row a Location leads to (default :func:`crawler.urls.dedupe_key`).
    """
    from crawler.urls import FETCHABLE_SCHEMES, dedupe_key, scheme_of

    key = key or dedupe_key
    chain: list[tuple[str, int]] = []
    seen = set()
    current = url
    while True:
        row = rows.get(current)
        if row is None:
            if chain:
                return Verdict(UNCHECKED, "redirect target not checked", chain=chain, final_url=current,
                               permanent=chain[0][1] in (301, 308))
            return Verdict(UNCHECKED, "not checked")
        verdict, label = judge(row, accept)
        status = row.get("status")
        if verdict != REDIRECT:
            return Verdict(verdict, label, status, row.get("error_kind"), chain, current if chain else None,
                           permanent=bool(chain) and chain[0][1] in (301, 308))
        seen.add(current)
        chain.append((current, status))
        location = row.get("location")
        if not location:
            return Verdict(BROKEN, f"{status} without a Location", status, None, chain)
        if platform_of is not None and platform_of(current) is not None and LOGIN_WALL.search(location):
            return Verdict(UNVERIFIED, "blocked (redirect to a login wall)", status, None, chain, location,
                           permanent=chain[0][1] in (301, 308))
        if scheme_of(location) not in FETCHABLE_SCHEMES | {""}:
            return Verdict(SKIPPED, f"skipped (redirects to a {scheme_of(location)}: URL; only http and https "
                           "are fetched)", status, "scheme", chain, location)
        nxt = key(location)
        if nxt in seen:
            return Verdict(BROKEN, "redirect loop", status, "loop", chain, location, loop=True)
        if len(chain) > MAX_HOPS:
            return Verdict(BROKEN, f"more than {MAX_HOPS} redirects", status, "too-many-redirects", chain, location)
        current = nxt
