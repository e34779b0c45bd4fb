"""A worker of a cluster crawl: ``python -m crawler.worker --redis URL [--token T] [--verbose N]``.

It waits until a crawl is announced in that Redis (:func:`crawler.cluster.announced`; a worker
started early waits, it never exits because there is nothing to do yet), joins it (``workers``
hash, ``alive:<id>`` refreshed every :data:`crawler.cluster.HEARTBEAT_EVERY` s), and runs the
funnel spider (:class:`crawler.clustered.ClusteredSpider`) with scrapy-redis's scheduler and
funnelcheck's seams (:data:`CLUSTER_SETTINGS`): requests come from the crawl's ``requests``
stream and go back to it, pages go to the ``items`` stream for the writer. It closes when the
crawl's ``status`` is ``done`` or ``stopped``, and leaves it when the coordinator is gone (the
``status`` expired, or its writer said ``abandoned``); SIGTERM or SIGINT stop it cleanly (what it
had in flight, and what its downloader still held unsent, is claimed by the other workers). One
crawl per process: the Twisted reactor cannot restart, so a worker serving many crawls is started
again for each (``funnelcheck worker`` in a loop, or systemd's ``Restart=always``).

Exit codes: 0 (the crawl ended: done, or stopped by its coordinator), 2 (one line on stderr: no
Redis at URL, Redis lost during the crawl, the crawl's coordinator gone, or a crawl it cannot
run), 130 (stopped by SIGINT or SIGTERM, waiting or working).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time

from crawler import cluster
from crawler.run import STOP_GRACE  # (seconds a stopping worker waits for what it has in flight)
from crawler.urls import redact_credentials

logger = logging.getLogger(__name__)

POLL = 0.2          # seconds between looks at the announcements, and at the crawl's status
EXIT_INTERRUPTED = 130   # (the command line's: stopped by a signal)
ERROR = "funnelcheck: error: "   # the one line a worker ends with when it fails (as the command line's)
MAX_UNWRITTEN = 1000     # pages in the items stream the writer has not stored before workers wait for it

# What a worker changes in the settings of one process (crawler.run.scrapy_settings).
CLUSTER_SETTINGS = {
    "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
    "SCHEDULER_QUEUE_CLASS": "crawler.queues.StreamQueue",
    "SCHEDULER_PERSIST": True,            # the crawl's keys are the coordinator's to delete
    "SCHEDULER_IDLE_BEFORE_CLOSE": 0,     # (never block the reactor on a read)
    "DUPEFILTER_CLASS": "crawler.dupefilter.RedisKeyDupeFilter",
    "ITEM_PIPELINES": {},                 # items go to Redis (crawler.streams), the writer stores them
}


def worker_id() -> str:
    """This process's name in the crawl: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def cluster_settings(info: dict, redis_url: str, worker: str, verbose: int = 0):
    """Scrapy settings of a worker of the announced crawl ``info``."""
    from crawler.render import chromium_here
    from crawler.run import scrapy_settings

    token = info["token"]
    db = info.get("db") or ""
    # (a crawl that renders: this machine's Chromium, or ValueError: the worker cannot join it)
    settings = scrapy_settings(db, chromium_here(info["crawl"]), verbose, bool(info.get("resume")))
    overrides = dict(CLUSTER_SETTINGS, REDIS_URL=redis_url, SCHEDULER_QUEUE_KEY=cluster.key(token, "requests"),
                     FUNNEL_REDIS_URL=redis_url, FUNNEL_CLUSTER_TOKEN=token, FUNNEL_WORKER_ID=worker,
                     FUNNEL_MAX_UNWRITTEN=int(info.get("max_unwritten") or MAX_UNWRITTEN))
    middlewares = dict(settings.getdict("SPIDER_MIDDLEWARES"))
    middlewares["crawler.streams.StreamSender"] = 1   # closest to the engine: it sees the output last
    overrides["SPIDER_MIDDLEWARES"] = middlewares
    extensions = dict(settings.getdict("EXTENSIONS"))
    extensions["crawler.extensions.CrawlLimits"] = None
    extensions["crawler.extensions.ClusterLimits"] = 500
    extensions["crawler.worker.ClusterMember"] = 510
    overrides["EXTENSIONS"] = extensions
    if not (db and os.path.exists(db)):  # the external-link cache is read where the store is
        downloader = dict(settings.getdict("DOWNLOADER_MIDDLEWARES"))
        downloader["crawler.middlewares.CacheMiddleware"] = None
        overrides["DOWNLOADER_MIDDLEWARES"] = downloader
    settings.setdict(overrides, priority="cmdline")
    return settings


