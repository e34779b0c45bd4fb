"""Shared fixtures: real local HTTP servers and a way to run the real CLI.

Nothing here touches the internet: public hosts (https://www.shop.test,
https://twitter.com, ...) are reached through ``--remap`` rules that point at
servers on 127.0.0.1.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import forkserver
import pytest

ROOT = Path(__file__).resolve().parent.parent
SITES = Path(__file__).resolve().parent / "sites"


# -- the tests' own data directory ------------------------------------------------------------
# A run without --db writes crawls.sqlite in the user data directory (platformdirs: under
# $XDG_DATA_HOME). The tests never touch the user's: every in-process run and every subprocess
# started with os.environ (run_cli, Popen) gets a directory of the test session's own, set
# here, when pytest loads this file, before any test or import of the CLI looks
# (tests/test_history.py::test_the_tests_never_write_the_users_data_directory).
def _user_store_dir() -> Path:
    from platformdirs import user_data_path

    return user_data_path("funnelcheck", appauthor=False)


# (pytest-xdist's workers inherit the controller's environment: the user's directory is named once)
USER_STORE_DIR = Path(os.environ.setdefault("FUNNELCHECK_TESTS_USER_DATA", str(_user_store_dir())))
# Tests import this file as ``conftest`` (as pytest does), never as ``tests.conftest``: a second
# import would make a second directory and point XDG_DATA_HOME at it.
TEST_DATA_HOME = Path(tempfile.mkdtemp(prefix="funnelcheck-tests-data-"))
os.environ["XDG_DATA_HOME"] = str(TEST_DATA_HOME)
# Rendering in Chromium (--render auto, the default) costs ~1 s of browser start per audit: the
# suite's audits read pages as served unless a test asks for --render (tests/test_render.py does).
os.environ.setdefault("FUNNELCHECK_RENDER", "never")  # (FUNNELCHECK_RENDER=auto pytest ...: the suite rendering)


# Every `funnelcheck` a test runs is two new Pythons (the CLI, its crawl) importing the project. With
# PYTHONDONTWRITEBYTECODE=1 (set on some CI machines) none of them writes the compiled modules, so
# each compiled all of crawler/ and analysis/ again (~0.25 CPU-s a process, ~100 CPU-s a suite):
# compiled once here, they are read by all (compileall skips what is up to date).
def pytest_configure(config):
    import compileall

    for folder in ("crawler", "analysis"):
        compileall.compile_dir(ROOT / folder, quiet=1)
    compileall.compile_file(ROOT / "cli.py", quiet=1)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(TEST_DATA_HOME, ignore_errors=True)


@dataclass
class Route:
    """A scripted answer: status, headers, body (served instead of a file); a body that is a
    callable returning an iterable of bytes is streamed, without a Content-Length."""
    status: int = 200
    headers: dict = field(default_factory=dict)
    body: bytes | str = b""
    hits: int = 0


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # a crawl opens many connections at once


class SiteServer:
    """A threaded HTTP server on 127.0.0.1 serving a directory plus scripted routes.

    ``routes`` maps a path (with query, if any) to a :class:`Route` or to a
    callable ``(handler) -> Route`` for answers that change (rate limits);
    the key ``"*"`` answers every path no other route or file claims.
    Directories serve index.html; ``/dir`` redirects to ``/dir/`` with a
    relative Location, like nginx. Every request is logged in ``requests``.
    """

    def __init__(self, directory: Path | None = None, routes: dict | None = None, port: int = 0):
        self.directory = Path(directory) if directory else None
        self.routes = routes or {}
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each answer waits 40 ms for a delayed ACK

            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(server.directory or SITES), **kw)

            def log_message(self, *args):
                pass

            def _scripted(self):
                server.requests.append((self.command, self.path))
                route = (server.routes.get(self.path) or server.routes.get(urlsplit(self.path).path)
                         or server.routes.get("*"))
                if route is None:
                    return False
                if callable(route):
                    route = route(self)
                route.hits += 1
                body = route.body.encode() if isinstance(route.body, str) else route.body
                self.send_response(route.status, "Status")
                headers = {"Content-Type": "text/html; charset=utf-8", **route.headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                if callable(body):  # a stream (a 50 MB answer made as it is sent): no length, then close
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    if self.command != "HEAD":
                        try:
                            for chunk in body():
                                self.wfile.write(chunk)
                        except OSError:  # the client stopped reading (its size cap): expected
                            pass
                    return True
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                return True

            def do_GET(self):
                if not self._scripted():
                    if server.directory is None:
                        self.send_error(404)
                        return
                    path = self.translate_path(self.path)
                    if os.path.isdir(path) and not urlsplit(self.path).path.endswith("/"):
                        self.send_response(301)
                        self.send_header("Location", urlsplit(self.path).path.rsplit("/", 1)[-1] + "/")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    super().do_GET()

            def do_HEAD(self):
                if not self._scripted():
                    if server.directory is None:
                        self.send_error(404)
                        return
                    super().do_HEAD()

        self.httpd = _Server(("127.0.0.1", port), Handler)  # (a port given: a site back up where it was)
        self.httpd.daemon_threads = True
        # A client that gave up (timeouts) or refused a certificate makes the handler fail on
        # write: expected in these tests, not worth a traceback on stderr.
        self.httpd.handle_error = lambda request, client_address: None
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _servers():
    """A ``make(directory=None, routes=None) -> SiteServer`` factory and its closer."""
    servers = []

    def make(directory=None, routes=None, port=0):
        s = SiteServer(directory, routes, port)
        servers.append(s)
        return s

    def close_all():
        closing = [threading.Thread(target=s.close) for s in servers]  # each waits out a 0.5 s poll
        for t in closing:
            t.start()
        for t in closing:
            t.join()

    return make, close_all


@pytest.fixture
def site_server():
    """Factory: ``site_server(directory=None, routes=None, port=0) -> SiteServer`` (closed after the test)."""
    make, close_all = _servers()
    yield make
    close_all()


@pytest.fixture(scope="module")
def module_site_server():
    """The same factory for servers shared by a module's tests (one crawl, many cases)."""
    make, close_all = _servers()
    yield make
    close_all()


