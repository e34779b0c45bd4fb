"""The action plan: one list of what to fix, ranked by what each problem costs in conversions.

Every item is a problem of any rule, costed with the funnel's absorbing chain
(:mod:`analysis.metrics`, which measures the ``effects``): ``cost`` is the number of
conversions lost per 100 visitors landing on the entry pages (the blog's pages and the home
page), the rise in site-wide conversion the fix would bring, in points:

- a broken link is costed by repairing it: a click on it ends the visit today; repaired it
  leads to the offer it names (a broken "Contact us" loses everyone who wanted to talk to you),
  or to a page converting like the site's average page; a form posting to a page that does not
  exist loses every lead it was sent (:func:`analysis.metrics.fix_effects`);
- a buried offer, a dead end or a page that sends visitors to social before it offers anything
  is costed by adding the missing offer link;
- backward links (social icons, share buttons, links to the blog) by removing them, grouped as
  one fix: the same fix on the same region across platforms is one item ("the footer's 3 follow
  icons (LinkedIn, Instagram, X)").

An item whose cost is below :data:`NOISE_FLOOR` is left out unless its severity is high (a
broken image costs no conversion the model sees, but is still worth fixing). A broken path to
an offer (a broken link that names one, a lead form posting nowhere) comes first, when it is
above the floor or high: it loses leads for certain, where the other costs are the model's redistribution of
clicks (DOMAIN.md: lead plumbing comes first in any list of what to fix). A broken call to action
(:data:`CALL_TO_ACTION`: a product page's 'Find out how' to a case study that answers 404) comes
next, above the model's costs too: every visitor who does what the page asks hits it. A mild step
(:data:`MILD_RULES`: site pages linking the blog) comes after every other item. Then items are ranked
by cost, then severity, then the pages they stand on. Each says in words what it costs and why
it is there, and carries a fix line that fits its rule, region and kind (:func:`fix_line`,
from :data:`analysis.rules.fixes.FIXES`).
"""
from __future__ import annotations

import re
from functools import partial
from urllib.parse import urlsplit

from analysis.findings import RANK, worst
from analysis.words import listing, plural as _plural
from analysis.metrics import REPAIRED_RULES as BROKEN_RULES
from crawler.scope import COMPANY

# Conversions per 100 entry visitors below which a fix is noise (fewer than 1 in 500 visitors: the
# model's click weights are guesses, and a marketer's day is better spent on what is above).
NOISE_FLOOR = 0.2
# Item kinds of a broken path to an offer (lead plumbing): ranked first.
PLUMBING = frozenset({"offer", "form"})
# Rules whose problems are a mild step a marketer may well accept (DOMAIN.md: site -> blog links
# are "common and often fine"): ranked after every item of another rule, whatever the model's gain
# (removing a home page's list of posts redistributes its clicks to the offers: a large gain
# nobody would act on first).
MILD_RULES = frozenset({"backward-blog"})
# A broken target whose URL or anchor text names an offer is repaired as that offer: what the
# visitor wanted from it (checked in order, the first match wins), as data.
OFFER_GOALS = (
    (re.compile(r"\b(contact|get[ -]?in[ -]?touch|talk[ -]to|reach[ -]us|kontakt|call[ -]us|consultation|"
                r"quote|start[ -]a[ -]project|start[ -]your[ -]project)\b|/(contact|quote)", re.I), "talk to you"),
    (re.compile(r"\b(demo|book[ -]a[ -]call|schedule)\b|/(demo|request-demo|book-a-demo)", re.I), "see a demo"),
    (re.compile(r"\b(sign[ -]?up|register|get[ -]started|free[ -]trial|trial|start[ -]free|join)\b|/(signup|sign-up|"
                r"register|get-started|trial|free-trial)", re.I), "sign up"),
    (re.compile(r"\b(pricing|prices?|plans)\b|/(pricing|plans)", re.I), "see your prices"),
    (re.compile(r"\b(buy|shop|store|cart|checkout|order|book)\b|/(cart|basket|checkout|buy|order|shop|store|booking)",
                re.I), "buy"),
    (re.compile(r"\b(newsletter|subscribe)\b|/(newsletter|subscribe|mailing-list)", re.I), "subscribe"),
)
# The anchor text of a call to action: a button or a "Find out how" a page asks its visitors to click
# (checked on the whole text, as data). Broken, it is fixed right after a broken path to an offer:
# every visitor who does what the page asks hits the dead end (scantrust's product pages: 'Find
# out how' to a case study that answers 404).
CALL_TO_ACTION = re.compile(
    r"^\W*(find out (how|more)|learn (how|more)|read (more|on|the (full )?(case study|story|report|guide))|"
    r"read (case study|story)|see (how|more|it in action|the case study)|discover( (how|more))?|explore|"
    r"get (started|the guide|the report)|try( it)?( (now|free|for free))?|download( now)?|watch( (now|the video))?|"
    r"view (the )?(case study|demo|more)|more info|click here|tell me more|show me how|"
    r"(leggi|scopri|mehr erfahren|en savoir plus|lire la suite|leer m[aá]s|saber m[aá]s)\b.*)\W*$", re.I)
