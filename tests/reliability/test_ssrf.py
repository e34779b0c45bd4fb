"""The SSRF guard (issue 12, part 1): a target on 127.0.0.1 that links, redirects, points its
robots.txt sitemap and its assets at a canary on 127.0.0.2, directly and through a host name
that resolves to it, never makes funnelcheck connect there: the canary sees no request, and the
links are reported as skipped (private address), not broken. The target's own address stays
allowed; ``--allow-private`` allows more. Only http and https are fetched."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli

from conftest import Route, run_cli

CANARY_NAME = "canary.funnelcheck.test"


class Canary:
    """An HTTP server (on 127.0.0.2) that logs every request and answers 200 with a page."""

    def __init__(self, host: str = "127.0.0.2"):
        self.requests: list[str] = []
        canary = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                canary.requests.append(self.path)
                body = b"<html><head><title>canary</title></head><body>internal</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def canary():
    c = Canary()
    yield c
    c.close()


@pytest.fixture
def canary_name():
    """``canary.funnelcheck.test`` resolving to 127.0.0.2 through the system resolver (a line in
    /etc/hosts while the test runs: real name resolution, nothing mocked)."""
    hosts = Path("/etc/hosts")
    try:
        before = hosts.read_text()
        hosts.write_text(before.rstrip("\n") + f"\n127.0.0.2 {CANARY_NAME}\n")
    except OSError as exc:
        pytest.skip(f"cannot add a host name to /etc/hosts ({exc}); needs root, as in CI")
    try:
        yield CANARY_NAME
    finally:
        current = hosts.read_text()
        hosts.write_text("".join(line for line in current.splitlines(keepends=True)
                                 if not line.rstrip().endswith(CANARY_NAME)))


def _site(site_server, canary_port: int, name: str | None, friend_url: str = ""):
    direct = f"http://127.0.0.2:{canary_port}"
    links = [f'<a href="{direct}/direct">wiki</a>', '<a href="/go">jump</a>',
             f'<a href="{direct}/?q=1">search</a>', f'<img src="{direct}/pixel.png" alt="">',
             '<a href="/about/">about</a>', '<a href="file:///etc/passwd">file</a>',
             '<a href="/to-file">to a file</a>',
             f'<a href="http:\\\\127.0.0.2:{canary_port}\\backslash">as a browser reads it</a>']
    if name:
        links.append(f'<a href="http://{name}:{canary_port}/by-name">intranet</a>')
    if friend_url:
        links.append(f'<a href="{friend_url}/ok">same address</a>')
    home = (f'<html><head><title>Home</title><link rel="stylesheet" href="{direct}/style.css"></head>'
            f'<body><main>{"".join(links)}</main></body></html>')
    return site_server(routes={
        "/": Route(body=home),
        "/about/": Route(body="<html><head><title>About</title></head><body><main>about</main></body></html>"),
        "/go": Route(status=302, headers={"Location": f"{direct}/redirected"}),
        "/to-file": Route(status=302, headers={"Location": "file:///etc/passwd"}),
        "/robots.txt": Route(headers={"Content-Type": "text/plain"},
                             body=f"User-agent: *\nAllow: /\nSitemap: {direct}/sitemap.xml\n"),
    })


def _verdicts(report: dict) -> dict[str, tuple[str, str]]:
    return {p["url"]: (p["verdict"], p["label"]) for p in report["pages"]}


def test_a_canary_on_a_private_address_sees_no_request(site_server, canary, canary_name, tmp_path):
    friend = site_server(routes={"/ok": Route(body="<html><body>fine</body></html>")})
    server = _site(site_server, canary.port, canary_name, friend.url)
    out = tmp_path / "r.json"
    result = run_cli("audit", f"{server.url}/", "--db", tmp_path / "c.sqlite", "--format", "json", "-o", out)
    assert result.exit_code in (0, 1), result.stderr
    assert canary.requests == []  # no robots.txt, sitemap, link, redirect, image or stylesheet
    report = json.loads(out.read_text())
    verdicts = _verdicts(report)
    direct = f"http://127.0.0.2:{canary.port}"
    skipped = ("skipped", "skipped (private address)")
    for url in (f"{direct}/direct", f"{direct}/?q=1", f"{direct}/pixel.png", f"{direct}/style.css",
                f"{direct}/redirected", f"http://{canary_name}:{canary.port}/by-name", f"{direct}/backslash"):
        assert verdicts.get(url) == skipped, (url, verdicts.get(url))
    # The redirect to it is a redirect to a skipped URL, not a broken link.
    assert not [f for f in report["findings"] if f["rule"] == "broken-link"], report["findings"]
    assert verdicts[f"{friend.url}/ok"] == ("ok", "ok")  # the target's own address: allowed
    assert [path for _, path in friend.requests if path == "/ok"] == ["/ok"]
    assert verdicts[f"{server.url}/about/"] == ("ok", "ok")
    # Only http and https: a file: link is recorded, never fetched; a redirect to one is not followed.
    assert "file:///etc/passwd" not in verdicts
    assert verdicts[f"{server.url}/to-file"] == (
        "skipped", "skipped (redirects to a file: URL; only http and https are fetched)")
    assert "Traceback" not in result.stderr


def test_allow_private_lets_the_crawl_reach_a_network(site_server, canary, tmp_path):
    server = _site(site_server, canary.port, None)
    out = tmp_path / "r.json"
    result = run_cli("audit", f"{server.url}/", "--db", tmp_path / "c.sqlite", "--format", "json", "-o", out,
                     "--allow-private", "127.0.0.2/32")
    assert result.exit_code in (0, 1), result.stderr
    assert "/direct" in canary.requests and "/redirected" in canary.requests
    verdicts = _verdicts(json.loads(out.read_text()))
    assert verdicts[f"http://127.0.0.2:{canary.port}/direct"] == ("ok", "ok")


def test_a_target_on_a_private_address_is_audited(canary, tmp_path):
    """An intranet audit: the target itself is on 127.0.0.2, so that address is allowed."""
    out = tmp_path / "r.json"
    result = run_cli("audit", f"http://127.0.0.2:{canary.port}/", "--db", tmp_path / "c.sqlite",
                     "--format", "json", "-o", out)
    assert result.exit_code in (0, 1), result.stderr
    assert "/" in canary.requests
    assert _verdicts(json.loads(out.read_text()))[f"http://127.0.0.2:{canary.port}/"] == ("ok", "ok")


@pytest.mark.parametrize("value", ["10.0.0.0/33", "intranet"])
def test_a_bad_allow_private_is_an_error(value, tmp_path):
    result = CliRunner().invoke(cli.main, ["audit", "http://127.0.0.1:9/", "--db", str(tmp_path / "c.sqlite"),
                                           "--allow-private", value])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"funnelcheck: error: --allow-private takes an address or network like 10.0.0.0/8, got {value!r}"]


def test_a_directory_target_or_a_remap_allows_its_own_port_only(site_server, tmp_path):
    """A built site audited from its folder is served on 127.0.0.1 by funnelcheck; a remapped
    public target is fetched from a local copy: neither opens the rest of 127.0.0.1 to the
    pages' links."""
    local = Canary("127.0.0.1")
    try:
        links = (f'<a href="http://127.0.0.1:{local.port}/admin">a</a><a href="http://localhost:{local.port}/b">b</a>'
                 f'<a href="http://2130706433:{local.port}/c">c</a>')
        site = tmp_path / "site"
        site.mkdir()
        (site / "index.html").write_text(f"<html><head><title>Home</title></head><body><main>{links}</main></body></html>")
        out = tmp_path / "dir.json"
        result = run_cli("audit", site, "--base-url", "https://acme.example/", "--db", tmp_path / "c.sqlite",
                         "--format", "json", "-o", out)
        assert result.exit_code in (0, 1), result.stderr
        copy = site_server(site)
        remapped = run_cli("audit", "https://acme.example/", "--remap", rf"^https://acme\.example/ {copy.url}/",
                           "--db", tmp_path / "c.sqlite", "--format", "json", "-o", tmp_path / "remap.json")
        assert remapped.exit_code in (0, 1), remapped.stderr
        assert local.requests == []
        for report in (out, tmp_path / "remap.json"):
            verdicts = _verdicts(json.loads(report.read_text()))
            for path in (f"http://127.0.0.1:{local.port}/admin", f"http://localhost:{local.port}/b",
                         f"http://2130706433:{local.port}/c"):
                assert verdicts.get(path) == ("skipped", "skipped (private address)"), (report.name, path)
    finally:
        local.close()
