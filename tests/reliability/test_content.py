"""Hostile and broken content (issue 12, part 4): deep nesting, megabyte attributes, invalid and
mixed encodings, NUL bytes, binary served as text/html, truncated responses, a server closing
mid-response, a Content-Length that lies. Each gets a clear verdict, never a crash, and nothing
already stored is lost.

Two crawls, each shared by its module's tests: a site whose pages are hostile HTML (served by
``http.server``: the transport is sound, the content is not), and a site whose server breaks
HTTP itself (:mod:`rawserver`: it writes exactly the bytes it is told to). Each home page links
to every hostile page and to a normal page; each crawl goes into a store that already holds an
earlier crawl, which must come out of it whole.
"""
from __future__ import annotations

import json
import random
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Route, SiteServer, run_cli
from rawserver import Raw, RawServer, response

# A raw control character (C0 but tab and newline, DEL, C1) in a report meant for a terminal.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def page(title: str, *hrefs: str, body: str = "") -> str:
    links = "".join(f'<a href="{h}">{h.strip("/") or "home"}</a>' for h in hrefs)
    return f"<html><head><title>{title}</title></head><body><main>{links}{body}</main></body></html>"


@dataclass
class Crawl:
    url: str
    db: Path
    result: object
    report: dict
    terminal: str
    earlier: list          # (url, status, links) of every page of the crawl that was in the store first

    def page(self, path: str) -> dict:
        found = [p for p in self.report["pages"] if p["url"] == self.url + path]
        assert found, f"{path} is not in the report"
        return found[0]

    def links_from(self, path: str) -> list[dict]:
        return [link for link in self.report["links"] if link["source"] == self.url + path]

    def targets_from(self, path: str) -> list[str]:
        return [link["target"].removeprefix(self.url) for link in self.links_from(path)]


def _pages_of(db: Path, crawl_id: int) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT u.url, p.status, p.error_kind, p.parsed, (SELECT count(*) FROM links l WHERE l.crawl_id = p.crawl_id"
            " AND l.source_id = p.url_id) FROM pages p JOIN urls u ON u.id = p.url_id WHERE p.crawl_id = ?"
            " ORDER BY u.url", (crawl_id,)).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def plain_store(tmp_path_factory) -> Path:
    """A store holding one earlier crawl, of a plain site (made once: each hostile crawl below
    goes into a copy of it)."""
    db = tmp_path_factory.mktemp("plain") / "crawls.sqlite"
    plain = SiteServer(routes={"/": Route(body=page("plain", "/a/", "/b/")),
                               "/a/": Route(body=page("a", "/b/")), "/b/": Route(body=page("b", "/"))})
    try:
        first = run_cli("audit", plain.url + "/", "--db", db, "--no-sitemaps", "--ignore-robots", "--format", "json")
    finally:
        plain.close()
    assert first.exit_code == 0, first.stderr
    return db


def _crawl(tmp: Path, plain_store: Path, url: str, *extra: str) -> Crawl:
    """An earlier crawl of a plain site (a copy of ``plain_store``), then ``funnelcheck audit URL``
    into the same store."""
    import shutil

    db = tmp / "crawls.sqlite"
    for path in plain_store.parent.glob(plain_store.name + "*"):  # its -wal and -shm too, if any are left
        if not path.name.endswith(".lock"):
            shutil.copy(path, tmp / (db.name + path.name[len(plain_store.name):]))
    earlier = _pages_of(db, 1)
    assert len(earlier) == 3
    out = tmp / "report.json"
    result = run_cli("audit", url + "/", "--db", db, "--no-sitemaps", "--ignore-robots", "--format", "json",
                     "-o", out, *extra)
    report = json.loads(out.read_text()) if out.exists() and out.stat().st_size else {}
    terminal = run_cli("report", "--db", db, "--crawl", 2)
    return Crawl(url, db, result, report, terminal.stdout + terminal.stderr, earlier)


def _never_a_crash(crawl: Crawl) -> None:
    assert crawl.result.exit_code in (0, 1), crawl.result.stderr
    assert "Traceback" not in crawl.result.stderr and "Traceback" not in crawl.terminal
    assert crawl.report["crawl"]["status"] == "complete"