# The goal of an offer known only by its kind (the crawl's ``conversion``), when no word says more.
KIND_GOALS = {"lead": "leave their details", "purchase": "buy", "download": "download it"}
PLATFORM_NAMES = {"twitter": "X", "twitter-links": "X", "linkedin": "LinkedIn", "facebook": "Facebook", "instagram": "Instagram",
                  "youtube": "YouTube", "tiktok": "TikTok", "pinterest": "Pinterest", "threads": "Threads",
                  "medium": "Medium", "github": "GitHub", "bluesky": "Bluesky", "mastodon": "Mastodon",
                  "reddit": "Reddit", "discord": "Discord", "slack": "Slack", "whatsapp": "WhatsApp",
                  "telegram": "Telegram", "tumblr": "Tumblr", "vimeo": "Vimeo", "xing": "XING"}
# Platforms whose content is code (a repository, an issue tracker): an open-source project sends its
# contributors there on purpose; "embed or quote the post" is no fix for them.
CODE_PLATFORMS = frozenset({"github", "gitlab", "bitbucket", "codeberg"})
# "the footer's 3 follow icons": whose, and what a row of profile links there is called.
REGION_OWNER = {"header": "the header's", "nav": "the navigation's", "footer": "the footer's",
                "aside": "the sidebar's", "main": "the page body's", "body": "the page body's", "head": "the page head's"}
REGION_IN = {"header": "in the header", "nav": "in the navigation", "footer": "in the footer", "aside": "in the sidebar",
             "main": "in the page body", "body": "in the page body", "head": "in the page head"}
ASSET_NOUNS = ((re.compile(r"/(comments/)?feed/?$|\.(rss|atom)$", re.I), "feed"),
               (re.compile(r"/wp-json(/|$)|/oembed", re.I), "API endpoint"),
               (re.compile(r"\.(png|jpe?g|gif|svg|webp|avif|ico|bmp)$", re.I), "image"),
               (re.compile(r"\.css$", re.I), "stylesheet"), (re.compile(r"\.m?js$", re.I), "script"),
               (re.compile(r"\.(woff2?|ttf|otf|eot)$", re.I), "font"),
               (re.compile(r"\.(mp4|webm|ogg|mp3|wav)$", re.I), "media file"),
               (re.compile(r"\.pdf$", re.I), "PDF"))


def offer_goal(url: str, text: str | None = None, conversion: str | None = None) -> str | None:
    """What a visitor following a link wanted, when its URL or anchor text names an offer (the
    text first: it is what the visitor read), else by the offer kind the crawl gave its target.

    >>> offer_goal("https://a.example/contact/", "Contact us"), offer_goal("https://a.example/x/", "Book a demo")
    ('talk to you', 'see a demo')
    >>> offer_goal("https://a.example/about/", "About us") is None, offer_goal("https://a.example/p/", None, "purchase")
    (True, 'buy')
    """
    path = urlsplit(url).path if "://" in url else url
    for where in (text or "", path):
        for pattern, goal in OFFER_GOALS:
            if pattern.search(where):
                return goal
    return KIND_GOALS.get(conversion or "")


def call_to_action(text: str | None) -> bool:
    """Is ``text`` (a link's anchor text) a call to action, a button's words rather than a phrase of
    a sentence? (:data:`CALL_TO_ACTION`)

    >>> [call_to_action(t) for t in ("Find out how", "Read case study →", "Leggi il caso di studio", "technology", None)]
    [True, True, True, False, False]
    """
    return bool(text and CALL_TO_ACTION.match(" ".join(text.split())))


def fix_line(rule: str, kind: str | None = None, region: str | None = None, fixes: dict | None = None) -> str | None:
    """The fix line that fits a finding's rule, kind and region: ``rule:kind:region``, then
    ``rule:kind``, then ``rule:region``, then ``rule`` in :data:`analysis.rules.fixes.FIXES`.

    >>> fixes = {"r": "any", "r:share": "share", "r:profile:footer": "footer"}
    >>> fix_line("r", "profile", "footer", fixes), fix_line("r", "profile", "nav", fixes), fix_line("r", "share", "nav", fixes)
    ('footer', 'any', 'share')
    """
    if fixes is None:
        from analysis.rules.fixes import FIXES as fixes
    region = "main" if region == "body" else region
    for key in (f"{rule}:{kind}:{region}", f"{rule}:{kind}", f"{rule}:{region}", rule):
        if key in fixes:
            return fixes[key]
    return None


