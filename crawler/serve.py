"""Serve a built static site from a directory on 127.0.0.1, for auditing it offline.

Behaves like the static hosts such sites are deployed to: ``/dir`` redirects to
``/dir/`` (with a relative Location, as nginx's ``absolute_redirect off``),
``/dir/`` serves ``index.html`` (a folder without one answers 404: no listings, as on
GitHub Pages or Netlify), and a Netlify-style ``_redirects`` file at the
root is honoured: ``FROM TO [STATUS]`` per line, ``#`` comments; a 3xx status
redirects to TO, any other status serves the file TO with that status
(``/old /gone.html 410``, or ``/profile /blocked.html 999``).

:func:`page_urls` names every HTML file of the folder at the URL such a host serves it at: a
directory audit seeds its crawl with them, so a file no page links to is read all the same.
"""
from __future__ import annotations

import io
import logging
import os
import re
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

logger = logging.getLogger(__name__)


def read_redirects(root: Path) -> dict[str, tuple[str, int]]:
    """Parse ``root/_redirects`` into ``{from_path: (to, status)}``.

    >>> import tempfile; d = Path(tempfile.mkdtemp()); _ = (d / "_redirects").write_text("# x\\n/a /b 301\\n/c /d.html 999\\n")
    >>> read_redirects(d)
    {'/a': ('/b', 301), '/c': ('/d.html', 999)}
    """
    rules: dict[str, tuple[str, int]] = {}
    path = root / "_redirects"
    if not path.is_file():
        return rules
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) < 2:
            continue
        status = int(parts[2].rstrip("!")) if len(parts) > 2 and parts[2].rstrip("!").isdigit() else 301
        rules[parts[0]] = (parts[1], status)
    return rules


HTML_SUFFIXES = (".html", ".htm")
FOLDER_PAGES = ("index.html", "index.htm")  # what the server answers a folder's URL with
PATH_SAFE = "/!$&'()*+,;=:@"  # left as they are in a path, as a link writes them (q&a/, not q%26a/)


def page_urls(root: str | os.PathLike, base: str):
    """The URL under ``base`` of every HTML file in ``root`` (its folders too, in name order), as
    this server serves it: ``dir/index.html`` as ``dir/``, ``page.html`` as itself. Hidden files
    and folders (``.git``) are left out, and so are folders named ``_…``: a build's support files
    (``_static``, ``_next``), or stand-ins a ``--remap`` points at; what a page links in them is
    crawled all the same. A generator: a folder of 100,000 pages is never a list.

    >>> import tempfile; d = Path(tempfile.mkdtemp())
    >>> for folder in ("docs", ".git", "_social"): (d / folder).mkdir()
    >>> for name in ("a.html", "docs/index.html", "docs/b c.htm", "x.css", ".git/y.html", "_social/z.html", "q&a.html"):
    ...     _ = (d / name).write_text("<p>")
    >>> list(page_urls(d, "https://a.example/"))
    ['https://a.example/a.html', 'https://a.example/q&a.html', 'https://a.example/docs/b%20c.htm', 'https://a.example/docs/']
    """
    root = Path(root)
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        rel = Path(folder).relative_to(root).as_posix()
        prefix = base + ("" if rel == "." else quote(rel, safe=PATH_SAFE) + "/")
        for name in sorted(files):
            if name.startswith(".") or not name.lower().endswith(HTML_SUFFIXES):
                continue
            yield prefix if name in FOLDER_PAGES else prefix + quote(name, safe=PATH_SAFE)


# Where a built site names its own public address, in the order trusted: the home page's
# canonical link and og:url (absolute ones only), GitHub Pages' CNAME file, robots.txt's Sitemap line.
ADDRESS_TAGS = (("link[rel~=canonical]", "href", "its canonical link"), ('meta[property="og:url"]', "content", "its og:url"))
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "0.0.0.0", "[::1]", "::1"})


