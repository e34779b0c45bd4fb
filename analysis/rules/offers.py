"""Offers and lead plumbing: where a lead form sends what it collects (lead-form-target), and
offers visitors hardly find (buried-offer).

Forms are the page ``signals`` the crawler records (``signals["forms"]``: purpose, method,
``action`` and ``next`` as absolute URLs); their owned targets are fetched by the crawler with
HEAD/GET (never submitted) and judged like any link target.
"""
from __future__ import annotations

import re
from collections import defaultdict
from sys import intern

from analysis.findings import Finding
from analysis.graph import landing_page
from analysis.rules.common import NAV_TAGS, _Group, _owned_page_tiers, _owned_pages, _plural, rule
from analysis.status import BROKEN
from crawler.scope import COMPANY
from crawler.signals import LEAD_PURPOSES
from crawler.urls import normalize

# An action endpoint answering 405 to GET/HEAD only refuses what the crawler did not do: it takes POSTs.
ACCEPTS_POST = frozenset({405})
# What to call a form or an offer page, by a word of its page's address (policy as data).
NAMES = (("demo", "demo request"), ("quote", "quote request"), ("contact", "contact"), ("trial", "trial"),
         ("sign-?up|register|get-started|join", "sign-up"), ("pricing|plans", "pricing"),
         ("checkout|cart|basket", "checkout"), ("subscribe|newsletter", "newsletter"),
         ("book|booking|schedule|consultation|call", "booking"))
_NAMES = tuple((re.compile(rf"(^|[^a-z])({words})([^a-z]|$)", re.I), name) for words, name in NAMES)


def name_of(url: str, default: str) -> str:
    """What a page's address says it is for: ``demo request``, ``contact``, ``pricing`` ...

    >>> name_of("https://a.example/request-demo/", "lead"), name_of("https://a.example/x/", "lead")
    ('demo request', 'lead')
    """
    path = url.split("://", 1)[-1].partition("/")[2].split("?", 1)[0].split("#", 1)[0]
    for pattern, name in _NAMES:
        if pattern.search(path):
            return name
    return default


def short(url: str, page: str) -> str:
    """``url`` as its path when it is on ``page``'s host, else whole.

    >>> short("https://a.example/thanks/", "https://a.example/x/"), short("https://b.example/t", "https://a.example/")
    ('/thanks/', 'https://b.example/t')
    """
    host = page.split("://", 1)[-1].split("/", 1)[0]
    scheme, _, rest = url.partition("://")
    if rest.split("/", 1)[0] == host and scheme in ("http", "https"):
        return "/" + rest.partition("/")[2]
    return url


def _answer(node) -> str:
    """How a target failed, in a few words: ``answers 404``, ``fails (DNS lookup failed)``."""
    status = node.get("final_status") if node.get("chain") else node.get("status")
    if status:
        return f"answers {status}"
    return f"fails ({node.get('label') or node.get('error_kind') or 'no answer'})"


def _form_faults(g) -> list[tuple]:
    """``(page, purpose, attr, key)`` of each form target on an owned page that does not exist:
    an ``action`` or ``next`` on the company's hosts whose verdict is broken (an action answering
    405 takes POSTs: fine). Kept on the graph: lead-form-target and broken-link both ask."""
    cached = g.graph.get("form_faults")
    if cached is None:
        cached = g.graph["form_faults"] = list(_read_form_faults(g))
    return cached


def _read_form_faults(g):
    key_of, nodes = g.graph["key"], g.node_data
    for page, data in _owned_pages(g):
        for form in (data.get("signals") or {}).get("forms") or ():
            purpose = form.get("purpose") or "other"
            for attr in ("action", "next"):
                url = form.get(attr)
                if not url:
                    continue
                try:
                    key = key_of(normalize(url)[0])
                except ValueError:  # (URLError too)
                    continue
                node = nodes.get(key)
                if node is None or node.get("tier") not in COMPANY or node.get("verdict") != BROKEN:
                    continue
                status = node.get("final_status") if node.get("chain") else node.get("status")
                if attr == "action" and status in ACCEPTS_POST:
                    continue
                yield page, purpose, attr, key


def plumbing_targets(g) -> set[str]:
    """The form targets :func:`lead_form_target` reports (``broken-link`` leaves those only forms
    lead to: one finding for one lost lead, not two)."""
    return {key for _, purpose, attr, key in _form_faults(g)
            if purpose in LEAD_PURPOSES or (purpose == "comment" and attr == "action")}


