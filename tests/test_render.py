"""Pages built with JavaScript (--render): a single-page app audited in Debian's Chromium.

The fixture (tests/sites/spa) is what a React or Vue site serves: every path answers the same
empty ``<div id="root">``; its script draws the menu, the route's content, the footer's follow
icons and "Book a demo", routes with ``history.pushState``, and injects the lead form of /demo
after load. It also tries what a hostile script would: reach another server on this machine
(the SSRF canary, on a port the crawl was not pointed at). One crawl per site and mode.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest

from conftest import ROOT, SITES, Route, audit_json, findings_set, process_gone, run_cli, wait_for_row

SPA = "https://spa.test/"
SPA_PAGES = {SPA, SPA + "pricing", SPA + "about", SPA + "demo", SPA + "signup", SPA + "blog/first-post",
             SPA + "blog/second-post"}
FORM = SPA + "api/leads"   # the lead form's action: the app's fallback page answers it too
X, LI = "https://x.com/acmecloud", "https://www.linkedin.com/company/acmecloud"
CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
MARK = "FUNNELCHECK_TEST_MARK"


def spa_routes(canary: str, delay: float = 0.0):
    """The app's server: its two scripts, no robots.txt or sitemap, the app's page for every other path."""
    def answer(handler) -> Route:
        path = urlsplit(handler.path).path
        if path == "/config.js":
            return Route(200, {"Content-Type": "application/javascript"}, f'window.CANARY = "{canary}";')
        if path == "/app.js":
            return Route(200, {"Content-Type": "application/javascript"}, (SITES / "spa" / "app.js").read_bytes())
        if path in ("/robots.txt", "/sitemap.xml"):
            return Route(404, body="not found")
        time.sleep(delay)
        return Route(200, body=(SITES / "spa" / "index.html").read_bytes())
    return {"*": answer}


def remap(site) -> list[str]:
    return ["--remap", rf"^https://spa\.test/(.*) {site.url}/\1", "--no-check-external", "--no-check-social"]


# -- the process tree, from /proc --------------------------------------------------------------
def marked(mark: str) -> list[int]:
    """The processes whose environment holds ``MARK=mark`` (the CLI, the crawl, the driver, Chromium)."""
    needle = f"{MARK}={mark}".encode()
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/environ", "rb") as fh:
                    if needle in fh.read().split(b"\0"):
                        out.append(int(name))
            except OSError:
                continue
    return out


def pss_mib(pid: int) -> float:
    """The proportional set size of a process (its share of what it shares), MiB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def is_chromium(pid: int) -> bool:
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe")).startswith("chromium")
    except OSError:
        return False


class TreeMemory(threading.Thread):
    """Samples the memory of the marked process tree every 0.2 s: the most seen, and how many
    Chromium processes ran at most."""

    def __init__(self, mark: str):
        super().__init__(daemon=True)
        self.mark, self.most, self.chromium, self.stop = mark, 0.0, 0, threading.Event()

    def run(self):
        while not self.stop.wait(0.2):
            pids = marked(self.mark)
            self.most = max(self.most, sum(pss_mib(p) for p in pids))
            self.chromium = max(self.chromium, sum(1 for p in pids if is_chromium(p)))


@pytest.fixture(scope="module")
def spa(tmp_path_factory, module_site_server):
    """The app audited with --render auto (Debian's chromium on PATH), its process tree watched."""
    tmp = tmp_path_factory.mktemp("spa")
    canary = module_site_server(routes={"*": Route(200, body="canary")})
    site = module_site_server(routes=spa_routes(canary.url))
    mark = uuid.uuid4().hex
    memory = TreeMemory(mark)
    memory.start()
    try:
        result, report = audit_json(tmp, SPA, "--render", "auto", *remap(site), env={MARK: mark})
    finally:
        memory.stop.set()
        memory.join()
    return result, report, tmp / "crawls.sqlite", canary, memory


