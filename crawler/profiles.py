"""Profile readers: a social profile's links, read the way its platform lets anyone read them.

The platform knowledge is data (``[platforms.X.reader]`` in ``platforms.toml``: the API's URL
templates, the handle's place in the account URL, the fallback); here is one small adapter per
platform turning its answer into :class:`ProfileLink` rows: the URL, where on the profile it
stands (``bio``, ``field``, ``website``, ``account``, ``handle``, ``page``) and whether the
platform verified it (Mastodon's ``verified_at``: the linked site links back with
``rel="me"``; a Bluesky handle that is a domain: the domain proved it).

Every request still goes through Scrapy (the spider asks, :mod:`crawler.middlewares` guards):
the address guard, ``--remap``, robots.txt, ``--max-size``, ``--timeout`` and the honest
User-Agent apply. An answer is bounded here too: at most :data:`MAX_LINKS` links, each text cut
to :data:`MAX_TEXT` characters.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from crawler.scope import Platform, Reader

MAX_LINKS = 100    # links kept of one profile (a hostile one may list 10,000 fields)
MAX_TEXT = 200     # characters kept of a field's name or a display name
# An http(s) URL in plain text (a Bluesky bio), or a bare domain with an optional path.
_TEXT_URL = re.compile(r"(?i)\bhttps?://[^\s<>\"']+|\b(?:www\.)?(?:[a-z0-9-]{1,63}\.)+[a-z]{2,24}(?:/[^\s<>\"']*)?")
_HREF = re.compile(r"""(?is)<a\b([^>]*)>""")
_ATTR = re.compile(r"""(?is)\b(href|class|rel)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
_TRAILING = ".,;:!?)]}'\""


@dataclass(frozen=True)
class ProfileLink:
    url: str
    source: str            # bio, field, website, account, handle, page
    verified: bool = False
    text: str = ""         # a field's name, a provider


@dataclass
class ProfileRead:
    """What one answer of a platform says: the links, a display name, how many links it had."""
    links: list[ProfileLink] = field(default_factory=list)
    title: str | None = None
    total: int = 0
    problem: str | None = None   # the answer is not the platform's (not JSON, another shape)


def handle_of(reader: Reader, account: str) -> str | None:
    """The handle in an account URL, by the reader's ``handle`` pattern.

    >>> r = Reader("Bluesky", "bluesky", (), "^/profile/([^/]+)")
    >>> handle_of(r, "https://bsky.app/profile/acme.example"), handle_of(r, "https://bsky.app/")
    ('acme.example', None)
    """
    try:
        path = urlsplit(account).path
    except ValueError:
        return None
    m = re.search(reader.handle, path) if reader.handle else None
    return m.group(1) if m else None


def api_urls(platform: Platform | None, account: str) -> list[str]:
    """The URLs asked for an account, in turn (none: the platform has no API reader).

    >>> from crawler.scope import Scope
    >>> s = Scope()
    >>> api_urls(s.platform("https://mastodon.social/@acme"), "https://mastodon.social/@acme")
    ['https://mastodon.social/api/v1/accounts/lookup?acct=acme']
    >>> api_urls(s.platform("https://github.com/acme"), "https://github.com/acme")[1]
    'https://api.github.com/users/acme/social_accounts'
    >>> api_urls(s.platform("https://x.com/acme"), "https://twitter.com/acme")
    []
    """
    reader = platform.reader if platform else None
    if reader is None or not reader.api:
        return []
    handle = handle_of(reader, account)
    if not handle:
        return []
    host = (urlsplit(account).hostname or "").lower()
    return [t.format(host=host, handle=quote(handle.lstrip("@"), safe="@.")) for t in reader.api]


def _cut(text) -> str:
    text = text if isinstance(text, str) else ""
    return text[:MAX_TEXT]


def _web(url: str) -> str | None:
    """An http(s) URL from what a profile says (``acme.example`` gets ``https://``).

    >>> _web("acme.example/blog"), _web("https://a.example/x)."), _web("javascript:alert(1)"), _web("")
    ('https://acme.example/blog', 'https://a.example/x', None, None)
    """
    url = (url or "").strip().rstrip(_TRAILING)
    if not url:
        return None
    if re.match(r"(?i)^https?://", url):
        return url
    if ":" in url.split("/", 1)[0] or url.startswith("/"):
        return None
    return "https://" + url


def text_urls(text: str) -> list[str]:
    """The URLs a plain text names (a Bluesky bio), Bluesky and Mastodon handles left out.

    >>> text_urls("We make widgets. https://acme.example/ and blog.acme.example/posts. Also @acme.bsky.social")
    ['https://acme.example/', 'https://blog.acme.example/posts']
    """
    out = []
    for m in _TEXT_URL.finditer(text or ""):
        start = m.start()
        if start and text[start - 1] in "@.":
            continue  # a handle (@acme.bsky.social), not a site
        url = _web(m.group(0))
        if url and not urlsplit(url).hostname.endswith(".bsky.social"):
            out.append(url)
    return out