@rule("lead-form-target")
def lead_form_target(g):
    """A lead or newsletter form whose owned ``action``, or the thank-you page it declares
    (``_next``, ``redirect``, ``success_url`` ...), does not exist: every lead it collects is lost
    (high). A comment form posting to an endpoint that does not exist (a static export of a CMS)
    is a lower finding (low). One finding per target and purpose, listing the form's pages.

    >>> from analysis.graph import graph_from
    >>> site, demo, thanks = "https://a.example/", "https://a.example/request-demo/", "https://a.example/thank-you/"
    >>> g = graph_from([{"url": demo, "role": "page", "status": 200, "parsed": 1},
    ...                 {"url": thanks, "role": "page", "status": 404}],
    ...                [(demo, thanks, "main", "other", "form")], site=[site])
    >>> g.nodes[demo]["signals"] = {"forms": [{"purpose": "lead", "method": "post", "action": thanks, "next": None}]}
    >>> [(f.rule, f.severity, f.message) for f in lead_form_target(g)]
    [('lead-form-target', 'high', 'the demo request form on /request-demo/ posts to /thank-you/, which answers 404: every lead it collects is lost')]
    """
    groups: dict[tuple, _Group] = defaultdict(_Group)
    for page, purpose, attr, key in _form_faults(g):
        if purpose in LEAD_PURPOSES:
            groups[(key, attr, purpose)].add(page, None, "high")
        elif purpose == "comment" and attr == "action":
            groups[(key, attr, purpose)].add(page, None, "low")
    nodes = g.node_data
    for (key, attr, purpose), grp in groups.items():
        pages = list(grp.sources)
        first = min(pages)
        where = short(first, first) if len(pages) == 1 else f"{_plural(len(pages), 'page')} (as on {short(first, first)})"
        answer = _answer(nodes[key])
        if purpose == "comment":
            yield Finding("lead-form-target", "low", key,
                          f"the comment form on {where} posts to {short(key, first)}, which {answer}: comments "
                          "sent there are lost (a static export has no comment endpoint)", None, pages,
                          grp.locations, {"kind": "comment", "purpose": purpose, "attr": attr})
            continue
        form = "newsletter signup" if purpose == "newsletter" else name_of(first, "lead")
        if attr == "action":
            what = (f"posts to {short(key, first)}, which {answer}: every "
                    f"{'signup' if purpose == 'newsletter' else 'lead'} it collects is lost")
        else:
            what = (f"sends visitors to {short(key, first)} once they submit, which {answer}: every "
                    f"{'subscriber' if purpose == 'newsletter' else 'lead'} lands on an error page")
        yield Finding("lead-form-target", "high", key, f"the {form} form on {where} {what}", None, pages,
                      grp.locations, {"kind": attr, "purpose": purpose, "attr": attr})


# An offer is buried when fewer than this share of the owned pages link it (and at least
# BURIED_MIN_PAGES pages are owned: on a smaller site every page is a few).
BURIED_SHARE = 0.05
BURIED_MIN_PAGES = 20
FORM_PAGES_SHARE = 0.2   # pages holding a lead form are offers while fewer than this share of pages do
# An offer linked from at least this share of the owned pages is site-wide (the template's "Request a
# demo"): another offer of the same name (demo request, pricing ...), or one its address does not
# name (an enterprise form behind the pricing page, a campaign's landing page) of the same kind
# (lead, purchase), is then no buried offer but a second door: every visitor already sees one.
SITE_WIDE_SHARE = 0.5
PER_ADDRESS_READS = 50  # offer addresses up to this many are read one query each (see buried_offer; each is a
# temporary table, and SQLite creates many of them in more than linear time: 1,000 take ~0.2-0.3 s)
# A log-in to the company's app is where customers go, not an offer to bring forward.
SIGN_IN = re.compile(r"(^|[^a-z])(log-?in|sign-?in)([^a-z]|$)", re.I)


