"""Page signals: what a page's HTML says it is, beyond its links (stored as ``pages.signals``).

The vocabulary is data (the word lists below); :class:`Signals` gathers the evidence while
:func:`crawler.extract.extract` walks the page, and :func:`classify_form` says what one form is for.
Keys (only truthy ones are kept, see :meth:`Signals.as_dict`):

========  ==========================================================================
feed      ``<link rel=alternate type=application/rss+xml|atom+xml>``
posting   JSON-LD ``@type`` BlogPosting / Article / NewsArticle / TechArticle, ``og:type``
          article, or ``article:published_time``
dated     an ``<article>`` holding a ``<time>``, or a published-date meta / JSON-LD field
articles  the number of ``<article>`` elements (a post listing has many)
price     currency amounts with a period ("$19/mo", "€99 per month"), pricing-table
          classes, or ``itemprop=price``
buy       an add-to-cart / buy / checkout button or link
forms     one dict per ``<form>`` in document order: ``purpose`` (lead, newsletter, search,
          comment, login, careers, other), ``method`` (get, post), ``action`` and ``next``
          (absolute http(s) URLs or None; ``next`` from a hidden redirect / thank-you input)
========  ==========================================================================
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml"})
POSTING_TYPES = frozenset({"blogposting", "article", "newsarticle", "techarticle"})
# <meta> names (property=, name= or itemprop=) that date a publication
PUBLISHED_META = frozenset({"article:published_time", "og:article:published_time", "datepublished", "date",
                            "dc.date", "dc.date.issued", "dcterms.issued", "dcterms.created", "publish_date",
                            "publish-date", "pubdate", "sailthru.date", "parsely-pub-date", "citation_publication_date"})
# Class names a CMS gives a static page (WordPress: ``<body class="page page-id-12">``,
# ``<article class="type-page">``): its Article markup and publication date are the SEO plugin's
# defaults, not a post's (Yoast marks every page up as an Article).
# ... and a listing (WordPress's body classes of the blog's index, archives and search results):
# an SEO plugin's og:type article there is no post either.
LISTING_CLASS = re.compile(r"(?<![\w-])(?:archive|blog|search|search-results)(?![\w-])", re.I)
STATIC_PAGE_CLASS = re.compile(r"(?<![\w-])(?:page-id-\d+|type-page|page-template-default)(?![\w-])", re.I)
# Hidden inputs that name where a form sends the visitor after it is sent (the thank-you page).
NEXT_INPUTS = frozenset({"_next", "next", "redirect", "redirect_to", "redirect_url", "return_url", "returnurl",
                         "success_url", "successurl", "_redirect", "thank_you", "thankyou", "thank_you_url",
                         "_success", "retURL".lower()})

# -- price --------------------------------------------------------------------------------------
_CURRENCY = r"(?:[$€£¥₹]|\b(?:USD|EUR|GBP|CHF|CAD|AUD|SEK|NOK|DKK|INR|JPY)\b)"
_AMOUNT = r"\d[\d.,'\u00a0\u202f]*"
PERIODS = ("mo", "mos", "mon", "month", "months", "monthly", "mth", "yr", "yrs", "year", "years", "yearly",
           "annum", "annually", "annual", "wk", "week", "weekly", "day", "daily", "user", "seat", "license",
           "monat", "jahr", "mois", "mes", "año", "mese", "anno", "maand", "jaar")
_PERIOD = r"(?:/\s*|\bper\s+|\ba\s+|\ban\s+|\bpro\s+|\bpar\s+|\bal\s+|\bbilled\s+)?(?:" + "|".join(
    sorted(map(re.escape, PERIODS), key=len, reverse=True)) + r")\b"
PRICE_TEXT = re.compile(rf"{_CURRENCY}\s?{_AMOUNT}\s*{_PERIOD}|{_AMOUNT}\s?{_CURRENCY}\s*{_PERIOD}", re.I)
# What a price's currency looks like in a page's text: only where one stands is PRICE_TEXT tried.
CURRENCY_MARKS = ("$", "€", "£", "¥", "₹", "USD", "EUR", "GBP", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "INR", "JPY")
# (one pass finds whether a page names any: sixteen str.find over its text took ~40 us a page)
_ANY_MARK = re.compile("|".join(map(re.escape, CURRENCY_MARKS)))
# class names of pricing tables and price boxes, and schema.org's price (lexbor matches them)
PRICE_CLASSES = ("pricing-table", "price-table", "pricing_table", "price_table", "pricingtable", "pricing-plan",
                 "pricing-card", "pricing-box", "price-box", "pricing-tier", "pricing-column", "plan-price",
                 "price-card", "pricing-grid")
# (one substring selector lexbor matches fast; the few elements it finds are then read here)
PRICE_SELECTOR = '[class*="pric" i], [itemprop="price" i]'
_PRICE_CLASS = re.compile("|".join(map(re.escape, PRICE_CLASSES)), re.I)


def price_in(text: str) -> bool:
    """Does ``text`` hold an amount of money with a period ("$19/mo", "€99 per month", "99 € / Monat")?

    >>> price_in("Team $19 /mo, billed yearly"), price_in("Raised $2.35 million in 2023"), price_in("USD 49 a month")
    (True, False, True)
    """
    if _ANY_MARK.search(text) is None:  # (most pages name no currency)
        return False
    for mark in CURRENCY_MARKS:
        at = text.find(mark)
        while at != -1:
            if PRICE_TEXT.search(text, max(0, at - 24), at + len(mark) + 48):
                return True
            at = text.find(mark, at + len(mark))
    return False

# -- buy ------------------------------------------------------------------------------------------
BUY_WORDS = ("buy", "buy now", "buy it now", "buy today", "add to cart", "add to basket", "add to bag",
             "add to trolley", "checkout", "proceed to checkout", "go to checkout", "order now", "order it now",
             "purchase now", "shop now", "pre-order", "preorder", "pre-order now", "get it now",
             "in den warenkorb", "jetzt kaufen", "ajouter au panier", "acheter", "comprar", "añadir al carrito")
_BUY_INITIALS = frozenset(w[0] for w in BUY_WORDS)
BUY_TEXT = re.compile(r"^\W*(?:" + "|".join(sorted(map(re.escape, BUY_WORDS), key=len, reverse=True))
                      + r")(?:[^\w'].*)?$", re.I | re.S)
BUY_CLASSES = re.compile(r"(?<![A-Za-z0-9])(?:add[-_]to[-_]cart(?:[-_]button)?|single[-_]add[-_]to[-_]cart[-_]button|"
                         r"buy[-_]now|buy[-_]button|snipcart[-_]add[-_]item|shopify[-_]buy\w*)(?![A-Za-z0-9])", re.I)
BUY_URL_PARTS = ("add-to-cart=", "/checkout/", "/checkout?", "/cart/add", "://buy.stripe.com/", "://checkout.stripe.com/",
                 "gumroad.com/l/", "://checkout.")

# -- forms ----------------------------------------------------------------------------------------
SEARCH_NAMES = frozenset({"s", "q", "query", "search", "keyword", "keywords", "term", "search_query", "searchterm"})
_WORDS = {
    "search": re.compile(r"search|(?<![a-z])find(?![a-z])", re.I),
    "comment": re.compile(r"comment|(?<![a-z])reply(?![a-z])|respond", re.I),
    "login": re.compile(r"log[-_ ]?in|sign[-_ ]?in|signin|session|password|forgot|(?<![a-z])auth(?![a-z])", re.I),
    # (not "job" alone: a demo form asks for a "job title")
    "careers": re.compile(r"resume|résumé|(?<![a-z])cv(?![a-z])|curriculum[-_ ]?vitae|cover[-_ ]?letter|applicant|"
                          r"candidate|job[-_ ]?application|submit[-_ ]?(?:your[-_ ]?)?application|apply[-_ ]?now|"
                          r"apply[-_ ]for[-_ ](?:this|the)[-_ ](?:job|position|role)|(?<![a-z])careers?(?![a-z])|"
                          r"vacanc", re.I),
    "newsletter": re.compile(r"subscri|newsletter|mailing[-_ ]?list|sign[-_ ]?up for|updates|(?<![a-z])join"
                             r"(?![a-z])|(?<![a-z])mc[-_]embedded|list-manage|mailchimp|convertkit|substack|"
                             r"buttondown|mailerlite|sendinblue|brevo|klaviyo|(?<![a-z])digest(?![a-z])", re.I),
}
# path segments of careers pages and job applications
CAREERS_PATH = re.compile(r"/(?:careers?|jobs?|vacanc(?:y|ies)|join-us|work-with-us|hiring|openings|positions|"
                          r"job-application|stellenangebote|emplois?|empleo)(?:/|$|[-_.?])", re.I)
_TEXTLIKE = frozenset({"", "text", "email", "tel", "search", "url", "number"})


def _attrs_text(a) -> str:
    return " ".join(v for v in (a.get("id"), a.get("class"), a.get("name"), a.get("action"), a.get("aria-label"),
                                a.get("title")) if v)


def next_value(attrs) -> str | None:
    """The value of a hidden input naming a form's thank-you page (``_next``, ``redirect`` …:
    :data:`NEXT_INPUTS`), or None (another input, empty, or a ``#`` fragment).

    >>> next_value({"name": "_Next", "value": " /thanks/ "}), next_value({"name": "q", "value": "/x"})
    ('/thanks/', None)
    """
    name = (attrs.get("name") or "").strip().lower().replace("-", "_")
    value = (attrs.get("value") or "").strip()
    return value if name in NEXT_INPUTS and value and not value.startswith("#") else None


def _public(base: str, value: str | None, resolve_href) -> str | None:
    """An absolute http(s) URL for a form's action or redirect, or None (empty, ``#``, javascript:)."""
    value = (value or "").strip()
    if not value or value.startswith("#"):
        return None
    url = resolve_href(base, value)
    return url if url.split(":", 1)[0].lower() in ("http", "https") else None


def _in_search_landmark(form) -> bool:
    node, n = form, 0
    while node is not None and node.tag != "-document" and n < 64:
        if (node.attributes.get("role") or "").strip().lower() == "search" or node.tag == "search":
            return True
        node, n = node.parent, n + 1
    return False


def classify_form(form, base: str, page_url: str, resolve_href) -> dict:
    """What one ``<form>`` is for: ``{"purpose", "method", "action", "next"}`` (see the module doc).

    A form with an e-mail or telephone field is a lead form, a newsletter signup when an e-mail is
    all it asks for and it says so (subscribe, newsletter ...); search, comment, login (a password
    field, or a sign-in action) and careers forms (a file upload, résumé / CV / cover-letter fields,
    an action or a page under careers/jobs) are not lead capture, whatever fields they have.

    >>> from crawler.extract import parse_html, resolve_href
    >>> def purpose(html, page="https://a.example/"):
    ...     return classify_form(parse_html(html).css_first("form"), page, page, resolve_href)
    >>> purpose('<form action="/thanks" method=POST><input type=email name=e><input name=company></form>')
    {'purpose': 'lead', 'method': 'post', 'action': 'https://a.example/thanks', 'next': None}
    >>> purpose('<form action="https://x.us1.list-manage.com/subscribe/post"><input type=email name=EMAIL>'
    ...         '<input type=hidden name=_next value="/thanks/"><button>Subscribe</button></form>')["purpose"]
    'newsletter'
    >>> [purpose(h)["purpose"] for h in ('<form role=search><input name=s></form>',
    ...     '<form id=commentform><input name=email><textarea name=comment></textarea></form>',
    ...     '<form><input type=email name=email><input type=password name=pw></form>',
    ...     '<form><input type=email name=email><input type=file name=resume></form>',
    ...     '<form><input name=quantity></form>')]
    ['search', 'comment', 'login', 'careers', 'other']
    >>> purpose('<form><input type=email name=email><textarea name=msg></textarea></form>',
    ...         "https://a.example/careers/engineer/")["purpose"]
    'careers'
    """
    a = form.attributes
    method = "post" if (a.get("method") or "").strip().lower() == "post" else "get"
    action = _public(base, a.get("action"), resolve_href)
    nxt = None
    fields: list[tuple[str, str, str]] = []  # (type, name, words) of the fields a visitor fills in
    has_password = has_file = has_search_input = has_contact = has_textarea = False
    wording = [_attrs_text(a)]
    for el in form.css("input, textarea, select, button"):
        ea = el.attributes
        tag = el.tag
        kind = (ea.get("type") or "").strip().lower() if tag == "input" else tag
        name = (ea.get("name") or "").strip()
        lname = name.lower()
        if tag == "input" and kind == "hidden":
            if nxt is None and next_value(ea) is not None:
                nxt = _public(base, next_value(ea), resolve_href)
            continue
        if tag == "button" or kind in ("submit", "button", "image", "reset"):
            wording.append(ea.get("value") or "")
            wording.append(_attrs_text(ea))
            if tag == "button":
                wording.append(el.text(deep=True) or "")
            continue
        words = " ".join(v for v in (ea.get("id"), lname, ea.get("placeholder"), ea.get("aria-label"),
                                     ea.get("autocomplete")) if v)
        wording.append(words)
        if kind == "password":
            has_password = True
        elif kind == "file":
            has_file = True
        elif kind == "search" or (kind in _TEXTLIKE and lname in SEARCH_NAMES):
            has_search_input = True
        if kind in ("email", "tel") or "email" in lname or "e-mail" in lname or lname in ("phone", "tel", "telephone") \
                or (ea.get("autocomplete") or "").strip().lower() in ("email", "tel"):
            has_contact = True
        if tag == "textarea":
            has_textarea = True
        if kind not in ("checkbox", "radio"):
            fields.append((kind, lname, words))
    labels = " ".join(lb.text(deep=True) or "" for lb in form.css("label, legend"))
    text = " ".join(wording)
    everything = f"{text} {labels}"
    page_path = urlsplit(page_url).path
    action_path = urlsplit(action).path if action else ""
    if has_password or _WORDS["login"].search(_attrs_text(a)):
        purpose = "login"
    elif _in_search_landmark(form) or (has_search_input and not has_contact) or (
            _WORDS["search"].search(_attrs_text(a)) and not has_contact):
        purpose = "search"
    elif _WORDS["comment"].search(_attrs_text(a)) or any(n == "comment" for _, n, _ in fields):
        purpose = "comment"
    elif _WORDS["careers"].search(everything) or CAREERS_PATH.search(action_path) or (
            has_file and CAREERS_PATH.search(page_path)):
        purpose = "careers"
    elif has_contact:
        only_email = all(k in ("email", "", "text") and ("mail" in n or "mail" in w.lower()) for k, n, w in fields)
        newsletter = only_email and not has_textarea and _WORDS["newsletter"].search(f"{everything} {action or ''}")
        if newsletter:
            purpose = "newsletter"
        elif CAREERS_PATH.search(page_path):
            purpose = "careers"  # a form on a job's page that asks for more than an e-mail: an application
        else:
            purpose = "lead"
    else:
        purpose = "other"
    return {"purpose": purpose, "method": method, "action": action, "next": nxt}


# Forms a marketing platform's script draws into the page (no <form> in the HTML as served), and
# the option naming the page the visitor is sent to once it is sent.
EMBEDDED_FORMS = re.compile(r"hbspt\.forms\.create\s*\(|MktoForms2\.loadForm\s*\(")
EMBED_MARKS = ("hbspt.forms.create", "MktoForms2.loadForm")  # (a page holds one if its markup does)
EMBED_REDIRECT = re.compile(r"""\b(?:redirectUrl|followUpUrl)\s*:\s*(["'])([^"'\s]+)\1""")


def embedded_form(script: str, base: str, page_url: str, resolve_href) -> dict | None:
    """The form an inline script draws (HubSpot, Marketo), as :func:`classify_form` gives one:
    a lead form (careers on a job's page), its ``next`` the redirect the script names, or None.

    >>> from crawler.extract import resolve_href
    >>> embedded_form('hbspt.forms.create({portalId: "1", formId: "f", redirectUrl: "/thanks/"})',
    ...               "https://a.example/demo/", "https://a.example/demo/", resolve_href)
    {'purpose': 'lead', 'method': 'post', 'action': None, 'next': 'https://a.example/thanks/'}
    >>> embedded_form("window.dataLayer = []", "https://a.example/", "https://a.example/", resolve_href) is None
    True
    """
    if not EMBEDDED_FORMS.search(script):
        return None
    m = EMBED_REDIRECT.search(script)
    purpose = "careers" if CAREERS_PATH.search(urlsplit(page_url).path) else "lead"
    return {"purpose": purpose, "method": "post", "action": None,
            "next": _public(base, m.group(2), resolve_href) if m else None}


LEAD_PURPOSES = frozenset({"lead", "newsletter"})
NOT_LEAD = frozenset({"search", "comment", "login", "careers"})  # forms that never capture a lead


class Signals:
    """What a page shows, gathered element by element while :func:`crawler.extract.extract` walks it."""
    __slots__ = ("feed", "posting", "dated", "articles", "price", "buy", "forms", "published", "static", "listing",
                 "refresh", "canonical")
    KEYS = ("feed", "posting", "dated", "articles", "price", "buy", "forms", "refresh", "canonical")

    def __init__(self):
        self.feed = self.posting = self.dated = self.price = self.buy = False
        self.published = False  # a publication date in the head's markup (meta, JSON-LD)
        self.static = False     # the CMS says a static page (STATIC_PAGE_CLASS)
        self.listing = False    # the CMS says a listing of posts (LISTING_CLASS)
        self.articles = 0
        self.forms: list[dict] = []
        self.refresh = False    # a <meta refresh> sends the browser on to another page: a stub, no page of its own
        self.canonical = None   # the page's canonical address, when it names another host than the page's

    def link(self, a) -> None:
        """A ``<link>`` element: an RSS or Atom feed?"""
        kind = a.get("type")
        if kind and not self.feed and kind.strip().lower() in FEED_TYPES and \
                "alternate" in (a.get("rel") or "").lower().split():
            self.feed = True

    def meta(self, a) -> None:
        """A ``<meta>`` element: og:type article, a publication date."""
        name = a.get("property") or a.get("name") or a.get("itemprop")
        if not name:
            return
        name = name.strip().lower()
        content = (a.get("content") or "").strip()
        if name == "og:type" and content.lower() == "article":
            self.posting = True
        elif name in PUBLISHED_META and content:
            self.published = True
            if name.endswith("published_time"):
                self.posting = True

    def structured(self, types: set[str], published: bool) -> None:
        """What a JSON-LD block says: its ``@type`` values (lower case) and a datePublished."""
        if types & POSTING_TYPES:
            self.posting = True
        if published:
            self.published = True

    def classes(self, names: str | None, body: bool = False) -> None:
        """The class names of ``<body>`` or an ``<article>``: does the CMS call the page static,
        or (``<body>``) a listing?"""
        if not names:
            return
        if not self.static and "page" in names and STATIC_PAGE_CLASS.search(names):
            self.static = True
        if body and LISTING_CLASS.search(names):
            self.listing = True

    def time(self, el, ancestors) -> None:
        """A ``<time>``: dated when an ``<article>`` holds it, or marked datePublished."""
        if self.dated:
            return
        if (el.attributes.get("itemprop") or "").strip().lower() == "datepublished" or \
                any(anc.tag == "article" for anc in ancestors(el)):
            self.dated = True

    def clickable(self, text: str, href: str | None, classes: str | None) -> None:
        """A link or button: does it buy? (Cheap tests first: a page has hundreds of links.)"""
        if self.buy:
            return
        if text and len(text) <= 60 and text.lstrip(" \"'([<«-–—")[:1].lower() in _BUY_INITIALS \
                and BUY_TEXT.match(text):
            self.buy = True
        elif href and ("checkout" in href or "cart" in href or "stripe.com" in href or "gumroad" in href) and (
                any(part in href for part in BUY_URL_PARTS) or href.endswith("/checkout")):
            self.buy = True
        elif classes and ("cart" in classes or "buy" in classes or "Cart" in classes or "Buy" in classes) \
                and BUY_CLASSES.search(classes):
            self.buy = True

    def page(self, tree, text: str) -> None:
        """The whole page: pricing-table classes or itemprop=price in its tree, amounts with a
        period in its body text."""
        if price_in(text):
            self.price = True
            return
        for el in tree.css(PRICE_SELECTOR):
            a = el.attributes
            if (a.get("itemprop") or "").strip().lower() == "price" or _PRICE_CLASS.search(a.get("class") or ""):
                self.price = True
                return

    @property
    def lead_form(self) -> bool:
        return any(f["purpose"] in LEAD_PURPOSES for f in self.forms)

    def as_dict(self) -> dict:
        """The truthy signals only (an empty dict when the page shows none).

        A static page of a CMS is no posting, and the publication date in its head does not date it.

        >>> s = Signals(); s.articles = 3; s.feed = True; s.as_dict()
        {'feed': True, 'articles': 3}
        >>> s.posting = s.published = True; s.as_dict()
        {'feed': True, 'posting': True, 'dated': True, 'articles': 3}
        >>> s.classes("page-template-default page page-id-12"); s.as_dict()
        {'feed': True, 'articles': 3}
        >>> s = Signals(); s.posting = s.published = True; s.classes("archive paged", body=True); s.as_dict()
        {'dated': True}
        """
        out = {}
        for name in self.KEYS:
            value = getattr(self, name)
            if name == "posting":
                value = value and not self.static and not self.listing
            elif name == "dated":
                value = value or (self.published and not self.static)
            if value:
                out[name] = value
        return out


def structured_facts(data) -> tuple[list[str], set[str], bool]:
    """``(sameAs URLs, @type values in lower case, has a datePublished)`` of a JSON-LD value.

    >>> same_as, types, published = structured_facts({"@graph": [
    ...     {"@type": ["BlogPosting"], "datePublished": "2024-01-02"},
    ...     {"@type": "Organization", "sameAs": ["https://x.com/a"]}]})
    >>> same_as, sorted(types), published
    (['https://x.com/a'], ['blogposting', 'organization'], True)
    """
    found: list[str] = []
    types: set[str] = set()
    published = False
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "sameAs":
                    if isinstance(value, str):
                        found.append(value)
                    elif isinstance(value, list):
                        found.extend(v for v in value if isinstance(v, str))
                elif key == "@type":
                    if isinstance(value, str):
                        types.add(value.strip().lower())
                    elif isinstance(value, list):
                        types.update(v.strip().lower() for v in value if isinstance(v, str))
                elif key == "datePublished" and value:
                    published = True
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found, types, published


__all__ = ["Signals", "classify_form", "embedded_form", "structured_facts", "LEAD_PURPOSES", "NOT_LEAD"]
