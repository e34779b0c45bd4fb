"""Start a crawl: ``run_crawl`` runs Scrapy in a child process and reports progress.

The Twisted reactor cannot restart inside one process, so every crawl gets a
fresh interpreter (``python -m crawler.run DB CRAWL_ID``). The child reads its
options from the crawl's row in the store and streams pages back into it; the
parent only watches the row count, so progress costs the crawl nothing.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Callable

from crawler.options import CrawlOptions
from crawler.store import WRITE_FAILED, Store, StoreError, write_failure, writes_to

logger = logging.getLogger(__name__)
STORE_FAILED_EXIT = 3   # the crawl process's exit code when the store took no more writes (a full disk)


def scrapy_settings(db_path: str, crawl: dict, verbose: int = 0, resume: bool = False):
    """Scrapy settings for one crawl: the project defaults plus the crawl's options (the spider
    reads the crawl from ``FUNNEL_CRAWL``; it never opens the store)."""
    from scrapy.settings import Settings

    options = CrawlOptions.from_json(crawl["options"])
    allowed = target_hosts(options, crawl.get("targets") or ())
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    overrides = {"FUNNEL_DB": str(db_path), "FUNNEL_CRAWL_ID": crawl["id"], "FUNNEL_RESUME": resume,
                 "FUNNEL_CRAWL": {k: crawl.get(k) for k in ("id", "targets", "options", "origins", "state", "limits")},
                 "FUNNEL_MAX_PAGES": options.max_pages or 0, "FUNNEL_DEPTH": options.depth,
                 "ROBOTSTXT_OBEY": not options.ignore_robots,
                 "DOWNLOAD_VERIFY_CERTIFICATES": not options.insecure,
                 "DOWNLOAD_TIMEOUT": options.timeout,
                 "CONCURRENT_REQUESTS_PER_DOMAIN": options.concurrency,
                 "CONCURRENT_REQUESTS": max(32, options.concurrency * 2),
                 "DOWNLOAD_MAXSIZE": int(options.max_size * 1024 * 1024),
                 "FUNNEL_TARGET_HOSTS": allowed[0], "FUNNEL_TARGET_ENDPOINTS": allowed[1],
                 "FUNNEL_ALLOW_PRIVATE": list(options.allow_private)}
    if verbose:
        overrides["LOG_LEVEL"] = "INFO" if verbose == 1 else "DEBUG"
        overrides["DOWNLOADER_STATS"] = True   # (the request and response bytes, in the stats Scrapy logs)
    if options.user_agent:
        overrides["USER_AGENT"] = options.user_agent
    if options.max_time_seconds:
        overrides["CLOSESPIDER_TIMEOUT"] = options.max_time_seconds  # Scrapy's CloseSpider extension
    if options.render != "never" and options.chromium:  # pages built with JavaScript (crawler.render)
        from crawler.render import playwright_settings

        render = playwright_settings(options, options.chromium, options.timeout,
                                     overrides.get("USER_AGENT") or settings.get("USER_AGENT"))
        # (the project's handlers kept: file:, data:, s3:, ftp: stay off)
        render["DOWNLOAD_HANDLERS"] = {**settings.getdict("DOWNLOAD_HANDLERS"), **render["DOWNLOAD_HANDLERS"]}
        overrides.update(render)
    settings.setdict(overrides, priority="cmdline")
    return settings


def target_hosts(options: CrawlOptions, targets=()) -> tuple[list[str], list[str]]:
    """What the SSRF guard allows (:mod:`crawler.guard`): the hosts of URL targets fetched as
    they are (every port of their addresses: an intranet or local audit), and ``host:port`` of
    everything else the crawl was pointed at (directory mounts, ``--remap`` destinations, the
    site, blog and social prefixes as fetched): that port only.

    >>> target_hosts(CrawlOptions(site=("https://acme.example/",), remap=("^https://x[.]com/ http://127.0.0.1:9/",)),
    ...              ["https://acme.example/"])
    (['acme.example'], ['acme.example:443', '127.0.0.1:9'])

    A ``--remap`` destination under a directory target's public URL is that directory's server
    (the bundled example's social stand-ins): the public host is not an endpoint, and is never
    looked up in DNS.

    >>> target_hosts(CrawlOptions(remap=("^https://x[.]com/(.*) https://acme.example/_social/\\1",),
    ...                           mounts={"https://acme.example/": "http://127.0.0.1:8000/"}), ["https://acme.example/"])
    ([], ['127.0.0.1:8000'])
    """
    from urllib.parse import urlsplit

    from crawler.urls import Remapper

    remapper = Remapper(options.remap, options.mounts)
    hosts, endpoints = [], []

    def add(url: str, into: list, with_port: bool) -> None:
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return
        if host and "\\" not in host:
            item = f"{host}:{port}" if with_port else host
            if item not in into:
                into.append(item)

    for t in targets:
        if remapper.fetch_url(t) == t:
            add(t, hosts, with_port=False)
    for url in [remapper.fetch_url(u) for u in (*targets, *options.site, *options.blog, *options.social)]:
        add(url, endpoints, with_port=True)
    served = Remapper((), options.mounts)  # a destination under a served directory is its server
    for url in [served.fetch_url(rule.replacement) for rule in remapper.rules] + list(options.mounts.values()):
        add(url, endpoints, with_port=True)
    return hosts, endpoints


def main(argv: list[str] | None = None) -> int:
    """Child-process entry point: crawl CRAWL_ID into DB, then exit."""
    argv = sys.argv[1:] if argv is None else argv
    db_path, crawl_id = argv[0], int(argv[1])
    verbose = int(argv[2]) if len(argv) > 2 else 0
    resume = len(argv) > 3 and argv[3] == "resume"
    from scrapy.crawler import CrawlerProcess

    from crawler.spiders.funnel import FunnelSpider
    from crawler.urls import redact_logs

    try:
        with Store(db_path) as store, writes_to(db_path):
            crawl = store.crawl(crawl_id)
            store.set_pid(crawl_id, os.getpid())
    except StoreError as exc:
        print(exc, file=sys.stderr)
        return STORE_FAILED_EXIT
    settings = scrapy_settings(db_path, crawl, verbose, resume)
    # Pending requests wait on disk, not in memory (a sitemap of 100,000 URLs queues them all at
    # once). This is only the scheduler's queue for this run: what a resume reads is the store's
    # frontier, written with each page (Scrapy's JOBDIR queues do not survive kill -9).
    sweep_queues(tempfile.gettempdir())
    with tempfile.TemporaryDirectory(prefix=f"{QUEUE_PREFIX}{os.getpid()}-") as queue:
        settings.set("JOBDIR", queue, priority="cmdline")
        process = CrawlerProcess(settings)
        redact_logs()  # Scrapy logs the URLs it fetches: never a password among them
        crawler = process.create_crawler(FunnelSpider)
        process.crawl(crawler)
        _stop_on_signals(process, db_path, crawl_id, queue, renders=bool(settings.get("FUNNEL_CHROMIUM")))
        process.start(install_signal_handlers=False)
    failure = crawler.stats.get_value("funnelcheck/store_error")  # (crawler.pipelines)
    if failure:
        print(failure, file=sys.stderr)  # the last line of the crawl's stderr: the parent reports it
        return STORE_FAILED_EXIT
    return 0


QUEUE_PREFIX = "funnelcheck-queue-"   # + the crawl process's pid: a folder whose process is gone is swept


def sweep_queues(folder: str) -> list[str]:
    """Remove the queue folders (``funnelcheck-queue-PID-*``) of this user's crawl processes
    that are gone: a crawl killed with kill -9 cannot remove its own. Returns those removed.

    >>> import tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> for pid in (os.getpid(), 2 ** 22 + 1):
    ...     os.mkdir(os.path.join(tmp, f"{QUEUE_PREFIX}{pid}-x"))
    >>> [os.path.basename(p) for p in sweep_queues(tmp)], sorted(os.listdir(tmp)) == [f"{QUEUE_PREFIX}{os.getpid()}-x"]
    (['funnelcheck-queue-4194305-x'], True)
    """
    from pathlib import Path

    from crawler.store import process_alive

    removed = []
    for path in Path(folder).glob(f"{QUEUE_PREFIX}*-*"):
        pid = path.name[len(QUEUE_PREFIX):].partition("-")[0]
        try:
            mine = path.is_dir() and path.stat().st_uid == os.getuid()
        except OSError:
            continue
        if mine and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    return removed


STOP_GRACE = 5.0   # seconds a stopping crawl waits for its requests in flight
ORPHAN_GRACE = 0.5  # ... when it renders and its `funnelcheck` is gone (pages in Chromium take seconds)


def _stop_on_signals(process, db_path: str, crawl_id: int, queue: str, renders: bool = False) -> None:
    """SIGINT or SIGTERM (Ctrl-C, ``kill``, systemd, the parent's death): stop as Scrapy does,
    cleanly (the crawl is marked interrupted by the pipeline), but within :data:`STOP_GRACE`
    seconds: a request in flight to a server that drips its answer does not hold a crawl whose
    `funnelcheck` is gone. Past the grace the crawl is marked interrupted here and the process
    ends (what was in flight is fetched again by a resume). A second signal ends it at once.
    A crawl that renders (``renders``) whose parent died stops within :data:`ORPHAN_GRACE`: its
    pages in Chromium would hold it, and its browser, for seconds nobody waits for."""
    parent = os.getppid()

    def hard_stop() -> None:
        try:
            with Store(db_path) as store:
                if store.crawl(crawl_id)["status"] == "running":
                    store.finish_crawl(crawl_id, "interrupted", "interrupted: stopped by a signal")
        except Exception as exc:  # noqa: BLE001 - a store that cannot take it: the parent's check says it
            logger.warning("could not mark crawl #%d interrupted: %s", crawl_id, exc)
        shutil.rmtree(queue, ignore_errors=True)
        os._exit(128 + signal.SIGTERM)

    orphan = (lambda: os.getppid() != parent) if renders else None
    stop_on_signals(process, hard_stop, "the crawl", orphan=orphan)


def stop_on_signals(process, hard_stop, what: str, orphan=None) -> None:
    """On SIGINT or SIGTERM stop Scrapy's ``process`` cleanly, and call ``hard_stop`` (which ends
    the process) :data:`STOP_GRACE` seconds later if it has not stopped by then, or at once on a
    second signal. ``what`` names what stops in the log; ``orphan()`` true: the grace is
    :data:`ORPHAN_GRACE`."""
    from twisted.internet import reactor

    state = {"stopping": False}

    def on_signal(signum, frame) -> None:
        if state["stopping"]:
            reactor.callFromThread(hard_stop)
            return
        state["stopping"] = True
        logger.info("received %s: stopping %s (at most %.0f s)", signal.Signals(signum).name, what, STOP_GRACE)
        reactor.callFromThread(process.stop)
        grace = ORPHAN_GRACE if orphan is not None and orphan() else STOP_GRACE
        reactor.callFromThread(reactor.callLater, grace, hard_stop)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)


def _die_with_parent() -> None:
    """In the crawl process, before exec: get SIGTERM when the parent dies (Linux prctl
    PR_SET_PDEATHSIG), so a killed `funnelcheck` never leaves its crawl running. SIGTERM stops
    Scrapy cleanly: the crawl is marked interrupted and everything stored is kept."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: the parent's handlers still stop it
        pass


class Progress:
    """``on_progress(pages_done, urls_queued)`` from the store's counts, called at most every
    poll and so that it takes no more than :attr:`SHARE` of the watching process's time: the
    counts scan the crawl's rows (a million pages: tens of ms each), and the caller's
    ``on_progress`` may build the live graph; both would otherwise take a good part of a core
    from the crawl every 0.2 s."""

    SHARE = 0.05
    MAX_GAP = 2.0

    def __init__(self, store, crawl_id: int, on_progress: Callable[[int, int], None] | None):
        self.store, self.crawl_id, self.on_progress = store, crawl_id, on_progress
        self.next = 0.0

    def __call__(self, force: bool = False) -> None:
        if self.on_progress is None:
            return
        start = time.monotonic()
        if not force and start < self.next:
            return
        self.on_progress(self.store.count_pages(self.crawl_id, None), self.store.count_queued(self.crawl_id))
        # at most MAX_GAP between calls: the live graph reads what was stored since its last call,
        # so a longer gap makes a longer call, and the coordinator's loop (which keeps the crawl's
        # status alive in Redis) must not stall for seconds
        self.next = start + min((time.monotonic() - start) / self.SHARE, self.MAX_GAP)


def run_crawl(db_path: str, crawl_id: int, on_progress: Callable[[int, int], None] | None = None,
              poll: float = 0.2, verbose: int = 0, resume: bool = False) -> tuple[int, str]:
    """Run crawl ``crawl_id`` (already created in the store) in a child process.

    Calls ``on_progress(pages_done, urls_queued)`` while it runs. Returns the
    child's exit code and the last lines it wrote to stderr. If the child dies
    without finishing (killed, crashed), the crawl row is marked interrupted;
    every page it wrote stays in the store. With ``verbose``, the crawl's own log
    (Scrapy at INFO, or DEBUG for 2) goes to stderr as it happens.
    """
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with tempfile.TemporaryFile(mode="w+") as log, Store(db_path) as store:
        progress = Progress(store, crawl_id, on_progress)
        argv = [sys.executable, "-m", "crawler.run", str(db_path), str(crawl_id), str(verbose)]
        proc = subprocess.Popen(argv + (["resume"] if resume else []),
                                stdout=subprocess.DEVNULL, stderr=None if verbose else log, env=env,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        try:
            while True:
                try:
                    code = proc.wait(timeout=poll)
                    break
                except subprocess.TimeoutExpired:
                    progress()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            _finish(store, crawl_id, "interrupted", "interrupted by the user")
            raise
        progress(force=True)
        log.seek(0)
        tail = log.read()[-4000:]
        if store.crawl(crawl_id)["status"] == "running":
            why = f"crawl process killed by signal {-code}" if code < 0 else f"crawl process exited with {code}"
            if code == STORE_FAILED_EXIT:  # the crawl could not even mark itself failed
                why = store_failure(tail) or why
            _finish(store, crawl_id, "interrupted" if code < 0 else "failed", why)
    return code, tail


def store_failure(text: str) -> str | None:
    """The last ``cannot write the crawl store ...`` line in a crawl process's stderr, if any."""
    for line in reversed(text.splitlines()):
        if WRITE_FAILED in line:
            return line[line.index(WRITE_FAILED):].strip()
    return None


def _finish(store: Store, crawl_id: int, status: str, why: str) -> None:
    """Mark a crawl ended from the parent; a store that takes no write (a full disk) leaves the row
    as it is: a crawl whose process is gone is listed as interrupted anyway (Store.crawls)."""
    try:
        store.finish_crawl(crawl_id, status, why)
    except Exception as exc:
        if not write_failure(exc):
            raise
        logger.info("crawl #%d could not be marked %s in %s: %s", crawl_id, status, store.path, exc)


if __name__ == "__main__":
    sys.exit(main())


def crawl_runner(workers: int = 1, redis: str | None = None):
    """What runs a crawl: :func:`run_crawl` (one process, no Redis: the default) or, with
    ``redis`` or ``workers != 1``, :func:`crawler.coordinator.run_cluster_crawl` (``workers``
    local worker processes, 0: only workers that join from elsewhere through ``redis``).
    Both are called ``(db_path, crawl_id, on_progress, verbose=, resume=)``."""
    if redis is None and workers == 1:
        return run_crawl
    from crawler.coordinator import run_cluster_crawl

    def run(db_path, crawl_id, on_progress=None, verbose=0, resume=False):
        return run_cluster_crawl(db_path, crawl_id, workers, redis_url=redis, on_progress=on_progress,
                                 verbose=verbose, resume=resume)

    return run


def audit_crawl(options: dict, on_progress: Callable[[int, int], None] | None = None,
                on_start: Callable[[str, int], None] | None = None, verbose: int = 0, workers: int = 1,
                redis: str | None = None):
    """Crawl what validated ``options`` describe; returns ``(store_path, crawl_id, exit_code, stderr_tail)``.

    ``on_start(store_path, crawl_id)`` is called once the crawl row exists,
    ``on_progress(urls_done, urls_queued)`` while it runs. ``workers`` processes share the
    crawl through Redis (``redis``: its URL; by default a private one) unless it is one process
    with no ``redis`` (see :func:`crawl_runner`).

    Directory targets are served on 127.0.0.1 for the duration of the crawl and
    stand for their ``base_url``; everything is recorded under public URLs.
    """
    from contextlib import ExitStack

    from crawler.config import default_site, public_targets
    from crawler.store import default_path

    db_path = str(options.get("db") or default_path())
    targets = public_targets(options)
    directories, bases = {}, iter(options["base_url"])
    for t in options["targets"]:
        if "://" not in t:
            directories[next(bases)] = os.path.abspath(t)  # what a resume serves again
    crawl_options = CrawlOptions.from_validated(options, default_site(options), directories)
    with ExitStack() as stack:
        crawl_options = crawl_options.with_mounts(serve(stack, directories))
        with Store(db_path) as store, writes_to(db_path):
            crawl_id = store.create_crawl(targets, crawl_options.to_json())
        if on_start:
            on_start(db_path, crawl_id)
        code, tail = crawl_runner(workers, redis)(db_path, crawl_id, on_progress, verbose=verbose)
    return db_path, crawl_id, code, tail


def serve(stack, directories: dict[str, str]) -> dict[str, str]:
    """Serve each directory target on 127.0.0.1 for the crawl: ``{base_url: local url}``."""
    from crawler.serve import StaticServer

    return {base: stack.enter_context(StaticServer(path)).url for base, path in directories.items()}


class ResumeError(RuntimeError):
    """The crawl cannot be resumed (complete, still running, its directory gone)."""


def resumable(store, crawl_id: int | None = None, targets: list[str] | None = None) -> dict | None:
    """The crawl to resume: ``crawl_id``, else the latest interrupted one (of ``targets``, when
    given). Raises :class:`ResumeError` when ``crawl_id`` cannot be resumed; None when no
    crawl of ``targets`` is waiting. A crawl that failed because it reached none of its targets
    is not waiting: everything it would fetch again is stored already (a new audit fetches it).

    >>> import tempfile, os
    >>> from crawler.store import Store
    >>> s = Store(os.path.join(tempfile.mkdtemp(), "c.sqlite"))
    >>> s.finish_crawl(s.create_crawl(["https://a.example/"], {}), "failed", "crawl process exited with 1")
    >>> s.finish_crawl(s.create_crawl(["https://a.example/"], {}), "failed", "cannot reach https://a.example/: timed out")
    >>> resumable(s, targets=["https://a.example/"]) is None, resumable(s)["id"]
    (True, 1)
    >>> resumable(s, 2)
    Traceback (most recent call last):
    crawler.run.ResumeError: crawl #2 could not reach its targets (cannot reach https://a.example/: timed out): nothing to resume (audit the site again)
    """
    from crawler.store import UNREACHED, process_alive

    def unreached(c: dict) -> bool:  # failed at its targets: a resume would fetch nothing again
        return c["status"] == "failed" and (c.get("error") or "").startswith(UNREACHED)

    if crawl_id is None:
        for c in reversed(store.crawls()):
            if targets is not None and c["targets"] != targets:
                continue
            if c["status"] in ("interrupted", "failed") and not unreached(c):
                return store.crawl(c["id"])
            if targets is not None:
                return None  # the latest crawl of these targets ended: start a new one
        if targets is None:
            raise ResumeError(f"no interrupted crawl to resume in {store.path}")
        return None
    crawl = store.crawl(crawl_id)
    if crawl["status"] == "complete":
        raise ResumeError(f"crawl #{crawl_id} is complete: nothing to resume")
    if unreached(crawl):
        raise ResumeError(f"crawl #{crawl_id} could not reach its targets ({crawl['error']}): nothing to resume "
                          "(audit the site again)")
    if crawl["status"] == "running" and process_alive(crawl["pid"]):
        raise ResumeError(f"crawl #{crawl_id} is still running (process {crawl['pid']})")
    return crawl


def resume_crawl(db_path: str, crawl: dict, on_progress: Callable[[int, int], None] | None = None,
                 on_start: Callable[[str, int], None] | None = None, verbose: int = 0, workers: int = 1,
                 redis: str | None = None):
    """Continue an interrupted crawl from its frontier in the store; returns like :func:`audit_crawl`
    (``workers`` and ``redis`` as there: a crawl of one process may be resumed by many, and back).

    Pages already stored are kept and not fetched again; the URLs queued but not yet
    fetched are fetched; directory targets are served again where they were.
    """
    from contextlib import ExitStack

    crawl_id, options = crawl["id"], CrawlOptions.from_json(crawl["options"])
    if options.mounts and not options.directories:
        raise ResumeError(f"cannot resume crawl #{crawl_id}: it crawled a directory, and the funnelcheck that ran "
                          "it did not record where (start a new audit)")
    for base, path in options.directories.items():
        if not os.path.isdir(path):
            raise ResumeError(f"cannot resume crawl #{crawl_id}: its directory {path} is gone")
    with ExitStack() as stack:
        options = options.with_mounts(serve(stack, options.directories))
        with Store(db_path) as store, writes_to(db_path):
            store.set_options(crawl_id, options.to_json())
            store.reopen_crawl(crawl_id)
        if on_start:
            on_start(db_path, crawl_id)
        code, tail = crawl_runner(workers, redis)(db_path, crawl_id, on_progress, verbose=verbose, resume=True)
    return db_path, crawl_id, code, tail
