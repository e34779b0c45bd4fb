"""Which tier a URL belongs to (site, blog, social, external) and what a link is.

The known social platforms live in ``platforms.toml`` next to this module.
Everything here is a pure function of a URL and a :class:`Scope`.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from urllib.parse import urlsplit

SITE, BLOG, SOCIAL, EXTERNAL, CONTACT, OTHER = "site", "blog", "social", "external", "contact", "other"
OWNED = frozenset({SITE, BLOG})

PROFILE, SHARE, IDENTITY, OTHER_KIND = "profile", "share", "identity", "other"

AUTO_BLOG_PREFIXES = ("/blog/", "/news/", "/articles/", "/insights/")
PURCHASE = re.compile(r"/(cart|basket|checkout|pricing|plans|buy|order|shop|store|book|booking|subscribe|trial)(/|$|\.|-|\?)", re.I)
LEAD = re.compile(r"/(contact|contact-us|demo|request-demo|book-a-demo|signup|sign-up|register|newsletter|get-started|quote|talk-to-sales)(/|$|\.|-|\?)", re.I)


@dataclass(frozen=True)
class Platform:
    name: str
    hosts: tuple[str, ...]
    share: tuple[re.Pattern, ...]


def load_platforms() -> tuple[Platform, ...]:
    """Read the platform list shipped with the package.

    >>> any(p.name == "twitter" for p in load_platforms())
    True
    """
    data = tomllib.loads(resources.files("analysis").joinpath("platforms.toml").read_text())
    return tuple(
        Platform(name, tuple(p["hosts"]), tuple(re.compile(s) for s in p.get("share", ())))
        for name, p in data["platforms"].items()
    )


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _strip_www(host: str) -> str:
    return host[4:] if host.startswith("www.") else host


def _prefix_match(url: str, prefix: str) -> bool:
    """``url`` lies under ``prefix``, ignoring a leading ``www.`` on either host."""
    u, p = urlsplit(url), urlsplit(prefix)
    if _strip_www(u.hostname or "") != _strip_www(p.hostname or "") or u.port != p.port:
        return False
    ppath = p.path or "/"
    path = u.path or "/"
    return path == ppath.rstrip("/") or path.startswith(ppath if ppath.endswith("/") else ppath + "/") or ppath == "/"


@dataclass(frozen=True)
class Scope:
    """What the business owns: its site and blog prefixes, its social profiles.

    >>> s = Scope(site=("https://acme.example/",))
    >>> s.tier("https://acme.example/pricing/"), s.tier("https://acme.example/blog/x/")
    ('site', 'blog')
    >>> s.tier("https://blog.acme.example/"), s.tier("https://twitter.com/acme"), s.tier("https://w3.org/")
    ('blog', 'social', 'external')
    """

    site: tuple[str, ...] = ()
    blog: tuple[str, ...] = ()
    social: tuple[str, ...] = ()
    conversion: tuple[str, ...] = ()
    platforms: tuple[Platform, ...] = field(default_factory=load_platforms)

    @cached_property
    def _conversion_res(self) -> tuple[re.Pattern, ...]:
        return tuple(re.compile(c) for c in self.conversion)

    @cached_property
    def _site_domains(self) -> frozenset[str]:
        return frozenset(registered_domain(_host(s)) for s in self.site)

    @cached_property
    def _platform_hosts(self) -> dict[str, Platform]:
        return {h: p for p in self.platforms for h in p.hosts}

    def platform(self, url: str) -> Platform | None:
        """The social platform a URL is on (its host or a parent domain listed), if any.

        >>> Scope().platform("https://www.linkedin.com/company/acme").name
        'linkedin'
        """
        host = _host(url)
        hosts = self._platform_hosts
        while host:
            p = hosts.get(host)
            if p is not None:
                return p
            host = host.partition(".")[2]
        return None

    def is_own_profile(self, url: str) -> bool:
        return any(_prefix_match(url, s) for s in self.social)

    def tier(self, url: str) -> str:
        """site, blog, social, external, contact (mailto:/tel:) or other."""
        scheme = url.split(":", 1)[0].lower()
        if scheme in ("mailto", "tel"):
            return CONTACT
        if scheme not in ("http", "https"):
            return OTHER
        if self.blog:
            if any(_prefix_match(url, b) for b in self.blog):
                return BLOG
        if any(_prefix_match(url, s) for s in self.site):
            if not self.blog and urlsplit(url).path.lower().startswith(AUTO_BLOG_PREFIXES):
                return BLOG
            return SITE
        if self.is_own_profile(url) or self.platform(url):
            return SOCIAL
        if not self.blog:
            host = _host(url)
            if host.startswith("blog.") and registered_domain(host) in self._site_domains:
                return BLOG
        return EXTERNAL

    def conversion_kind(self, url: str) -> str | None:
        """'purchase' or 'lead' when the URL is a conversion page by its address.

        >>> Scope(site=("https://a.example/",)).conversion_kind("https://a.example/pricing/")
        'purchase'
        """
        path = urlsplit(url).path
        if PURCHASE.search(path):
            return "purchase"
        if LEAD.search(path):
            return "lead"
        if any(r.search(url) for r in self._conversion_res):
            return "purchase"
        return None

    def link_kind(self, url: str, rel: str = "", sameas: bool = False) -> str:
        """profile, share, identity or other for a link to ``url``.

        >>> s = Scope()
        >>> s.link_kind("https://twitter.com/intent/tweet?url=x"), s.link_kind("https://twitter.com/acme")
        ('share', 'profile')
        >>> s.link_kind("https://mastodon.social/@acme", rel="me"), s.link_kind("https://w3.org/")
        ('identity', 'other')
        """
        if sameas or "me" in rel.lower().split():
            return IDENTITY
        p = self.platform(url)
        if p is None:
            return PROFILE if self.is_own_profile(url) else OTHER_KIND
        path = urlsplit(url).path or "/"
        full = path + ("?" + urlsplit(url).query if urlsplit(url).query else "")
        if any(r.search(path) or r.search(full) for r in p.share):
            return SHARE
        return PROFILE


def registered_domain(host: str) -> str:
    """The registrable domain of a host, offline (the bundled public-suffix snapshot).

    >>> registered_domain("blog.acme.co.uk"), registered_domain("blog.acme.example")
    ('acme.co.uk', 'acme.example')
    """
    ext = _extractor()(host)
    if ext.suffix:
        return f"{ext.domain}.{ext.suffix}"
    labels = host.split(".")
    return ".".join(labels[-2:])


@cache
def _extractor():
    """One offline extractor per process (it never fetches the suffix list)."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
