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
FORM = SPA + "api/leads"   # the lead form's action: the app's fallback page answers it too (never read as a page)
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


def is_driver(pid: int) -> bool:
    """The Playwright driver (Node.js running ``cli.js run-driver``)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"run-driver" in fh.read()
    except OSError:
        return False


class TreeMemory(threading.Thread):
    """Samples the memory of the marked process tree every 0.2 s: the most seen, and how many
    Chromium processes and Playwright drivers ran at most."""

    def __init__(self, mark: str):
        super().__init__(daemon=True)
        self.mark, self.most, self.chromium, self.drivers, self.stop = mark, 0.0, 0, 0, threading.Event()

    def run(self):
        while not self.stop.wait(0.2):
            pids = marked(self.mark)
            self.most = max(self.most, sum(pss_mib(p) for p in pids))
            self.chromium = max(self.chromium, sum(1 for p in pids if is_chromium(p)))
            self.drivers = max(self.drivers, sum(1 for p in pids if is_driver(p)))


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
    assert set(pages) == SPA_PAGES
    assert {url: how for url, (how, _) in pages.items()} == dict.fromkeys(SPA_PAGES, "rendered")
    assert pages[SPA][1] == "needs JavaScript: an empty app root (#root)"
    assert report["summary"]["read_as"] == {"raw": 0, "rendered": 7}
    # the form a script injects posts to an endpoint: checked as a form's action (HEAD), never read as a page
    assert read(db, "SELECT p.role, p.method, p.parsed FROM pages p JOIN urls u ON u.id = p.url_id WHERE u.url = ?",
                FORM) == [("form", "HEAD", 0)]
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
            if f["rule"] == "backward-social"} == {("backward-social", X, "footer", 7),
                                                   ("backward-social", LI, "footer", 7)}


@needs_chromium
def test_links_that_exist_only_after_javascript_are_reported_per_template(spa):
    """Grouped per template and region; the offers ('Book a demo', pricing, sign-up) named first."""
    _, report, _, _, _ = spa
    found = {(f["severity"], f["target"], f["region"], f["count"], f["message"]) for f in report["findings"]
             if f["rule"] == "javascript-links"}
    assert found == {
        ("medium", SPA + "demo", "footer", 7,
         "the footer's follow icons (x.com/acmecloud, www.linkedin.com/company/acmecloud) and 'Book a demo' exist "
         "only after JavaScript on 7 pages: crawlers and link previews do not see them"),
        ("medium", SPA, "nav", 7,
         "the navigation's 'Pricing', 'Home', 'About', 'Blog' exist only after JavaScript on 7 pages: crawlers and "
         "link previews do not see them"),
        ("medium", SPA + "pricing", "main", 5,
         "links in the page body ('See pricing', 'Book a demo', 'Start a trial', 'Read our first post' and 2 more "
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
    # today's crawl: one empty page; its HTML shows it needs JavaScript, which the header says
    assert page_rows(tmp_path / "crawls.sqlite") == {
        SPA: ("raw", "needs JavaScript: an empty app root (#root); read as served: --render never")}
    assert [link["tag"] for link in report["links"]] == ["script", "script"]
    assert report["findings"] == [] and report["summary"]["read_as"] == {"raw": 1, "rendered": 0}
    assert report["summary"]["javascript_unread"] == {"pages": 1, "why": "--render never"}
    assert canary.requests == []
    result = run_cli("report", "--db", tmp_path / "crawls.sqlite")   # the terminal report: not a clean site
    assert result.stdout.splitlines()[1] == (
        "partial audit: this site builds its pages with JavaScript: the audit read 1 page as served (--render never), "
        "without the links its scripts add: audit with --render auto")


STUB = ('<!doctype html><html><head><title>Moved</title><meta http-equiv="refresh" content="0;url=/new/">'
        '</head><body><script>window.location = "https://stub.test/new/";</script>'
        '<p>Moved to <a href="/new/">/new/</a></p></body></html>')
NEW = ('<!doctype html><html><head><title>New</title></head><body><header id="h"></header><main><h1>New</h1></main>'
       '<script>document.getElementById("h").innerHTML = \'<a href="/pricing">Pricing</a> '
       '<a href="/demo">Request a demo</a>\';</script></body></html>')


@needs_chromium
def test_a_redirect_stub_is_read_as_itself_not_as_the_page_its_script_goes_to(tmp_path, site_server):
    """A WordPress export's redirect stubs (a meta refresh and ``window.location``) rendered in
    Chromium: the browser is not let go on to the target, whose template links would be the stub's
    own, "only after JavaScript" (scantrust: the header's 'Request a demo' on 12 stubs)."""
    again = ('<html><head><title>Again</title></head><body><main id="m"></main><script>if (!sessionStorage.r) '
             '{ sessionStorage.r = 1; location.reload(); } else { document.getElementById("m").innerHTML = '
             '\'<a href="/pricing">Pricing</a>\'; }</script></body></html>')   # a consent wall's one reload
    pages = {"/": '<html><head><title>Home</title></head><body><a href="/old/">old</a> <a href="/new/">new</a> '
                  '<a href="/again/">again</a></body></html>',
             "/old/": STUB, "/new/": NEW, "/again/": again, "/pricing": "<title>Pricing</title>", "/demo": "<title>Demo</title>"}
    site = site_server(routes={path: Route(200, body=body) for path, body in pages.items()})
    result, report = audit_json(tmp_path, "https://stub.test/", "--render", "always", "--no-check-external",
                                "--no-check-social", "--remap", rf"^https://stub\.test/(.*) {site.url}/\1")
    assert result.exit_code == 0, result.stderr
    assert page_rows(tmp_path / "crawls.sqlite")["https://stub.test/old/"] == (
        "raw", "its script or meta refresh sends the browser on to https://stub.test/new/: read as served")
    assert sorted((link["target"], link["tag"]) for link in report["links"] if link["source"] == "https://stub.test/old/") == [
        ("https://stub.test/new/", "a"), ("https://stub.test/new/", "meta")]
    assert sorted((f["rule"], f["sources"]) for f in report["findings"]) == [
        ("javascript-links", ["https://stub.test/again/"]), ("javascript-links", ["https://stub.test/new/"]),
        ("redirect", ["https://stub.test/"])]  # (home links the stub)
    # a page that reloads itself once is no stub: read rendered
    assert page_rows(tmp_path / "crawls.sqlite")["https://stub.test/again/"][0] == "rendered"


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
    assert report["summary"]["javascript_unread"] == {"pages": 1, "why": "no Chromium"}
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
    assert (result.exit_code, result.stderr) == (2, "funnelcheck: error: render = 'sometimes' in the config file: must "
                                                    "be one of auto, always, never\n")
    result = run_cli("audit", SPA, "--db", tmp_path / "x.sqlite", env={"FUNNELCHECK_RENDER": "yes"})
    assert (result.exit_code, result.stderr) == (2, "funnelcheck: error: render = 'yes' in FUNNELCHECK_RENDER: must be one "
                                                    "of auto, always, never\n")


@pytest.fixture(scope="module")
def static(tmp_path_factory, module_site_server):
    """A plain static site (tests/sites/funnel/site: four pages of one template) with auto and never."""
    site = module_site_server(SITES / "funnel" / "site")
    args = ("https://www.shop.test/", "--remap", rf"^https://www\.shop\.test/(.*) {site.url}/\1",
            "--no-check-external", "--no-check-social")
    runs = {}
    for mode in ("auto", "never"):
        tmp = tmp_path_factory.mktemp(mode)
        mark = uuid.uuid4().hex
        memory = TreeMemory(mark)
        memory.start()
        try:
            runs[mode] = (*audit_json(tmp, *args, "--render", mode, env={MARK: mark}), tmp / "crawls.sqlite", memory)
        finally:
            memory.stop.set()
            memory.join()
    return runs


@needs_chromium
def test_a_static_site_with_auto_renders_nothing_and_starts_no_browser(static):
    """No page of it runs a script: rendering could not change one, so none is rendered, not even
    as a sample, and neither Chromium nor the Playwright driver (~125 MiB of Node.js) is started."""
    result, report, db, memory = static["auto"]
    assert result.exit_code == 1, result.stderr   # (the site's own findings: high)
    pages = page_rows(db)
    assert pages == {"https://www.shop.test/" + path: ("raw", None) for path in ("", "about/", "contact/", "pricing/")}
    assert report["summary"]["read_as"] == {"raw": 4, "rendered": 0}
    assert (memory.chromium, memory.drivers) == (0, 0)
    # rendering found nothing the served HTML lacks: the same report as without it
    never = static["never"][1]
    assert findings_set(report) == findings_set(never)
    assert not [f for f in report["findings"] if f["rule"].startswith("javascript-")]
    assert read(db, "SELECT COUNT(*) FROM render_links") == [(0,)]


@needs_chromium
@pytest.mark.parametrize("killed", ["funnelcheck", "crawl"])
def test_a_kill_9_leaves_no_chromium(tmp_path, site_server, killed):
    """kill -9 of funnelcheck mid-render (its crawl stops on the SIGTERM Linux sends it, within a
    second though pages are in Chromium: nobody waits for them) or of the crawl process itself (the
    driver, then Chromium, die with it)."""
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
        wait_for_row(db, "SELECT COUNT(*) FROM pages WHERE read_as = 'rendered'", lambda row: row[0])  # mid-render
        os.kill(cli.pid if killed == "funnelcheck" else crawl_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        cli.wait(timeout=30)
        while marked(mark) and time.monotonic() < killed_at + 10:
            time.sleep(0.1)
        gone_after = time.monotonic() - killed_at
        left = [(p, open(f"/proc/{p}/cmdline", "rb").read()[:80]) for p in marked(mark)]
        assert left == []
        assert process_gone(crawl_pid)
        assert gone_after < 4, f"the crawl and its browser outlived funnelcheck by {gone_after:.1f} s"
        if killed == "funnelcheck":  # (stopped by a signal: marked so, a resume continues it)
            assert read(db, "SELECT status FROM crawls") == [("interrupted",)]
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


# -- a lab of pages that go wrong, rendered in one crawl ----------------------------------------
LAB = "https://lab.test/"
ROOT_PAGE = ('<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head><body>'
             '<div id="root"></div><script>{script}</script></body></html>')
LAB_PAGES = {
    # a page that allocates without end: its renderer stops at the heap limit, the page fails alone
    "hog": "let a = []; setInterval(() => { for (let i = 0; i < 20; i++) a.push(new Array(1e6).fill(Math.random())); }, 5);",
    # a page whose script never ends (before load): it times out alone, the others render
    "loop": "while (true) {}",
    # ... and one whose script never ends after load: it fails alone too
    "spin": "setTimeout(() => { while (true) {} }, 50);",
    # links a script adds 1.5 s and 2.5 s after load
    "late": ("document.getElementById('root').innerHTML = '<a href=\"/pricing\">Pricing</a>';"
             "setTimeout(() => document.body.insertAdjacentHTML('beforeend', '<a href=\"/offer\">Book a demo</a>'), 1500);"
             "setTimeout(() => document.body.insertAdjacentHTML('beforeend', '<a href=\"/contact\">Contact</a>'), 2500);"),
    # a lead form a script adds, posting to an endpoint that answers the app's HTML to a GET
    "signup": ("document.getElementById('root').innerHTML = '<h1>Sign up</h1><form action=\"/api/demo\" method=\"post\">"
               "<input type=\"email\" name=\"email\"><button>Send</button></form>';"),
    # a share link built from the page's own address: the public one
    "share": ("document.getElementById('root').innerHTML = '<a href=\"https://www.linkedin.com/sharing/share-offsite/"
              "?url=' + encodeURIComponent(location.href) + '\">Share</a> <a href=\"/pricing\">Pricing</a>';"),
    "pricing": "document.getElementById('root').innerHTML = '<h1>Pricing</h1><a href=\"/offer\">Book a demo</a>';",
}
DOC = ('<!doctype html><html><head><meta charset="utf-8"><title>Doc {n}</title></head><body><main><h1>Doc {n}</h1>'
       '<p>{text}</p><a href="/docs/1">One</a> <a href="/docs/2">Two</a> <a href="/docs/3">Three</a> '
       '<a href="/docs/4">Four</a> <a href="/docs/5">Five</a></main><footer id="f"></footer><script>'
       'document.getElementById("f").innerHTML = \'<a href="/offer">Book a demo</a>\';</script></body></html>')
# a template whose script adds an image and no link: its samples read the same once rendered
GUIDE = ('<!doctype html><html><head><meta charset="utf-8"><title>Guide {n}</title></head><body><main><h1>Guide {n}</h1>'
         '<p id="p">{text}</p><a href="/guide/1">One</a> <a href="/guide/2">Two</a> <a href="/guide/3">Three</a> '
         '<a href="/guide/4">Four</a></main><script>document.getElementById("p").insertAdjacentHTML("afterend", '
         '\'<img src="/guide.png" alt="">\');</script></body></html>')
# ... and a page of links (it needs no JavaScript) whose script never ends after load: its template's sample
HANG = ('<!doctype html><html><head><meta charset="utf-8"><title>Hang</title></head><body><main><h1>Hang</h1>'
        '<a href="/">Home</a> <a href="/docs/1">Docs</a> <a href="/guide/1">Guide</a></main>'
        '<script>setTimeout(() => { while (true) {} }, 50);</script></body></html>')
LAB_INDEX = ('<!doctype html><html><head><meta charset="utf-8"><title>Lab</title></head><body><main><h1>Lab</h1>'
             + " ".join(f'<a href="/{name}">{name}</a>' for name in LAB_PAGES)
             + ' <a href="/docs/1">Docs</a> <a href="/guide/1">Guide</a> <a href="/hang/1">Hang</a>'
               ' <a href="/plain">Plain</a></main></body></html>')
PLAIN = ('<!doctype html><html><head><title>Plain</title><script type="application/ld+json">{}</script></head>'
         '<body><h1>Plain</h1><a href="/">Home</a></body></html>')


def lab_routes():
    def answer(handler) -> Route:
        path = urlsplit(handler.path).path.strip("/")
        if path in ("robots.txt", "sitemap.xml") or path.startswith("caught"):
            return Route(404, body="not found")
        if path == "":
            return Route(200, body=LAB_INDEX)
        if path == "plain":
            return Route(200, body=PLAIN)
        if path.startswith("docs/"):
            return Route(200, body=DOC.format(n=path[5:], text="Words of a document page. " * 12))
        if path == "hang/1":
            return Route(200, body=HANG)
        if path.startswith("guide/"):
            return Route(200, body=GUIDE.format(n=path[6:], text="Words of a guide. " * 12))
        if path.endswith(".png"):
            return Route(200, {"Content-Type": "image/png"}, b"\x89PNG")
        script = LAB_PAGES.get(path, "document.getElementById('root').innerHTML = '<h1>Page</h1>';")
        return Route(200, body=ROOT_PAGE.format(title=path or "Lab", script=script))
    return {"*": answer}


@pytest.fixture(scope="module")
def lab(tmp_path_factory, module_site_server):
    """The lab audited with --render auto and --timeout 4, under a second, catch-all --remap."""
    tmp = tmp_path_factory.mktemp("lab")
    site = module_site_server(routes=lab_routes())
    mark = uuid.uuid4().hex
    memory = TreeMemory(mark)
    memory.start()
    try:
        result, report = audit_json(tmp, LAB, "--render", "auto", "--timeout", "4",
                                    "--remap", rf"^https://lab\.test/(.*) {site.url}/\1",
                                    "--remap", rf"^https?://(.*) {site.url}/caught/\1",
                                    "--no-check-external", "--no-check-social", env={MARK: mark})
    finally:
        memory.stop.set()
        memory.join()
    return result, report, tmp / "crawls.sqlite", site, memory


def lab_pages(db) -> dict:
    return {url[len(LAB):]: tuple(rest) for url, *rest in read(
        db, "SELECT u.url, p.role, p.method, p.parsed, p.read_as, p.render_why FROM pages p JOIN urls u ON u.id = p.url_id")}


@needs_chromium
def test_a_page_over_its_memory_or_that_hangs_fails_alone(lab):
    """The page allocating without end stops at its heap (the tree stays under 1 GiB); the one
    whose script never ends times out; both are read as served, and every other page renders."""
    result, report, db, _, memory = lab
    assert result.exit_code == 0, result.stderr
    pages = lab_pages(db)
    assert pages["hog"] == ("page", "GET", 1, "raw", "rendering failed (the page's scripts used more than 128 MiB, or "
                                                     "crashed its renderer): read as served")
    assert pages["loop"] == ("page", "GET", 1, "raw", "rendering failed (the page did not load in 4 s, --timeout): "
                                                      "read as served")
    assert pages["spin"] == ("page", "GET", 1, "raw", "rendering failed (the page's scripts never stopped running: it "
                                                      "did not load in time): read as served")
    # a sample whose script never ends is read as served, as its template's other pages would be: no
    # page that needs JavaScript went unrendered (it is not counted below)
    assert pages["hang/1"] == ("page", "GET", 1, "raw", "a sample of its template: rendering failed (the page's "
                                                        "scripts never stopped running: it did not load in time): "
                                                        "read as served")
    assert {path for path, (_, _, _, how, _) in pages.items() if how == "rendered"} == {
        "signup", "share", "late", "pricing", "offer", "contact", "docs/1", "docs/2", "docs/3", "docs/4", "docs/5"}
    assert [(f["severity"], f["sources"], f["message"]) for f in report["findings"]
            if f["rule"] == "javascript-unrendered"] == [
        ("info", [LAB + "hog", LAB + "loop", LAB + "spin"],
         "rendering failed on 3 pages (1 used more memory than a page may, 2 did not load in time): read as served, "
         "their links may be missing")]
    from analysis.formats.sarif import fix_of  # the pages' scripts failed: installing Chromium is no fix
    from analysis.findings import Finding
    assert fix_of(Finding("javascript-unrendered", "info", LAB + "hog", "m", detail={"kind": "failed"})).startswith(
        "see why in the message: a page that did not load in time may be this machine's load")
    assert memory.chromium >= 1 and memory.most < 1024, f"{memory.most:.0f} MiB"


@needs_chromium
def test_counts_of_pages_read_agree(lab):
    """A failed render is the raw reading, parsed: the header's pages, read_as and the pages list agree."""
    _, report, db, _, _ = lab
    pages = [p for p in report["pages"] if p["role"] == "page"]
    assert report["summary"]["pages_crawled"] == len(pages) == 21
    assert report["summary"]["read_as"] == {"raw": 10, "rendered": 11}
    assert {p["url"][len(LAB):] for p in pages if p["read_as"] == "raw"} == {
        "", "plain", "hog", "loop", "spin", "guide/1", "guide/2", "guide/3", "guide/4", "hang/1"}
    html = db.parent / "report.html"
    result = run_cli("report", "--db", db, "--format", "html", "-o", html)
    assert result.exit_code == 0, result.stderr
    assert " · 21 pages (11 rendered in Chromium) · crawl #1 " in html.read_text()


@needs_chromium
def test_a_page_without_scripts_is_never_rendered(lab):
    pages = lab_pages(lab[2])
    assert pages[""] == pages["plain"] == ("page", "GET", 1, "raw", None)   # (no sample either: nothing runs)


@needs_chromium
def test_links_a_script_adds_seconds_after_load_are_found(lab):
    _, report, _, _, _ = lab
    assert [(link["target"], link["text"]) for link in report["links"] if link["source"] == LAB + "late"] == [
        (LAB + "pricing", "Pricing"), (LAB + "offer", "Book a demo"), (LAB + "contact", "Contact")]


@needs_chromium
def test_the_browser_loads_the_page_at_its_public_address(lab):
    """location.href is the public URL (a share link carries it), and a second, catch-all --remap
    is applied once, to what the browser fetches: no request reaches it."""
    _, report, _, site, _ = lab
    assert [link["target"] for link in report["links"] if link["source"] == LAB + "share" and link["text"] == "Share"] \
        == ["https://www.linkedin.com/sharing/share-offsite/?url=https%3A%2F%2Flab.test%2Fshare"]
    assert [path for _, path in site.requests if path.startswith("/caught")] == []


@needs_chromium
def test_a_form_a_script_adds_is_checked_as_a_form(lab):
    _, report, db, _, _ = lab
    assert lab_pages(db)["api/demo"] == ("form", "HEAD", 0, None, None)   # never fetched with GET as a page
    assert [(link["target"], link["tag"]) for link in report["links"] if link["source"] == LAB + "signup"] == [
        (LAB + "api/demo", "form")]


@needs_chromium
def test_auto_renders_every_page_of_a_template_whose_samples_differ(lab):
    """Three samples of /docs/ show a footer link only after JavaScript: the other two pages of
    the template, read as served meanwhile or after, are rendered too (auto gives what always gives)."""
    _, report, db, _, _ = lab
    pages = lab_pages(db)
    docs = [pages[f"docs/{n}"][3:] for n in range(1, 6)]   # (which are samples: whichever were read first)
    assert {how for how, _ in docs} == {"rendered"}
    whys = sorted(why for _, why in docs)
    assert 1 <= whys.count("a sample of its template") <= 3
    assert set(whys) == {"a sample of its template", "its template shows other links once rendered"}
    assert [(f["severity"], f["region"], f["count"], f["message"]) for f in report["findings"]
            if f["rule"] == "javascript-links" and f["region"] == "footer"] == [
        ("low", "footer", 5, "the footer's 'Book a demo' exists only after JavaScript on 5 pages: crawlers and link "
                             "previews do not see them")]


@needs_chromium
def test_samples_that_read_the_same_rendered_stay_as_served(lab):
    """The guide's three samples show the links they have as served once rendered (their script
    adds an image): they stay as served, as the guide's fourth page is, and what rendering alone
    showed (the image) is in no report: which pages were the samples is the crawl's order, and a
    scheduled diff would see it come and go."""
    from crawler.render import SAME_LINKS

    _, report, db, _, _ = lab
    pages = lab_pages(db)
    guide = [pages[f"guide/{n}"] for n in range(1, 5)]
    assert {read[:4] for read in guide} == {("page", "GET", 1, "raw")}
    assert sorted(read[4] or "" for read in guide) == ["", SAME_LINKS, SAME_LINKS, SAME_LINKS]
    assert [link for link in report["links"] if link["target"] == LAB + "guide.png"] == []


def test_a_page_body_finding_names_the_same_links_whatever_order_pages_were_read(tmp_path):
    """The page body's links only JavaScript shows, on two pages, 60 in all: the finding keeps 50,
    the same 50 whichever page the crawl stored first (the store hands them back by address)."""
    from analysis.graph import build_graph
    from analysis.rules import RULES
    from crawler.store import Store

    site = "https://a.example/"
    own = {site + "a/": [f"{site}x/{n:02}" for n in range(30)],
           site + "b/": [f"{site}y/{n:02}" for n in reversed(range(30))]}  # (not in address order)
    found = []
    for order in (list(own), list(reversed(own))):
        with Store(tmp_path / f"{len(found)}.sqlite") as store:
            cid = store.create_crawl([site], {"site": [site]})
            for page in order:
                links = [(page, url, url, None, "a", "href", "", "main", "", 0, "other", None, i)
                         for i, url in enumerate(own[page])]
                store.write_item(cid, {"page": {"url": page, "role": "page", "status": 200, "parsed": 1,
                                                "read_as": "rendered", "render_why": "a sample of its template"},
                                       "links": links, "render_links": [(page, url, "a", "main", "", "js")
                                                                        for url in own[page]]})
            found.append([(f.target, f.detail["links"]) for f in RULES["javascript-links"](build_graph(store, cid))])
    assert found[0] == found[1]
    [(target, links)] = found[0]
    assert target == site + "x/00" and len(links) == 50 and links[:30] == own[site + "a/"]


def test_pages_past_the_re_render_bound_are_counted_in_the_finding(tmp_path):
    """auto re-renders at most REQUEUE pages of templates whose samples differed; the rest are
    counted (the crawl's limits) and said in the javascript-links finding. (The page body's links
    are one finding per region, as a template's footer is one per row of links.)"""
    from analysis.graph import build_graph
    from analysis.rules import RULES
    from crawler.render import REQUEUE, SAMPLE, RenderPlan
    from crawler.store import Store

    plan = RenderPlan("auto", browser=True)
    whys = [plan.decide(f"https://a.example/blog/{n}", None) for n in range(3 + REQUEUE + 7)]
    assert whys.count(SAMPLE) == 3 and whys[3:] == [None] * (REQUEUE + 7)
    assert len(plan.learn("https://a.example/blog/*", differs=True)) == REQUEUE
    assert plan.unrendered() == {"https://a.example/blog/*": 7}

    site = "https://a.example/"
    pages = [site + "blog/1", site + "blog/2"]
    with Store(tmp_path / "c.sqlite") as store:
        cid = store.create_crawl([site], {"site": [site]})
        for page in pages:
            store.write_item(cid, {"page": {"url": page, "role": "page", "status": 200, "parsed": 1, "read_as": "rendered",
                                            "render_why": "its template shows other links once rendered"},
                                   "links": [(page, site + "demo/", site + "demo/", None, "a", "href", "Book a demo",
                                              "footer", "", 0, "other", None, 0),
                                             (page, site + "pricing/", site + "pricing/", None, "a", "href", "Pricing",
                                              "main", "", 0, "other", None, 1)],
                                   "render_links": [(page, site + "demo/", "a", "footer", "Book a demo", "js"),
                                                    (page, site + "pricing/", "a", "main", "Pricing", "js")]})
        store.set_limits(cid, {"max_pages": 0, "depth": 0, "traps": {}, "unrendered": plan.unrendered()})
        g = build_graph(store, cid)
        found = [f.message for f in RULES["javascript-links"](g)]
    assert sorted(found) == [  # (the page body's links: one finding for the region, even where pages repeat them)
        "links in the page body ('Pricing') exist only after JavaScript on 2 pages: crawlers and link previews do not "
        "see them; 7 more pages of this template were read as served before this showed, and not rendered",
        "the footer's 'Book a demo' exists only after JavaScript on 2 pages: crawlers and link previews do "
        "not see them; 7 more pages of this template were read as served before this showed, and not rendered"]


# -- a docs page whose script hydrates its links (Docusaurus) and builds its table of contents --
HYDRATED = """<!doctype html><html><head><meta charset="utf-8"><title>Docs {n}</title></head>
<body><nav><a href="/docs/1">One</a> <a href="/docs/2">Two</a>
<a href="/zh-CN/blog">简体中文</a></nav>
<main><h1>Docs {n}</h1><aside id="toc"></aside><h2 id="intro">Intro</h2><p>{text}</p>
<a href="https://x.com/acme">X</a></main>
<script>
for (const a of document.querySelectorAll('a[href="/zh-CN/blog"]')) a.setAttribute("href", "/zh-CN/blog/");
document.getElementById("toc").innerHTML = '<a href="#intro">Intro</a> <a href="#top">Top</a>';
</script></body></html>"""


def test_a_script_rewriting_a_trailing_slash_or_adding_a_table_of_contents_adds_no_link(tmp_path, site_server):
    """answer (Docusaurus): hydration writes /zh-CN/blog as /zh-CN/blog/, and hop's docs build a
    table of contents of #fragments of the page itself. Neither is a link of its own: no
    javascript-links, no javascript-removed (they were on 107 pages, and every template was
    rendered after). The rendered links keep the served HTML's lines where the same link is in it.
    And a page that did not load in time in Chromium (docs/2 answers its second request after
    --timeout: a crawl's load) is rendered once more when the crawl has nothing else to do."""
    hits: dict[str, int] = {}

    def answer(handler) -> Route:
        path = handler.path
        hits[path] = hits.get(path, 0) + 1
        if path.startswith("/docs/") or path == "/":
            body = HYDRATED.format(n=path.rstrip("/")[-1:], text="Words of a page. " * 20)
            if path == "/docs/2":  # (its links as served, followed when its rendering fails, are the others')
                body = body.replace('<a href="/zh-CN/blog">简体中文</a>', "")
                if hits[path] == 2:  # (1: as served; 2: Chromium's first try)
                    time.sleep(3)
            return Route(200, body=body)
        if path.startswith("/zh-CN/"):
            return Route(200, body="<title>Blog</title><h1>Blog</h1><p>A blog.</p>")
        return Route(404, body="not found")

    site = site_server(routes={"*": answer})
    D = "https://docs.test/"
    result, report = audit_json(tmp_path, D, "--render", "always", "--remap", rf"^https://docs\.test/(.*) {site.url}/\1",
                                "--no-check-external", "--no-check-social", "--timeout", "2")
    assert result.exit_code in (0, 1), result.stderr
    db = tmp_path / "crawls.sqlite"
    assert report["summary"]["read_as"] == {"raw": 1, "rendered": 3}   # (the blog page runs no script)
    assert (hits["/docs/2"], report["summary"]["render_failed"]) == (3, None)   # (rendered at its second try)
    assert [f["message"] for f in report["findings"] if f["rule"].startswith("javascript-")] == []
    assert read(db, "SELECT COUNT(*) FROM render_links") == [(0,)]
    # the links of a rendered page, on the served HTML's lines (the table of contents: on none)
    assert {(link["target"], link["fragment"], link["line"]) for link in report["links"]
            if link["source"] == D + "docs/1" and link["tag"] == "a"} == {
        (D + "docs/1", "intro", None), (D + "docs/1", "top", None), (D + "docs/1", None, 2),
        (D + "docs/2", None, 2), (D + "zh-CN/blog/", None, 3), ("https://x.com/acme", None, 5)}


@needs_chromium
def test_the_header_says_when_rendering_failed(lab):
    """Pages Chromium did not render are named at the top of the report, not only in an info
    finding among "… and 3 more info findings" (nozzle: 16 of 16 samples timed out in a large crawl)."""
    _, report, db, _, _ = lab
    why = "1 used more memory than a page may, 3 did not load in time"   # (hang/1: a sample, read as served)
    assert report["summary"]["render_failed"] == {"pages": 4, "why": why}
    result = run_cli("report", "--db", db)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == f"partial audit: rendering failed on 4 pages ({why}): read as served, without the links their scripts add"
    assert ", 11 rendered in Chromium · " in lines[2]


def test_a_page_read_again_without_differing_links_keeps_no_earlier_render_links(tmp_path):
    """A page rendered once with links only one reading had, then read again (a resume, a re-rendering
    at idle) with the same links both ways: the earlier rows go with its earlier links."""
    from crawler.store import Store

    site = "https://a.example/"
    link = (site, site + "demo/", site + "demo/", None, "a", "href", "Book a demo", "footer", "", 0, "other", None, 0)
    page = {"url": site, "role": "page", "status": 200, "parsed": 1, "read_as": "rendered"}
    with Store(tmp_path / "c.sqlite") as store:
        cid = store.create_crawl([site], {"site": [site]})
        store.write_item(cid, {"page": page, "links": [link], "render_links": [(site, site + "demo/", "a", "footer",
                                                                                 "Book a demo", "js")]})
        assert len(list(store.render_links(cid))) == 1
        store.write_item(cid, {"page": page, "links": [link], "replace_links": True})
        assert list(store.render_links(cid)) == []
        assert store.count_links(cid) == 1
