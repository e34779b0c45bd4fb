"""Resume after kill -9: the resumed crawl equals an uninterrupted one, and no page is fetched
twice beyond those in flight at the kill."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest

from conftest import ROOT, Route, SiteServer, process_gone, run_cli, tree_page, wait_for_row

PAGES = 60


def _site(handler):
    """The binary tree of PAGES pages (conftest.tree_page), slow enough to be killed mid-way."""
    return tree_page(handler, PAGES, delay=0.02)


ARGS = ["--no-sitemaps", "--concurrency", "2", "--format", "json"]


def _remaps(srv: SiteServer) -> list[str]:
    return ["--remap", rf"^https://res\.test/(.*) {srv.url}/\1",
            "--remap", rf"^https://twitter\.com/(.*) {srv.url}/_social/twitter.com/\1"]


def _view(report: dict) -> dict:
    """What a user compares: pages and their verdicts, every link, every finding and its pages."""
    return {"pages": sorted((p["url"], p["role"], p["status"], p["verdict"]) for p in report["pages"]),
            "links": sorted(Counter((l["source"], l["target"], l["tag"], l["region"], l["line"])
                                    for l in report["links"]).items()),
            "findings": sorted((f["id"], f["rule"], f["severity"], tuple(f["sources"])) for f in report["findings"])}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted crawl of the site: its report."""
    srv = SiteServer(routes={"*": _site})
    tmp = tmp_path_factory.mktemp("ref")
    result = run_cli("audit", "https://res.test/p/0", "--db", tmp / "c.sqlite", *ARGS, *_remaps(srv))
    srv.close()
    assert result.exit_code == 1, result.stderr  # the header icon is a high finding
    report = result.json()
    assert len([p for p in report["pages"] if p["role"] == "page" and p["status"] == 200]) == PAGES
    return report