def audience(entries: list[dict]) -> str:
    """Who "lands": the entry pages in words (the blog's pages, the home page).

    >>> audience([{"tier": "blog"}, {"tier": "blog"}]), audience([{"tier": "blog"}, {"tier": "site"}])
    ('the blog', 'the blog or the home page')
    >>> audience([{"tier": "site"}, {"tier": "site"}]), audience([{"tier": "blog"}, {"tier": "site"}, {"tier": "site"}])
    ('the entry pages', 'the blog or the site')
    """
    column = getattr(entries, "column", None)  # (the metrics' columns: analysis.entries, no dict per row)
    blog = (column("tier").count("blog") if column is not None else
            sum(1 for e in entries if e.get("tier") == "blog"))
    site = len(entries) - blog
    if not site:
        return "the blog"
    home = "the home page" if site == 1 else "the entry pages" if not blog else "the site"
    return home if not blog else f"the blog or {home}"


def per_visitors(cost: float, who: str, scale: int | None = None) -> tuple[str, str]:
    """``(of N visitors who land on WHO, about K)`` for ``cost`` per 100: of ``scale`` visitors
    (100 or 1,000: a plan says every item on one, :func:`plan_scale`); without it per 100 when
    it comes to one or more, per 1,000 below.

    >>> per_visitors(3.2, "the blog"), per_visitors(0.42, "the blog")
    (('of 100 visitors who land on the blog', 'about 3'), ('of 1,000 visitors who land on the blog', 'about 4'))
    >>> per_visitors(0.03, "the blog")
    ('of 1,000 visitors who land on the blog', 'fewer than 1')
    >>> per_visitors(3.2, "the blog", 1000), per_visitors(0.03, "the blog", 100)
    (('of 1,000 visitors who land on the blog', 'about 32'), ('of 100 visitors who land on the blog', 'fewer than 1'))
    """
    if scale is None:
        scale = 100 if cost >= 0.95 else 1000
    k = round(cost * scale / 100)
    return f"of {scale:,} visitors who land on {who}", f"about {k:,}" if k >= 1 else "fewer than 1"


def plan_scale(costs) -> int:
    """The one scale a plan's items say their cost on (per 100 or per 1,000 entry visitors), from
    the costs its words give as a number: per 1,000 when one of them would be "fewer than 1" of
    100 but is one or more of 1,000, else per 100 (a list mixing "of 100" and "of 1,000" reads
    as if its numbers compared: "about 2 of 100" above "about 7 of 1,000").

    >>> plan_scale([13.7, 2.1]), plan_scale([13.7, 0.4]), plan_scale([13.7, 0.9]), plan_scale([13.7, 0.02]), plan_scale([])
    (100, 1000, 100, 100, 100)
    """
    return 1000 if any(0.05 <= c < 0.5 for c in costs) else 100


def _path(url: str, g) -> str:
    """An owned URL as its path (the site is known), any other as written."""
    node = g.node_data.get(url) if g is not None else None
    tier = node.get("tier") if node is not None else (g.graph["scope"].tier(url) if g is not None else None)
    if tier in COMPANY:
        p = urlsplit(url)
        return (p.path or "/") + (f"?{p.query}" if p.query else "")
    return url


def _answer(node: dict) -> str:
    """How a broken target answers, in words."""
    status = node.get("final_status") or node.get("status")
    said = f"answers {status}" if status else (f"fails ({node.get('label')})" if node.get("label") else "fails")
    if node.get("loop"):
        return "redirects in a loop"
    if node.get("chain") and node.get("final_url"):
        return f"redirects to {node['final_url']}, which {said}"
    return said


def _quote(text: str | None, limit: int = 60) -> str:
    text = " ".join((text or "").split())
    return "'" + (text if len(text) <= limit else text[:limit - 1] + "…") + "'"


def _first_place(f) -> tuple:
    loc = f.locations[0] if len(f.locations) else None
    return (loc["url"], loc["line"] or 0) if loc is not None else ("", 0)


def _names(findings, scope) -> list[str]:
    """Platform names of a group's targets, each once, in the order they stand on the page."""
    out: list[str] = []
    for f in sorted(findings, key=_first_place):
        p = scope.platform(f.target) if scope is not None else None
        name = PLATFORM_NAMES.get(p.name, p.name.title()) if p is not None else urlsplit(f.target).hostname or f.target
        if name not in out:
            out.append(name)
    return out


