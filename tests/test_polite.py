"""Politeness across the processes of one crawl (issue 21, item 3): ``--concurrency`` per host
and ``Retry-After`` hold for all of them together, as a real server counts them.

Each "worker" here is a real Scrapy process running funnelcheck's Downloader and
RetryAfterMiddleware with ``FUNNEL_REDIS_URL``/``FUNNEL_CLUSTER_TOKEN`` set (what
crawler.worker sets), sharing one real redis-server; the same processes without those settings
are the control: each then holds ``--concurrency 1`` only for itself.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from crawler import cluster
from crawler.leases import MARGIN, HostLeases
from conftest import ROOT, Route, audit_json, findings_set

# One process: waits at a barrier in Redis (so the processes really run at once), fetches
# argv's URLs with CONCURRENT_REQUESTS_PER_DOMAIN = 1 and robots.txt obeyed, prints one JSON
# line per answer.
FETCH = r"""
import json, sys
from crawler import cluster
from scrapy import Request, Spider
from scrapy.crawler import CrawlerProcess

barrier_url, token, cluster_on, timeout, *urls = sys.argv[1:]
class Fetch(Spider):
    name = "fetch"
    async def start(self):
        for url in urls:
            yield Request(url, callback=self.seen, errback=self.failed, dont_filter=True, meta={"public": url})
    def seen(self, response):
        print(json.dumps({"url": response.url, "status": response.status}), flush=True)
    def failed(self, failure):
        print(json.dumps({"url": failure.request.url, "error": failure.type.__name__}), flush=True)

settings = {"DOWNLOADER": "crawler.downloader.Downloader", "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
            "CONCURRENT_REQUESTS": 16, "ROBOTSTXT_OBEY": True, "LOG_LEVEL": "ERROR", "RETRY_ENABLED": False,
            "TELNETCONSOLE_ENABLED": False, "DOWNLOAD_TIMEOUT": float(timeout), "FUNNEL_MAX_RETRY_WAIT": 10,
            "DOWNLOADER_MIDDLEWARES": {"scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
                                       "crawler.middlewares.RobotsMiddleware": 100,
                                       "crawler.middlewares.RetryAfterMiddleware": 560}}
if cluster_on == "1":
    settings.update(FUNNEL_REDIS_URL=barrier_url, FUNNEL_CLUSTER_TOKEN=token)
process = CrawlerProcess(settings)
process.crawl(Fetch)
client = cluster.connect(barrier_url)
client.rpush(cluster.key(token, "ready"), 1)
while not client.blpop(cluster.key(token, "go"), timeout=2):
    pass
process.start()
"""

PROCESSES = 3
PAGES = 8          # per process
HOLD = 0.04        # seconds the server takes over each answer
RETRY_AFTER = 1    # seconds, the 429's Retry-After


class CountingSite:
    """What the server saw: requests at once (at most), each request's (start, end, path)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.active = self.most = 0
        self.log: list[tuple[float, float, str, int]] = []
        self.limited = False

    def __call__(self, handler) -> Route:
        start = time.monotonic()
        if handler.path == "/slow":   # the client gives up after 0.3 s and drops the connection:
            time.sleep(1.0)           # not counted as asked at once, though this thread sleeps on
            self.log.append((start, time.monotonic(), handler.path, 200))
            return Route(200, body="late")
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(HOLD)
        route = Route(200, body="<p>ok</p>")
        if handler.path == "/robots.txt":
            route = Route(200, {"Content-Type": "text/plain"}, "User-agent: *\nDisallow: /private\n")
        if handler.path == "/p/0/2" and not self.limited:
            self.limited = True
            route = Route(429, {"Retry-After": str(RETRY_AFTER)}, "slow down")
        with self.lock:
            self.active -= 1
            self.log.append((start, time.monotonic(), handler.path, route.status))
        return route


def _crawl(site_server, redis_url, cluster_on: bool):
    site = CountingSite()
    server = site_server(routes={"*": site})
    token = cluster.new_token(0)
    urls = [[f"{server.url}/p/{n}/{i}" for i in range(PAGES)] + [f"{server.url}/private/{n}"]
            for n in range(PROCESSES)]
    urls[1].insert(1, f"{server.url}/slow")   # times out (DOWNLOAD_TIMEOUT 0.3 s): its lease goes back
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", FETCH, redis_url, token, "1" if cluster_on else "0", "0.3", *u],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for u in urls]
    client = cluster.connect(redis_url)
    try:
        deadline, ready = time.monotonic() + 60, 0
        while ready < len(procs):
            assert time.monotonic() < deadline, "a fetch process did not start"
            ready += bool(client.blpop(cluster.key(token, "ready"), timeout=2))
        client.rpush(cluster.key(token, "go"), *[1] * len(procs))
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    answers = [[json.loads(line) for line in out.splitlines()] for out, _ in outs]
    assert [p.returncode for p in procs] == [0] * len(procs), [err[-2000:] for _, err in outs]
    held = client.zcard(cluster.key(token, "hosts:127.0.0.1"))
    return site, server, answers, held