def _start(srv, db) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    return subprocess.Popen([sys.executable, "-m", "cli", "audit", "https://res.test/p/0", "--db", str(db), *ARGS,
                             *_remaps(srv)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.parametrize("victim", ["crawl", "funnelcheck"])
def test_resume_after_kill_9_equals_an_uninterrupted_crawl(reference, tmp_path, victim):
    srv = SiteServer(routes={"*": _site})
    db = tmp_path / "c.sqlite"
    proc = _start(srv, db)
    (pid,) = wait_for_row(db, "SELECT pid FROM crawls", lambda r: r[0] not in (None, proc.pid))  # the crawl process
    wait_for_row(db, "SELECT count(*) FROM pages", lambda r: r[0] >= 15)
    os.kill(pid if victim == "crawl" else proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert process_gone(pid)  # killing funnelcheck takes its crawl with it
    stored = sqlite3.connect(db).execute("SELECT count(*) FROM pages").fetchone()[0]
    assert 15 <= stored < PAGES
    listed = run_cli("crawls", "--db", db)
    assert "\tinterrupted\t" in listed.stdout
    before = Counter(p for m, p in srv.requests if m == "GET" and p != "/robots.txt")

    result = run_cli("resume", "--db", db, "--format", "json")
    assert result.exit_code == 1, result.stderr
    assert _view(result.json()) == _view(reference)
    assert result.json()["summary"]["status"] == "complete"
    fetched = Counter(p for m, p in srv.requests if m == "GET" and p != "/robots.txt")
    twice = {p: n for p, n in fetched.items() if n > 1}
    assert len(twice) <= 4, twice  # at most those in flight at the kill (two at a time per host)
    assert sum(before.values()) >= 15 and set(before) <= set(fetched)
    assert run_cli("resume", "--db", db).exit_code == 2  # nothing left to resume
    srv.close()


def test_audit_resume_continues_the_interrupted_crawl_of_the_same_targets(reference, tmp_path):
    srv = SiteServer(routes={"*": _site})
    db = tmp_path / "c.sqlite"
    proc = _start(srv, db)
    (pid,) = wait_for_row(db, "SELECT pid FROM crawls", lambda r: r[0] not in (None, proc.pid))  # the crawl process
    wait_for_row(db, "SELECT count(*) FROM pages", lambda r: r[0] >= 12)
    os.kill(pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    result = run_cli("audit", "https://res.test/p/0", "--db", db, "--resume", *ARGS, *_remaps(srv))
    assert result.exit_code == 1, result.stderr
    assert "warning" not in result.stderr  # the same options: nothing to say
    assert result.json()["crawl"]["id"] == 1  # the same crawl, continued
    assert _view(result.json()) == _view(reference)
    srv.close()


def _slow_site(handler):
    # the same site, slow enough for a one-second slice to leave pages to crawl: 0.1 s an answer, two
    # at a time. Scrapy's close lets the requests already handed to the downloader finish (up to
    # CONCURRENT_REQUESTS of them), so a slice ends with about twice the pages it crawled: at 0.05 s
    # (about 20 in the second) that was all 60 one run in three.
    time.sleep(0.08)
    return _site(handler)


@pytest.fixture(scope="module")
def cut_short(tmp_path_factory):
    """One audit of the slow site cut short by --max-time 1s: (its result, its store, the server).
    Each test resumes a copy of the store, so each starts from the same interrupted crawl."""
    srv = SiteServer(routes={"*": _slow_site})
    db = tmp_path_factory.mktemp("cut") / "c.sqlite"
    result = run_cli("audit", "https://res.test/p/0", "--db", db, "--max-time", "1s", *ARGS, *_remaps(srv))
    yield result, db, srv
    srv.close()


def _copy_store(db, to):
    """A copy of the store at ``db`` (closed: no process has it open) at ``to``."""
    import shutil

    for path in db.parent.glob(db.name + "*"):  # the -wal and -shm files too, if any are left
        if not path.name.endswith(".lock"):
            shutil.copy(path, to.parent / (to.name + path.name[len(db.name):]))
    return to


def test_max_time_stops_the_crawl_and_resume_finishes_it(reference, cut_short, tmp_path):
    result, original, _ = cut_short
    db = _copy_store(original, tmp_path / "c.sqlite")
    assert result.exit_code == 1, result.stderr  # a report of what was crawled in a second
    assert "--max-time reached" in result.stderr and "funnelcheck resume" in result.stderr
    report = result.json()
    assert report["summary"]["status"] == "interrupted"
    assert 0 < report["summary"]["pages_crawled"] < PAGES
    for _ in range(20):  # each run gets its --max-time again: a big site crawled a slice at a time
        result = run_cli("resume", "--db", db, "--format", "json")
        assert result.exit_code == 1, result.stderr
        if result.json()["summary"]["status"] == "complete":
            break
    assert _view(result.json()) == _view(reference)


def test_resume_and_max_time_errors_are_one_line(tmp_path):
    db = tmp_path / "c.sqlite"
    result = run_cli("audit", "https://a.example/", "--db", db, "--max-time", "soon")
    assert result.exit_code == 2
    assert result.stderr == "funnelcheck: error: --max-time takes a duration like 90s, 30m, 2h, got 'soon'\n"
    result = run_cli("resume", "--db", db)
    assert result.exit_code == 2 and result.stderr == f"funnelcheck: error: no crawl store at {db}\n"
    assert not db.exists()  # asking created nothing
    from crawler.store import Store

    Store(db).close()
    result = run_cli("resume", "--db", db)
    assert result.exit_code == 2 and result.stderr.startswith("funnelcheck: error: no interrupted crawl to resume")
    result = run_cli("resume", "7", "--db", db)
    assert result.exit_code == 2 and result.stderr == f"funnelcheck: error: no crawl 7 in {db}\n"


def test_audit_resume_says_when_the_options_given_are_not_the_crawls(cut_short, tmp_path):
    _, original, srv = cut_short
    db = _copy_store(original, tmp_path / "c.sqlite")
    result = run_cli("audit", "https://res.test/p/0", "--db", db, "--resume", "--exclude", "/p/5", *ARGS,
                     *_remaps(srv))
    assert ("funnelcheck: warning: resuming crawl #1 with the options it was started with; the ones given now "
            "differ and are not used") in result.stderr
    assert result.json()["crawl"]["id"] == 1 and result.json()["crawl"]["options"]["exclude"] == []


_TEXT = "<p>" + "Words of a page that reads whole as served. " * 6 + "</p>"
_SCRIPTED = ('<footer id="f"></footer><script>document.getElementById("f").innerHTML = '
             '\'<a href="/contact">Contact</a>\';</script>')


@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="Debian's chromium is not installed")
def test_a_sample_whose_rendering_was_cut_is_rendered_by_the_resume(tmp_path):
    """--render auto: a page is stored as served, then rendered (a sample of its template). A kill
    -9 between the two left it as served for good: the resume's frontier had it done (the
    cluster test cutting a crawl five ways failed one run in four under load: 4 or 5 pages of
    6 rendered). It is queued until its rendered reading is stored, and the resume renders it."""
    import threading

    held, asked = threading.Event(), Counter()

    def site(handler):
        path = handler.path
        asked[path] += 1
        if path == "/" and asked[path] == 2:  # Chromium's fetch of the sample: held until the crawl is killed
            held.wait(60)                     # (its rendering never ends before the cut)
        if path in ("/", "/contact"):
            return Route(200, body=f"<main><h1>{path}</h1>{_TEXT}</main>{_SCRIPTED if path == '/' else ''}")
        return Route(404, body="<h1>not found</h1>")

    srv = SiteServer(routes={"*": site})
    db = tmp_path / "c.sqlite"
    try:
        env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
        proc = subprocess.Popen([sys.executable, "-m", "cli", "audit", f"{srv.url}/", "--db", str(db), "--render",
                                 "auto", "--no-sitemaps", "--ignore-robots", "--no-check-external"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        (pid,) = wait_for_row(db, "SELECT pid FROM crawls", lambda r: r[0] not in (None, proc.pid))
        # stored as served, its rendering to come (Chromium starting, or its fetch held): cut there
        wait_for_row(db, "SELECT read_as, render_why FROM pages", lambda r: r == ("raw", "a sample of its template"))
        os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        assert process_gone(pid)
    finally:
        held.set()
    result = run_cli("resume", "--db", db, "--format", "json")
    srv.close()
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert report["summary"]["status"] == "complete"
    assert sorted((p["url"][len(srv.url):], p["read_as"]) for p in report["pages"] if p["role"] == "page") == [
        ("/", "rendered"), ("/contact", "raw")]
    assert [(f["rule"], f["sources"]) for f in report["findings"] if f["rule"] == "javascript-links"] == [
        ("javascript-links", [f"{srv.url}/"])]
