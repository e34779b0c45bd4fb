"""Bounds (issue 12, part 3), against servers that really misbehave: decompression bombs
(gzip and brotli streams of several gigabytes, deflate and zstd ones) stop at the size cap,
counted after decompression, and are reported as too large, not broken; ``--timeout`` bounds a
request in all, retries included, against a server that drips a byte a second; a server that
never stops sending headers is cut off at the header cap."""
from __future__ import annotations

import functools
import json
import time
import zlib

from types import SimpleNamespace

import brotli
import pytest
from click.testing import CliRunner

import cli

try:
    from compression import zstd  # Python 3.14
except ImportError:
    from backports import zstd

from conftest import run_cli
from rawserver import Raw, RawServer, Stream, response

GIB = 1 << 30


def _zeros(n: int) -> bytes:
    return b"\0" * n


def gzip_bomb(size: int):
    """``size`` zero bytes as a gzip stream of many members (each a 16 MiB run), generated as it
    is sent: about a thousandth of the size on the wire."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = z.compress(_zeros(16 << 20)) + z.flush()
    for _ in range(size // (16 << 20)):
        yield member


@functools.cache
def _compressed_zeros(size: int, kind: str) -> bytes:
    """``size`` zero bytes through a streaming compressor, 1 MiB at a time: compressed once per
    test run, before any audit starts (4 GiB through brotli is a second of CPU, three on a
    loaded machine: sent as it is compressed, it ran past the audit's --timeout 3)."""
    if kind == "deflate":
        return zlib.compress(_zeros(size), 1)
    if kind == "br":
        c = brotli.Compressor(quality=1)
        compress, finish = c.process, c.finish
    else:
        c = zstd.ZstdCompressor(level=1)
        compress, finish = c.compress, c.flush
    chunk = _zeros(1 << 20)
    return b"".join([*(compress(chunk) for _ in range(size // len(chunk))), finish()])


def _sent(data: bytes, piece: int = 64 << 10):
    for at in range(0, len(data), piece):
        yield data[at:at + piece]


def brotli_bomb(size: int):
    return _sent(_compressed_zeros(size, "br"))


def deflate_bomb(size: int):
    return _sent(_compressed_zeros(size, "deflate"))


def zstd_bomb(size: int):
    return _sent(_compressed_zeros(size, "zstd"))


def page(body: str) -> Raw:
    return response(body, then="close")


def streamed(encoding: str, chunks) -> Stream:
    def write(conn):
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
        if encoding:
            head += f"Content-Encoding: {encoding}\r\n"
        conn.sendall((head + "\r\n").encode())
        for chunk in chunks():
            conn.sendall(chunk)
    return Stream(write)


@Stream
def drip(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(60):
        conn.sendall(b"<")
        time.sleep(1)


@Stream
def header_flood(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n")
    for i in range(200000):
        conn.sendall(b"X-Filler-%d: %s\r\n" % (i, b"a" * 100))


def _home(paths) -> str:
    return "<html><head><title>Home</title></head><body><main>" + "".join(
        f'<a href="{p}">{p}</a>' for p in paths) + '<a href="/fine">fine</a></main></body></html>'


def _audit(tmp_path, server, *args):
    out = tmp_path / "r.json"
    started = time.monotonic()
    result = run_cli("audit", f"{server.url}/", "--db", tmp_path / "c.sqlite", "--format", "json", "-o", out,
                     "--no-sitemaps", "--ignore-robots", *args, timeout=240)
    elapsed = time.monotonic() - started
    assert result.exit_code in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(out.read_text())
    return {p["url"]: p for p in report["pages"]}, report, elapsed


@pytest.fixture
def raw_server():
    servers = []

    def make(routes):
        s = RawServer(routes)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


BOMBS = {"/gzip": ("gzip", lambda: gzip_bomb(4 * GIB)), "/br": ("br", lambda: brotli_bomb(4 * GIB)),
         "/deflate": ("deflate", lambda: deflate_bomb(256 << 20)), "/zstd": ("zstd", lambda: zstd_bomb(1 * GIB))}


@pytest.fixture(scope="module")
def bounded(tmp_path_factory):
    """One audit (``--timeout 3``) of a server whose pages are bombs, a 64 MiB body, a drip and a
    header flood."""
    for size, kind in ((4 * GIB, "br"), (256 << 20, "deflate"), (1 * GIB, "zstd")):
        _compressed_zeros(size, kind)  # compressed before the audit's clock starts
    routes = {path: streamed(enc, gen) for path, (enc, gen) in BOMBS.items()}
    routes["/big"] = streamed("", lambda: (_zeros(1 << 20) for _ in range(64)))  # 64 MiB, not compressed
    routes["/drip"], routes["/flood"] = drip, header_flood
    routes["/fine"] = page("<html><body>fine</body></html>")
    routes["/"] = page(_home([*BOMBS, "/big", "/drip", "/flood"]))
    server = RawServer(routes)
    try:
        pages, report, elapsed = _audit(tmp_path_factory.mktemp("bounds"), server, "--timeout", "3")
        yield SimpleNamespace(server=server, url=server.url, pages=pages, report=report, elapsed=elapsed)
    finally:
        server.close()


def test_decompression_bombs_stop_at_the_cap_and_are_too_large(bounded):
    for path in BOMBS:
        p = bounded.pages[f"{bounded.url}{path}"]
        assert (p["verdict"], p["label"]) == ("unverified", "too large (over 10 MiB after decompression)"), path
    big = bounded.pages[f"{bounded.url}/big"]
    assert (big["verdict"], big["label"]) == ("unverified", "too large (over 10 MiB)")
    assert bounded.pages[f"{bounded.url}/fine"]["verdict"] == "ok"
    broken = {f["target"].removeprefix(bounded.url) for f in bounded.report["findings"] if f["rule"] == "broken-link"}
    assert broken == {"/drip", "/flood"}  # the bombs are too large, not broken


def test_the_size_cap_is_an_option(raw_server, tmp_path):
    server = raw_server({"/gzip": streamed("gzip", lambda: gzip_bomb(64 << 20)),
                         "/fine": page("<html><body>fine</body></html>"), "/": page(_home(["/gzip"]))})
    pages, _, _ = _audit(tmp_path, server, "--max-size", "1")
    assert pages[f"{server.url}/gzip"]["label"] == "too large (over 1 MiB after decompression)"


def test_timeout_bounds_a_request_in_all_against_a_drip_server(bounded):
    p = bounded.pages[f"{bounded.url}/drip"]
    assert (p["verdict"], p["label"]) == ("broken", "timed out")
    held = [seconds for path, seconds in bounded.server.held if path == "/drip"]
    assert len(held) == 1, held  # an attempt that used the whole budget is not retried
    assert sum(held) < 3 * 1.3, held
    assert bounded.elapsed < 30


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1"])
def test_a_bad_max_size_or_timeout_is_an_error(value, tmp_path):
    for option in ("--max-size", "--timeout"):
        result = CliRunner().invoke(cli.main, ["audit", "http://127.0.0.1:9/", "--db", str(tmp_path / "c.sqlite"),
                                               option, value])
        assert result.exit_code == 2, (option, result.output)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"funnelcheck: error: {option} must be")


def test_endless_headers_are_cut_off_at_the_cap(bounded):
    p = bounded.pages[f"{bounded.url}/flood"]
    assert (p["verdict"], p["label"]) == ("broken", "response headers larger than 64 KiB")
    held = [seconds for path, seconds in bounded.server.held if path == "/flood"]
    assert held and max(held) < 2, held


def test_a_gzip_sitemap_bomb_is_recorded_too_large(raw_server, tmp_path):
    """A sitemap may be as big as the protocol allows (50 MiB, or --max-size if larger), counted
    after decompression, gzip file or Content-Encoding alike; over it, it is recorded, not read."""
    routes = {"/robots.txt": page("User-agent: *\nSitemap: /sitemap.xml.gz\n"),
              "/sitemap.xml.gz": streamed("", lambda: gzip_bomb(256 << 20)),
              "/fine": page("<html><body>fine</body></html>"), "/": page(_home([]))}
    server = raw_server(routes)
    out = tmp_path / "r.json"
    result = run_cli("audit", f"{server.url}/", "--db", tmp_path / "c.sqlite", "--format", "json", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr
    pages = {p["url"]: p for p in json.loads(out.read_text())["pages"]}
    bomb = pages[f"{server.url}/sitemap.xml.gz"]
    assert (bomb["role"], bomb["verdict"], bomb["label"]) == (
        "sitemap", "unverified", "too large (over 50 MiB after decompression)")
    assert pages[f"{server.url}/fine"]["verdict"] == "ok"
