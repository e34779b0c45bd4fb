"""Start a crawl: ``run_crawl`` runs Scrapy in a child process and reports progress.

The Twisted reactor cannot restart inside one process, so every crawl gets a
fresh interpreter (``python -m crawler.run DB CRAWL_ID``). The child reads its
options from the crawl's row in the store and streams pages back into it; the
parent only watches the row count, so progress costs the crawl nothing.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
from typing import Callable

from crawler.store import Store

logger = logging.getLogger(__name__)


def scrapy_settings(db_path: str, crawl_id: int, options: dict, verbose: int = 0):
    """Scrapy settings for one crawl: the project defaults plus the crawl's options."""
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    overrides = {"FUNNEL_DB": str(db_path), "FUNNEL_CRAWL_ID": crawl_id,
                 "ROBOTSTXT_OBEY": not options.get("ignore_robots", False),
                 "DOWNLOAD_VERIFY_CERTIFICATES": not options.get("insecure", False)}
    if options.get("timeout"):
        overrides["DOWNLOAD_TIMEOUT"] = options["timeout"]
    if options.get("concurrency"):
        overrides["CONCURRENT_REQUESTS_PER_DOMAIN"] = options["concurrency"]
        overrides["CONCURRENT_REQUESTS"] = max(32, options["concurrency"] * 2)
    if verbose:
        overrides["LOG_LEVEL"] = "INFO" if verbose == 1 else "DEBUG"
    if options.get("user_agent"):
        overrides["USER_AGENT"] = options["user_agent"]
    settings.setdict(overrides, priority="cmdline")
    return settings


def main(argv: list[str] | None = None) -> int:
    """Child-process entry point: crawl CRAWL_ID into DB, then exit."""
    argv = sys.argv[1:] if argv is None else argv
    db_path, crawl_id = argv[0], int(argv[1])
    verbose = int(argv[2]) if len(argv) > 2 else 0
    from scrapy.crawler import CrawlerProcess

    from crawler.spiders.funnel import FunnelSpider

    with Store(db_path) as store:
        options = store.crawl(crawl_id)["options"]
        store.set_pid(crawl_id, os.getpid())
    process = CrawlerProcess(scrapy_settings(db_path, crawl_id, options, verbose))
    process.crawl(FunnelSpider)
    process.start()
    return 0


def _die_with_parent() -> None:
    """In the crawl process, before exec: get SIGTERM when the parent dies (Linux prctl
    PR_SET_PDEATHSIG), so a killed `funnelcheck` never leaves its crawl running. SIGTERM stops
    Scrapy cleanly: the crawl is marked interrupted and everything stored is kept."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: the parent's handlers still stop it
        pass


def run_crawl(db_path: str, crawl_id: int, on_progress: Callable[[int, int], None] | None = None,
              poll: float = 0.2, verbose: int = 0) -> tuple[int, str]:
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
        proc = subprocess.Popen([sys.executable, "-m", "crawler.run", str(db_path), str(crawl_id), str(verbose)],
                                stdout=subprocess.DEVNULL, stderr=None if verbose else log, env=env,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        try:
            while True:
                try:
                    code = proc.wait(timeout=poll)
                    break
                except subprocess.TimeoutExpired:
                    if on_progress:
                        on_progress(store.count_pages(crawl_id, None), store.count_queued(crawl_id))
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            store.finish_crawl(crawl_id, "interrupted", "interrupted by the user")
            raise
        if on_progress:
            on_progress(store.count_pages(crawl_id, None), store.count_queued(crawl_id))
        log.seek(0)
        tail = log.read()[-4000:]
        if store.crawl(crawl_id)["status"] == "running":
            why = f"crawl process killed by signal {-code}" if code < 0 else f"crawl process exited with {code}"
            store.finish_crawl(crawl_id, "interrupted" if code < 0 else "failed", why)
    return code, tail


if __name__ == "__main__":
    sys.exit(main())


STORED_OPTIONS = ("site", "blog", "social", "conversion", "remap", "max_pages", "depth", "check_external",
                  "check_social", "sitemaps", "cache_age_seconds", "insecure", "ignore_robots", "include", "exclude",
                  "exclude_path", "accept", "timeout", "concurrency", "user_agent")


def audit_crawl(options: dict, on_progress: Callable[[int, int], None] | None = None,
                on_start: Callable[[str, int], None] | None = None, verbose: int = 0):
    """Crawl what validated ``options`` describe; returns ``(store_path, crawl_id, exit_code, stderr_tail)``.

    ``on_start(store_path, crawl_id)`` is called once the crawl row exists,
    ``on_progress(urls_done, urls_queued)`` while it runs.

    Directory targets are served on 127.0.0.1 for the duration of the crawl and
    stand for their ``base_url``; everything is recorded under public URLs.
    """
    from contextlib import ExitStack

    from crawler.config import default_site, public_targets
    from crawler.serve import StaticServer
    from crawler.store import default_path

    db_path = str(options.get("db") or default_path())
    targets = public_targets(options)
    stored = {k: options.get(k) for k in STORED_OPTIONS}
    stored["site"] = default_site(options)
    with ExitStack() as stack:
        mounts, bases = {}, iter(options["base_url"])
        for t in options["targets"]:
            if "://" not in t:
                server = stack.enter_context(StaticServer(t))
                mounts[next(bases)] = server.url
        stored["mounts"] = mounts
        with Store(db_path) as store:
            crawl_id = store.create_crawl(targets, stored)
        if on_start:
            on_start(db_path, crawl_id)
        code, tail = run_crawl(db_path, crawl_id, on_progress, verbose=verbose)
    return db_path, crawl_id, code, tail