@pytest.fixture(scope="module")
def crawls(module_site_server, redis_url):
    """The same three processes, sharing Redis leases, then each on its own (the control)."""
    return {"cluster": _crawl(module_site_server, redis_url, True),
            "alone": _crawl(module_site_server, redis_url, False)}


def test_concurrency_1_holds_across_processes_as_the_server_counts_it(crawls):
    site, server, answers, held = crawls["cluster"]
    assert site.most == 1
    fetched = sorted(path for _, _, path, status in site.log if status == 200 and path not in ("/slow", "/robots.txt"))
    assert fetched == sorted(f"/p/{n}/{i}" for n in range(PROCESSES) for i in range(PAGES))
    assert [sorted(a["url"] for a in out if a.get("status") == 200) for out in answers] == [
        sorted(f"{server.url}/p/{n}/{i}" for i in range(PAGES)) for n in range(PROCESSES)]
    assert [a for a in answers[1] if a["url"].endswith("/slow")] == [{"url": f"{server.url}/slow", "error": "DownloadTimeoutError"}]
    # The timed-out request's lease went back when the client gave up, not when it expired:
    (slow_start, slow_end) = [(start, end) for start, end, path, _ in site.log if path == "/slow"][0]
    assert any(slow_start + 0.3 < start < slow_end for start, _, path, _ in site.log if path != "/slow")
    assert held == 0   # every lease given back: answers, the 429 and the timeout (none left to expire)


def test_robots_txt_is_fetched_once_for_all_processes_and_obeyed_by_each(crawls):
    for run, fetches in (("cluster", 1), ("alone", PROCESSES)):
        site, server, answers, _ = crawls[run]
        assert [path for _, _, path, _ in site.log if path == "/robots.txt"] == ["/robots.txt"] * fetches, run
        assert not [path for _, _, path, _ in site.log if path.startswith("/private")], run
        assert [[a for a in out if "/private" in a["url"]] for out in answers] == [
            [{"url": f"{server.url}/private/{n}", "error": "IgnoreRequest"}] for n in range(PROCESSES)], run


def test_each_process_alone_holds_it_only_for_itself(crawls):
    """The control: the same processes without Redis leases ask the server several things at once."""
    site, *_ = crawls["alone"]
    assert site.most >= 2


def _during_pause(site):
    (limited_end,) = [end for _, end, path, status in site.log if status == 429]
    return limited_end, [(start, path) for start, _, path, _ in site.log
                         if limited_end < start < limited_end + RETRY_AFTER - 0.05]


def test_retry_after_pauses_the_host_for_every_process(crawls):
    site, server, answers, _ = crawls["cluster"]
    limited_end, asked = _during_pause(site)
    assert asked == []
    again = [start for start, _, path, status in site.log if path == "/p/0/2" and status == 200]
    assert len(again) == 1 and again[0] >= limited_end + RETRY_AFTER - 0.05
    assert {"url": f"{server.url}/p/0/2", "status": 200} in answers[0]


def test_without_redis_the_other_processes_ask_during_the_pause(crawls):
    site, *_ = crawls["alone"]
    _, asked = _during_pause(site)
    assert any(not path.startswith("/p/0/") for _, path in asked)   # other processes, not only /p/0/'s own


# -- the lease mechanism itself, on the real Redis ------------------------------------------

def test_leases_are_bounded_per_host_and_given_back(redis_url):
    leases = HostLeases(cluster.connect(redis_url), cluster.new_token(0), limit=2, timeout=20)
    got, wait = leases.take("a.example", 3)
    assert (len(got), wait) == (2, 0.0)
    assert leases.take("a.example", 1) == ([], 0.0)
    assert len(leases.take("b.example", 5)[0]) == 2          # another host has its own leases
    leases.release("a.example", got[:1])
    assert len(leases.take("a.example", 3)[0]) == 1
    assert leases.held("a.example") == 2
    again, _ = leases.take("a.example", 2, back=got[1:])   # one round trip: give one back, take one
    assert len(again) == 1 and leases.held("a.example") == 2


