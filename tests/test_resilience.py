"""A killed crawl loses nothing it already stored, and says so in one line."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from conftest import ROOT, Route, process_gone, run_cli, wait_for_row


def _chain(handler):
    """An endless site: /p/N links to /p/N+1, slowly."""
    n = int(handler.path.rstrip("/").rsplit("/", 1)[-1] or 0) if handler.path.startswith("/p/") else 0
    time.sleep(0.05)
    return Route(200, body=f'<html><body><main><a href="/p/{n + 1}">next</a></main></body></html>')


def _start_audit(url: str, db) -> subprocess.Popen:
    """`funnelcheck audit URL` in the background, as a user starts it from a terminal.

    A shell starts background jobs with SIGINT ignored, and children inherit that:
    the command gets the default disposition, as in a terminal.
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    return subprocess.Popen([sys.executable, "-m", "cli", "audit", url, "--db", str(db), "--no-sitemaps",
                             "--concurrency", "1"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _crawling(url: str, db, pages: int) -> tuple[subprocess.Popen, int]:
    """Start an audit of ``url`` and wait until its crawl process stored ``pages`` pages:
    (the `funnelcheck` process, the crawl process's pid)."""
    proc = _start_audit(url, db)
    (pid,) = wait_for_row(db, "SELECT pid FROM crawls", lambda r: r[0] not in (None, proc.pid))  # the crawl process
    wait_for_row(db, "SELECT count(*) FROM pages", lambda r: r[0] >= pages)
    return proc, pid


def test_kill_9_of_the_crawl_keeps_every_stored_page(site_server, tmp_path):
    srv = site_server(routes={"*": _chain})
    db = tmp_path / "c.sqlite"
    proc, pid = _crawling(srv.url + "/p/0", db, 5)
    os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.startswith("funnelcheck: error: crawl process killed by signal 9;")
    assert len(err.strip().splitlines()) == 1 and out == ""
    conn = sqlite3.connect(db)
    status, error = conn.execute("SELECT status, error FROM crawls").fetchone()
    assert status == "interrupted" and "signal 9" in error
    urls = [u for (u,) in conn.execute("SELECT u.url FROM pages p JOIN urls u ON u.id = p.url_id ORDER BY p.id")]
    assert len(urls) >= 5 and urls[:3] == [srv.url + "/p/0", srv.url + "/p/1", srv.url + "/p/2"]
    # Every stored page has all its links: one transaction per page.
    assert conn.execute("SELECT count(*) FROM links").fetchone()[0] == len(urls)
    # The interrupted crawl is still a report.
    result = run_cli("report", "--db", db, "--format", "json")
    assert result.exit_code == 0
    assert result.json()["crawl"]["status"] == "interrupted"
    assert result.json()["summary"]["pages_crawled"] == len(urls)


def test_ctrl_c_stops_the_crawl_and_keeps_it(site_server, tmp_path):
    """SIGINT (Ctrl-C) stops the crawl cleanly: exit 130, the crawl marked interrupted, pages kept."""
    srv = site_server(routes={"*": _chain})
    db = tmp_path / "c.sqlite"
    proc = _start_audit(srv.url + "/p/0", db)
    wait_for_row(db, "SELECT count(*) FROM pages", lambda r: r[0] >= 3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == ("funnelcheck: interrupted; pages crawled so far are kept in crawl #1 "
                                            f"(funnelcheck resume --db {db} 1 to continue it, "
                                            f"funnelcheck report --db {db} --crawl 1 to report it)")
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status FROM crawls").fetchone()[0] == "interrupted"
    # stopped, not cut by a limit: the report does not blame --max-pages
    summary = run_cli("report", "--db", db, "--format", "json").json()["summary"]
    assert summary["uncrawled_by_limits"] == {"depth": 0, "max_pages": 0}
    assert conn.execute("SELECT count(*) FROM pages").fetchone()[0] >= 3


def test_unknown_config_key_is_an_error(tmp_path):
    cfg = tmp_path / "funnel.toml"
    cfg.write_text('targets = ["https://a.example/"]\nmax_page = 3\n')
    result = run_cli("audit", "--config", cfg, "--db", tmp_path / "c.sqlite")
    assert result.exit_code == 2
    assert result.stderr == f"funnelcheck: error: {cfg}: unknown key max_page\n"


def test_the_crawl_dies_with_a_killed_funnelcheck(site_server, tmp_path):
    srv = site_server(routes={"*": _chain})
    db = tmp_path / "c.sqlite"
    proc, pid = _crawling(srv.url + "/p/0", db, 3)
    proc.kill()  # kill -9 of funnelcheck itself: nothing left to stop the crawl but the kernel
    proc.communicate(timeout=30)
    assert process_gone(pid), "the crawl process outlived funnelcheck"
    # It got SIGTERM: stopped cleanly, marked interrupted, and `crawls` says so.
    wait_for_row(db, "SELECT status FROM crawls", lambda r: r[0] == "interrupted")
    listed = run_cli("crawls", "--db", db)
    assert listed.stdout.split("\t")[2] == "interrupted"


def test_a_killed_funnelcheck_stops_its_crawl_within_seconds_even_mid_request(site_server, tmp_path):
    """A server that holds its answer (a drip, a hang) does not keep an orphaned crawl running for
    the request's --timeout: the crawl stops within its grace (5 s) and is marked interrupted."""
    def slow(handler):
        time.sleep(0.3 if handler.path == "/" else 40)
        return Route(200, body='<html><body><main><a href="/held">held</a></main></body></html>')

    srv = site_server(routes={"*": slow})
    db = tmp_path / "c.sqlite"
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    proc = subprocess.Popen([sys.executable, "-m", "cli", "audit", srv.url + "/", "--db", str(db), "--no-sitemaps",
                             "--ignore-robots", "--timeout", "60"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    (pid,) = wait_for_row(db, "SELECT pid FROM crawls", lambda r: r[0] not in (None, proc.pid))
    wait_for_row(db, "SELECT count(*) FROM pages", lambda r: r[0] >= 1)  # the home page; /held is in flight
    time.sleep(0.5)
    killed = time.monotonic()
    proc.kill()
    proc.communicate(timeout=30)
    assert process_gone(pid, timeout=20), "the crawl process outlived funnelcheck"
    assert time.monotonic() - killed < 10
    wait_for_row(db, "SELECT status FROM crawls", lambda r: r[0] == "interrupted", timeout=5)


def test_sigterm_stops_like_ctrl_c(site_server, tmp_path):
    srv = site_server(routes={"*": _chain})
    db = tmp_path / "c.sqlite"
    proc, pid = _crawling(srv.url + "/p/0", db, 3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1].startswith("funnelcheck: interrupted; pages crawled so far are kept in crawl #1")
    assert sqlite3.connect(db).execute("SELECT status FROM crawls").fetchone()[0] == "interrupted"
    assert process_gone(pid)


def test_crawls_never_lists_a_dead_crawl_as_running(tmp_path):
    from crawler.store import Store

    db = tmp_path / "c.sqlite"
    with Store(db) as store:
        cid = store.create_crawl(["https://a.example/"], {})
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        store.set_pid(cid, dead.pid)
    assert run_cli("crawls", "--db", db).stdout.split("\t")[2] == "interrupted"


def test_caps_on_redirects_and_url_length(site_server, tmp_path):
    """An endless external redirect chain stops after 10 hops; an over-long URL is not fetched."""
    def endless(handler):
        n = int(handler.path.rsplit("/", 1)[-1] or 0)
        return Route(302, {"Location": f"/r/{n + 1}"})

    ext = site_server(routes={"*": endless})
    long_url = "/" + "x" * 2100
    site = site_server(routes={"/": Route(200, body=f'<main><a href="https://loop.test/r/0">loop</a>'
                                                   f'<a href="{long_url}">long</a></main>')})
    result, report = __import__("conftest").audit_json(
        tmp_path, "https://cap.test/", "--no-sitemaps", "--remap", rf"^https://cap\.test/(.*) {site.url}/\1",
        "--remap", rf"^https://loop\.test/(.*) {ext.url}/\1")
    assert result.exit_code == 0, result.stderr  # a broken external link is medium
    assert len([p for m, p in ext.requests if p.startswith("/r/")]) <= 11 * 2  # HEAD, then GET per hop at most
    rules = {(f["rule"], f["target"]): f for f in report["findings"]}
    loop = rules[("broken-link", "https://loop.test/r/0")]
    assert loop["detail"]["label"] == "more than 10 redirects"
    skipped = rules[("skipped-link", "https://cap.test" + long_url)]
    assert skipped["message"].endswith("skipped (URL longer than 2,048 characters)")
    assert not [p for m, p in site.requests if p.startswith("/xxx")]


def test_crawler_traps_stop_and_are_reported(site_server, tmp_path):
    """An endless calendar: 500 variants, then a finding (a growing query and a repeating path are
    the same mechanism: see the doctest of crawler.urls.trap_template)."""
    def calendar(handler):
        from urllib.parse import parse_qs, urlsplit

        q = parse_qs(urlsplit(handler.path).query)
        n = int(q.get("day", ["0"])[0])
        return Route(200, body=f'<main><a href="/cal?day={n + 1}">next day</a></main>')

    srv = site_server(routes={"*": calendar})
    result, report = __import__("conftest").audit_json(
        tmp_path, "https://trap.test/cal?day=0", "--no-sitemaps", "--concurrency", "16",
        "--remap", rf"^https://trap\.test/(.*) {srv.url}/\1")
    assert result.exit_code == 0, result.stderr
    traps = {f["target"]: f for f in report["findings"] if f["rule"] == "crawl-trap"}
    assert set(traps) == {"https://trap.test/cal?day=…"}
    assert all(f["severity"] == "medium" and f["detail"]["crawled"] == 500 and f["detail"]["left"] >= 1
               for f in traps.values())
    assert report["summary"]["pages_crawled"] == 1 + 500  # the target, then 500 variants


def test_concurrency_is_what_the_server_sees(site_server, tmp_path):
    """--concurrency 2: the server never has more than two requests of the crawl at once (Scrapy
    2.19's downloader alone let ten through with a per-host limit of one)."""
    import threading

    lock, now, peak = threading.Lock(), [0], [0]

    def slow(handler):
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        time.sleep(0.1)
        with lock:
            now[0] -= 1
        n = int(handler.path.rsplit("/", 1)[-1]) if handler.path[3:].isdigit() else 0
        return Route(200, body="<main>" + "".join(f'<a href="/p/{n * 6 + i}">p</a>' for i in range(1, 7))
                               + "</main>")

    srv = site_server(routes={"*": slow})
    result = run_cli("audit", srv.url + "/p/0", "--db", str(tmp_path / "c.sqlite"), "--no-sitemaps",
                     "--concurrency", "2", "--max-pages", "25")
    assert result.exit_code == 0, result.stderr
    assert len([p for m, p in srv.requests if p.startswith("/p/")]) >= 25
    assert peak[0] == 2


def test_links_read_per_page_are_capped_and_said(site_server, tmp_path):
    """A page with 10,050 links: the first 10,000 are read, and a finding says so."""
    body = "<main>" + "".join(f'<a href="/l/{n}">{n}</a>' for n in range(10_050)) + "</main>"
    srv = site_server(routes={"/": Route(200, body=body)})
    result, report = __import__("conftest").audit_json(
        tmp_path, "https://big.test/", "--no-sitemaps", "--depth", "0",
        "--remap", rf"^https://big\.test/(.*) {srv.url}/\1")
    assert result.exit_code == 0, result.stderr
    assert len([link for link in report["links"] if link["source"] == "https://big.test/"]) == 10_000
    (capped,) = [f for f in report["findings"] if f["rule"] == "too-many-links"]
    assert capped["sources"] == ["https://big.test/"]
    assert capped["message"] == ("1 page with more links than are read (read the first 10,000 of 10,050 links on "
                                 "https://big.test/)")


def test_a_long_sitemap_is_read_in_parts(site_server, tmp_path):
    """2,500 URLs in one sitemap: read as a stream, written in parts of 1,000, every URL kept once
    (excluded here, so none is fetched), the sitemap itself one row."""
    urls = "".join(f"<url><loc>https://map.test/s/{n}</loc></url>" for n in range(2_500))
    sitemap = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    srv = site_server(routes={"/": Route(200, body="<main>home</main>"),
                              "/sitemap.xml": Route(200, {"Content-Type": "application/xml"}, sitemap),
                              "/robots.txt": Route(404)})
    result, report = __import__("conftest").audit_json(
        tmp_path, "https://map.test/", "--exclude", "/s/", "--remap", rf"^https://map\.test/(.*) {srv.url}/\1")
    assert result.exit_code == 0, result.stderr
    listed = [link["target"] for link in report["links"] if link["tag"] == "sitemap"]
    assert len(listed) == len(set(listed)) == 2_500
    assert [p["url"] for p in report["pages"] if p["role"] == "sitemap"] == ["https://map.test/sitemap.xml"]
    skipped = {p["url"] for p in report["pages"] if p["error_kind"] == "excluded"}
    assert len(skipped) == 2_500 and not [p for m, p in srv.requests if p.startswith("/s/")]