@rule("buried-offer")
def buried_offer(g):
    """An offer page (a purchase or lead-capture page, on the site or the company's app host, or
    a page holding a lead form) that only a few owned pages link to: fewer than :data:`BURIED_SHARE` of them, so it is in no
    site-wide template either, and is no second door (:data:`SITE_WIDE_SHARE`: a site-wide offer
    of its name, or of its kind when its address names none). Links to its redirecting addresses
    and to the ``<meta refresh>`` stubs leading to it count for it (an offer's address that is a
    stub is judged as the page it leads to); a page linking itself does not; an offer no page links
    at all is ``orphan-page``'s.

    >>> from analysis.graph import graph_from
    >>> site = "https://a.example/"
    >>> pages = [f"{site}p{i}/" for i in range(30)]
    >>> rows = [{"url": u, "role": "page", "status": 200, "parsed": 1} for u in [site, site + "demo/", *pages]]
    >>> links = [(u, site, "header", "other") for u in pages] + [(pages[0], site + "demo/", "main", "other")]
    >>> [(f.rule, f.target, f.message) for f in buried_offer(graph_from(rows, links, site=[site]))]
    [('buried-offer', 'https://a.example/demo/', 'the demo request page /demo/ is linked from 1 of 32 pages: few visitors ever see this offer')]
    """
    owned = _owned_page_tiers(g)
    total = len(owned)
    if total < BURIED_MIN_PAGES:
        return
    nodes = g.node_data
    # a page holding a lead form is an offer too, unless many pages do (the template's newsletter form)
    forms = sum(1 for url in owned if nodes[url].get("lead_form")) < FORM_PAGES_SHARE * total
    landing: dict[str, str] = {}   # offer address (the page, or an address redirecting to it) -> the offer page
    for url, data in nodes.items():
        offer = data.get("conversion") in ("lead", "purchase") or (forms and url in owned and data.get("lead_form"))
        if offer and data.get("tier") in COMPANY and data.get("role") in (None, "page", "external") \
                and data.get("verdict") != BROKEN and not SIGN_IN.search(url.split("://", 1)[-1]):
            # (a broken offer is broken-link's); a <meta refresh> stub's offer is the page it leads to
            final = landing_page(g, url) if data.get("final_url") or data.get("stub") else url
            if nodes.get(final, data).get("verdict") != BROKEN:
                landing[url] = final
    finals = set(landing.values())
    for url, data in nodes.items():
        if url not in landing and (data.get("final_url") or data.get("stub")):
            final = landing_page(g, url)
            if final in finals and final != url:
                landing[url] = final
    if not landing:
        return
    linking: dict[str, set | None] = defaultdict(set)
    # an offer linked from SITE_WIDE_SHARE of the pages is site-wide (buried only below floor, far
    # less): its pages no longer kept (a nav link to pricing on a million pages), its set None
    wide_at, wide = SITE_WIDE_SHARE * total, []
    # a few addresses are read one by one, each until its offer is site-wide (the nav's /contact/
    # on a million pages: the first half of its links read, not all); many (a form on every post
    # of a blog) in one query
    asked = [[key] for key in landing] if len(landing) <= PER_ADDRESS_READS else [list(landing)]
    for keys in asked:
        if len(keys) == 1 and linking.get(landing[keys[0]], ()) is None:
            continue  # (another address of an offer already site-wide)
        for source, key, _, _, _, _ in g.store.link_facts(g.crawl_id, keys, tags=sorted(NAV_TAGS), urls=True):
            offer = landing[key]
            if source in owned and source != offer and landing.get(source) != offer:
                sources = linking[offer]
                if sources is not None:
                    sources.add(intern(source))
                    if len(sources) >= wide_at:
                        linking[offer] = None
                        wide.append(offer)
                        if len(keys) == 1:
                            break
    floor = BURIED_SHARE * total

    def kind_of(offer: str) -> str:
        return (nodes[offer].get("conversion") if offer in nodes else None) or "lead"  # (a page's lead form)
    def second_door(offer: str) -> bool:
        # an offer its address names (a demo request, pricing) is buried unless one of that name is
        # site-wide; an offer its address does not name (an enterprise form, a campaign's landing
        # page) is a second door when any offer of its kind is
        named = name_of(offer, "")
        return (named in wide_names) if named else (kind_of(offer) in wide_kinds)
    wide_kinds, wide_names = {kind_of(o) for o in wide}, {name_of(o, "") for o in wide} - {""}
    for offer, sources in sorted(linking.items()):
        if sources is None:  # (site-wide: linked from at least wide_at >= floor pages)
            continue
        n = len(sources)
        if n >= floor or second_door(offer):
            continue
        kind = nodes[offer].get("conversion") if offer in nodes else None
        name = name_of(offer, "purchase" if kind == "purchase" else "offer")
        page = short(offer, next(iter(owned)))
        grp = _Group()
        for s in sorted(sources):
            grp.add(s, None, "medium")
        yield Finding("buried-offer", "medium", offer,
                      f"the {name} page {page} is linked from {n} of {total} pages: few visitors ever see this offer",
                      None, grp.pages(), grp.locations, {"linked_from": n, "pages": total})