def test_a_busy_worker_leaves_the_others_their_share(redis_url):
    """Two workers want one host's 8 leases: the one that gives a lease back and asks again in the
    same step (the busy one) gets no more than half. Without the share it took each lease back
    the moment it gave it up, and the other worker waited (seen: one worker did 93% of a crawl
    and the other 8%). A worker that stopped asking for a second leaves its share to the others."""
    client, token = cluster.connect(redis_url), cluster.new_token(0)
    busy = HostLeases(client, token, limit=8, timeout=20, worker="busy")
    other = HostLeases(client, token, limit=8, timeout=20, worker="other")
    held = busy.take("a.example", 8)[0]
    assert len(held) == 8                                  # alone, it may hold them all
    assert other.take("a.example", 4) == ([], 0.0)         # none free: it waits, and counts as wanting
    for _ in range(4):                                     # downloads end; the busy one asks again
        assert busy.take("a.example", 1, back=[held.pop()], mine=len(held)) == ([], 0.0)
    assert len(other.take("a.example", 8)[0]) == 4          # the four given up go to the other
    assert busy.take("a.example", 1, mine=4) == ([], 0.0)  # its share is 4, and it holds 4
    assert leases_held(client, token) == 8
    time.sleep(1.1)                                        # the other stops asking (its queue is empty)
    assert busy.take("a.example", 1, mine=4) == ([], 0.0)  # (every lease is held)
    client.delete(cluster.key(token, "hosts:a.example"))   # ... the other's downloads ended
    assert len(busy.take("a.example", 8, mine=0)[0]) == 8  # then all of them are the busy one's again


def leases_held(client, token: str, host: str = "a.example") -> int:
    return client.zcard(cluster.key(token, f"hosts:{host}"))


def test_a_dead_workers_lease_expires(redis_url):
    """A worker killed mid-download never gives its lease back: it expires (here 0.2 s after it
    was taken; in a crawl DOWNLOAD_TIMEOUT + MARGIN)."""
    client, token = cluster.connect(redis_url), cluster.new_token(0)
    dead = HostLeases(client, token, limit=1, timeout=0.2 - MARGIN)
    alive = HostLeases(client, token, limit=1, timeout=20)
    assert len(dead.take("a.example", 1)[0]) == 1
    assert alive.take("a.example", 1) == ([], 0.0)
    time.sleep(0.25)
    assert len(alive.take("a.example", 1)[0]) == 1


def test_a_dead_workers_leases_and_robots_claim_go_back_when_its_heartbeat_expires(redis_url):
    """A worker of the crawl killed mid-download (kill -9): its leases go back as soon as its
    heartbeat has expired, not DOWNLOAD_TIMEOUT + MARGIN later (30 s by default: the trial saw
    a host wait that long after a kill -9); a live worker's leases stay, and so does its claim
    of a robots.txt. Seen before: the host stayed full until the lease's TTL."""
    import asyncio

    client, token = cluster.connect(redis_url), cluster.new_token(0)
    workers, alive = cluster.key(token, "workers"), lambda w: cluster.key(token, f"alive:{w}")
    for w in ("h:1:dead", "h:2:live"):
        client.hset(workers, w, "{}")
        client.set(alive(w), 1)
    dead = HostLeases(client, token, limit=2, timeout=20, worker="h:1:dead")
    live = HostLeases(client, token, limit=2, timeout=20, worker="h:2:live")
    other = HostLeases(client, token, limit=2, timeout=20, worker="h:3:new")
    assert len(dead.take("a.example", 1)[0]) == 1 and len(live.take("a.example", 1)[0]) == 1
    assert asyncio.run(dead.robots("http://a.example")) is None          # it fetches robots.txt
    assert other.take("a.example", 1) == ([], 0.0)                        # the host is full
    client.delete(alive("h:1:dead"))                                       # its heartbeat expired
    assert len(other.take("a.example", 2)[0]) == 1                         # its lease went back, not the live one's
    assert leases_held(client, token) == 2
    assert asyncio.run(other.robots("http://a.example")) is None          # its claim too: the next one fetches it
    assert live.take("a.example", 1, mine=1) == ([], 0.0)  # (one that never joined, h:3:new, keeps its leases)


def test_a_pause_holds_every_lease_and_only_a_longer_one_replaces_it(redis_url):
    leases = HostLeases(cluster.connect(redis_url), cluster.new_token(0), limit=4, timeout=20)
    lease = leases.take("a.example", 1)[0]
    leases.release("a.example", lease, pause=5)
    leases.release("a.example", pause=1)      # a shorter Retry-After does not shorten it
    got, wait = leases.take("a.example", 1)
    assert got == [] and 4.5 < wait <= 5.0
    assert 4.5 < leases.paused("a.example") <= 5.0 and leases.paused("b.example") == 0.0
    assert leases.held("a.example") == 0


# -- one process: every request that waited for robots.txt obeys it ----------------------------