def html_links(fragment: str) -> list[tuple[str, str, str]]:
    """``(href, class, rel)`` of the ``<a>`` in an HTML fragment (a Mastodon field or note).

    >>> html_links('<a href="https://acme.example/" rel="nofollow noopener me">acme.example</a>')
    [('https://acme.example/', '', 'nofollow noopener me')]
    """
    out = []
    for m in _HREF.finditer(fragment or ""):
        attrs = {}
        for a in _ATTR.finditer(m.group(1)):
            attrs.setdefault(a.group(1).lower(), html.unescape(a.group(2) or a.group(3) or a.group(4) or ""))
        if attrs.get("href"):
            out.append((attrs["href"], attrs.get("class", ""), attrs.get("rel", "")))
    return out


def bluesky(data: dict) -> ProfileRead:
    """``app.bsky.actor.getProfile``: the URLs in the description; a handle that is a domain is a
    verified link to it (Bluesky checked the domain's DNS or ``/.well-known/atproto-did``).

    >>> r = bluesky({"did": "did:plc:x", "handle": "acme.example", "displayName": "Acme",
    ...              "description": "Widgets. Read us: blog.acme.example"})
    >>> [(l.url, l.source, l.verified) for l in r.links], r.title
    ([('https://acme.example/', 'handle', True), ('https://blog.acme.example', 'bio', False)], 'Acme')
    """
    handle = data.get("handle") if isinstance(data.get("handle"), str) else ""
    links = []
    if handle and "." in handle and not handle.endswith(".bsky.social") and not handle.startswith("did:"):
        links.append(ProfileLink(f"https://{handle}/", "handle", True, "handle"))
    links += [ProfileLink(u, "bio") for u in text_urls(_cut_bio(data.get("description")))]
    return ProfileRead(links, _cut(data.get("displayName")) or handle[:MAX_TEXT] or None)


def _cut_bio(text) -> str:
    return text[:20_000] if isinstance(text, str) else ""


def mastodon(data: dict) -> ProfileRead:
    """``/api/v1/accounts/lookup``: the profile's fields (``verified_at``: the platform checked the
    site links back with ``rel="me"``) and the links in its note (mentions and hashtags left out).

    >>> r = mastodon({"username": "acme", "display_name": "Acme", "note": '<p>Hi <a href="https://acme.example/blog/">blog</a></p>',
    ...   "fields": [{"name": "Web", "value": '<a href="https://acme.example/" rel="nofollow noopener me">acme.example</a>',
    ...               "verified_at": "2024-01-01T00:00:00.000+00:00"}]})
    >>> [(l.url, l.source, l.verified, l.text) for l in r.links]
    [('https://acme.example/', 'field', True, 'Web'), ('https://acme.example/blog/', 'bio', False, '')]
    """
    links = []
    fields = data.get("fields") if isinstance(data.get("fields"), list) else []
    for f in fields:
        if not isinstance(f, dict):
            continue
        value = f.get("value") if isinstance(f.get("value"), str) else ""
        hrefs = [h for h, _, _ in html_links(value[:20_000])] or text_urls(html.unescape(re.sub("<[^>]*>", "", value[:2000])))
        for href in hrefs:
            url = _web(href)
            if url:
                links.append(ProfileLink(url, "field", bool(f.get("verified_at")), _cut(f.get("name"))))
    for href, cls, _ in html_links(_cut_bio(data.get("note"))):
        if "mention" in cls.split() or "hashtag" in cls.split():
            continue
        url = _web(href)
        if url:
            links.append(ProfileLink(url, "bio"))
    return ProfileRead(links, _mastodon_title(data))


def _mastodon_title(data: dict) -> str | None:
    """The title Mastodon gives the profile's page: ``Name (@user@instance)``.

    >>> _mastodon_title({"display_name": "Acme", "username": "acme", "url": "https://mastodon.social/@acme"})
    'Acme (@acme@mastodon.social)'
    """
    name, user = _cut(data.get("display_name")), _cut(data.get("username"))
    url = data.get("url") if isinstance(data.get("url"), str) else ""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    if user and host:
        return f"{name or user} (@{user}@{host})"[:MAX_TEXT]
    return name or user or None


def github(data, step: int) -> ProfileRead:
    """``/users/NAME`` (``blog``, ``twitter_username``) and ``/users/NAME/social_accounts``
    (``[{provider, url}]``).

    >>> [l.url for l in github({"login": "acme", "blog": "acme.example", "twitter_username": "acmeco"}, 0).links]
    ['https://acme.example', 'https://x.com/acmeco']
    >>> [(l.url, l.text) for l in github([{"provider": "bluesky", "url": "https://bsky.app/profile/acme.example"}], 1).links]
    [('https://bsky.app/profile/acme.example', 'bluesky')]
    """
    if step == 0:
        if not isinstance(data, dict) or "login" not in data:
            return ProfileRead(problem="not a GitHub user")
        links = []
        blog = _web(data.get("blog") if isinstance(data.get("blog"), str) else "")
        if blog:
            links.append(ProfileLink(blog, "website", text="website"))
        twitter = data.get("twitter_username")
        if isinstance(twitter, str) and re.fullmatch(r"[A-Za-z0-9_]{1,15}", twitter):
            links.append(ProfileLink(f"https://x.com/{twitter}", "account", text="twitter"))
        return ProfileRead(links, _cut(data.get("name")) or _cut(data.get("login")) or None)
    if not isinstance(data, list):
        return ProfileRead(problem="not GitHub's list of social accounts")
    links = []
    for a in data:
        if isinstance(a, dict) and isinstance(a.get("url"), str):
            url = _web(a["url"])
            if url:
                links.append(ProfileLink(url, "account", text=_cut(a.get("provider"))))
    return ProfileRead(links)