class ClusterMember:
    """The worker's part in the crawl, as a Scrapy extension: the spider does not close while the
    crawl runs (its queue may be empty now and full in a second), closes when ``status`` says
    ``done`` or ``stopped``, and the engine looks at the queue every :data:`POLL` s when idle."""

    def __init__(self, crawler):
        from scrapy import signals

        from crawler.streams import Sender, client_of

        self.crawler = crawler
        self.client = client_of(crawler.settings)
        self.token = crawler.settings.get("FUNNEL_CLUSTER_TOKEN")
        self.sender = Sender.of(crawler)
        self.status_key = cluster.key(self.token, "status")
        self.closing = False
        self.lost: str | None = None   # why Redis could not be reached any more (exit 2)
        self.abandoned: str | None = None   # the crawl's coordinator is gone (exit 2)
        self.started = False   # the start requests are all pushed (by whichever worker)
        self.next_start_check = 0.0
        self.loop = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def spider_opened(self, spider):
        from twisted.internet.task import LoopingCall

        self.loop = LoopingCall(self.tick)
        self.loop.start(POLL, now=False)
        if LOST.quiet:  # (Scrapy installs its log handler again when the crawl starts: the filter goes on it now)
            quiet_when_redis_is_lost()

    def tick(self) -> None:
        engine = self.crawler.engine
        if self.closing or engine is None or engine.spider is None:
            return
        try:
            status = self.client.get(self.status_key)
            if status is None or status == cluster.ABANDONED:  # (None: expired, or the keys deleted at the end)
                if status == cluster.ABANDONED or self.client.hexists(cluster.ANNOUNCED, self.token):
                    self.abandoned = f"crawl {self.token} has no coordinator any more (it was killed, or " \
                                     f"lost Redis): leaving it; `funnelcheck resume` continues it"
                    logger.info(self.abandoned)  # (its last line says it)
                status = None
            self.sender.flush_direct()
        except Exception as exc:  # noqa: BLE001 - Redis went away: nothing more can be done here
            lose_redis(f"lost the crawl's Redis: {exc}")
            self.lost = LOST.why
            status = b"stopped"
        if status != b"running":
            self.closing = True
            self.leave()
            if self.lost:  # a clean close may wait for Redis for ever (a host's lease): not past the grace
                from twisted.internet import reactor

                reactor.callLater(STOP_GRACE, self.give_up)
            logger.info("the crawl is %s: closing", (status or b"gone").decode())
            from scrapy.utils.defer import deferred_from_coro

            deferred_from_coro(engine.close_spider_async(reason="finished" if status == b"done" else "shutdown"))
            return
        if not self.started and time.monotonic() >= self.next_start_check:
            self.next_start_check = time.monotonic() + 1.0
            self.started = self.client.get(cluster.key(self.token, "started")) == b"1"
            if not self.started:
                engine.spider.take_over_start()
        slot = getattr(engine, "_slot", None)  # the engine asks its scheduler every 5 s when idle: sooner
        if slot is not None and getattr(slot, "nextcall", None) is not None:
            slot.nextcall.schedule()

    def leave(self) -> None:
        """Send nothing more: the requests its downloader still holds unsent stay pending in
        Redis for the other workers (or a resume), only those in flight are finished."""
        downloader = getattr(self.crawler.engine, "downloader", None)
        if hasattr(downloader, "drop_queued"):
            downloader.drop_queued()

    def give_up(self) -> None:
        print(ERROR + self.lost, file=sys.stderr)
        os._exit(2)

    def spider_idle(self, spider):
        from scrapy.exceptions import DontCloseSpider

        if not self.closing:
            raise DontCloseSpider

    def spider_closed(self, spider, reason):
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        try:
            self.sender.flush_direct()
        except Exception as exc:  # noqa: BLE001
            logger.warning("could not send the last start requests: %s", exc)
        logger.info("worker leaves the crawl (%s): %d steps sent to Redis", reason, self.sender.sent)


