"""Credentials in links (issue 12, part 2): a ``user:pass@`` URL never reaches the store, the
logs or any report (a link is kept as the URL without them, the page fetched once; text that
still spells one out, an error or a log line, shows ``user:***@``), and is no reason on its own
to call a link broken."""
from __future__ import annotations

import json

from conftest import Route, run_cli

SECRET = "s3cr3t-Pa55"


def test_a_password_in_a_link_is_never_stored_logged_or_reported(site_server, tmp_path):
    holder = {}

    def home(handler):
        base = holder["url"].replace("http://", f"http://bob:{SECRET}@")
        return Route(body=f'<html><body><main><a href="{base}/private/">intranet</a>'
                          f'<a href="/about/">about</a> <p>mail {base}/x</p></main></body></html>')

    server = site_server(routes={"/": home, "/about/": Route(body="<html><body><main>about</main></body></html>"),
                                 "/private/": Route(body="<html><body><main>private</main></body></html>")})
    holder["url"] = server.url
    db, out = tmp_path / "crawls.sqlite", tmp_path / "r.json"
    result = run_cli("-vv", "--log-file", tmp_path / "log.txt", "audit", f"{server.url}/", "--db", db,
                     "--no-sitemaps", "--ignore-robots", "--format", "json", "-o", out)
    assert result.exit_code in (0, 1), result.stderr
    report = json.loads(out.read_text())
    private = [p for p in report["pages"] if p["url"].endswith("/private/")]
    assert [p["url"] for p in private] == [f"{server.url}/private/"]  # one page, whoever's credentials
    assert private[0]["verdict"] == "ok"  # the credentials are no reason to call it broken
    written = [link["target"] for link in report["links"] if link["target"].endswith("/private/")]
    assert written == [f"{server.url}/private/"]
    assert not [f for f in report["findings"] if f["rule"] == "broken-link"]
    terminal = run_cli("report", "--db", db)
    for where, text in (("JSON report", out.read_text()), ("terminal report", terminal.stdout + terminal.stderr),
                        ("stderr", result.stderr + result.stdout), ("log file", (tmp_path / "log.txt").read_text())):
        assert SECRET not in text, where
    for path in tmp_path.glob("crawls.sqlite*"):
        assert SECRET.encode() not in path.read_bytes(), path.name


def test_the_crawl_opens_no_control_port_and_leaves_no_job_files(site_server, tmp_path):
    """Scrapy's remote control (an HTTP server that runs Python for a token, job files in the
    user's state folder) is off: an unattended crawl listens on nothing and leaves nothing."""
    server = site_server(routes={"/": Route(body="<html><body><main>home</main></body></html>")})
    home = tmp_path / "home"
    home.mkdir()
    result = run_cli("audit", f"{server.url}/", "--db", tmp_path / "c.sqlite", "--no-sitemaps",
                     env={"HOME": str(home), "XDG_STATE_HOME": str(home / "state"), "XDG_DATA_HOME": str(home / "data")})
    assert result.exit_code == 0, result.stderr
    assert [p.relative_to(home).as_posix() for p in home.rglob("*") if "scrapy" in p.as_posix()] == []