def test_links_that_wait_for_a_hosts_robots_txt_all_obey_it(site_server, tmp_path):
    """A page links to four URLs of another host at once: all four wait while its robots.txt is
    fetched. Each must be judged by it (only the first waiter used to be: the others were
    fetched as if the host had no rules)."""
    ext = site_server(routes={"/robots.txt": Route(200, {"Content-Type": "text/plain"}, "User-agent: *\nDisallow: /private/\n"),
                              "*": Route(200, body="<title>ext</title>")})
    links = ["/open.html", "/private/a.html", "/private/b.html", "/private/c.html"]
    www = site_server(routes={"/": Route(200, body="<title>home</title>" + "".join(
        f'<a href="https://ext.example{p}">x</a>' for p in links))})
    result, report = audit_json(tmp_path, "https://www.polite.test/", "--remap", rf"^https://www\.polite\.test/(.*) {www.url}/\1",
                                "--remap", rf"^https://ext\.example/(.*) {ext.url}/\1", "--no-check-social", "--fail-on", "never")
    assert result.exit_code == 0, result.stderr
    assert sorted(p for _, p in ext.requests) == ["/open.html", "/robots.txt"]
    assert {f[2] for f in findings_set(report, {"skipped-link"})} == {f"https://ext.example{p}" for p in links[1:]}


# -- the real thing: funnelcheck audit --workers 3 ---------------------------------------------

TREE = 40   # pages /p/0 .. /p/39, a binary tree


class CountingTree(CountingSite):
    """A site of TREE pages; /p/5 answers 429 (Retry-After) once; robots.txt disallows /private/;
    counts requests at once and the connections they came on."""

    def __init__(self):
        super().__init__()
        self.connections: set[int] = set()

    def __call__(self, handler) -> Route:
        start = time.monotonic()
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
            self.connections.add(handler.client_address[1])
        time.sleep(HOLD)
        path = handler.path
        if path == "/robots.txt":
            route = Route(200, {"Content-Type": "text/plain"}, "User-agent: *\nDisallow: /private/\n")
        elif path == "/p/5" and not self.limited:
            self.limited = True
            route = Route(429, {"Retry-After": str(RETRY_AFTER)}, "slow down")
        elif path.startswith("/p/") and path[3:].isdigit() and int(path[3:]) < TREE:
            n = int(path[3:])
            kids = "".join(f'<a href="/p/{k}">page {k}</a>' for k in (2 * n + 1, 2 * n + 2) if k < TREE)
            route = Route(200, body=f'<title>page {n}</title><main>{kids}<a href="/private/{n}">x</a></main>')
        else:
            route = Route(404, body="<h1>not found</h1>")
        with self.lock:
            self.active -= 1
            self.log.append((start, time.monotonic(), path, route.status))
        return route


def _audit_workers(site_server, tmp_path, concurrency: int):
    site = CountingTree()
    server = site_server(routes={"*": site})
    result, report = audit_json(tmp_path, "https://tree.test/p/0", "--workers", 3, "--concurrency", concurrency,
                                "--remap", rf"^https://tree\.test/(.*) {server.url}/\1", "--no-sitemaps",
                                "--no-check-social", "--fail-on", "never")
    assert result.exit_code == 0, result.stderr
    return site, report


@pytest.fixture(scope="module")
def audited(module_site_server, tmp_path_factory):
    return {n: _audit_workers(module_site_server, tmp_path_factory.mktemp(f"c{n}"), n) for n in (1, 2)}


def test_audit_with_3_workers_and_concurrency_1_asks_one_thing_at_a_time(audited):
    site, report = audited[1]
    assert site.most == 1
    pages = {p["url"]: p["status"] for p in report["pages"] if p["url"].startswith("https://tree.test/p/")}
    assert pages == {f"https://tree.test/p/{n}": 200 for n in range(TREE)}
    assert len(site.connections) >= 2         # more than one worker did the asking
    assert [p for _, _, p, _ in site.log if p == "/robots.txt"] == ["/robots.txt"]   # once, for all three
    assert not [p for _, _, p, _ in site.log if p.startswith("/private/")]
    assert sorted(f[2] for f in findings_set(report, {"skipped-link"})) == sorted(
        f"https://tree.test/private/{n}" for n in range(TREE))
    limited_end, asked = _during_pause(site)
    assert asked == []                        # Retry-After: no worker asked during the pause


def test_audit_with_3_workers_and_concurrency_2_asks_two_at_a_time(audited):
    """The server's count is no artefact: with --concurrency 2 it does see two at once, never three."""
    site, report = audited[2]
    assert site.most == 2
    assert len([p for p in report["pages"] if p["url"].startswith("https://tree.test/p/") and p["status"] == 200]) == TREE
