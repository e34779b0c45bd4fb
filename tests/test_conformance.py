"""Link-checking conformance suite: one small fixture per case, exact verdicts.

The cases are modelled on what LinkChecker's (tests/checker/test_*.py) and
htmltest's (htmltest/check-*_test.go) own suites cover; the fixtures are ours,
under tests/sites/conformance/<site>/. Each site is crawled ONCE by a
module-scoped fixture (a crawl is a subprocess costing a second or two; the
cache site is crawled three times into one --db); every case is then its own
parametrized test, named by its id, asserting the exact
verdict: status, error kind, finding (rule, severity, target, sources) and the
source line of the link.

Nothing here touches the internet. Public hosts are mapped to local servers
with ``--remap``; the servers really answer the way the case needs (429 with
Retry-After, 999, ``cf-mitigated``, login-wall redirects, a self-signed TLS
certificate, a port nobody listens on, a host name that cannot be resolved
without sending a DNS query, a route that never answers in time).

Sites and their crawls:

=========  ===================================================================
links      every link kind + source line, <base>, fragments, schemes,
           URL normalisation (one fetch per de-duplicated URL)
status     2xx/3xx/4xx/5xx, redirects hop by hop, error kinds dns / timeout /
           refused / tls, HEAD first with GET fallback, one check per URL
blocked    Retry-After (429, 503), rate limited, 999, Cloudflare, AWS WAF,
           login walls
robots     RFC 9309 (longest match, Allow at equal length, 5xx, 4xx) and
           --ignore-robots
sitemaps   sitemap.xml, sitemap index, .xml.gz, robots.txt Sitemap: lines,
           orphan-page
filters    --exclude, --include, --exclude-path, --accept
cache      --cache-age across runs in one --db (errors never cached)
tls        --insecure
=========  ===================================================================
"""
from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import pytest

from conftest import SITES, Route, SiteServer, audit_json
from crawler.scope import Scope

CONF = SITES / "conformance"
WWW = "https://www.conf.test"
EXT = "https://ext.example"

# The findings a link checker is responsible for (the funnel rules are tested elsewhere).
LINK_RULES = frozenset({"broken-link", "redirect", "redirect-chain", "redirect-loop", "missing-anchor",
                        "unverified-link", "skipped-link", "unsupported-scheme", "malformed-url", "orphan-page",
                        "insecure-link"})

# A host name that can never be resolved, and whose lookup never leaves the machine: 263
# characters do not fit in a DNS query, so the resolver fails before sending anything.
UNRESOLVABLE = ".".join(["d" * 63] * 4) + ".invalid"


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def remap(public_regex: str, local: str) -> list[str]:
    return ["--remap", f"{public_regex} {local}"]


def www_to(server) -> list[str]:
    return remap(r"^https://www\.conf\.test/(.*)", server.url + r"/\1")


def ext_to(server) -> list[str]:
    return remap(r"^https://ext\.example/(.*)", server.url + r"/\1")


def line_of(site: str, rel: str, needle: str) -> int:
    """1-based line of ``needle`` in a fixture file (it must occur exactly once)."""
    lines = (CONF / site / rel).read_text(encoding="utf-8").splitlines()
    hits = [i for i, text in enumerate(lines, 1) if needle in text]
    assert len(hits) == 1, f"{needle!r} should occur once in {site}/{rel}, found on lines {hits}"
    return hits[0]


def href_of(target: str) -> str:
    """How a fixture writes a link to ``target``: site-relative on www.conf.test, absolute elsewhere."""
    return target[len(WWW):] if target.startswith(WWW + "/") else target


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy(route: Route) -> Route:
    return Route(route.status, dict(route.headers), route.body)


def redirect(status: int, location: str) -> Route:
    return Route(status, {"Location": location})


class Sequence:
    """A scripted route answering with ``answers`` in turn (the last repeats); records when it was asked."""

    def __init__(self, *answers: Route):
        self.answers = answers
        self.times: list[float] = []

    def __call__(self, handler) -> Route:
        self.times.append(time.monotonic())
        return copy(self.answers[min(len(self.times), len(self.answers)) - 1])


class ByMethod:
    """A scripted route answering HEAD and GET differently (servers that mishandle HEAD)."""

    def __init__(self, head: Route, get: Route):
        self.head, self.get = head, get

    def __call__(self, handler) -> Route:
        return copy(self.head if handler.command == "HEAD" else self.get)


class Slow:
    """A route that answers only after ``seconds`` (longer than the crawl's --timeout) while ``slow()``."""

    def __init__(self, seconds: float, answer: Route, slow=lambda: True):
        self.seconds, self.answer, self.slow = seconds, answer, slow

    def __call__(self, handler) -> Route:
        if self.slow():
            time.sleep(self.seconds)
        return copy(self.answer)


def methods(server: SiteServer, path: str) -> list[str]:
    """HTTP methods of the requests ``server`` received for ``path`` (query ignored, escapes decoded)."""
    return [m for m, p in server.requests if unquote(urlsplit(p).path) == path]