def _code(findings, scope, every=all) -> bool:
    """Are ``every`` (or any) of the findings' targets on a code host (:data:`CODE_PLATFORMS`)?

    >>> from crawler.scope import Scope
    >>> from analysis.findings import Finding
    >>> fs = [Finding("backward-social", "low", u, "m") for u in ("https://github.com/", "https://youtube.com/")]
    >>> _code(fs, Scope()), _code(fs, Scope(), any), _code(fs[:1], Scope())
    (False, True, True)
    """
    if scope is None:
        return False
    return every(getattr(scope.platform(f.target), "name", None) in CODE_PLATFORMS for f in findings)


def _styled(findings, g) -> bool:
    """Are the findings' sources all stylesheets (files, not pages: a ``url()`` in their rules)?"""
    sources = [u for f in findings for u in f.sources]
    return g is not None and bool(sources) and all((g.node_data.get(u) or {}).get("role") == "asset" for u in sources)


def _broken_kind(node: dict, goal: str | None, forms: int, links: int, url: str = "") -> str:
    """What a broken target is to the visitor: a form's target, an offer, a file a page loads, a
    page (an owned one), a social profile or another site. A page that a ``<link>`` in the head
    names too (an ``hreflang`` alternate: the crawler met it as a file) is a page where visitors
    click links to it (answer's language menu into the missing /zh-CN/).

    >>> _broken_kind({"role": "asset", "tier": "site"}, None, 0, 3, "https://a.example/zh-CN/blog/")
    'page'
    >>> _broken_kind({"role": "asset", "tier": "site"}, None, 0, 3, "https://a.example/logo.png")
    'asset'
    """
    if forms and not links:
        return "form"
    if goal and node.get("role") != "asset":
        return "offer"
    role, tier = node.get("role"), node.get("tier")
    if role == "asset" and links and tier in COMPANY and url and _asset_noun(url) == "file" and not _looks_like_file(url):
        return "page"
    if role == "asset":
        return "asset"
    if tier == "social":
        return "social"
    if tier in COMPANY:
        return "page"
    return "external"


def _broken_node(f, g) -> dict:
    """The node a broken-link finding is about; for a missing section, the role most of its
    broken URLs have (the first 20)."""
    nodes = g.node_data if g is not None else {}
    node = nodes.get(f.target)
    if node is not None:
        return node
    targets = (f.detail.get("targets") or ())[:20] if isinstance(f.detail, dict) else ()
    found = [nodes[t] for t in targets if t in nodes]
    if not found:
        return {}
    roles = [n.get("role") for n in found]
    role = max(set(roles), key=roles.count)
    return next(n for n in found if n.get("role") == role)


def _looks_like_file(url: str) -> bool:
    """A path that ends in a file name with an extension other than a page's (``.html``)."""
    last = urlsplit(url).path.rsplit("/", 1)[-1]
    return "." in last and not last.lower().endswith((".html", ".htm", ".php", ".asp", ".aspx"))


def _asset_noun(url: str) -> str:
    path = urlsplit(url).path
    return next((noun for pattern, noun in ASSET_NOUNS if pattern.search(path)), "file")