def _nothing_lost(crawl: Crawl, expected: set[str]) -> None:
    """The earlier crawl is whole, and every URL the hostile crawl met is a page of it."""
    assert _pages_of(crawl.db, 1) == crawl.earlier
    stored = {row[0].removeprefix(crawl.url): row for row in _pages_of(crawl.db, 2)}
    assert expected <= set(stored), expected - set(stored)
    assert {p["url"].removeprefix(crawl.url) for p in crawl.report["pages"]} == set(stored)
    for path in ("/", "/ok/", "/ok/next/"):  # the normal pages: read, with their links
        _, status, kind, parsed, links = stored[path]
        assert (status, kind, parsed) == (200, None, 1) and links >= 1, stored[path]


# -- hostile HTML ---------------------------------------------------------------------------

DEEP = 5000
HUGE_ATTR = 2 * 1024 * 1024
HUGE_HREF = 100_000
rng = random.Random(12)
NOISE = bytes(rng.getrandbits(8) for _ in range(64 * 1024))
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + NOISE[:4096]


def _content_routes() -> dict:
    r = {
        "/ok/": Route(body=page("ok", "/ok/next/")),
        "/ok/next/": Route(body=page("next", "/ok/")),
        # 5,000 nested divs, then a footer; and 100,000 tags never closed.
        "/deep/": Route(body="<html><head><title>deep</title></head><body>" + "<div>" * DEEP
                        + '<a href="/deep/inner/">inner</a>' + "</div>" * DEEP
                        + '<footer><a href="/deep/footer/">footer</a></footer></body></html>'),
        "/unclosed/": Route(body="<html><head><title>unclosed</title></head><body>" + "<div><span><b><i><p>" * 20000
                            + '<a href="/unclosed/inner/">inner</a><footer><a href="/unclosed/footer/">footer</a>'
                            "</footer></body></html>"),
        # A 2 MB attribute before a link; a 100 kB href after it.
        "/huge-attr/": Route(body=f'<html><head><title>huge attribute</title></head><body><div data-x="{"A" * HUGE_ATTR}">'
                             '</div><a href="/huge-attr/after/">after</a>'
                             f'<a href="/{"b" * HUGE_HREF}">huge href</a></body></html>'),
        # Encodings: invalid UTF-8 under a UTF-8 charset; UTF-8 and Latin-1 mixed on an unlabelled
        # page; a charset no one knows; a <meta> that says UTF-16 on an ASCII page; real UTF-16
        # without a BOM (labelled) and with one (unlabelled); Shift_JIS with bytes it has no
        # character for.
        "/enc/invalid/": Route(body=b"<html><head><title>caf\xc3\xa9 \xff\xfe \xc3</title></head><body>"
                               b"<a href='/enc/invalid/a/'>\xe9t\xe9</a>\xed\xa0\x80<a href='/enc/invalid/b/'>b</a>"
                               b"</body></html>"),
        "/enc/mixed/": Route(headers={"Content-Type": "text/html"},
                             body="<html><head><title>naïve / ".encode() + "naïve</title>".encode("latin-1")
                             + b"</head><body><a href='/enc/mixed/a/'>\xe9</a><a href='/enc/mixed/b/'>b</a></body></html>"),
        "/enc/unknown/": Route(headers={"Content-Type": "text/html; charset=x-klingon"},
                               body=b"<html><head><title>Qapla\xe9</title></head><body><a href='/enc/unknown/a/'>a</a>"
                               b"</body></html>"),
        "/enc/meta-utf16/": Route(headers={"Content-Type": "text/html"},
                                  body=b'<html><head><meta charset="utf-16"><title>caf\xc3\xa9</title></head><body>'
                                  b"<a href='/enc/meta-utf16/a/'>a</a></body></html>"),
        "/enc/utf16/": Route(headers={"Content-Type": "text/html; charset=utf-16"},
                             body=page("sixteen", "/enc/utf16/a/").encode("utf-16-le")),
        "/enc/utf16-bom/": Route(headers={"Content-Type": "text/html"},
                                 body=page("sixteen with a BOM", "/enc/utf16-bom/a/").encode("utf-16")),
        "/enc/sjis/": Route(headers={"Content-Type": "text/html"},
                            body=b"<meta charset=shift_jis><title>\x83e\x83X\x83g \xff\xfd</title>"
                            b"<a href='/enc/sjis/a/'>a</a>"),
        # NUL bytes and terminal escapes in the title, the text, an href, an attribute name, a fragment.
        "/nul/": Route(body=b"<html><head><title>nu\x00ll \x1b[31mred\x1b[0m</title></head><body>\x00\x00"
                       b"<a href='/nul/a\x00/'>a\x00b</a><a hr\x00ef='/nul/not-a-link/'>x</a>"
                       b"<a href='/nul/b/#\x1b]0;owned\x07'>b\x07\x1b]0;owned\x07</a></body></html>"),
        "/nul-stuffed/": Route(body=b"<html><head><title>stuffed</title></head><body>" + b"\x00" * 4000
                               + b"<a href='/nul-stuffed/a/'>a</a></body></html>"),
        # Binary served as text/html.
        "/binary/noise/": Route(body=NOISE),
        "/binary/png/": Route(body=PNG),
    }
    for path in ("/deep/inner/", "/deep/footer/", "/unclosed/inner/", "/unclosed/footer/", "/huge-attr/after/",
                 "/enc/invalid/a/", "/enc/invalid/b/", "/enc/mixed/a/", "/enc/mixed/b/", "/enc/unknown/a/",
                 "/enc/meta-utf16/a/", "/enc/utf16/a/", "/enc/utf16-bom/a/", "/enc/sjis/a/", "/nul/a%EF%BF%BD/",
                 "/nul/b/", "/nul-stuffed/a/"):
        r[path] = Route(body=page(path, "/ok/"))
    r["/"] = Route(body=page("home", "/ok/", *HOSTILE))
    return r