@pytest.fixture(scope="session")
def redis_url():
    """The URL (``unix:///…/redis.sock``) of one real private ``redis-server`` for the session
    (one per pytest-xdist worker process). Tests sharing it use distinct crawl tokens
    (``crawler.cluster.new_token``), so their keys never meet; a test that kills Redis starts
    its own ``crawler.redisserver.RedisServer`` instead. What every worker reads is shared,
    though, the crawls announced: see _withdraw_what_the_test_announced."""
    from crawler.redisserver import RedisServer

    with RedisServer() as server:
        yield server.url


@pytest.fixture(autouse=True)
def _withdraw_what_the_test_announced(request):
    """A crawl a test announced as a coordinator that never dies would (its status persisted)
    stays announced after the test, and a worker started without a token by a later test of the
    same process joins the oldest crawl announced: that one (or, announced by another funnelcheck
    version, says so and exits 2: tests/test_cluster.py's early worker after tests/test_worker.py's
    test_a_worker_of_another_version_does_not_join). So the crawls a test announced in the
    session's Redis, and their keys, go when it ends."""
    if "redis_url" not in request.fixturenames:
        yield
        return
    from crawler import cluster

    url = request.getfixturevalue("redis_url")
    client = cluster.connect(url)
    try:
        before = set(client.hkeys(cluster.ANNOUNCED))
    finally:
        client.close()
    yield
    import redis

    try:
        client = cluster.connect(url)
    except redis.exceptions.ConnectionError:  # (gone: nothing is announced in it any more)
        return
    try:
        for token in set(client.hkeys(cluster.ANNOUNCED)) - before:
            cluster.withdraw(client, token.decode())
            cluster.forget(client, token.decode())
    finally:
        client.close()


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


# The environment of a run_cli with the session's environment (that of most runs): the fork server's.
RUN_ENV = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(ROOT), COLUMNS="200")


def run_cli(*args, cwd=None, env=None, timeout=120) -> Result:
    """Run the real ``funnelcheck`` command line in a subprocess (as a user would): a fork of a
    Python with cli's imports done when it runs in the session's environment (tests/forkserver.py)."""
    full_env = dict(os.environ, NO_COLOR="1", PYTHONPATH=str(ROOT), COLUMNS="200")
    full_env.update(env or {})
    proc = forkserver.run(list(map(str, args)), str(cwd or ROOT), full_env, timeout, RUN_ENV)
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():
    return run_cli


def audit_json(tmp_path, *args, env=None) -> tuple[Result, dict]:
    """Run ``funnelcheck audit ARGS --format json -o FILE --db ...`` and load the report."""
    out = tmp_path / "report.json"
    result = run_cli("audit", *args, "--db", tmp_path / "crawls.sqlite", "--format", "json", "-o", out, env=env)
    report = json.loads(out.read_text()) if out.exists() and out.stat().st_size else {}
    return result, report


def findings_set(report: dict, rules=None) -> set[tuple]:
    """Findings as comparable tuples: (rule, severity, target, region, sorted sources)."""
    return {
        (f["rule"], f["severity"], f["target"], f["region"], tuple(sorted(f["sources"])))
        for f in report["findings"]
        if rules is None or f["rule"] in rules
    }


def tree_page(handler, pages: int, delay: float) -> Route:
    """/p/N of a binary tree of ``pages`` pages (answered after ``delay`` s), each with the same
    header (a twitter icon) and a broken link every tenth page; the twitter profile links back."""
    path = handler.path
    time.sleep(delay)
    if path.startswith("/_social/"):
        return Route(200, body='<main><a href="https://res.test/p/0">our site</a></main>')
    if not path.startswith("/p/") or not path[3:].isdigit() or int(path[3:]) >= pages:
        return Route(404, body="<h1>not found</h1>")
    n = int(path[3:])
    kids = "".join(f'<a href="/p/{k}">page {k}</a>' for k in (2 * n + 1, 2 * n + 2))
    broken = '<a href="/gone/">old</a>' if n % 10 == 9 else ""
    return Route(200, body=f'<header><a href="https://twitter.com/restest">Twitter</a></header>'
                           f'<main><h1>page {n}</h1>{kids}{broken}</main>')


def wait_for_row(db, sql, predicate, timeout=60, poll=0.05):
    """Poll the crawl store at ``db`` until ``sql``'s first row satisfies ``predicate``; return it."""
    import sqlite3
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            row = sqlite3.connect(db).execute(sql).fetchone()
            if row and predicate(row):
                return row
        except sqlite3.OperationalError:
            pass
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {sql}")


def process_gone(pid: int, timeout: float = 15) -> bool:
    """Wait until process ``pid`` is gone (or a zombie); False if it is still alive at ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[-1].split()[0] == "Z":
                    return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.05)
    return False