def _words(kind_of_item: str, fs: list, effect: dict, cost: float, who: str, g, pages: int,
           scale: int | None = None) -> str:
    """One sentence: what the item costs and why it is there (``pages``: the pages its findings
    stand on; ``scale``: per 100 or per 1,000 visitors, the plan's :func:`plan_scale`)."""
    f = fs[0]
    scope = g.graph.get("scope") if g is not None else None
    on = _plural(pages, "page")
    of, about = per_visitors(max(cost, 0.0), who, scale)
    measure = effect.get("measure")
    link = "links" if pages == 1 else "link"
    if measure == "repair" and isinstance(f.detail, dict) and f.detail.get("cause"):  # a group of broken URLs
        if cost >= NOISE_FLOOR:
            return f"{f.message}: {of}, {about} who would have gone on to an offer through them hit a dead end"
        return f"{f.message} (no measured effect on the way to an offer)"
    if measure == "repair":
        node = (g.node_data.get(f.target) if g is not None else None) or {}
        what = f"{_quote(effect.get('text'))} ({_path(f.target, g)})" if effect.get("text") else _path(f.target, g)
        answer = _answer(node)
        if kind_of_item == "offer":
            return (f"{on} {link} {what}; it {answer}: {of}, {about} who wanted to {effect['offer']} "
                    "hit a dead end")
        if kind_of_item == "form":
            return f"a form on {on} sends its visitors to {_path(f.target, g)}; it {answer}: {of}, {about} leads are lost"
        if kind_of_item == "asset":
            if _styled(fs, g):  # named in a stylesheet's rules (couchdb's doc.css: a background logo): pages show it
                styles = [u for x in fs for u in x.sources]
                sheets = listing(sorted({_path(u, g) for u in styles}), 2)
                return (f"the stylesheet{'s' if len(set(styles)) > 1 else ''} {sheets} load{'' if len(set(styles)) > 1 else 's'} "
                        f"the {_asset_noun(f.target)} {_path(f.target, g)}; it {answer}: it shows broken on every page "
                        "styled with it (no effect on the way to an offer)")
            verb = "load" if pages != 1 else "loads"
            where = "there" if pages == 1 else "on every one of them"
            return (f"{on} {verb} the {_asset_noun(f.target)} {_path(f.target, g)}; it {answer}: it shows broken "
                    f"{where} (no effect on the way to an offer)")
        if kind_of_item == "page" and cost >= NOISE_FLOOR:
            return (f"{on} {link} {what}; it {answer}: {of}, {about} who would have gone on to an offer "
                    "through it hit a dead end")
        return f"{on} {link} {what}; it {answer}: a dead end for every visitor who clicks it"
    if measure == "lead":
        return f"{f.message}: {of}, {about} reach this form, and their leads never arrive"
    if measure == "reach":
        if f.rule == "buried-offer":  # ("the demo page /demo/ is linked from 6 of 139 pages: few visitors …")
            return f"{f.message.split(': few visitors')[0]}: linked from every page's navigation, {of}, {about} more would reach it"
        if f.rule == "content-dead-end":
            return f"{f.message}: with a call to action in each one's text, {of}, {about} more would reach an offer"
        if f.rule == "social-before-offer":
            send, offer = ("sends", "offers") if pages == 1 else ("send", "offer")
            return (f"{on} {send} visitors to social but {offer} no purchase and no lead capture: with an offer on each, "
                    f"{of}, {about} more would reach one")
        return (f"{on} of the blog {link} to nothing on the site (no call to action): with one on each, {of}, "
                f"{about} more would reach an offer")
    if measure == "remove":
        region = f.region if f.region in REGION_IN else "body"
        kind = (f.detail or {}).get("kind") if isinstance(f.detail, dict) else None
        if cost > 0:
            them = "these links" if f.rule == "backward-blog" else "it" if len(fs) == 1 else "them"
            lost = f"without {them}, {of}, {about} more would reach an offer"
        else:
            lost = "removing them would not raise conversion (they lead visitors to pages that convert)"
        if f.rule == "backward-blog":
            return f"the site's {REGION_IN[region].split(' ', 2)[2]} links the blog on {on}: {lost}"
        names = _names(fs, scope)
        if kind == "share":
            return f"{_plural(len(names), 'share button')} ({listing(names, 4)}) {REGION_IN[region]} on {on}: {lost}"
        if kind == "content":
            what = "posts, videos or code" if _code(fs, scope, any) else "posts or videos"
            return f"links to {what} on {listing(names, 4)} {REGION_IN[region]} on {on}: {lost}"
        if kind == "third-party":
            return f"links to other people's social accounts ({listing(names, 4)}) {REGION_IN[region]} on {on}: {lost}"
        noun = "follow links" if region in ("main", "body") else "follow icons"
        if len(fs) == 1:
            noun = noun[:-1]
            return f"{REGION_OWNER[region]} {noun} ({listing(names, 4)}) on {on}: {lost}"
        return f"{REGION_OWNER[region]} {len(fs)} {noun} ({listing(names, 4)}) on {on}: {lost}"
    return f"{f.message} (no measured effect on the way to an offer)"


# Kinds of item that, costing nothing the model sees, are one item together (a WordPress export
# without its feeds: 180 broken feed links are one thing to fix, not 180).
COLLAPSED_KINDS = frozenset({"asset", "stylesheet", "external", "social", None})