HOSTILE = ["/deep/", "/unclosed/", "/huge-attr/", "/enc/invalid/", "/enc/mixed/", "/enc/unknown/", "/enc/meta-utf16/",
           "/enc/utf16/", "/enc/utf16-bom/", "/enc/sjis/", "/nul/", "/nul-stuffed/", "/binary/noise/", "/binary/png/"]
CONTENT_PATHS = {*_content_routes(), "/" + "b" * HUGE_HREF}


@pytest.fixture(scope="module")
def content(tmp_path_factory, plain_store):
    server = SiteServer(routes=_content_routes())
    try:
        yield _crawl(tmp_path_factory.mktemp("content"), plain_store, server.url)
    finally:
        server.close()


class TestHostileHTML:
    """Pages whose HTML is hostile, served by a sound server (``http.server``)."""

    def test_hostile_html_is_never_a_crash_and_loses_nothing(self, content):
        _never_a_crash(content)
        _nothing_lost(content, CONTENT_PATHS)
        assert content.result.exit_code == 0, [f["message"] for f in content.report["findings"]]
        hostile = [p for p in content.report["pages"] if p["url"] != content.url + "/" + "b" * HUGE_HREF]
        assert {p["verdict"] for p in hostile} == {"ok"}, [(p["url"], p["label"]) for p in hostile if p["verdict"] != "ok"]

    @pytest.mark.parametrize("path", ["/deep/", "/unclosed/"])
    def test_a_link_after_thousands_of_nested_elements_is_found(self, content, path):
        # 5,000 nested divs (a browser nests no deeper than 512) / 100,000 tags never closed
        assert content.page(path)["title"] == path.strip("/")
        regions = {link["target"].removeprefix(content.url): link["region"] for link in content.links_from(path)}
        assert regions == {f"{path}inner/": "body", f"{path}footer/": "footer"}
        assert content.page(f"{path}footer/")["verdict"] == "ok"  # and it was crawled

    def test_a_link_after_a_megabyte_attribute_is_found_and_a_huge_href_is_skipped(self, content):
        assert content.page("/huge-attr/")["title"] == "huge attribute"
        assert content.targets_from("/huge-attr/") == ["/huge-attr/after/", "/" + "b" * HUGE_HREF]
        assert content.page("/huge-attr/after/")["verdict"] == "ok"
        huge = content.page("/" + "b" * HUGE_HREF)
        assert (huge["verdict"], huge["label"]) == ("skipped", "skipped (URL longer than 2,048 characters)")
        # the report names it, cut in the middle: no 100 kB line even outside a terminal
        assert max(len(line) for line in content.terminal.splitlines()) <= 2100
        assert "bbbb…bbbb" in content.terminal

    @pytest.mark.parametrize("path, title", [
        ("/enc/invalid/", "café \ufffd\ufffd \ufffd"),     # invalid UTF-8: replacement characters, as a browser
        ("/enc/mixed/", None),                            # a guess: text may come out wrong, the markup never
        ("/enc/unknown/", "Qaplaé"),                      # an unknown charset is ignored (not read as johab)
        ("/enc/meta-utf16/", "café"),                     # <meta charset=utf-16> on an ASCII page means UTF-8
        ("/enc/utf16/", "sixteen"),
        ("/enc/utf16-bom/", "sixteen with a BOM"),
        ("/enc/sjis/", None),
    ])

    def test_invalid_and_mixed_encodings_keep_their_links_and_a_title(self, content, path, title):
        p = content.page(path)
        assert p["verdict"] == "ok" and p["reason"] is None
        assert p["title"] == title if title is not None else p["title"]
        targets = content.targets_from(path)
        assert targets and all(t.startswith(path) for t in targets), targets
        assert all(content.page(t)["verdict"] == "ok" for t in targets)

    def test_nul_bytes_and_escapes_keep_links_and_never_reach_the_terminal(self, content):
        p = content.page("/nul/")
        assert p["title"] == "nu\ufffdll \x1b[31mred\x1b[0m"  # the JSON keeps the text exact (NUL as a browser reads it)
        links = {link["target"].removeprefix(content.url): link for link in content.links_from("/nul/")}
        # a NUL in an href is U+FFFD (as in a browser); in an attribute name it makes no href
        assert set(links) == {"/nul/a%EF%BF%BD/", "/nul/b/"}
        assert links["/nul/b/"]["fragment"] == "\x1b]0;owned\x07" and links["/nul/b/"]["text"] == "b\x07\x1b]0;owned\x07"
        missing = [f for f in content.report["findings"] if f["rule"] == "missing-anchor"]
        assert [f["severity"] for f in missing] == ["medium"]
        # The terminal report names the fragment, escaped: nothing raw from the page reaches it.
        assert "\\x1b]0;owned\\x07" in content.terminal
        assert not CONTROL.findall(content.terminal)
        assert content.page("/nul-stuffed/")["title"] == "stuffed"  # 4,000 NULs: still HTML, still read
        assert content.targets_from("/nul-stuffed/") == ["/nul-stuffed/a/"]

    @pytest.mark.parametrize("path, what", [("/binary/noise/", "binary data"), ("/binary/png/", "a PNG image")])
    def test_binary_served_as_html_is_recorded_not_read(self, content, path, what):
        p = content.page(path)
        assert (p["status"], p["verdict"], p["label"]) == (200, "ok", "ok")  # it answered: the link works
        assert p["reason"] == f"not HTML: {what} served as text/html"
        assert p["title"] is None and content.links_from(path) == []