def _address(url: str | None, root: Path) -> str | None:
    """The base URL ``url`` (the address of the home page of the site in folder ``root``, or a
    file at its root) gives, or None: the folder the URL names (a site served under a prefix:
    a GitHub project page, a Sphinx build's ``/en/latest/``), unless ``root`` holds a page at
    that path itself (then the site is at the host's root).

    >>> import tempfile; d = Path(tempfile.mkdtemp()); (d / "en").mkdir(); _ = (d / "en" / "index.html").write_text("<p>")
    >>> _address("https://www.acme.example/index.html?x#y", d), _address("/", d)
    ('https://www.acme.example/', None)
    >>> _address("https://user.github.io/project/", d), _address("https://docs.acme.example/en/latest/index.html", d)
    ('https://user.github.io/project/', 'https://docs.acme.example/en/latest/')
    >>> _address("https://acme.example/en/", d), _address("https://acme.example/sitemap.xml", d)
    ('https://acme.example/', 'https://acme.example/')
    """
    from crawler.urls import URLError, normalize

    try:
        parts = urlsplit((url or "").strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or parts.hostname in LOCAL_HOSTS:
            return None
        folder = parts.path.rsplit("/", 1)[0] + "/" if parts.path else "/"
        if folder != "/" and _in_folder(root, folder):  # a page of the site, not where the site is mounted
            folder = "/"
        return normalize(f"{parts.scheme}://{parts.netloc}{folder}")[0]
    except (ValueError, URLError):
        return None


def public_address(root: str | os.PathLike) -> tuple[str, str] | None:
    """The public URL a built site's folder stands for, as the site names it, and where it was
    read: the home page's absolute canonical link or og:url, a ``CNAME`` file, the host its own
    absolute links name (:func:`_linked_home`), robots.txt's ``Sitemap:``. None when the site
    names none (its links are all relative).

    >>> import tempfile; d = Path(tempfile.mkdtemp())
    >>> _ = (d / "index.html").write_text('<link rel="canonical" href="/"><meta property="og:url" content="https://www.acme.example/">')
    >>> public_address(d)
    ('https://www.acme.example/', 'its og:url in index.html')
    >>> _ = (d / "index.html").write_text("<a href=/x>x</a>"); _ = (d / "CNAME").write_text("docs.acme.example\\n")
    >>> public_address(d)
    ('https://docs.acme.example/', 'its CNAME file')
    """
    root = Path(root)
    for name in ("index.html", "index.htm"):
        home = root / name
        if home.is_file():
            tree = _parsed(home)
            for selector, attribute, where in ADDRESS_TAGS if tree is not None else ():
                for node in tree.css(selector):
                    url = _address(node.attributes.get(attribute), root)
                    if url:
                        return url, f"{where} in {name}"
            break
    cname = root / "CNAME"
    if cname.is_file():
        host = cname.read_text(encoding="utf-8", errors="replace").strip().split("\n")[0].strip()
        url = _address(f"https://{host}/", root) if re.fullmatch(r"[A-Za-z0-9.-]+", host) else None
        if url:
            return url, "its CNAME file"
    own = _linked_home(root)
    if own:
        return own
    robots = root / "robots.txt"
    if robots.is_file():
        for line in robots.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "sitemap":
                url = _address(value.strip(), root)
                if url:
                    return url, "the Sitemap line of its robots.txt"
    return None


SAMPLED_PAGES = 200   # HTML files of a folder read for the host its own absolute links name
LINKS_TO_SELF = 3     # ... pages of the folder linked under one host that make it the site's


def _parsed(page: Path):
    """A page of the folder parsed as a browser does (its first 4 MiB); None when it cannot be read."""
    from selectolax.lexbor import LexborHTMLParser

    try:
        with open(page, "rb") as fh:
            return LexborHTMLParser(fh.read(4 << 20).decode("utf-8", "replace"))
    except OSError:
        return None


def _in_folder(root: Path, path: str) -> bool:
    """Is there a file of ``root`` a static host serves at ``path``?

    >>> import tempfile; d = Path(tempfile.mkdtemp()); _ = (d / "a.html").write_text("<p>")
    >>> _in_folder(d, "/a"), _in_folder(d, "/" + "x" * 300), _in_folder(d, "/../etc/passwd")
    (True, False, False)
    """
    rel = unquote(path).strip("/")
    if ".." in rel.split("/"):
        return False
    here = root / rel
    try:  # (a name over the file system's limit, a NUL: no file of the folder)
        return (here.is_file() or (here / "index.html").is_file() or here.with_name(here.name + ".html").is_file()
                if rel else (root / "index.html").is_file())
    except (OSError, ValueError):
        return False


def _linked_home(root: Path) -> tuple[str, str] | None:
    """The host the site's own absolute links name: the one under which most pages of the folder
    are linked (a WordPress export whose posts link ``https://nozzle.io/features``), when at
    least :data:`LINKS_TO_SELF` are (a host's home page says nothing: every folder has one). Reads the home page, then up to :data:`SAMPLED_PAGES` others.

    >>> import tempfile; d = Path(tempfile.mkdtemp())
    >>> for name in ("pricing", "about", "team"):
    ...     (d / name).mkdir(); _ = (d / name / "index.html").write_text("<h1>Page</h1>")
    >>> _ = (d / "index.html").write_text('<a href="https://app.acme.example/sign-up">Try</a><a href="https://x.example/">X</a>'
    ...     + "".join(f'<a href="https://acme.example/{name}">{name}</a>' for name in ("pricing", "about", "team")))
    >>> _linked_home(d)
    ('https://acme.example/', 'its own links to 3 pages of https://acme.example/ are files of this folder')
    """
    from collections import defaultdict

    pages = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))  # (.git, a build's _static: as page_urls)
        pages += [Path(folder) / f for f in sorted(files) if f.lower().endswith((".html", ".htm"))]
        if len(pages) >= SAMPLED_PAGES:
            break
    pages.sort(key=lambda p: p != root / "index.html")
    hits: dict[str, set] = defaultdict(set)   # base URL -> the paths of the folder's files linked under it
    mount = f"/{root.name}/"  # a site served under /blog/ is kept in a folder blog/
    for page in pages[:SAMPLED_PAGES]:
        tree = _parsed(page)
        for node in tree.css("a[href]") if tree is not None else ():
            href = (node.attributes.get("href") or "").strip()
            if not href.lower().startswith(("http://", "https://")):
                continue
            try:
                parts = urlsplit(href)
                host = parts.hostname
            except ValueError:
                continue
            path = parts.path.rstrip("/")
            if not host or host in LOCAL_HOSTS or not path:  # (every folder has a home page: no evidence)
                continue
            base = f"{parts.scheme.lower()}://{parts.netloc.lower()}/"
            if path.startswith(mount) and _in_folder(root, path[len(mount) - 1:]):
                hits[base + mount[1:]].add(path)
            elif _in_folder(root, path):
                hits[base].add(path)
    if not hits:
        return None
    base, paths = max(hits.items(), key=lambda item: len(item[1]))
    url = _address(base, root) if len(paths) >= LINKS_TO_SELF else None
    return (url, f"its own links to {len(paths)} pages of {url} are files of this folder") if url else None