def _collapse(items: list[dict], by_id: dict, g) -> list[dict]:
    """The items below the noise floor of one rule and kind (broken files, mostly) as one item."""
    groups: dict[tuple, list] = {}
    for x in items:
        if x["cost"] < NOISE_FLOOR and x["kind"] in COLLAPSED_KINDS and x["measure"] in ("repair", None):
            groups.setdefault((x["rule"], x["kind"]), []).append(x)
    merged = {id(xs[0]): xs for xs in groups.values() if len(xs) > 1}
    dropped = {id(x) for xs in merged.values() for x in xs[1:]}
    out = []
    for x in items:
        if id(x) in dropped:
            continue
        xs = merged.get(id(x))
        if xs is None:
            out.append(x)
            continue
        fs = [by_id[i] for y in xs for i in y["ids"]]
        pages = len({u for f in fs for u in f.sources})
        urls = [u for f in fs for u in ((f.detail.get("targets") if isinstance(f.detail, dict) else None)
                                         or (f.target,))]
        nouns: dict[str, int] = {}
        for u in urls:
            noun = _asset_noun(u) if x["kind"] in ("asset", "stylesheet") else "link"
            nouns[noun] = nouns.get(noun, 0) + 1
        parts = ", ".join(_plural(k, noun) for noun, k in sorted(nouns.items(), key=lambda kv: (-kv[1], kv[0])))
        examples = ", ".join(_path(y["target"], g) for y in xs[:3])
        what = {"asset": "files the pages load", "stylesheet": "files stylesheets name", "external": "links",
                "social": "links to social profiles"}.get(
            x["kind"], f"{x['rule']} findings")
        words = (f"{len(urls):,} broken {what} on {_plural(pages, 'page')} ({parts}; e.g. {examples}): none is on a "
                 "visitor's way to an offer" if x["rule"] in BROKEN_RULES else
                 f"{len(xs):,} {x['rule']} findings on {_plural(pages, 'page')} (e.g. {examples}): no measured effect "
                 "on the way to an offer")
        out.append({**x, "say": None, "cta": False, "ids": [i for y in xs for i in y["ids"]], "targets": [t for y in xs for t in y["targets"]],
                    "severity": worst(y["severity"] for y in xs), "region": None, "pages": pages,
                    "links": sum(y["links"] for y in xs), "cost": round(sum(y["cost"] for y in xs), 4),
                    "words": words})
    return out


def _one_per_form(items: list[dict]) -> list[dict]:
    """A lead form posting to a missing page is one item, though the form's target is a broken
    link too: the broken-link item of the same target goes into the lead form's."""
    forms = {t: x for x in items if x["measure"] == "lead" for t in x["targets"]}
    out = []
    for x in items:
        lead = forms.get(x["target"]) if x["rule"] in BROKEN_RULES else None
        if lead is None:
            out.append(x)
        else:
            lead["ids"] = lead["ids"] + [i for i in x["ids"] if i not in lead["ids"]]
    return out


def _item(fs: list, effect: dict, who: str, g) -> dict:
    f = fs[0]
    cost = float(effect.get("cost") or 0.0)
    kind = (f.detail or {}).get("kind") if isinstance(f.detail, dict) else None
    region = f.region
    scope = g.graph.get("scope") if g is not None else None
    if f.rule in BROKEN_RULES:
        node = _broken_node(f, g)
        goal = effect.get("offer") if effect.get("measure") == "repair" else offer_goal(
            f.target, None, node.get("conversion"))
        kind = _broken_kind(node, goal, effect.get("forms", 0), effect.get("links", 1), f.target)
        if isinstance(f.detail, dict) and f.detail.get("kind"):  # the rule's own kind (a stylesheet's images)
            kind = f.detail["kind"]
        region = region or effect.get("region")
    elif effect.get("measure") == "lead":
        kind = kind or "form"
    pages = len({u for x in fs for u in x.sources}) if len(fs) > 1 else f.count
    # a broken call to action: a dead end for every visitor who does what the page asks
    cta = (f.rule in BROKEN_RULES and kind == "page" and f.severity == "high" and effect.get("measure") == "repair"
           and call_to_action(effect.get("text")))
    return {"cta": cta, "id": f.id, "ids": [x.id for x in fs], "rule": f.rule, "severity": worst(x.severity for x in fs),
            "region": region, "kind": kind, "target": f.target, "targets": [x.target for x in fs], "pages": pages,
            "links": effect.get("links", 0), "cost": round(cost, 4), "measure": effect.get("measure"),
            "flow": effect.get("flow"),
            "words": None, "say": partial(_words, kind, fs, effect, cost, who, g, pages),  # (said on the plan's scale)
            "fix": fix_line(f.rule, "code" if kind == "content" and _code(fs, scope) else
                            "stylesheet" if kind == "asset" and _styled(fs, g) else kind, region)}