def self_signed_context(directory) -> ssl.SSLContext:
    """A server-side TLS context with a fresh self-signed certificate (made with ``cryptography``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tls.conf.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("tls.conf.test"), x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


def make_https(server: SiteServer, ctx: ssl.SSLContext) -> SiteServer:
    """Turn a started SiteServer into an HTTPS server (same port; ``url`` still says http)."""
    server.httpd.socket = ctx.wrap_socket(server.httpd.socket, server_side=True)
    return server


def https_url(server: SiteServer) -> str:
    return f"https://127.0.0.1:{server.httpd.server_address[1]}"


@dataclass
class Crawl:
    """One ``funnelcheck audit`` run and what it reported."""
    name: str
    result: object
    data: dict
    seconds: float
    servers: dict = field(default_factory=dict)

    @property
    def report(self) -> dict:
        assert self.data, (f"crawl {self.name!r} wrote no report (exit {self.result.exit_code}): "
                           f"{self.result.stderr.strip()[-800:]}")
        return self.data

    def pages_at(self, url: str) -> list[dict]:
        return [p for p in self.report["pages"] if p["url"] == url]

    def page(self, url: str) -> dict:
        rows = self.pages_at(url)
        assert len(rows) == 1, f"expected one pages[] row for {url}, got {len(rows)}: " + \
            str(sorted(p["url"] for p in self.report["pages"]))
        return rows[0]

    def links_from(self, source: str) -> list[dict]:
        return [link for link in self.report["links"] if link["source"] == source]

    def link(self, source: str, target: str) -> dict:
        rows = [link for link in self.links_from(source) if link["target"] == target]
        assert len(rows) == 1, f"expected one link {source} -> {target}, got " + \
            str([(link["target"], link["tag"], link["attr"]) for link in self.links_from(source)])
        return rows[0]

    def findings(self, rules=LINK_RULES, source: str | None = None, target: str | None = None) -> list[dict]:
        return [f for f in self.report["findings"] if f["rule"] in rules
                and (source is None or source in f["sources"]) and (target is None or f["target"] == target)]

    def finding(self, rule: str, target: str) -> dict:
        rows = self.findings({rule}, target=target)
        assert len(rows) == 1, f"expected one {rule} finding for {target}, got {len(rows)}; link findings: " + \
            str([(f["rule"], f["severity"], f["target"]) for f in self.findings()])
        return rows[0]


def run_crawl(name: str, tmp_path_factory, *args, servers=None) -> Crawl:
    tmp = tmp_path_factory.mktemp(name)
    started = time.monotonic()
    result, report = audit_json(tmp, *args)
    return Crawl(name, result, report, time.monotonic() - started, servers or {})


def verdict_of(page: dict) -> tuple:
    return page["verdict"], page["status"], page["error_kind"]


def assert_findings_from(crawl: Crawl, source: str, expected: set[tuple]) -> None:
    """The link findings standing on ``source`` are exactly ``expected`` ({(rule, severity, target)})."""
    got = {(f["rule"], f["severity"], f["target"]) for f in crawl.findings(source=source)}
    assert got == expected


# ------------------------------------------------------------------------------------------------
# fixtures: servers and one crawl per site
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_context(tmp_path_factory):
    return self_signed_context(tmp_path_factory.mktemp("tls"))


# ================================================================================================
# 1. links: every link kind, its source line, <base>, fragments, schemes, normalisation
# ================================================================================================
@pytest.fixture(scope="module")
def links_crawl(module_site_server, tmp_path_factory):
    www = module_site_server(CONF / "links")
    return run_crawl("links", tmp_path_factory, WWW + "/", *www_to(www), "--no-check-social",
                     "--no-check-external", "--fail-on", "never", servers={"www": www})


@dataclass(frozen=True)
class Kind:
    id: str
    page: str        # the fixture page (under links/) holding the link
    tag: str
    attr: str
    target: str      # path of the link target on www.conf.test
    role: str | None  # page (crawled with GET) or asset (checked with HEAD); None: either
    mirrors: str


KINDS = [
    Kind("a-href", "kinds/a.html", "a", "href", "/t/a.html", "page",
         "LinkChecker test_all_parts (a href); htmltest TestAnchorInternalRelativeLinks"),
    Kind("area-href", "kinds/area.html", "area", "href", "/t/area.html", "page",
         "htmltest TestCheckGenericTable (areaValid.html)"),
    Kind("img-src", "kinds/img.html", "img", "src", "/t/img.png", "asset",
         "htmltest TestImageInternalAbsolute; LinkChecker test_all_parts (img src)"),
    Kind("img-srcset-1x", "kinds/srcset.html", "img", "srcset", "/t/s1.png", "asset",
         "htmltest TestImageSrcSet (every srcset candidate is a link)"),
    Kind("img-srcset-2x", "kinds/srcset.html", "img", "srcset", "/t/s2.png", "asset",
         "htmltest TestImageSrcSet (second candidate)"),
    Kind("link-stylesheet", "kinds/stylesheet.html", "link", "href", "/t/style.css", "stylesheet",
         "htmltest TestLinkHrefValid; LinkChecker test_all_parts (link href); an owned stylesheet is read "
         "with one GET, for the url()s it loads"),
    Kind("link-icon", "kinds/icon.html", "link", "href", "/t/icon.ico", "asset",
         "htmltest TestFaviconOptionPresent / TestFaviconOptionBroken (link rel=icon)"),
    Kind("link-canonical", "kinds/canonical.html", "link", "href", "/t/canonical.html", "upgraded",
         "htmltest TestLinkHrefBrokenCanonicalOption (rel=canonical is checked); an owned page first "
         "seen in <link> is HEAD-checked, found to be HTML and then crawled"),
    Kind("script-src", "kinds/script.html", "script", "src", "/t/app.js", "asset",
         "htmltest TestScriptInternalSrcValid; LinkChecker test_all_parts (script src)"),
    Kind("iframe-src", "kinds/iframe.html", "iframe", "src", "/t/iframe.html", "page",
         "htmltest TestCheckGenericTable (iframeValid.html)"),
    Kind("frame-src", "kinds/frameset.html", "frame", "src", "/t/frame.html", "page",
         "LinkChecker test_frames (frameset/frame src)"),
    Kind("source-srcset", "kinds/picture.html", "source", "srcset", "/t/pic.webp", "asset",
         "htmltest TestImageSrcSet, on <picture><source srcset>"),
    Kind("source-src", "kinds/video.html", "source", "src", "/t/clip.webm", "asset",
         "htmltest TestCheckGenericTable (videoValid.html: video > source src)"),
    Kind("video-src", "kinds/video.html", "video", "src", "/t/clip.mp4", "asset",
         "htmltest TestCheckGenericTable (videoValid.html: video src)"),
    Kind("video-poster", "kinds/video.html", "video", "poster", "/t/poster.png", "asset",
         "htmltest TestCheckGenericTable (videoBroken.html counts poster)"),
    Kind("audio-src", "kinds/audio.html", "audio", "src", "/t/sound.mp3", "asset",
         "htmltest TestCheckGenericTable (audioValid.html)"),
    Kind("object-data", "kinds/object.html", "object", "data", "/t/doc.pdf", "asset",
         "htmltest TestCheckGenericTable (objectValid.html)"),
    Kind("meta-refresh", "kinds/refresh.html", "meta", "content", "/t/refresh.html", "page",
         "htmltest TestMetaRefreshInternalValid; LinkChecker test_all_parts (meta refresh)"),
    Kind("base-href", "kinds/base.html", "a", "href", "/based/page.html", "page",
         "LinkChecker test_base; htmltest TestAnchorInternalRelativeLinksBase"),
]


@pytest.mark.parametrize("case", KINDS, ids=[k.id for k in KINDS])
def test_link_kind(links_crawl, case):
    """Each kind of link is extracted with its tag, attribute and source line, and checked."""
    source, target = f"{WWW}/{case.page}", WWW + case.target
    link = links_crawl.link(source, target)
    needle = "page.html" if case.id == "base-href" else case.target
    assert (link["tag"], link["attr"], link["line"], link["tier"]) == \
        (case.tag, case.attr, line_of("links", case.page, needle), "site")
    page = links_crawl.page(target)
    assert verdict_of(page) == ("ok", 200, None)
    seen = methods(links_crawl.servers["www"], case.target)
    if case.role == "page":  # crawled: fetched once with GET
        assert (page["role"], seen) == ("page", ["GET"])
    elif case.role == "asset":  # checked, not crawled: one HEAD
        assert (page["role"], seen) == ("asset", ["HEAD"])
    elif case.role == "stylesheet":  # read for its url()s: one GET
        assert (page["role"], seen) == ("asset", ["GET"])
    else:  # "upgraded": HEAD says text/html, so it is crawled like a page
        assert (page["role"], seen) == ("page", ["HEAD", "GET"])
    assert_findings_from(links_crawl, source, set())


def test_base_href_is_honoured(links_crawl):
    # LinkChecker test_base: without <base> the link would point at /kinds/page.html (a 404).
    assert links_crawl.pages_at(WWW + "/kinds/page.html") == []
    assert methods(links_crawl.servers["www"], "/kinds/page.html") == []


def test_broken_image_is_a_high_broken_link(links_crawl):
    # htmltest TestImageInternalMissing: a missing owned image is an error.
    source, target = WWW + "/kinds/broken-img.html", WWW + "/t/missing.png"
    assert verdict_of(links_crawl.page(target)) == ("broken", 404, None)
    f = links_crawl.finding("broken-link", target)
    assert (f["severity"], f["sources"], f["detail"]["status"]) == ("high", [source], 404)
    assert f["locations"] == [{"url": source, "line": line_of("links", "kinds/broken-img.html", "/t/missing.png")}]


# -- fragments ---------------------------------------------------------------------------------
# (id, page under links/frag/, the missing-anchor target expected or None)
FRAGMENTS = [
    # htmltest TestAnchorHashInternalValid; LinkChecker test_anchor (anchor present)
    ("id-present", "present.html", None),
    # htmltest TestAnchorHashInternalBroken; LinkChecker test_anchor ("Anchor `broken' not found")
    ("id-missing", "missing.html", WWW + "/frag/target.html#absent"),
    # LinkChecker test_anchor: <a name="..."> is a valid target
    ("a-name", "name.html", None),
    # LinkChecker urlencoding_anchor.html; htmltest TestAnchorInternalHashWeird: %-encoded fragment = decoded id
    ("percent-encoded", "encoded.html", None),
    # htmltest TestAnchorHashSelfValid / TestAnchorHashSelf
    ("self-present", "self-present.html", None),
    # htmltest TestAnchorHashSelfBroken
    ("self-missing", "self-missing.html", WWW + "/frag/self-missing.html#nowhere"),
    # htmltest TestAnchorInternalHashBlankOption (IgnoreInternalEmptyHash): "#" alone is never an error
    ("bare-hash", "hash.html", None),
    # HTML spec: "#top" scrolls to the top even without an element named top
    ("top", "top.html", None),
    # single-page app routes are not anchors
    ("spa-route", "route.html", None),
    ("hashbang", "hashbang.html", None),
]


@pytest.mark.parametrize("case_id, rel, missing", FRAGMENTS, ids=[c[0] for c in FRAGMENTS])
def test_fragment(links_crawl, case_id, rel, missing):
    source = f"{WWW}/frag/{rel}"
    (link,) = links_crawl.links_from(source)
    href = (CONF / "links/frag" / rel).read_text().split('href="', 1)[1].split('"', 1)[0]
    assert link["line"] == line_of("links", f"frag/{rel}", f'href="{href}"')
    if missing is None:
        assert_findings_from(links_crawl, source, set())
        return
    assert_findings_from(links_crawl, source, {("missing-anchor", "medium", missing)})
    f = links_crawl.finding("missing-anchor", missing)
    assert f["sources"] == [source]
    assert f["locations"] == [{"url": source, "line": link["line"]}]


# -- schemes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("case_id, rel, target", [
    # LinkChecker test_mail_good; htmltest TestMailtoValid: recorded, not fetched (no mail is sent)
    ("mailto", "mailto.html", "mailto:sales@conf.test"),
    # htmltest TestTelValid
    ("tel", "tel.html", "tel:+15550100"),
], ids=["mailto", "tel"])
def test_contact_links_recorded_never_fetched(links_crawl, case_id, rel, target):
    source = f"{WWW}/schemes/{rel}"
    link = links_crawl.link(source, target)
    assert (link["tier"], link["line"]) == ("contact", line_of("links", f"schemes/{rel}", target))
    assert links_crawl.pages_at(target) == []
    assert not [p for p in links_crawl.report["pages"] if not p["url"].startswith("http")]
    assert_findings_from(links_crawl, source, set())


def test_javascript_links_ignored(links_crawl):
    # htmltest TestAnchorJavascriptLinkIgnore
    source = WWW + "/schemes/javascript.html"
    assert links_crawl.links_from(source) == []
    assert not [link for link in links_crawl.report["links"] if link["target"].startswith("javascript:")]
    assert_findings_from(links_crawl, source, set())


@pytest.mark.parametrize("case_id, rel, target, rule, severity", [
    # LinkChecker test_ftp; htmltest TestAnchorOtherProtocols: reported (info), never fetched
    ("ftp", "ftp.html", "ftp://ftp.conf.test/pub/file.zip", "unsupported-scheme", "info"),
    # htmltest TestAnchorExternalHrefMalformed: a malformed URL is reported (a typo every visitor
    # hits: medium), the crawl goes on
    ("malformed", "malformed.html", "http://exa mple.conf.test/", "malformed-url", "medium"),
], ids=["ftp-unsupported-scheme", "malformed-url"])
def test_unsupported_scheme(links_crawl, case_id, rel, target, rule, severity):
    source = f"{WWW}/schemes/{rel}"
    assert_findings_from(links_crawl, source, {(rule, severity, target)})
    assert links_crawl.link(source, target)["kind"] == ("malformed" if case_id == "malformed" else "other")
    f = links_crawl.finding(rule, target)
    assert f["locations"] == [{"url": source, "line": line_of("links", f"schemes/{rel}", target)}]
    assert links_crawl.pages_at(target) == []


# -- normalisation ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Norm:
    id: str
    page: str
    key: str                 # the de-duplication key (pages[].url)
    targets: tuple           # links[].target of the two links (normalised, tracking kept)
    paths: tuple             # every path the server could see for this URL
    mirrors: str


NORMS = [
    Norm("scheme-host-case", "norm/host.html", "/norm/host-t.html",
         ("/norm/host-t.html", "/norm/host-t.html"), ("/norm/host-t.html",),
         "LinkChecker test_http_lowercase; RFC 3986 6.2.2.1"),
    Norm("default-port", "norm/port.html", "/norm/port-t.html",
         ("/norm/port-t.html", "/norm/port-t.html"), ("/norm/port-t.html",), "RFC 3986 6.2.3 (:443 dropped)"),
    Norm("percent-encoding", "norm/pct.html", "/norm/pct-t.html",
         ("/norm/pct-t.html", "/norm/pct-t.html"), ("/norm/pct-t.html",),
         "htmltest TestAnchorInternalHrefUrlEncoded; LinkChecker test_http_url_quote"),
    Norm("dot-segments", "norm/dots.html", "/norm/dots-t.html",
         ("/norm/dots-t.html", "/norm/dots-t.html"), ("/norm/dots-t.html",),
         "RFC 3986 5.2.4; htmltest TestAnchorInternalRelativeLinks"),
    Norm("index-html", "norm/indexfile.html", "/norm/dir/",
         ("/norm/dir/", "/norm/dir/index.html"), ("/norm/dir/", "/norm/dir/index.html"),
         "htmltest TestAnchorDirectoryRootResolve (implicit /index.html)"),
    Norm("utm-params", "norm/utm.html", "/norm/utm-t.html",
         ("/norm/utm-t.html", "/norm/utm-t.html?utm_source=news&utm_medium=email"), ("/norm/utm-t.html",),
         "htmltest TestAnchorExternalCache (check_just_once: same URL, other query)"),
    Norm("gclid", "norm/gclid.html", "/norm/gclid-t.html",
         ("/norm/gclid-t.html?gclid=abc123", "/norm/gclid-t.html"), ("/norm/gclid-t.html",),
         "tracking parameters do not change the page"),
    Norm("fbclid", "norm/fbclid.html", "/norm/fbclid-t.html",
         ("/norm/fbclid-t.html?fbclid=xyz789", "/norm/fbclid-t.html"), ("/norm/fbclid-t.html",),
         "tracking parameters do not change the page"),
]


@pytest.mark.parametrize("case", NORMS, ids=[n.id for n in NORMS])
def test_normalisation_one_fetch(links_crawl, case):
    """Two spellings of one URL: both links recorded (normalised), one pages[] row, one request."""
    source = f"{WWW}/{case.page}"
    got = sorted(link["target"] for link in links_crawl.links_from(source))
    assert got == sorted(WWW + t for t in case.targets)
    page = links_crawl.page(WWW + case.key)
    assert verdict_of(page) == ("ok", 200, None)
    hits = [m for p in case.paths for m in methods(links_crawl.servers["www"], p)]
    assert hits == ["GET"], f"{case.key} should be fetched once, the server saw {hits}"
    assert_findings_from(links_crawl, source, set())


# ================================================================================================
# 2. status: answers, redirects, error kinds, HEAD/GET, one check per URL
# ================================================================================================
@pytest.fixture(scope="module")
def status_crawl(module_site_server, tmp_path_factory, tls_context):
    www = module_site_server(CONF / "status", {
        "/moved-301": redirect(301, "/final-301.html"),
        "/moved-308": redirect(308, "/final-308.html"),
        "/moved-302": redirect(302, "/final-302.html"),
        "/hop1": redirect(302, "/hop2"),
        "/hop2": redirect(302, "/hop3"),
        "/hop3": redirect(302, "/chain-final.html"),
        "/two1": redirect(302, "/two2"),
        "/two2": redirect(302, "/two-final.html"),
        "/loop-a": redirect(302, "/loop-b"),
        "/loop-b": redirect(302, "/loop-a"),
        "/self-loop": redirect(302, "/self-loop"),
        "/gone": Route(410, body="gone"),
        "/crash": Route(500, body="crash"),
        "/to-missing": redirect(302, "/nowhere.html"),
    })
    ext = module_site_server(None, {
        "/error-500": Route(500, body="oops"),
        "/old": redirect(301, "/new"),
        "/new": Route(200, body="<title>new</title>"),
        "/slow": Slow(5, Route(200, body="too late")),
        "/head-ok": Route(200, body="ok"),
        "/head-405": ByMethod(Route(405), Route(200, body="ok")),
        "/head-501": ByMethod(Route(501), Route(200, body="ok")),
        "/head-403": ByMethod(Route(403), Route(200, body="ok")),
        "/head-404": ByMethod(Route(404), Route(200, body="ok")),
        "/ext-page": ByMethod(Route(405), Route(200, body='<html><body><a href="/ext-deeper">deeper</a>'
                                                         '</body></html>')),
        "/ext-deeper": Route(200, body="never asked"),
    })
    tls = make_https(module_site_server(None, {"/secure.html": Route(200, body="<title>secure</title>")}),
                     tls_context)
    return run_crawl(
        "status", tmp_path_factory, WWW + "/", *www_to(www), *ext_to(ext),
        *remap(r"^https://nxdomain\.conf\.test/(.*)", f"http://{UNRESOLVABLE}/\\1"),
        *remap(r"^https://refused\.conf\.test/(.*)", f"http://127.0.0.1:{free_port()}/\\1"),
        *remap(r"^https://tls\.conf\.test/(.*)", https_url(tls) + r"/\1"),
        "--no-check-social", "--timeout", "2", "--fail-on", "never",
        servers={"www": www, "ext": ext, "tls": tls})


@dataclass(frozen=True)
class StatusCase:
    id: str
    page: str                    # fixture page under status/ holding the link
    target: str                  # public URL linked
    verdict: tuple               # (verdict, status, error_kind) of pages[] for target
    findings: frozenset = frozenset()  # {(rule, severity)} on target from this page
    redirects: tuple | None = None     # ((url, status), ...) hop by hop, when it redirects
    final_url: str | None = None
    detail: dict | None = None   # subset of the finding's detail
    requests: tuple | None = None  # (server, path, [methods]) the server saw
    mirrors: str = ""
    finding_target: str | None = None  # when the finding is about a shared cause, not the URL


S = WWW
STATUS_CASES = [
    StatusCase("2xx-ok", "ok.html", S + "/ok-t.html", ("ok", 200, None),
               mirrors="LinkChecker test_http (200 valid)"),
    StatusCase("301-owned-redirect", "r301.html", S + "/moved-301", ("ok", 301, None), {("redirect", "low")},
               ((S + "/moved-301", 301),), S + "/final-301.html",
               mirrors="LinkChecker test_http_redirect (301, 'Redirected to ...' warning)"),
    StatusCase("308-owned-redirect", "r308.html", S + "/moved-308", ("ok", 308, None), {("redirect", "low")},
               ((S + "/moved-308", 308),), S + "/final-308.html", mirrors="LinkChecker test_http_redirect (308)"),
    StatusCase("302-temporary-no-finding", "r302.html", S + "/moved-302", ("ok", 302, None), set(),
               ((S + "/moved-302", 302),), S + "/final-302.html",
               mirrors="htmltest TestAnchorExternalFollowRedirects (temporary redirects are followed quietly)"),
    StatusCase("directory-without-slash", "dir-slash.html", S + "/docs", ("ok", 301, None), {("redirect", "low")},
               ((S + "/docs", 301),), S + "/docs/", mirrors="htmltest TestAnchorDirectoryNoTrailingSlash",
               # every link that only lacks its trailing slash is one finding for the site
               finding_target=S + "/",
               detail={"cause": "trailing-slash", "redirects": [{"url": S + "/docs", "final_url": S + "/docs/"}]}),
    StatusCase("redirect-chain-3-hops", "chain3.html", S + "/hop1", ("ok", 302, None),
               {("redirect-chain", "medium")},
               ((S + "/hop1", 302), (S + "/hop2", 302), (S + "/hop3", 302)), S + "/chain-final.html",
               detail={"redirects": [{"url": S + "/hop1", "status": 302}, {"url": S + "/hop2", "status": 302},
                                     {"url": S + "/hop3", "status": 302}]},
               mirrors="LinkChecker test_http_redirect (redirect followed hop by hop)"),
    StatusCase("redirect-2-hops-no-chain", "chain2.html", S + "/two1", ("ok", 302, None), set(),
               ((S + "/two1", 302), (S + "/two2", 302)), S + "/two-final.html",
               mirrors="two hops are not yet a chain"),
    StatusCase("redirect-loop", "loop.html", S + "/loop-a", ("broken", 302, None), {("redirect-loop", "high")},
               ((S + "/loop-a", 302), (S + "/loop-b", 302)), S + "/loop-a",
               mirrors="LinkChecker test_http_redirect (recursive redirection)"),
    StatusCase("redirect-self-loop", "self-loop.html", S + "/self-loop", ("broken", 302, None),
               {("redirect-loop", "high")}, ((S + "/self-loop", 302),), S + "/self-loop",
               mirrors="LinkChecker test_http_redirect (redirect to itself)"),
    StatusCase("404-owned", "e404.html", S + "/no-such-page.html", ("broken", 404, None), {("broken-link", "high")},
               detail={"status": 404, "error_kind": None}, mirrors="htmltest TestAnchorInternalBroken"),
    StatusCase("410-owned", "e410.html", S + "/gone", ("broken", 410, None), {("broken-link", "high")},
               detail={"status": 410}, mirrors="LinkChecker test_http (4xx error)"),
    StatusCase("500-owned", "e500.html", S + "/crash", ("broken", 500, None), {("broken-link", "high")},
               detail={"status": 500}, mirrors="LinkChecker test_http (5xx error)"),
    StatusCase("redirect-to-404", "redirect-404.html", S + "/to-missing", ("broken", 302, None),
               {("broken-link", "high")}, ((S + "/to-missing", 302),), S + "/nowhere.html",
               detail={"status": 404}, mirrors="LinkChecker test_http_redirect (redirect to a missing page)"),
    StatusCase("404-external", "ext-404.html", EXT + "/missing", ("broken", 404, None), {("broken-link", "medium")},
               detail={"status": 404}, requests=("ext", "/missing", ["HEAD", "GET"]),
               mirrors="htmltest TestAnchorExternalBroken"),
    StatusCase("500-external", "ext-500.html", EXT + "/error-500", ("broken", 500, None),
               {("broken-link", "medium")}, detail={"status": 500}, mirrors="LinkChecker test_http (external 5xx)"),
    StatusCase("301-external-no-finding", "ext-301.html", EXT + "/old", ("ok", 301, None), set(),
               ((EXT + "/old", 301),), EXT + "/new",
               mirrors="htmltest TestAnchorExternalFollowRedirects (not ours to fix: no redirect finding)"),
    # (nxdomain., refused. and tls.conf.test are hosts of the site's own domain: the company's, so
    # a broken link to one is high, as to the site; issue 19 item 4)
    StatusCase("dns-error", "dns.html", "https://nxdomain.conf.test/", ("broken", None, "dns"),
               {("broken-link", "high")}, detail={"status": None, "error_kind": "dns"},
               mirrors="LinkChecker http_invalid_host.html; htmltest TestAnchorExternalMissingProtocolInvalid"),
    StatusCase("connection-refused", "refused.html", "https://refused.conf.test/", ("broken", None, "refused"),
               {("broken-link", "high")}, detail={"status": None, "error_kind": "refused"},
               mirrors="LinkChecker test_error (connection refused)"),
    StatusCase("timeout", "timeout.html", EXT + "/slow", ("broken", None, "timeout"), {("broken-link", "medium")},
               detail={"status": None, "error_kind": "timeout"}, mirrors="htmltest TestAnchorExternalHrefIPTimeout"),
    StatusCase("tls-verified-by-default", "tls.html", "https://tls.conf.test/secure.html", ("broken", None, "tls"),
               {("broken-link", "high")}, detail={"status": None, "error_kind": "tls"},
               requests=("tls", "/secure.html", []),
               mirrors="htmltest TestSelfSignedLink / TestAnchorExternalHTTPSInvalid; LinkChecker test_https"),
    StatusCase("head-ok-no-get", "head-ok.html", EXT + "/head-ok", ("ok", 200, None),
               requests=("ext", "/head-ok", ["HEAD"]), mirrors="LinkChecker checks with HEAD first"),
    StatusCase("head-405-get-fallback", "head-405.html", EXT + "/head-405", ("ok", 200, None),
               requests=("ext", "/head-405", ["HEAD", "GET"]), mirrors="LinkChecker test_http_misc (HEAD not allowed)"),
    StatusCase("head-501-get-fallback", "head-501.html", EXT + "/head-501", ("ok", 200, None),
               requests=("ext", "/head-501", ["HEAD", "GET"]), mirrors="servers without HEAD (501)"),
    StatusCase("head-403-get-fallback", "head-403.html", EXT + "/head-403", ("ok", 200, None),
               requests=("ext", "/head-403", ["HEAD", "GET"]), mirrors="servers refusing HEAD (403)"),
    StatusCase("head-404-get-fallback", "head-404.html", EXT + "/head-404", ("ok", 200, None),
               requests=("ext", "/head-404", ["HEAD", "GET"]), mirrors="servers answering HEAD wrongly (404)"),
]


@pytest.mark.parametrize("case", STATUS_CASES, ids=[c.id for c in STATUS_CASES])
def test_status(status_crawl, case):
    source = f"{WWW}/{case.page}"
    link = status_crawl.link(source, case.target)
    line = line_of("status", case.page, f'href="{href_of(case.target)}"')
    assert link["line"] == line
    page = status_crawl.page(case.target)
    assert verdict_of(page) == case.verdict
    if case.redirects is not None:
        assert [(r["url"], r["status"]) for r in page["redirects"]] == list(case.redirects)
        assert page["final_url"] == case.final_url
    else:
        assert page["redirects"] == []
    target = case.finding_target or case.target
    assert_findings_from(status_crawl, source, {(r, s, target) for r, s in case.findings})
    for rule, _ in case.findings:
        f = status_crawl.finding(rule, target)
        assert f["sources"] == [source]
        assert f["locations"] == [{"url": source, "line": line}]
        for key, value in (case.detail or {}).items():
            assert f["detail"].get(key) == value, (key, f["detail"])
    if case.requests:
        server, path, expected = case.requests
        assert methods(status_crawl.servers[server], path) == expected


def test_external_checked_once_per_url(status_crawl):
    # htmltest TestAnchorErrorDuplication: one URL linked from three
    # pages is fetched once (one HEAD, one GET fallback) and reported once, with all three sources.
    target = EXT + "/shared-broken"
    sources = [f"{WWW}/once-{i}.html" for i in (1, 2, 3)]
    f = status_crawl.finding("broken-link", target)
    assert (f["severity"], sorted(f["sources"]), f["count"]) == ("medium", sources, 3)
    line = line_of("status", "once-1.html", target)
    assert sorted(f["locations"], key=lambda loc: loc["url"]) == [{"url": s, "line": line} for s in sources]
    assert verdict_of(status_crawl.page(target)) == ("broken", 404, None)
    assert methods(status_crawl.servers["ext"], "/shared-broken") == ["HEAD", "GET"]


def test_external_pages_not_crawled(status_crawl):
    # LinkChecker: external URLs are checked, never recursed into (--check-extern checks, no recursion).
    target = EXT + "/ext-page"
    assert verdict_of(status_crawl.page(target)) == ("ok", 200, None)
    assert status_crawl.page(target)["role"] == "external"
    assert status_crawl.links_from(target) == []
    assert methods(status_crawl.servers["ext"], "/ext-deeper") == []


def test_tls_insecure_skips_verification(site_server, tmp_path, tls_context):
    # htmltest TestSelfSignedLinkIgnoreSSLVerify; LinkChecker sslverify=0: --insecure
    # accepts the self-signed certificate that the default (verifying) crawl rejects.
    www = site_server(CONF / "tls")
    tls = make_https(site_server(None, {"/secure.html": Route(200, body="<title>secure</title>")}), tls_context)
    result, report = audit_json(tmp_path, WWW + "/", *www_to(www),
                                *remap(r"^https://tls\.conf\.test/(.*)", https_url(tls) + r"/\1"),
                                "--insecure", "--no-check-social", "--fail-on", "never")
    crawl = Crawl("tls-insecure", result, report, 0)
    target = "https://tls.conf.test/secure.html"
    assert verdict_of(crawl.page(target)) == ("ok", 200, None)
    assert crawl.link(WWW + "/", target)["line"] == line_of("tls", "index.html", target)
    assert crawl.findings() == []


# ================================================================================================
# 3. blocked: Retry-After, rate limits, platforms that block crawlers
# ================================================================================================
@pytest.fixture(scope="module")
def blocked_crawl(module_site_server, tmp_path_factory):
    routes = {
        "/busy-once": Sequence(Route(429, {"Retry-After": "1"}, "slow down"), Route(200, body="ok")),
        "/unavailable-once": Sequence(Route(503, {"Retry-After": "1"}, "maintenance"), Route(200, body="ok")),
        "/always-busy": Sequence(Route(429, {"Retry-After": "1"}, "slow down")),
        "/always-unavailable": Sequence(Route(503, {"Retry-After": "1"}, "maintenance")),
        "/cf-challenge": Route(403, {"cf-mitigated": "challenge", "Server": "cloudflare"}, "Just a moment..."),
        "/waf": Route(202, {"x-amzn-waf-action": "challenge"}, ""),
        "/members": redirect(302, "/login"),
        "/login": Route(200, body="<title>log in</title>"),
    }
    ext = module_site_server(None, routes)
    social = module_site_server(None, {
        "/linkedin.com/company/conf": Route(999, body="blocked"),
        "/twitter.com/conf": redirect(302, "/i/flow/login?redirect_after_login=%2Fconf"),
        "/twitter.com/i/flow/login": Route(200, body="<title>Log in to X</title>"),
        "/linkedin.com/in/conf-founder": redirect(
            302, "https://www.linkedin.com/authwall?trk=public_profile&sessionRedirect=%2Fin%2Fconf-founder"),
        "/linkedin.com/authwall": Route(200, body="<title>Sign Up | LinkedIn</title>"),
        "/instagram.com/conf/": redirect(302, "/accounts/login/?next=/conf/"),
        "/instagram.com/accounts/login/": Route(200, body="<title>Login</title>"),
        "/facebook.com/conf": redirect(
            302, "https://www.facebook.com/login/?next=https%3A%2F%2Fwww.facebook.com%2Fconf"),
        "/facebook.com/login/": Route(200, body="<title>Log into Facebook</title>"),
    })
    www = module_site_server(CONF / "blocked")
    crawl = run_crawl(
        "blocked", tmp_path_factory, WWW + "/", *www_to(www), *ext_to(ext),
        *remap(r"^https://(?:www\.)?(twitter\.com|linkedin\.com|instagram\.com|facebook\.com)/(.*)",
               social.url + r"/\1/\2"),
        "--fail-on", "never", servers={"www": www, "ext": ext, "social": social})
    crawl.routes = routes
    return crawl


@pytest.mark.parametrize("case_id, path", [
    # LinkChecker/lychee honour Retry-After on 429 and try again: the link works
    ("429-retry-after-then-ok", "/busy-once"),
    # RFC 9110 10.2.3: Retry-After on 503 (maintenance) means "come back later", not broken
    ("503-retry-after-then-ok", "/unavailable-once"),
], ids=["429-retry-after-then-ok", "503-retry-after-then-ok"])
def test_retry_after_waited_and_retried(blocked_crawl, case_id, path):
    target = EXT + path
    page = blocked_crawl.page(target)
    assert verdict_of(page) == ("ok", 200, None)
    times = blocked_crawl.routes[path].times
    assert len(times) == 2, f"expected one retry, the server was asked {len(times)} times"
    assert times[1] - times[0] >= 0.9, f"retried after {times[1] - times[0]:.2f}s, Retry-After said 1s"
    source = f"{WWW}/{'retry-429' if '429' in case_id else 'retry-503'}.html"
    assert blocked_crawl.link(source, target)["line"] == line_of("blocked", source.rsplit("/", 1)[1], target)
    assert_findings_from(blocked_crawl, source, set())


def test_rate_limited_host_is_unverified(blocked_crawl):
    # A host that keeps answering 429 is neither working nor broken: unverified, "rate limited".
    target, source = EXT + "/always-busy", WWW + "/always-429.html"
    page = blocked_crawl.page(target)
    assert verdict_of(page) == ("unverified", 429, None)
    assert "rate limited" in page["label"].lower()
    times = blocked_crawl.routes["/always-busy"].times
    assert 2 <= len(times) <= 10, f"retries must happen and be bounded; the server was asked {len(times)} times"
    assert_findings_from(blocked_crawl, source, {("unverified-link", "info", target)})
    f = blocked_crawl.finding("unverified-link", target)
    assert f["locations"] == [{"url": source, "line": line_of("blocked", "always-429.html", target)}]


def test_503_retry_after_until_bounded_then_broken(blocked_crawl):
    # A 503 with Retry-After is waited for and retried a bounded number of times; if the host is
    # still unavailable, the link is broken (a 5xx), not unverified.
    target, source = EXT + "/always-unavailable", WWW + "/always-503.html"
    assert verdict_of(blocked_crawl.page(target)) == ("broken", 503, None)
    times = blocked_crawl.routes["/always-unavailable"].times
    assert 2 <= len(times) <= 10, f"retries must happen and be bounded; the server was asked {len(times)} times"
    assert times[1] - times[0] >= 0.9
    assert_findings_from(blocked_crawl, source, {("broken-link", "medium", target)})
    f = blocked_crawl.finding("broken-link", target)
    assert (f["detail"]["status"], f["locations"]) == \
        (503, [{"url": source, "line": line_of("blocked", "always-503.html", target)}])


# (id, fixture page, target, own status, role, finding from this page or None)
BLOCKED = [
    # LinkedIn answers 999 to crawlers (lychee/linkinator special-case it): not a broken link
    ("linkedin-999", "linkedin-999.html", "https://www.linkedin.com/company/conf", 999, "profile", None),
    # Cloudflare bot challenge: 403 with cf-mitigated: challenge
    ("cloudflare-challenge", "cloudflare.html", EXT + "/cf-challenge", 403, "external", "unverified-link"),
    # AWS WAF challenge: x-amzn-waf-action header
    ("aws-waf", "aws-waf.html", EXT + "/waf", 202, "external", "unverified-link"),
    # LinkChecker test_loginurl territory: a profile that redirects to a login wall
    ("twitter-login-wall", "twitter-login.html", "https://twitter.com/conf", 302, "profile", None),
    ("linkedin-authwall", "linkedin-authwall.html", "https://www.linkedin.com/in/conf-founder", 302, "profile", None),
    ("instagram-login-wall", "instagram-login.html", "https://www.instagram.com/conf/", 302, "profile", None),
    ("facebook-login-wall", "facebook-login.html", "https://www.facebook.com/conf", 302, "profile", None),
]


@pytest.mark.parametrize("case_id, rel, target, status, role, rule", BLOCKED, ids=[b[0] for b in BLOCKED])
def test_blocked_is_unverified(blocked_crawl, case_id, rel, target, status, role, rule):
    source = f"{WWW}/{rel}"
    assert blocked_crawl.link(source, target)["line"] == line_of("blocked", rel, target)
    # a profile is one page under its account's key, however it is written (instagram.com/conf/)
    page = blocked_crawl.page(Scope().account_key(target) or target if role == "profile" else target)
    assert (verdict_of(page), page["role"]) == (("unverified", status, None), role)
    expected = {(rule, "info", target)} if rule else set()
    assert_findings_from(blocked_crawl, source, expected)


def test_login_redirect_off_social_platforms_is_followed(blocked_crawl):
    # Only social platforms have login walls; elsewhere a redirect to /login is an ordinary redirect.
    target, source = EXT + "/members", WWW + "/members-login.html"
    page = blocked_crawl.page(target)
    assert verdict_of(page) == ("ok", 302, None)
    assert ([(r["url"], r["status"]) for r in page["redirects"]], page["final_url"]) == \
        ([(target, 302)], EXT + "/login")
    assert_findings_from(blocked_crawl, source, set())


# ================================================================================================
# 4. robots.txt (RFC 9309)
# ================================================================================================
def robots_servers(make):
    www = make(CONF / "robots")
    failing = make(None, {"/robots.txt": Route(500, body="oops"), "/page.html": Route(200, body="<title>p</title>")})
    forbidden = make(None, {"/robots.txt": Route(403, body="no"), "/page.html": Route(200, body="<title>p</title>")})
    args = [*www_to(www), *remap(r"^https://robots5xx\.conf\.test/(.*)", failing.url + r"/\1"),
            *remap(r"^https://robots4xx\.conf\.test/(.*)", forbidden.url + r"/\1")]
    return {"www": www, "robots5xx": failing, "robots4xx": forbidden}, args


@pytest.fixture(scope="module")
def robots_crawl(module_site_server, tmp_path_factory):
    servers, args = robots_servers(module_site_server)
    return run_crawl("robots", tmp_path_factory, WWW + "/", *args, "--no-check-social", "--fail-on", "never",
                     servers=servers)


@pytest.fixture(scope="module")
def robots_ignored_crawl(module_site_server, tmp_path_factory):
    servers, args = robots_servers(module_site_server)
    return run_crawl("robots-ignored", tmp_path_factory, WWW + "/", *args, "--no-check-social", "--ignore-robots",
                     "--fail-on", "never", servers=servers)


# (id, page under robots/cases/, target, server, path, allowed)
ROBOTS = [
    # LinkChecker test_http_robots: a disallowed URL is not fetched and says so
    ("disallowed", "disallowed.html", WWW + "/private/secret.html", "www", "/private/secret.html", False),
    # RFC 9309 2.2.2: the most specific (longest) match wins: Allow /private/open- beats Disallow /private/
    ("longest-match-allow", "longest-allow.html", WWW + "/private/open-door.html", "www",
     "/private/open-door.html", True),
    # ... in either order: Disallow /docs/internal/ beats the earlier, shorter Allow /docs/
    ("longest-match-disallow", "longest-disallow.html", WWW + "/docs/internal/notes.html", "www",
     "/docs/internal/notes.html", False),
    ("allowed", "allowed.html", WWW + "/docs/guide.html", "www", "/docs/guide.html", True),
    # RFC 9309 2.2.2: equivalent Allow and Disallow rules: Allow is used
    ("equal-length-allow-wins", "equal-length.html", WWW + "/equal/page.html", "www", "/equal/page.html", True),
    # RFC 9309 2.3.1.4: robots.txt unreachable (5xx): assume complete disallow
    ("robots-5xx-disallow-all", "robots-5xx.html", "https://robots5xx.conf.test/page.html", "robots5xx",
     "/page.html", False),
    # RFC 9309 2.3.1.3: robots.txt unavailable (4xx, even 403): crawl without restrictions
    ("robots-4xx-allow-all", "robots-4xx.html", "https://robots4xx.conf.test/page.html", "robots4xx",
     "/page.html", True),
]


@pytest.mark.parametrize("case_id, rel, target, server, path, allowed", ROBOTS, ids=[r[0] for r in ROBOTS])
def test_robots(robots_crawl, case_id, rel, target, server, path, allowed):
    source = f"{WWW}/cases/{rel}"
    line = line_of("robots", f"cases/{rel}", f'href="{href_of(target)}"')
    assert robots_crawl.link(source, target)["line"] == line
    page = robots_crawl.page(target)
    seen = methods(robots_crawl.servers[server], path)
    if allowed:
        assert verdict_of(page) == ("ok", 200, None)
        assert seen
        assert_findings_from(robots_crawl, source, set())
    else:
        assert verdict_of(page) == ("skipped", None, "robots")
        assert seen == [], "a URL robots.txt disallows must not be fetched"
        assert_findings_from(robots_crawl, source, {("skipped-link", "info", target)})
        f = robots_crawl.finding("skipped-link", target)
        assert f["locations"] == [{"url": source, "line": line}]


@pytest.mark.parametrize("target, server, path", [
    (WWW + "/private/secret.html", "www", "/private/secret.html"),
    (WWW + "/docs/internal/notes.html", "www", "/docs/internal/notes.html"),
    ("https://robots5xx.conf.test/page.html", "robots5xx", "/page.html"),
], ids=["disallowed", "longest-match-disallow", "robots-5xx"])
def test_ignore_robots(robots_ignored_crawl, target, server, path):
    # LinkChecker --no-robots / htmltest (never reads robots): --ignore-robots fetches everything.
    assert verdict_of(robots_ignored_crawl.page(target)) == ("ok", 200, None)
    assert methods(robots_ignored_crawl.servers[server], path)
    assert robots_ignored_crawl.findings({"skipped-link"}) == []


# ================================================================================================
# 5. sitemaps: seeds and orphan pages
# ================================================================================================
SHOP = "https://shop.conf.test"


@pytest.fixture(scope="module")
def sitemaps_crawl(module_site_server, tmp_path_factory):
    # Two sites in one crawl: www.conf.test names its sitemaps in robots.txt (an index with a plain and
    # a gzip sitemap, and a second Sitemap: line); shop.conf.test has no robots.txt, only /sitemap.xml.
    www = module_site_server(CONF / "sitemaps/www")
    shop = module_site_server(CONF / "sitemaps/shop")
    return run_crawl("sitemaps", tmp_path_factory, WWW + "/", SHOP + "/", *www_to(www),
                     *remap(r"^https://shop\.conf\.test/(.*)", shop.url + r"/\1"),
                     "--site", WWW + "/", "--site", SHOP + "/", "--no-check-social", "--no-check-external",
                     "--fail-on", "never", servers={"www": www, "shop": shop})


@pytest.mark.parametrize("case_id, server, url", [
    # LinkChecker sitemap.xml test data: the URLs of /sitemap.xml are checked
    ("sitemap-xml", "shop", SHOP + "/from-sitemap.html"),
    # LinkChecker sitemapindex.xml: a sitemap index is followed to its sitemaps
    ("sitemap-index", "www", WWW + "/from-index.html"),
    # sitemaps.org: a sitemap may be gzip-compressed (.xml.gz)
    ("sitemap-gz", "www", WWW + "/from-gz.html"),
    # RFC 9309 2.2.4 / sitemaps.org: robots.txt "Sitemap:" lines name the sitemaps
    ("robots-sitemap-line", "www", WWW + "/from-robots.html"),
], ids=["sitemap-xml", "sitemap-index", "sitemap-gz", "robots-sitemap-line"])
def test_sitemap_seeds_orphan_page(sitemaps_crawl, case_id, server, url):
    page = sitemaps_crawl.page(url)
    assert (verdict_of(page), page["role"]) == (("ok", 200, None), "page")
    assert methods(sitemaps_crawl.servers[server], urlsplit(url).path) == ["GET"]
    f = sitemaps_crawl.finding("orphan-page", url)
    assert f["severity"] == "low"


def test_sitemap_page_linked_is_not_orphan(sitemaps_crawl):
    # /linked.html and the home pages are in sitemaps and linked from crawled pages: no orphan-page.
    for url in (WWW + "/linked.html", WWW + "/", SHOP + "/"):
        assert verdict_of(sitemaps_crawl.page(url)) == ("ok", 200, None)
        assert sitemaps_crawl.findings({"orphan-page"}, target=url) == []
    assert {f["target"] for f in sitemaps_crawl.findings({"orphan-page"})} == \
        {SHOP + "/from-sitemap.html", WWW + "/from-index.html", WWW + "/from-gz.html", WWW + "/from-robots.html"}


def test_sitemap_seeds_are_crawled(sitemaps_crawl):
    # A seed is crawled like a target: its links are followed (and what they reach is not an orphan).
    target = SHOP + "/deep-from-orphan.html"
    assert verdict_of(sitemaps_crawl.page(target)) == ("ok", 200, None)
    link = sitemaps_crawl.link(SHOP + "/from-sitemap.html", target)
    assert link["line"] == line_of("sitemaps/shop", "from-sitemap.html", "/deep-from-orphan.html")
    assert sitemaps_crawl.findings({"orphan-page"}, target=target) == []


# ================================================================================================
# 6. filters: --exclude, --include, --exclude-path, --accept
# ================================================================================================
@pytest.fixture(scope="module")
def filters_crawl(module_site_server, tmp_path_factory):
    www = module_site_server(CONF / "filters", {"/forbidden": Route(403, body="forbidden")})
    ext = module_site_server(None, {"/secret-ext": Route(200, body="ok")})
    return run_crawl("filters", tmp_path_factory, WWW + "/", *www_to(www), *ext_to(ext),
                     "--exclude", "secret", "--include", "secret-but-included", "--exclude-path", "^/drafts/",
                     "--accept", "200,403", "--no-check-social", "--fail-on", "never",
                     servers={"www": www, "ext": ext})


# (id, page under filters/, target, server, path, (verdict, status, error_kind), finding rule/severity or None)
FILTERS = [
    # LinkChecker --ignore-url / htmltest IgnoreURLs (TestAnchorMatchIgnore): reported as skipped, not fetched
    ("exclude", "exclude.html", WWW + "/secret-plans.html", "www", "/secret-plans.html",
     ("skipped", None, "excluded"), ("skipped-link", "info")),
    ("exclude-external", "exclude-external.html", EXT + "/secret-ext", "ext", "/secret-ext",
     ("skipped", None, "excluded"), ("skipped-link", "info")),
    # LinkChecker test_internpat: an --include pattern wins over the excludes
    ("include-wins", "include.html", WWW + "/secret-but-included.html", "www", "/secret-but-included.html",
     ("ok", 200, None), None),
    # htmltest IgnoreDirs: --exclude-path matches the path
    ("exclude-path", "exclude-path.html", WWW + "/drafts/post.html", "www", "/drafts/post.html",
     ("skipped", None, "excluded"), ("skipped-link", "info")),
    ("exclude-path-anchored", "exclude-path-anchored.html", WWW + "/notes/drafts/x.html", "www",
     "/notes/drafts/x.html", ("ok", 200, None), None),
    # LinkChecker ignoreerrors / htmltest IgnoreStatusCodes style: --accept 200,403 makes 403 working
    ("accept-403", "accept-403.html", WWW + "/forbidden", "www", "/forbidden", ("ok", 403, None), None),
    ("accept-does-not-cover-404", "accept-404.html", WWW + "/no-such-page.html", "www", "/no-such-page.html",
     ("broken", 404, None), ("broken-link", "high")),
]


@pytest.mark.parametrize("case_id, rel, target, server, path, verdict, rule", FILTERS, ids=[f[0] for f in FILTERS])
def test_filters(filters_crawl, case_id, rel, target, server, path, verdict, rule):
    source = f"{WWW}/{rel}"
    line = line_of("filters", rel, f'href="{href_of(target)}"')
    assert filters_crawl.link(source, target)["line"] == line
    assert verdict_of(filters_crawl.page(target)) == verdict
    seen = methods(filters_crawl.servers[server], path)
    assert (seen == []) == (verdict[0] == "skipped"), seen
    expected = {(rule[0], rule[1], target)} if rule else set()
    assert_findings_from(filters_crawl, source, expected)
    if rule:
        assert filters_crawl.finding(rule[0], target)["locations"] == [{"url": source, "line": line}]


# ================================================================================================
# 7. --cache-age: external results kept across runs in one --db; errors never cached
# ================================================================================================
@pytest.fixture(scope="module")
def cache_runs(module_site_server, tmp_path_factory):
    state = {"run": 0}
    ext = module_site_server(None, {
        "/stable": Route(200, body="ok"),
        "/flaky": lambda handler: Route(500, body="down") if state["run"] == 1 else Route(200, body="up"),
        "/slow-once": Slow(5, Route(200, body="ok"), slow=lambda: state["run"] == 1),
    })
    www = module_site_server(CONF / "cache")
    tmp = tmp_path_factory.mktemp("cache")  # one --db for every run
    runs = []
    for n, age in ((1, "1h"), (2, "1h"), (3, "0s")):
        state["run"] = n
        before = len(ext.requests), len(www.requests)
        result, report = audit_json(tmp, WWW + "/", *www_to(www), *ext_to(ext), "--cache-age", age,
                                    "--timeout", "2", "--no-check-social", "--fail-on", "never")
        crawl = Crawl(f"cache-run-{n}", result, report, 0, {"ext": ext, "www": www})
        crawl.ext_requests = ext.requests[before[0]:]
        crawl.www_requests = www.requests[before[1]:]
        runs.append(crawl)
    return runs


def asked(requests, path):
    return [m for m, p in requests if urlsplit(p).path == path]


def test_cache_external_result_reused(cache_runs):
    # LinkChecker's result cache (kept across runs here): a fresh cached answer is not fetched again.
    first, second, _ = cache_runs
    assert verdict_of(first.page(EXT + "/stable")) == ("ok", 200, None)
    assert asked(first.ext_requests, "/stable") == ["HEAD"]
    assert verdict_of(second.page(EXT + "/stable")) == ("ok", 200, None)
    assert asked(second.ext_requests, "/stable") == []


def test_cache_broken_answer_not_cached(cache_runs):
    first, second, _ = cache_runs
    assert verdict_of(first.page(EXT + "/flaky")) == ("broken", 500, None)
    assert verdict_of(second.page(EXT + "/flaky")) == ("ok", 200, None)
    assert asked(second.ext_requests, "/flaky") == ["HEAD"]


def test_cache_error_kind_not_cached(cache_runs):
    first, second, _ = cache_runs
    assert verdict_of(first.page(EXT + "/slow-once")) == ("broken", None, "timeout")
    assert verdict_of(second.page(EXT + "/slow-once")) == ("ok", 200, None)
    assert asked(second.ext_requests, "/slow-once") == ["HEAD"]


def test_cache_owned_pages_always_fetched(cache_runs):
    first, second, _ = cache_runs
    assert asked(first.www_requests, "/about.html") == ["GET"]
    assert asked(second.www_requests, "/about.html") == ["GET"]
    assert verdict_of(second.page(WWW + "/about.html")) == ("ok", 200, None)


def test_cache_age_zero_refetches(cache_runs):
    *_, third = cache_runs
    assert asked(third.ext_requests, "/stable") == ["HEAD"]
    assert verdict_of(third.page(EXT + "/stable")) == ("ok", 200, None)


# ------------------------------------------------------------------------------------------------
# every crawl above ran to completion (a crash would otherwise show as many confusing failures)
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["links_crawl", "status_crawl", "blocked_crawl", "robots_crawl",
                                  "robots_ignored_crawl", "sitemaps_crawl", "filters_crawl"])
def test_crawl_completed(request, name):
    crawl = request.getfixturevalue(name)
    assert crawl.result.exit_code in (0, 1), crawl.result.stderr[-800:]
    assert crawl.report["crawl"]["status"] == "complete"
    assert "127.0.0.1" not in str(crawl.report["findings"]), "findings must name public URLs only"
