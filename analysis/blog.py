"""Where a site's blog is, from evidence on its pages (no ``--blog`` needed).

A blog is where the posts are: pages marked as posts (``<article>`` with a ``<time>`` or a
published date, schema.org ``BlogPosting``/``Article``, a dated URL path), gathered in one folder
(``/blog/``, ``/website/news/``) or, as on many WordPress sites, at root-level slugs beside a
``/blog/`` listing. Its category, tag, author, date-archive and paginated listing pages are blog
pages too. :func:`detect_blog` reads only page-level facts (a page's URL and its ``signals``,
see :mod:`crawler.extract`), one pass over the pages, so it costs the same at 100,000 pages as
any other pass over the nodes; :class:`BlogScope` is the crawl's scope with the blog it found.

What counts (policy as data, below): a post is a page that is dated (``signals["dated"]``) or
sits at a dated path (``/2024/05/slug/``), not a listing (one ``<article>`` at most), not the
home page, not a conversion page by its address, no ``<meta refresh>`` stub
(``signals["refresh"]``: Docusaurus keeps each post's old dated address as one) and not a page
whose canonical link names another site (``signals["canonical"]``: a page a hacked plugin
injected, copied from a spam server, is not the company's post; rule ``canonical-elsewhere``). ``signals["posting"]`` alone (schema.org
Article or ``og:type=article``, which WordPress SEO plugins put on every page) marks a post only
where the folder is a blog already. The blog is the folder with the most posts (at least
:data:`MIN_POSTS`); root-level posts make a blog only beside a post listing and when they are
not nearly every root page (a published date in the template is no post).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

from crawler.scope import BLOG, SITE, is_blog_path

MIN_POSTS = 3               # fewer posts in one folder is no blog
ROOT_SHARE = 0.8            # root-level "posts" on more of the root pages than this: the template's date
LISTING_ARTICLES = 3        # a page with this many <article>s lists posts
# Archive pages of a blog: taxonomies and authors (with their pages), date archives, paginated listings.
ARCHIVE = re.compile(r"/(category|categories|tag|tags|topic|topics|author|authors)/[^/]+/(page/\d+/)?$", re.I)
PAGED = re.compile(r"/page/\d+/$", re.I)
DATE_ARCHIVE = re.compile(r"/(19|20)\d\d/((0?[1-9]|1[0-2])/((0?[1-9]|[12]\d|3[01])/)?)?$")
# /2024/05/ (and /2024/05/20/) before a slug: a dated post URL
DATED_PATH = re.compile(r"/(19|20)\d\d/(0?[1-9]|1[0-2])/((0?[1-9]|[12]\d|3[01])/)?[^/]+/?$")
_DATE_DIRS = re.compile(r"(/(19|20)\d\d(/(0?[1-9]|1[0-2])(/(0?[1-9]|[12]\d|3[01]))?)?)+/$")


@dataclass(frozen=True)
class DetectedBlog:
    """The blog found on a crawl: folders (``prefixes``), pages outside them (``pages``:
    root-level posts), whether archive pages (category, tag, author) count, and why.

    ``given``: the user named the blog (``--blog``); nothing was detected.
    """
    prefixes: tuple[str, ...] = ()
    pages: frozenset[str] = frozenset()
    archives: bool = False
    root: str | None = None     # the blog's index: where a finding about the whole blog stands
    posts: int = 0
    why: tuple[str, ...] = ()
    given: tuple[str, ...] = ()
    named: tuple[str, ...] = ()  # blog folders and hosts by their names (/blog/, /news/, blog.): blog pages anyway

    def __bool__(self) -> bool:
        return bool(self.prefixes or self.pages or self.archives)

    def covers(self, url: str) -> bool:
        """Is ``url`` (a site URL) a page of this blog?

        >>> b = DetectedBlog(prefixes=("https://a.example/website/news/",), archives=True)
        >>> b.covers("https://a.example/website/news/x/"), b.covers("https://a.example/tag/wine/"), b.covers("https://a.example/x/")
        (True, True, False)
        """
        if url in self.pages or url.startswith(self.prefixes):
            return True
        if not self.archives:
            return False
        path = _path(url)
        paged = PAGED.search(path)
        if paged:  # /page/2/ of a blog listing, an archive's too (not of the shop's /products/)
            path = path[:paged.start() + 1]
            base = _origin(url) + path
            if base.startswith(self.prefixes + self.named) or base == self.root:
                return True
        return bool(ARCHIVE.search(path) or DATE_ARCHIVE.search(path))

    def as_dict(self) -> dict:
        """What the report says: the JSON ``summary.blog``."""
        return {"prefixes": list(self.prefixes), "pages": len(self.pages), "archives": self.archives,
                "root": self.root, "posts": self.posts, "given": list(self.given), "named": list(self.named),
                "why": "; ".join(self.why)}

    def line(self) -> str:
        """One line for the terminal: which blog, and why.

        >>> DetectedBlog(prefixes=("https://a.example/news/",), posts=4, why=("4 dated posts under /news/",)).line()
        'Blog: https://a.example/news/ (4 dated posts under /news/)'
        """
        return blog_line(self.as_dict())


def blog_line(blog: dict) -> str:
    """Which blog the audit read, and why (the JSON ``summary.blog``).

    >>> blog_line({"prefixes": ["https://a.example/news/"], "pages": 0, "given": [], "why": "4 dated posts under /news/"})
    'Blog: https://a.example/news/ (4 dated posts under /news/)'
    """
    if blog.get("given"):
        return "Blog: " + ", ".join(blog["given"]) + " (given with --blog)"
    where = list(dict.fromkeys([*(blog.get("prefixes") or ()), *(blog.get("named") or ())]))
    if blog.get("pages"):
        where.append(f"{blog['pages']} root-level posts")
    if not where:
        return "Blog: none found (no dated posts, post markup or post listings)"
    return "Blog: " + ", ".join(where) + (f" ({blog['why']})" if blog.get("why") else "")


def _path(url: str) -> str:
    """The path of an http(s) URL, with a trailing slash (``/blog/x`` reads as ``/blog/x/``).

    >>> _path("https://a.example/blog/x?y=1"), _path("https://a.example")
    ('/blog/x/', '/')
    """
    rest = url.split("://", 1)[-1]
    slash = rest.find("/")
    path = "/" if slash < 0 else rest[slash:].split("?", 1)[0].split("#", 1)[0]
    return path if path.endswith("/") else path + "/"


def _origin(url: str) -> str:
    rest = url.split("://", 1)
    return rest[0] + "://" + rest[-1].split("/", 1)[0]


def _folder(path: str) -> str:
    """The folder a post lives in, without the date folders: ``/blog/2024/05/x/`` -> ``/blog/``.

    >>> _folder("/blog/2024/05/x/"), _folder("/website/news/x/"), _folder("/x/")
    ('/blog/', '/website/news/', '/')
    """
    parent = path.rstrip("/").rsplit("/", 1)[0] + "/"
    return _DATE_DIRS.sub("/", parent)


def _is_archive(path: str) -> bool:
    return bool(ARCHIVE.search(path) or PAGED.search(path) or DATE_ARCHIVE.search(path))


def own_canonical(url: str, canonical: str) -> bool:
    """Does a page's canonical link name the page's own site (its host, ``www.`` or not; a
    relative one always does)? What :func:`detect_blog` asks when the caller knows no better
    (the crawl's scope knows the company's other hosts).

    >>> own_canonical("https://www.a.example/x/", "https://a.example/x/"), own_canonical("https://a.example/x/", "/x/")
    (True, True)
    >>> own_canonical("https://www.a.example/x/", "http://13.51.214.76/x/")
    False
    """
    if "://" not in canonical:
        return True
    host = _origin(canonical).split("://", 1)[1].lower()
    mine = _origin(url).split("://", 1)[-1].lower()
    return host.removeprefix("www.") == mine.removeprefix("www.")


def detect_blog(pages: Iterable[tuple[str, dict, str | None]], site: Iterable[str] = (),
                own: Callable[[str, str], bool] = own_canonical) -> DetectedBlog:
    """Find the blog among a crawl's owned pages: ``(url, signals, conversion)`` for each HTML
    page read (``site``: the site's prefixes, whose own root is never a blog folder; ``own``:
    whether a page's canonical link, ``own(url, canonical)``, names the company's site: a page
    whose canonical names another is no page of its blog).

    A blog under a path prefix (an Eleventy site served under ``/website/``):

    >>> s = "https://a.example/website/"
    >>> pages = [(s, {}, None), (s + "pricing/", {"price": True}, "purchase"),
    ...          (s + "news/", {"articles": 6, "feed": True}, None)]
    >>> pages += [(f"{s}news/post-{i}/", {"dated": True, "posting": True}, None) for i in range(5)]
    >>> pages += [(s + "news/page/2/", {"articles": 4}, None), (s + "news/tags/qr/", {"articles": 3}, None)]
    >>> b = detect_blog(pages, [s]); b.prefixes, b.posts, b.covers(s + "news/tags/qr/"), b.covers(s + "pricing/")
    (('https://a.example/website/news/',), 5, True, False)
    >>> b.why[0]
    '5 dated posts under /website/news/'

    Posts at root-level slugs, their index at ``/blog/`` (a WordPress export):

    >>> r = "https://b.example/"
    >>> pages = [(r, {}, None), (r + "blog/", {}, None), (r + "blog/page/2/", {}, None), (r + "about/", {"posting": True}, None)]
    >>> pages += [(f"{r}post-{i}/", {"dated": True}, None) for i in range(4)] + [(r + "category/qr/", {}, None)]
    >>> b = detect_blog(pages, [r]); b.prefixes, sorted(b.pages)[:1], b.root, b.covers(r + "category/qr/"), b.covers(r + "about/")
    ((), ['https://b.example/post-0/'], 'https://b.example/blog/', True, False)

    A published date on every page is the template's, not a blog:

    >>> b = detect_blog([(f"{r}p{i}/", {"dated": True}, None) for i in range(9)] + [(r + "blog/", {}, None)], [r])
    >>> b.pages, b.prefixes, b.named
    (frozenset(), (), ('https://b.example/blog/',))

    Pages injected into the site, their canonical on a spam server, are no posts of the company:

    >>> spam = [(f"{r}loan-{i}/", {"dated": True, "canonical": f"http://13.51.214.76/loan-{i}/"}, None) for i in range(8)]
    >>> pages = [(r, {}, None), (r + "blog/", {}, None)] + [(f"{r}post-{i}/", {"dated": True}, None) for i in range(4)]
    >>> pages += [(r + f"p{i}/", {}, None) for i in range(4)]
    >>> b = detect_blog(pages + spam, [r]); b.posts, b.covers(r + "loan-1/"), b.covers(r + "post-1/")
    (4, False, True)
    """
    roots = {_path(s) for s in site} or {"/"}
    posts: Counter = Counter()          # (origin, folder) -> posts in it
    weak: Counter = Counter()           # (origin, folder) -> pages marked only as postings
    root_pages: Counter = Counter()     # origin -> pages at the site root (home excluded)
    listings: set[tuple[str, str]] = set()   # (origin, folder) of a post listing
    root_posts: dict[str, list[str]] = {}    # origin -> root-level posts
    archives: list[str] = []           # archive pages, counted for the blog found
    named: set[str] = set()
    for url, signals, conversion in pages:
        signals = signals or {}
        path = _path(url)
        origin = _origin(url)
        if origin.split("://", 1)[-1].startswith("blog."):
            named.add(origin + "/")
        elif is_blog_path(path):
            named.add(origin + "/" + path.split("/", 2)[1] + "/")
        if path in roots:
            continue  # the home page is no post
        if signals.get("refresh"):
            continue  # a <meta refresh> stub (an old address kept for old links) is no post: its target is
        if signals.get("canonical") and not own(url, signals["canonical"]):
            continue  # another site's page (injected spam, a copy): not the company's post, nor one of its pages
        if _is_archive(path):
            archives.append(url)
            base = PAGED.split(path)[0] + "/" if PAGED.search(path) else None
            if base and not ARCHIVE.search(path):
                listings.add((origin, base))
            continue
        if (signals.get("articles") or 0) >= LISTING_ARTICLES:
            listings.add((origin, path))
            continue
        folder = _folder(path)
        at_root = folder in roots
        if at_root:
            root_pages[origin] += 1
        if conversion:
            continue
        by_path = bool(DATED_PATH.search(path))
        if signals.get("dated") or by_path:
            posts[(origin, folder)] += 1
            if at_root:
                root_posts.setdefault(origin, []).append(url)
        elif signals.get("posting"):
            weak[(origin, folder)] += 1
    # a folder the defaults already call a blog counts its postings as posts
    for (origin, folder), n in weak.items():
        if is_blog_path(folder) and folder not in roots:
            posts[(origin, folder)] += n
    named_ = tuple(sorted(named))
    blog = _choose(posts, listings, root_posts, root_pages, roots, named_)
    n = sum(1 for url in archives if blog.covers(url))
    if n:
        blog = replace(blog, why=blog.why + (f"{n} category, tag, author or archive pages",))
    return blog


def _choose(posts, listings, root_posts, root_pages, roots, named_) -> DetectedBlog:
    """The blog :func:`detect_blog` settles on (without its archive pages' count)."""
    best = max(posts.items(), key=lambda kv: (kv[1], -kv[0][1].count("/")), default=None)
    if best is None or best[1] < MIN_POSTS:
        return _by_name(named_)
    (origin, folder), n = best
    listing = sorted(f for o, f in listings if o == origin)
    by_name = [n[len(origin):] for n in named_ if n.startswith(origin + "/")]
    index = next((f for f in listing if is_blog_path(f)), (by_name or listing or [None])[0])
    why = []
    if folder not in roots:
        # nested category folders (/blog/engineering/x/): the listing above them is the blog
        parent = next((f for f in listing if folder.startswith(f) and f not in roots and f != folder), None)
        prefix = parent or folder
        n = sum(c for (o, f), c in posts.items() if o == origin and f.startswith(prefix))
        why.append(f"{n} dated posts under {prefix}")
        if (origin, prefix) in listings:
            why.append(f"a post listing at {prefix}")
        return DetectedBlog(prefixes=(origin + prefix,), archives=True, root=origin + prefix, posts=n,
                            why=tuple(why), named=named_)
    # root-level posts: a blog only beside a post listing, and not a date on (nearly) every page
    found = root_posts.get(origin, [])
    if index is None or len(found) > ROOT_SHARE * root_pages[origin]:
        return _by_name(named_)
    why.append(f"{len(found)} dated posts at root-level slugs, listed at {index}")
    return DetectedBlog(pages=frozenset(found), archives=True, root=origin + index, posts=len(found), why=tuple(why),
                        named=named_)


def _by_name(named: tuple[str, ...]) -> DetectedBlog:
    """No folder of posts found: the blog the defaults name (``/blog/``, ``blog.``), with the
    archive pages (category, tag, author) beside it."""
    if not named:
        return DetectedBlog()
    return DetectedBlog(archives=True, root=named[0], named=named, why=("by the folder's name",))


@dataclass(frozen=True)
class BlogScope:
    """A crawl's :class:`crawler.scope.Scope` with the blog :func:`detect_blog` found: a site URL
    the blog covers is tier ``blog``; everything else is the scope's own answer.

    >>> from crawler.scope import Scope
    >>> s = BlogScope(Scope(site=("https://a.example/",)), DetectedBlog(prefixes=("https://a.example/website/news/",), root="https://a.example/website/news/"))
    >>> s.tier("https://a.example/website/news/x/"), s.tier("https://a.example/pricing/"), s.blog_root("https://a.example/website/news/x/")
    ('blog', 'site', 'https://a.example/website/news/')
    """
    scope: object
    found: DetectedBlog = field(default_factory=DetectedBlog)

    def __getattr__(self, name):
        return getattr(self.scope, name)

    def tier(self, url: str) -> str:
        tier = self.scope.tier(url)
        return BLOG if tier == SITE and self.found.covers(url) else tier

    def blog_root(self, url: str) -> str:
        if self.found.root and self.found.covers(url) and not any(url.startswith(b) for b in self.scope.blog):
            return self.found.root
        return self.scope.blog_root(url)