def action_plan(audit_or_graph, findings, metrics: dict) -> list[dict]:
    """The action plan of a crawl: an item per problem worth fixing, the costliest first.

    ``audit_or_graph``: an :class:`analysis.report.Audit` or its graph; ``findings`` the
    findings to plan (an accepted or filtered finding is simply not passed); ``metrics``: the
    funnel metrics with the ``effects`` :mod:`analysis.metrics` measured (it passes them when it
    builds ``fix_first``); metrics without them give back their ``fix_first``.

    Each item: ``id`` (its first finding's; ``ids`` all of them), ``rule``, ``severity``,
    ``region``, ``kind``, ``target`` (``targets``), ``pages``, ``cost`` (conversions lost per 100
    entry visitors), ``measure`` (remove, repair, lead, reach or None), ``words``, ``fix``.

    >>> from analysis.graph import graph_from
    >>> from analysis.metrics import funnel_metrics
    >>> from analysis.rules import run_rules
    >>> home = "https://a.example/"
    >>> g = graph_from([{"url": home, "role": "page", "status": 200, "parsed": 1},
    ...                 {"url": home + "contact/", "role": "page", "status": 404}],
    ...     [(home, home + "contact/", "nav", "other"), (home, home + "pricing/", "main", "other")], site=[home])
    >>> plan = funnel_metrics(g, run_rules(g))["fix_first"]
    >>> [(x["rule"], x["kind"], x["cost"]) for x in plan]
    [('broken-link', 'offer', 24.2857)]
    >>> plan[0]["words"]
    '1 page links /contact/; it answers 404: of 100 visitors who land on the home page, about 24 who wanted to talk to you hit a dead end'
    """
    g = audit_or_graph if hasattr(audit_or_graph, "node_data") else getattr(audit_or_graph, "graph", None)
    if "effects" not in metrics:
        return list(metrics.get("fix_first") or [])
    by_id = {f.id: f for f in findings}
    who = audience(metrics.get("entries") or ())
    items: list[dict] = []
    covered: set[str] = set()
    for effect in metrics["effects"]:
        fs = [by_id[i] for i in effect["ids"] if i in by_id]
        if not fs:
            continue  # accepted, or filtered out
        covered.update(f.id for f in fs)
        items.append(_item(fs, effect, who, g))
    for f in findings:  # the high findings the chain does not see (a broken image, a loop) still belong
        if f.id not in covered and f.severity == "high":
            items.append(_item([f], {"measure": None, "cost": 0.0}, who, g))
    items = _one_per_form(items)
    items = [x for x in items if x["cost"] >= NOISE_FLOOR or x["severity"] == "high"]
    items = _collapse(items, by_id, g)
    items.sort(key=lambda x: (not ((x["kind"] in PLUMBING or x["measure"] == "lead")
                                   and (x["cost"] >= NOISE_FLOOR or x["severity"] == "high")),
                              x["rule"] in MILD_RULES, not x.get("cta"), -x["cost"],
                              RANK[x["severity"]], -x["pages"], x["rule"], x["id"]))
    return _said(items)


FIRST = 5  # the items a report opens with ("Fix first"): their costs choose the plan's scale


def _said(items: list[dict]) -> list[dict]:
    """The items with their words, every cost on the one scale of :func:`plan_scale` (built
    after the ranking and the merging: the first :data:`FIRST` items, those a report opens with,
    decide it; an item further down that costs less than 1 of 100 says so on that scale)."""
    says = [(x, x.pop("say", None)) for x in items]
    for x in items:
        x.pop("cta", None)
    scale = plan_scale(x["cost"] for x, say in says[:FIRST] if say is not None and say(100) != say(1000))
    for x, say in says:
        if say is not None:
            x["words"] = say(scale)
    return items


def plan_of(audit, n: int | None = None) -> list[dict]:
    """The audit's action plan as a report shows it: the items of findings not accepted in the
    baseline (an item grouping several findings stays while one of them is open), the first
    ``n``. Empty when the funnel metrics were left out."""
    metrics = getattr(audit, "metrics", None) or {}
    baseline = getattr(audit, "baseline", None) or {}
    items = [x for x in metrics.get("fix_first") or () if any(i not in baseline for i in x.get("ids") or (x["id"],))]
    return items if n is None else items[:n]


# What a month of the item's visits do, by how it is measured (``priced``'s words).
TRAFFIC_VERBS = {"remove": ("visits a month click them", "without them {c} more conversions a month"),
                 "repair": ("clicks a month hit it", "{c} conversions a month lost"),
                 "lead": ("visitors a month reach the form", "{c} leads a month lost"),
                 "reach": ("visits a month to these pages", "with the offer {c} more conversions a month"),
                 None: ("visits a month", "{c} conversions a month")}
_ONE = ((r"^visits a month click", "visit a month clicks"), (r"^clicks a month hit", "click a month hits"),
        (r"^visitors a month reach", "visitor a month reaches"), (r"^visits a month", "visit a month"))


def _one(words: str) -> str:
    """A month's visits of :data:`TRAFFIC_VERBS` said of one (or fewer).

    >>> _one("visits a month click it"), _one("clicks a month hit it"), _one("visits a month to these pages")
    ('visit a month clicks it', 'click a month hits it', 'visit a month to these pages')
    """
    for pattern, one in _ONE:
        words, n = re.subn(pattern, one, words)
        if n:
            break
    return words