def read(db, sql, *args):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def page_rows(db) -> dict:
    return {url: (read_as, why) for url, read_as, why in read(
        db, "SELECT u.url, p.read_as, p.render_why FROM pages p JOIN urls u ON u.id = p.url_id WHERE p.role = 'page'"
            " AND p.parsed = 1")}   # (the HTML pages read)


@needs_chromium
def test_every_page_of_the_app_is_found_and_read_rendered(spa):
    result, report, db, _, _ = spa
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    pages = page_rows(db)
    assert set(pages) == SPA_PAGES | {FORM}
    assert {url: how for url, (how, _) in pages.items()} == dict.fromkeys(SPA_PAGES | {FORM}, "rendered")
    assert pages[SPA][1] == "needs JavaScript: an empty app root (#root)"
    assert report["summary"]["read_as"] == {"raw": 0, "rendered": 8}
    titles = {p["url"]: p["title"] for p in report["pages"] if p["role"] == "page"}
    assert titles[SPA + "pricing"] == "Pricing" and titles[SPA + "demo"] == "Book a demo"


@needs_chromium
def test_the_apps_links_are_found_in_their_regions(spa):
    _, report, _, _, _ = spa
    home = {(link["target"], link["tag"], link["region"], link["text"]) for link in report["links"]
            if link["source"] == SPA and link["tag"] == "a"}
    assert home == {
        (SPA, "a", "nav", "Home"), (SPA + "pricing", "a", "nav", "Pricing"), (SPA + "about", "a", "nav", "About"),
        (SPA + "blog/first-post", "a", "nav", "Blog"),
        (SPA + "pricing", "a", "main", "See pricing"), (SPA + "blog/first-post", "a", "main", "Read our first post"),
        (SPA + "demo", "a", "footer", "Book a demo"), (X, "a", "footer", "X"), (LI, "a", "footer", "LinkedIn"),
    }
    # the lead form a script injects after load is there, in the page body
    assert [(link["target"], link["region"]) for link in report["links"]
            if link["source"] == SPA + "demo" and link["tag"] == "form"] == [(FORM, "main")]
    demo = next(p for p in report["pages"] if p["url"] == SPA + "demo")
    assert demo["lead_form"] is True
    # the footer's follow icons are the business's profiles: rowing backward, as on a served page
    assert {(f["rule"], f["target"], f["region"], f["count"]) for f in report["findings"]
            if f["rule"] == "backward-social"} == {("backward-social", X, "footer", 8),
                                                   ("backward-social", LI, "footer", 8)}


@needs_chromium
def test_links_that_exist_only_after_javascript_are_reported_per_template(spa):
    _, report, _, _, _ = spa
    found = {(f["severity"], f["target"], f["region"], f["count"], f["message"]) for f in report["findings"]
             if f["rule"] == "javascript-links"}
    assert found == {
        ("medium", SPA + "demo", "footer", 8,
         "the footer's follow icons (x.com/acmecloud, www.linkedin.com/company/acmecloud) and 'Book a demo' exist "
         "only after JavaScript on 8 pages: crawlers and link previews do not see them"),
        ("medium", SPA, "nav", 8,
         "the navigation's 'Home', 'Pricing', 'About', 'Blog' exist only after JavaScript on 8 pages: crawlers and "
         "link previews do not see them"),
        ("medium", SPA + "pricing", "main", 5,
         "links in the page body ('See pricing', 'Read our first post', 'Start a trial', 'Next post' and 2 more "
         "links) exist only after JavaScript on 5 pages: crawlers and link previews do not see them"),
    }
    assert not [f for f in report["findings"] if f["rule"] in ("javascript-removed", "javascript-unrendered")]


@needs_chromium
def test_the_browser_reaches_no_other_server_and_stays_under_a_gibibyte(spa):
    _, _, _, canary, memory = spa
    assert canary.requests == []   # fetch, image, beacon, WebSocket and script of the app's own JavaScript
    assert memory.chromium >= 1    # (the browser ran, and was measured: a loaded machine may sample it once)
    assert 100 < memory.most < 1024, f"{memory.most:.0f} MiB"