def read_api(adapter: str, step: int, body: bytes) -> ProfileRead:
    """An API answer (JSON) through its platform's adapter; a body that is not JSON, or not
    the platform's shape, is a :attr:`ProfileRead.problem`.

    >>> read_api("bluesky", 0, b"<html>").problem
    'the answer is not JSON'
    >>> read_api("bluesky", 0, b'{"handle": "acme.bsky.social", "description": "x"}').title
    'acme.bsky.social'
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ProfileRead(problem="the answer is not JSON")
    if adapter == "github":
        read = github(data, step)
    elif not isinstance(data, dict):
        return ProfileRead(problem="the answer is not a profile")
    elif adapter == "bluesky":
        read = bluesky(data) if "handle" in data else ProfileRead(problem="the answer is not a Bluesky profile")
    elif adapter == "mastodon":
        read = mastodon(data) if "username" in data or "acct" in data else ProfileRead(
            problem="the answer is not a Mastodon account")
    else:
        return ProfileRead(problem=f"no adapter {adapter!r}")
    read.total = len(read.links)
    del read.links[MAX_LINKS:]
    return read


def api_error(body: bytes) -> str:
    """The message of an API's error answer (``{"error": ..., "message": ...}``), cut short.

    >>> api_error(b'{"error":"InvalidRequest","message":"Profile not found"}'), api_error(b'{"error":"Record not found"}')
    ('Profile not found', 'Record not found')
    """
    try:
        data = json.loads(body[:65536])
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    if not isinstance(data, dict):
        return ""
    message = data.get("message") or data.get("error") or ""
    return message[:MAX_TEXT] if isinstance(message, str) else ""


# The answers of a profile API that say the account does not exist (status, and the error message
# where the status alone does not say it: Bluesky answers 400 to a bad handle and to a missing one)
MISSING_ANSWERS = {404: None, 410: None, 400: ("Profile not found",)}


def says_missing(status: int, message: str) -> bool:
    """Whether an API's error answer says the account does not exist (anything else, a 500, a
    503, another 400, is the platform failing: the account may well be there).

    >>> says_missing(404, "Record not found"), says_missing(400, "Profile not found")
    (True, True)
    >>> says_missing(500, "InternalServerError"), says_missing(400, "Error: actor must be a valid did or a handle")
    (False, False)
    """
    if status not in MISSING_ANSWERS:
        return False
    messages = MISSING_ANSWERS[status]
    return messages is None or message in messages


_YT_DATA = re.compile(rb"ytInitialData\s*=\s*(\{.*?\})\s*;\s*(?:</script>|var |window\[)", re.S)


def youtube_links(body: bytes) -> list[ProfileLink]:
    """The links of a YouTube channel page's ``ytInitialData`` (its "links" section; best effort:
    the page's layout changes, and some regions get a consent page instead).

    >>> page = b'<script>var ytInitialData = {"a": {"channelExternalLinkViewModel": {"link": {"content": "acme.example"},'
    >>> page += b' "title": {"content": "Site"}}}, "u": {"urlEndpoint": {"url": "https://www.youtube.com/redirect?q=https%3A%2F%2Fblog.acme.example%2F"}}};</script>'
    >>> [(l.url, l.text) for l in youtube_links(page)]
    [('https://acme.example', 'Site'), ('https://www.youtube.com/redirect?q=https%3A%2F%2Fblog.acme.example%2F', '')]
    """
    m = _YT_DATA.search(body)
    if not m:
        return []
    try:
        data = json.loads(m.group(1))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return []
    out: list[ProfileLink] = []
    stack = [data]
    seen = 0
    while stack and len(out) < MAX_LINKS and seen < 200_000:
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            link = node.get("channelExternalLinkViewModel")
            if isinstance(link, dict):
                content = (link.get("link") or {}).get("content") if isinstance(link.get("link"), dict) else None
                title = (link.get("title") or {}).get("content") if isinstance(link.get("title"), dict) else ""
                url = _web(content) if isinstance(content, str) else None
                if url:
                    out.append(ProfileLink(url, "page", text=_cut(title)))
                continue
            endpoint = node.get("urlEndpoint")
            if isinstance(endpoint, dict) and isinstance(endpoint.get("url"), str):
                url = _web(endpoint["url"])
                if url:
                    out.append(ProfileLink(url, "page"))
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return out


__all__ = ["MAX_LINKS", "ProfileLink", "ProfileRead", "api_error", "api_urls", "bluesky", "github", "handle_of",
           "mastodon", "read_api", "text_urls", "youtube_links"]