# -- broken HTTP ----------------------------------------------------------------------------

def _smuggled(n: int) -> bytes:
    """Bytes past a Content-Length that would be the next answer if the connection were reused."""
    return b"HTTP/1.1 500 Smuggled\r\nContent-Length: 0\r\n\r\n" * n


def _transport_routes() -> dict:
    full = page("truncated", "/after/truncated/", body="x" * 8000).encode()
    short_then = page("short then more", "/after/short/").encode()
    return {
        "/ok/": response(page("ok", "/ok/next/")),
        "/ok/next/": response(page("next", "/ok/")),
        # Content-Length larger than the body, then a clean close / a reset / nothing more.
        "/truncated/": Raw(response(full, content_length=len(full) * 2).data[: -len(full) // 2], "close"),
        "/reset/": Raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\n\r\n<html><title>r",
                       "reset"),
        "/stalled/": response(page("stalled"), content_length=100_000, then="hang"),
        # Closing mid-response: in the chunked body, in the headers, before any answer.
        "/chunked-cut/": Raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"400\r\n<html><title>cut</title>" + b"y" * 100, "close"),
        "/headers-cut/": Raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/ht", "close"),
        "/no-answer/": Raw(b"", "close"),
        # Content-Length smaller than the body: read up to it, as browsers do; what follows is
        # never taken for the next answer on the connection.
        "/short/": response(short_then + _smuggled(3), content_length=len(short_then)),
        "/short-cut/": response(page("cut short", "/after/lost/"), content_length=20, then="close"),
        # A Content-Length that is no number, two that disagree, a status line that is no HTTP.
        "/cl-garbage/": response(page("garbage"), content_length="abc"),
        "/cl-conflict/": response(page("conflict"), headers={"Content-Length": "10, 20"}, content_length=None),
        "/bad-status/": Raw(b"HTTP/1.1 abc Wat\r\nContent-Length: 0\r\n\r\n", "close"),
        "/bad-gzip/": response(b"this is not gzip", headers={"Content-Encoding": "gzip"}),
        "/after/short/": response(page("after short", "/ok/")),
    }