class Heartbeat:
    """``alive:<id>`` refreshed every HEARTBEAT_EVERY s from a thread of its own (a page that takes
    the reactor for seconds does not make this worker look dead); gone when it stops."""

    def __init__(self, client, token: str, worker: str):
        self.client, self.key = client, cluster.key(token, f"alive:{worker}")
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="funnelcheck-heartbeat", daemon=True)

    def start(self) -> "Heartbeat":
        self.beat()
        self.thread.start()
        return self

    def beat(self) -> None:
        self.client.set(self.key, 1, px=int(cluster.HEARTBEAT_TTL * 1000))

    def _run(self) -> None:
        while not self.stopped.wait(cluster.HEARTBEAT_EVERY):
            try:
                self.beat()
            except Exception as exc:  # noqa: BLE001 - Redis away for a moment: try again
                logger.warning("heartbeat: %s", exc)

    def stop(self) -> None:
        self.stopped.set()
        try:
            self.client.delete(self.key)  # the others claim what this worker had at once
        except Exception:  # noqa: BLE001
            pass


class _Lost:
    """Redis is gone (``why``): from then on a worker without ``-v`` logs nothing more (every
    request, lease and heartbeat fails, each with its traceback), and ends with one line."""

    def __init__(self):
        self.why: str | None = None
        self.quiet = False   # a worker without -v


LOST = _Lost()


def lose_redis(why: str) -> None:
    if LOST.why is None:
        LOST.why = why
        logger.error(why)


def _redis_failure(record: logging.LogRecord) -> str | None:
    """What a log record says Redis failed with (a connection lost), if it does."""
    import redis

    args = record.args if isinstance(record.args, tuple) else ()
    for exc in (record.exc_info[1] if record.exc_info else None, *args):  # (or an exception logged by its text)
        seen = set()
        while isinstance(exc, BaseException) and id(exc) not in seen:
            seen.add(id(exc))
            if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
                return str(exc)
            exc = exc.__cause__ or exc.__context__
    return None


class QuietWhenRedisIsLost(logging.Filter):
    """The log filter of a worker without ``-v``: no record of a failed Redis connection (each
    request, lease and heartbeat fails, with its traceback: the trial saw 317 lines), and none
    at all once the worker found Redis lost (:func:`lose_redis`): its last line says it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if LOST.why is not None:
            return False
        return _redis_failure(record) is None  # (the worker says it once, if Redis stays away)


def quiet_when_redis_is_lost() -> None:
    """Put :class:`QuietWhenRedisIsLost` on the root log handlers (once each)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, QuietWhenRedisIsLost) for f in handler.filters):
            handler.addFilter(QuietWhenRedisIsLost())


def wait_for_crawl(client, token: str | None, stop: threading.Event) -> dict | None:
    """The announcement of the crawl to join (``token``'s, else the oldest running), waiting for
    one as long as it takes; None if stopped meanwhile, or if ``token``'s crawl has ended."""
    said = False
    while not stop.is_set():
        crawls = cluster.announced(client)
        if token:
            crawls = [c for c in crawls if c["token"] == token]
            status = client.get(cluster.key(token, "status"))
            if not crawls and status in (b"done", b"stopped"):
                return None
        if crawls:
            return crawls[0]
        if not said:  # (once, and without -v too: a worker that prints nothing looks hung)
            print(f"funnelcheck worker: waiting for {'crawl ' + token if token else 'a crawl'} to be announced",
                  file=sys.stderr, flush=True)
            said = True
        stop.wait(POLL)
    return None