# The same, when the exports give no conversions: what is counted is visits reaching an offer.
REACH_VERBS = {"remove": "without them {c} more visits a month would reach an offer",
               "repair": "{c} visits a month that would reach an offer lost",
               "lead": "{c} visits a month that would reach the form lost",
               "reach": "with the offer {c} more visits a month would reach one",
               None: "{c} visits a month reaching an offer"}


def priced(items: list[dict], monthly: float, value: float | None, values: dict | None = None,
           currency: str = "$", rate: float | None = None) -> list[dict]:
    """The plan in the site's real traffic (issue 24): each item's ``visits`` (a month: the
    clicks on its links, or the visits to its pages: ``flow`` times ``monthly`` entries),
    ``conversions`` (a month: its cost per 100 entry visitors times ``monthly`` / 100) and
    ``money`` (a month: its conversions at ``value`` per conversion, or at the value of the
    offer it repairs in ``values``), said at the end of its words; ranked by money (a mild
    step still last), then as before. ``rate``: the observed conversions per visit reaching an
    offer (from the exports' conversions); without it what is counted is visits reaching an
    offer, worth money only if every one converts, and the words say so.

    >>> items = [{"id": "a", "rule": "broken-link", "severity": "high", "measure": "repair", "kind": "offer",
    ...           "target": "https://a.example/newsletter/", "cost": 10.0, "flow": 0.1, "pages": 8, "words": "w1"},
    ...          {"id": "b", "rule": "backward-social", "severity": "medium", "measure": "remove", "kind": "profile",
    ...           "target": "https://x.com/a", "cost": 5.0, "flow": 0.3, "pages": 8, "words": "w2"}]
    >>> out = priced(items, 1000, 200.0, {"https://a.example/newsletter/": 5.0})
    >>> [(x["id"], x["visits"], x["conversions"], x["money"]) for x in out]
    [('b', 300.0, 50.0, 10000.0), ('a', 100.0, 100.0, 500.0)]
    >>> out[0]["words"]
    'w2; in your traffic: ~300 visits a month click them, without them ~50 more visits a month would reach an offer, worth about $10,000 a month if every one converted'
    >>> priced(items[1:], 5, 200.0, rate=0.3)[0]["words"]
    'w2; in your traffic: ~2 visits a month click them, without them fewer than 1 more conversion a month, worth about $20 a month'
    >>> priced(items[:1], 10, 200.0, rate=1.0)[0]["words"]
    'w1; in your traffic: ~1 click a month hits it, ~1 conversion a month lost, worth about $200 a month'
    >>> out = priced(items, 1000, 200.0, {"https://a.example/newsletter/": 5.0}, rate=0.1)
    >>> [(x["id"], x["visits"], x["conversions"], x["money"]) for x in out]
    [('b', 300.0, 5.0, 1000.0), ('a', 100.0, 10.0, 50.0)]
    >>> out[0]["words"]
    'w2; in your traffic: ~300 visits a month click them, without them ~5 more conversions a month, worth about $1,000 a month'
    """
    from analysis.analytics import about, money

    values = values or {}
    out = []
    for x in items:
        x = dict(x)
        flow = x.get("flow")
        visits = round(flow * monthly, 1) if flow is not None else None
        conversions = round(max(x["cost"], 0.0) / 100 * monthly * (1.0 if rate is None else rate), 1)
        worth = values.get(x.get("target")) if x.get("measure") in ("repair", "lead") else None
        worth = value if worth is None else worth
        amount = round(conversions * worth, 2) if worth is not None else None
        seen, gained = TRAFFIC_VERBS.get(x.get("measure"), TRAFFIC_VERBS[None])
        if rate is None:
            gained = REACH_VERBS.get(x.get("measure"), REACH_VERBS[None])
        if x.get("links") == 1 and x.get("measure") == "remove":  # one link: click it, without it
            seen, gained = seen.replace("them", "it"), gained.replace("without them", "without it")
        if visits is not None and visits < 1.5:  # (~1 visit a month clicks it; fewer than 1 visit …)
            seen = _one(seen)
        if conversions < 1.5:
            gained = re.sub(r"(\{c\} (?:more )?)(conversion|lead|visit)s", r"\1\2", gained)
        parts = [f"{about(visits)} {seen}"] if visits is not None else []
        if conversions > 0:
            parts.append(gained.format(c=about(conversions)))
            if amount is not None:
                parts.append(f"worth about {money(amount, currency)} a month"
                             + (" if every one converted" if rate is None else ""))
        x.update(visits=visits, conversions=conversions, money=amount)
        if parts:
            x["words"] = f"{x['words']}; in your traffic: {', '.join(parts)}"
        out.append(x)
    out.sort(key=lambda x: (x["rule"] in MILD_RULES, -(x["money"] or 0.0), -x["cost"], RANK[x["severity"]],
                            -x["pages"], x["rule"], x["id"]))
    return out