def test_never_reads_the_app_as_served(tmp_path, site_server):
    canary = site_server(routes={"*": Route(200, body="canary")})
    site = site_server(routes=spa_routes(canary.url))
    result, report = audit_json(tmp_path, SPA, "--render", "never", *remap(site))
    assert result.exit_code == 0, result.stderr
    assert page_rows(tmp_path / "crawls.sqlite") == {SPA: ("raw", None)}   # today's crawl: one empty page
    assert [link["tag"] for link in report["links"]] == ["script", "script"]
    assert report["findings"] == [] and report["summary"]["read_as"] == {"raw": 1, "rendered": 0}
    assert canary.requests == []


def test_without_chromium_auto_says_once_that_javascript_pages_were_read_raw(tmp_path, site_server):
    site = site_server(routes=spa_routes("http://127.0.0.1:9"))
    no_chromium = {"PATH": os.path.dirname(sys.executable)}
    result, report = audit_json(tmp_path, SPA, "--render", "auto", *remap(site), env=no_chromium)
    assert result.exit_code == 0, result.stderr
    message = ("1 page needs JavaScript to show its links and was read as served: no Chromium to render it "
               "(install chromium, or give --chromium PATH)")
    assert result.stderr == f"funnelcheck: warning: {message}\n"
    assert [(f["rule"], f["severity"], f["target"], f["message"]) for f in report["findings"]] == [
        ("javascript-unrendered", "info", SPA, message)]
    assert page_rows(tmp_path / "crawls.sqlite") == {
        SPA: ("raw", "needs JavaScript: an empty app root (#root); read as served: no Chromium")}
    # --render always cannot do without: one line, exit 2, nothing crawled
    result = run_cli("audit", SPA, "--render", "always", *remap(site), "--db", tmp_path / "always.sqlite",
                     env=no_chromium)
    assert (result.exit_code, result.stderr) == (2, (
        "funnelcheck: error: --render always needs Chromium, and none is installed (no chromium on PATH): install it "
        "(apt-get install chromium) or give --chromium PATH\n"))
    assert not (tmp_path / "always.sqlite").exists()
    result = run_cli("audit", SPA, "--chromium", tmp_path / "chromium", "--db", tmp_path / "x.sqlite")
    assert (result.exit_code, result.stderr) == (2, f"funnelcheck: error: --chromium {tmp_path / 'chromium'}: no "
                                                    "such executable file\n")
    (tmp_path / "funnel.toml").write_text('render = "sometimes"\n')
    result = run_cli("audit", SPA, "--config", tmp_path / "funnel.toml", "--db", tmp_path / "x.sqlite")
    assert (result.exit_code, result.stderr) == (2, "funnelcheck: error: --render must be one of auto, always, never, "
                                                    "got 'sometimes'\n")


@pytest.fixture(scope="module")
def static(tmp_path_factory, module_site_server):
    """A plain static site (tests/sites/funnel/site: four pages of one template) with auto and never."""
    site = module_site_server(SITES / "funnel" / "site")
    args = ("https://www.shop.test/", "--remap", rf"^https://www\.shop\.test/(.*) {site.url}/\1",
            "--no-check-external", "--no-check-social")
    runs = {}
    for mode in ("auto", "never"):
        tmp = tmp_path_factory.mktemp(mode)
        runs[mode] = (*audit_json(tmp, *args, "--render", mode), tmp / "crawls.sqlite")
    return runs


@needs_chromium
def test_a_static_site_with_auto_renders_only_its_samples(static):
    result, report, db = static["auto"]
    assert result.exit_code == 1, result.stderr   # (the site's own findings: high)
    pages = page_rows(db)
    assert set(pages) == {"https://www.shop.test/" + path for path in ("", "about/", "contact/", "pricing/")}
    assert sorted(how for how, _ in pages.values()) == ["raw", "rendered", "rendered", "rendered"]
    assert {why for how, why in pages.values() if how == "rendered"} == {"a sample of its template"}
    assert [why for how, why in pages.values() if how == "raw"] == [None]
    # rendering found nothing the served HTML lacks: the same report as without it
    never = static["never"][1]
    assert findings_set(report) == findings_set(never)
    assert not [f for f in report["findings"] if f["rule"].startswith("javascript-")]
    assert read(db, "SELECT COUNT(*) FROM render_links") == [(0,)]