def run_worker(redis_url: str, verbose: int = 0, token: str | None = None) -> int:
    """Join the crawl announced in ``redis_url`` (``token``'s, else the first), work on it until it
    ends, return the exit code."""
    from crawler.urls import redact_logs

    if verbose:
        level, root = logging.INFO if verbose == 1 else logging.DEBUG, logging.getLogger()
        if root.handlers:  # (`funnelcheck worker -v`: the command line set up logging at its own level)
            root.setLevel(level)
            for handler in root.handlers:
                if type(handler) is logging.StreamHandler:
                    handler.setLevel(level)
        else:
            logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s [%(name)s] %(levelname)s: %(message)s")
    try:
        client = cluster.connect(redis_url)
    except Exception as exc:  # noqa: BLE001 - redis.ConnectionError, a bad URL
        print(f"{ERROR}cannot reach Redis at {redact_credentials(redis_url)}: {redact_credentials(str(exc))}",
              file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        info = wait_for_crawl(client, token, stop)
    except Exception as exc:  # noqa: BLE001 - redis.ConnectionError: Redis went away while waiting
        print(f"{ERROR}lost Redis at {redact_credentials(redis_url)} while waiting for a crawl: {exc}", file=sys.stderr)
        return 2
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if stop.is_set():
        return EXIT_INTERRUPTED
    if info is None:
        return 0
    if info.get("protocol") != cluster.PROTOCOL:
        print(f"{ERROR}cannot join crawl {info.get('token')}: it was started by a funnelcheck of cluster protocol "
              f"{info.get('protocol') or 1}, this worker speaks protocol {cluster.PROTOCOL}: run the same "
              f"funnelcheck version on every machine", file=sys.stderr)
        return 2
    me = worker_id()
    try:
        settings = cluster_settings(info, redis_url, me, verbose or int(info.get("verbose") or 0))
    except Exception as exc:  # noqa: BLE001 - an announcement this version cannot read
        print(f"{ERROR}cannot join crawl {info.get('token')}: {exc}", file=sys.stderr)
        return 2
    token = info["token"]
    client.hset(cluster.key(token, "workers"), me,
                json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}))
    heartbeat = Heartbeat(client, token, me).start()
    logger.info("worker %s joins crawl %s", me, token)
    import warnings

    from scrapy.crawler import CrawlerProcess
    from scrapy.exceptions import ScrapyDeprecationWarning

    # scrapy-redis 0.9.1 passes `spider` to the stats collector, deprecated in Scrapy 2.19
    warnings.filterwarnings("ignore", category=ScrapyDeprecationWarning, module="scrapy_redis")

    from crawler.clustered import ClusteredSpider

    for handler in list(logging.getLogger().handlers):  # Scrapy installs its own
        logging.getLogger().removeHandler(handler)
    from crawler import worker as extension  # (Scrapy makes the extension from `crawler.worker`, not `__main__`)

    try:
        process = CrawlerProcess(settings)
        redact_logs()
        if not verbose:
            extension.LOST.quiet = True
            extension.quiet_when_redis_is_lost()
        crawler = process.create_crawler(ClusteredSpider)
        process.crawl(crawler)
        signalled = _stop_on_signals(process, heartbeat, crawler)
        process.start(install_signal_handlers=False)
        member = crawler.extensions.middlewares and next(
            (m for m in crawler.extensions.middlewares if isinstance(m, extension.ClusterMember)), None)
        lost = extension.LOST.why or (member.lost if member is not None else None)
        if lost:
            print(ERROR + lost, file=sys.stderr)
            return 2
        if signalled.is_set():
            return EXIT_INTERRUPTED
        if member is not None and member.abandoned:
            print(ERROR + member.abandoned, file=sys.stderr)
            return 2
    finally:
        heartbeat.stop()
        try:
            client.hdel(cluster.key(token, "workers"), me)
        except Exception:  # noqa: BLE001
            pass
    return 0


def _stop_on_signals(process, heartbeat: Heartbeat, crawler) -> threading.Event:
    """SIGINT or SIGTERM: stop as Scrapy does, within :data:`STOP_GRACE` s, the requests queued in
    the downloader dropped first (what is in flight or dropped is pending in Redis: the other
    workers claim it once this one's alive key is gone). The event is set once a signal came."""
    from crawler.run import stop_on_signals

    signalled = threading.Event()

    def hard_stop() -> None:
        heartbeat.stop()
        os._exit(EXIT_INTERRUPTED)

    class Leaving:
        @staticmethod
        def stop():
            signalled.set()
            downloader = getattr(crawler.engine, "downloader", None)
            if hasattr(downloader, "drop_queued"):
                downloader.drop_queued()
            return process.stop()

    stop_on_signals(Leaving, hard_stop, "the worker")
    return signalled


def _die_with_parent() -> None:
    """Started by a coordinator (``--token``): SIGTERM when it dies (Linux ``PR_SET_PDEATHSIG``)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # it died before we asked: adopted by init
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", default=os.environ.get(cluster.REDIS_URL_ENV), required=not os.environ.get(
        cluster.REDIS_URL_ENV), help=f"the Redis of the crawl (redis://host:port/db, unix:///path; default ${cluster.REDIS_URL_ENV})")
    parser.add_argument("--token", help="join this crawl only (the coordinator's own workers)")
    parser.add_argument("--verbose", type=int, default=0, help="1: the crawl's log at INFO, 2: DEBUG")
    args = parser.parse_args(argv)
    if args.token and sys.platform.startswith("linux"):
        _die_with_parent()
    return run_worker(args.redis, args.verbose, args.token)


if __name__ == "__main__":
    sys.exit(main())