BROKEN = ["/truncated/", "/reset/", "/chunked-cut/", "/headers-cut/", "/no-answer/", "/cl-garbage/", "/cl-conflict/",
          "/bad-status/", "/bad-gzip/"]
TRANSPORT_PATHS = {"/", "/ok/", "/ok/next/", "/stalled/", "/short/", "/short-cut/", "/after/short/", *BROKEN}


@pytest.fixture(scope="module")
def transport(tmp_path_factory, plain_store):
    routes = _transport_routes()
    routes["/"] = response(page("home", "/ok/", *[p for p in routes if p.count("/") == 2]))
    server = RawServer(routes)
    try:
        # One request at a time: every answer comes on the connection the previous one left.
        crawl = _crawl(tmp_path_factory.mktemp("transport"), plain_store, server.url, "--concurrency", "1",
                       "--timeout", "2")
        crawl.server = server
        yield crawl
    finally:
        server.close()


# What a user should read for each broken answer (label, reason). These need the error kinds
# proposed for crawler/errors.py and analysis/status.py (incomplete, bad-response, bad-encoding).
CUT = "connection closed before the whole response"
EXPECTED_REASONS = {
    "/truncated/": (CUT, f"{CUT} (fewer bytes than its Content-Length)"),
    "/reset/": (CUT, f"{CUT} (connection reset)"),
    "/chunked-cut/": (CUT, f"{CUT} (a chunked body cut short)"),
    "/headers-cut/": (CUT, f"{CUT} (in its headers)"),
    "/no-answer/": ("connection failed", "connection closed before any answer"),
    "/cl-garbage/": ("malformed HTTP response", "malformed HTTP response: Value contains non-decimal digits: b'abc'"),
    "/cl-conflict/": ("malformed HTTP response",
                      "malformed HTTP response: Invalid response: conflicting Content-Length headers: b'10, 20'"),
    "/bad-status/": ("malformed HTTP response", "malformed HTTP response: non-integer status code: HTTP/1.1 abc Wat"),
    "/bad-gzip/": ("body does not decompress (Content-Encoding)",
                   "the body does not decompress as its Content-Encoding says (Not a gzipped file (b'th'))"),
}


class TestBrokenHTTP:
    """A server that breaks HTTP itself (:class:`rawserver.RawServer`)."""

    def test_broken_http_is_never_a_crash_and_loses_nothing(self, transport):
        _never_a_crash(transport)
        _nothing_lost(transport, TRANSPORT_PATHS)
        assert transport.result.exit_code == 1  # broken links to owned pages are high findings
        broken = {f["target"].removeprefix(transport.url) for f in transport.report["findings"] if f["rule"] == "broken-link"}
        assert broken == {*BROKEN, "/stalled/"}
        assert not CONTROL.findall(transport.terminal)

    @pytest.mark.parametrize("path", BROKEN)
    def test_a_broken_answer_is_broken_with_no_status(self, transport, path):
        p = transport.page(path)
        assert (p["status"], p["verdict"]) == (None, "broken") and p["error_kind"] and p["reason"]

    def test_a_body_shorter_than_its_content_length_on_an_open_connection_times_out(self, transport):
        p = transport.page("/stalled/")
        assert (p["verdict"], p["label"], p["error_kind"]) == ("broken", "timed out", "timeout")

    def test_a_content_length_shorter_than_the_body_is_read_up_to_it(self, transport):
        assert transport.page("/short/")["title"] == "short then more"
        assert transport.targets_from("/short/") == ["/after/short/"]
        # The bytes after it never became the next answer on that connection.
        assert not [p for p in transport.report["pages"] if p["status"] == 500]
        assert transport.page("/after/short/")["verdict"] == "ok"
        cut = transport.page("/short-cut/")  # 20 bytes of it: what a browser shows too
        assert (cut["status"], cut["verdict"], cut["title"]) == (200, "ok", "c")
        assert transport.links_from("/short-cut/") == []

    @pytest.mark.parametrize("path", BROKEN)
    def test_a_broken_answer_says_what_broke(self, transport, path):
        p = transport.page(path)
        assert (p["label"], p["reason"]) == EXPECTED_REASONS[path]