@needs_chromium
@pytest.mark.parametrize("killed", ["funnelcheck", "crawl"])
def test_a_kill_9_leaves_no_chromium(tmp_path, site_server, killed):
    """kill -9 of funnelcheck (its crawl stops on the SIGTERM Linux sends it, and closes the
    browser) or of the crawl process itself (the driver, then Chromium, die with it)."""
    site = site_server(routes=spa_routes("http://127.0.0.1:9", delay=1.0))
    mark = uuid.uuid4().hex
    db = tmp_path / "crawls.sqlite"
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(ROOT), **{MARK: mark})
    cli = subprocess.Popen([sys.executable, "-m", "cli", "audit", SPA, "--render", "always", *remap(site),
                            "--db", str(db)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not any(is_chromium(p) for p in marked(mark)):
            assert time.monotonic() < deadline, "Chromium never started"
            assert cli.poll() is None, cli.stderr.read()
            time.sleep(0.1)
        (crawl_pid,) = wait_for_row(db, "SELECT pid FROM crawls", lambda row: row[0])
        os.kill(cli.pid if killed == "funnelcheck" else crawl_pid, signal.SIGKILL)
        cli.wait(timeout=30)
        assert process_gone(crawl_pid)
        deadline = time.monotonic() + 10
        while marked(mark) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [(p, open(f"/proc/{p}/cmdline", "rb").read()[:80]) for p in marked(mark)]
        assert left == []
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()


def test_links_rendering_removes_are_grouped_per_template(tmp_path):
    """The store's render_links read back into findings (no browser: the rows a rendered crawl writes)."""
    from analysis.graph import build_graph
    from analysis.rules import RULES
    from crawler.store import Store

    site = "https://a.example/"
    pages = [site + p for p in ("", "about/", "team/")]
    with Store(tmp_path / "c.sqlite") as store:
        cid = store.create_crawl([site], {"site": [site]})
        for page in pages:
            links = [(page, site + "old-menu/", site + "old-menu/", None, "a", "href", "Menu", "nav", "", 0, "other", 3, 0),
                     (page, site + "pricing/", site + "pricing/", None, "a", "href", "Pricing", "nav", "", 0, "other", None, 1)]
            removed = [(page, site + "old-menu/", "a", "nav", "Menu", "raw")]
            if page.endswith("team/"):  # a link of this page's own, in its text
                links.append((page, site + "jobs/", site + "jobs/", None, "a", "href", "", "main", "", 0, "other", 9, 2))
                removed.append((page, site + "jobs/", "a", "main", "", "raw"))
            store.write_item(cid, {"page": {"url": page, "role": "page", "status": 200, "parsed": 1,
                                            "read_as": "rendered", "render_why": "a sample of its template"},
                                   "links": links, "render_links": removed})
        g = build_graph(store, cid)
        found = sorted((f.severity, f.target, f.region, f.sources, f.message, f.detail["kind"])
                       for f in RULES["javascript-removed"](g))
        assert store.read_as(cid) == {"raw": 0, "rendered": 3, "unrendered": []}
    assert found == [
        ("low", site + "jobs/", "main", [site + "team/"],
         "links in the page body (a.example/jobs) in the HTML as served are gone once JavaScript runs, on 1 page: "
         "crawlers follow links that visitors never see", "page"),
        ("low", site + "old-menu/", "nav", pages,
         "the navigation's 'Menu' in the HTML as served is gone once JavaScript runs, on 3 pages: crawlers follow "
         "links that visitors never see", "template"),
    ]