class _Handler(SimpleHTTPRequestHandler):
    redirects: dict[str, tuple[str, int]] = {}
    server_version = "funnelcheck-static"
    disable_nagle_algorithm = True  # headers and body in one go: no 40 ms wait for a delayed ACK per answer
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        logger.debug("static server: " + format, *args)

    def _rule(self):
        return self.redirects.get(urlsplit(self.path).path)

    def send_head(self):
        rule = self._rule()
        if rule:
            to, status = rule
            if 300 <= status < 400:
                self.send_response(status)
                self.send_header("Location", to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            file = Path(self.translate_path(to))
            if file.is_dir():
                file = file / "index.html"
            try:
                body = file.read_bytes()
            except OSError:
                body = b""
            self.send_response(status, "Blocked" if status >= 600 else None)
            self.send_header("Content-Type", self.guess_type(str(file)))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return io.BytesIO(body)
        path = self.translate_path(self.path)
        if os.path.isdir(path) and not urlsplit(self.path).path.endswith("/"):
            parts = urlsplit(self.path)
            self.send_response(301)
            self.send_header("Location", parts.path.rsplit("/", 1)[-1] + "/" + (f"?{parts.query}" if parts.query else ""))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return super().send_head()

    def list_directory(self, path):
        """No listings: a folder without index.html answers 404, as static hosts do."""
        self.send_error(404, "Not Found")
        return None


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the crawl opens many connections at once; 5 would stall them


class StaticServer:
    """A threaded HTTP server for ``directory`` on an ephemeral 127.0.0.1 port.

    >>> import tempfile, urllib.request; d = tempfile.mkdtemp()
    >>> _ = open(os.path.join(d, "index.html"), "w").write("hi")
    >>> with StaticServer(d) as srv:
    ...     urllib.request.urlopen(srv.url).read()
    b'hi'
    """

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory).resolve()
        if not self.directory.is_dir():
            raise NotADirectoryError(f"not a directory: {directory}")
        handler = type("Handler", (_Handler,), {"redirects": read_redirects(self.directory)})
        self.httpd = _Server(("127.0.0.1", 0), partial(handler, directory=str(self.directory)))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="static-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def __enter__(self) -> "StaticServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
