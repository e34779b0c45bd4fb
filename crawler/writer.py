"""The one writer of a cluster crawl: what the workers found, from Redis into the SQLite store.

``python -m crawler.writer --redis URL --token T --db PATH`` reads the ``items`` stream of the
crawl ``T`` (:mod:`crawler.cluster`) in its consumer group ``writer`` and writes each item as the
one-process crawl's :class:`crawler.pipelines.StorePipeline` does (:meth:`Store.write_page`: the
page, its links, the URLs it queued, the crawl's state, a sitemap's parts, the external-link
cache), many items per transaction, then acknowledges and deletes them. An item stays pending
in Redis until the store has it: a writer killed between its commit and its XACK reads its
pending items again when it starts, and skips those whose page the store already holds (the
page row and its frontier place as ``done`` are written together, so a stored page is a done
one); an item that rereads a page stored before (``--render``: the page rendered) replaces it,
replayed or not (the workers send it after the page's first reading, in the stream's order). It ends when the crawl's ``status`` is ``done`` (or ``stopped``) and the stream holds
nothing more for it; Ctrl-C ends it once what is in the stream is stored (twice: at once), and
SIGTERM after the batch in hand.

A store that takes no more writes (a full disk) is the crawl's failure, as in one process: the
crawl row is marked failed with the ``cannot write the crawl store …`` line, ``status`` becomes
``stopped`` so every worker closes, and the writer exits with
:data:`crawler.run.STORE_FAILED_EXIT` (that line the last of its stderr).
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import time

from crawler import cluster
from crawler.store import Store, StoreError, mark_crawl_failed, write_error, write_failure

logger = logging.getLogger(__name__)

CONSUMER = "writer"      # the one consumer of the writer group: a restarted writer reads its own pending items
BATCH = 100              # items per read and per transaction (a few MB at most held at once)
BLOCK_MS = 200           # how long one read waits for items
GATHER = 0.05            # seconds the writer lets items gather after a read that found fewer than BATCH
                         # (else it reads one or two at a time: a read, a commit and an acknowledgement each)
QUIET_CHECKS = 2         # rounds with nothing left (and the crawl over) before the writer ends
QUIET_BLOCK_MS = 20      # how long the reads after the first such round wait (the crawl is over: nothing comes)
LOST_REDIS_AFTER = 5.0   # seconds of failed Redis calls before the writer gives up


def ensure_group(client, stream: str, group: str) -> None:
    """Create consumer group ``group`` of ``stream`` (and the stream) if it is not there yet."""
    import redis

    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.exceptions.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _id(value) -> tuple[int, int]:
    """A stream entry id as a comparable pair.

    >>> _id(b"1700000000000-3") > _id("1700000000000-2"), _id("0-0")
    (True, (0, 0))
    """
    text = value.decode() if isinstance(value, bytes) else str(value)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def backlog(client, stream: str, group: str) -> tuple[int, int]:
    """``(undelivered, pending)`` of ``group`` on ``stream``: entries no consumer of the group has
    read yet (1 standing for "some" when Redis cannot count them), and entries read and not
    acknowledged. A stream or group that does not exist has neither."""
    import redis

    try:
        with client.pipeline(transaction=False) as pipe:
            pipe.xinfo_groups(stream)
            pipe.xinfo_stream(stream)
            groups, info = pipe.execute()
    except redis.exceptions.ResponseError:  # no such key: nothing was ever sent
        return 0, 0
    for g in groups:
        if _text(g.get("name")) == group:
            lag = g.get("lag")
            if lag is None:  # (entries deleted behind the group: compare the ids instead)
                lag = 1 if _id(info["last-generated-id"]) > _id(g["last-delivered-id"]) else 0
            return int(lag), int(g.get("pending") or 0)
    return (1 if int(info.get("length") or 0) or _id(info["last-generated-id"]) > (0, 0) else 0), 0


class Writer:
    """Reads the ``items`` stream of crawl ``token`` and writes it into the store at ``db_path``."""

    def __init__(self, client, token: str, db_path: str, crawl_id: int, batch: int = BATCH,
                 block_ms: int = BLOCK_MS):
        self.client, self.token, self.db_path, self.crawl_id = client, token, db_path, crawl_id
        self.batch, self.block_ms = batch, block_ms
        self.stream = cluster.key(token, "items")
        self.status_key = cluster.key(token, "status")
        self.state_seq = 0          # the newest crawl state written (StorePipeline's rule)
        self.failure: str | None = None
        self.stopping = False      # SIGTERM: end after the batch in hand
        self.draining = False      # SIGINT (Ctrl-C): store what is there, then end
        self.written = self.skipped = 0
        self.done_ids: list = []   # entries stored and committed, acknowledged with the next read

    # -- one item ---------------------------------------------------------------------------
    def write_item(self, store: Store, item: dict) -> bool:
        """Write one item as StorePipeline does (:meth:`crawler.store.Store.write_item`); False
        when its page is stored already (a replayed item: its links, frontier and state are in
        the store with it). An item that ``rereads`` its page (``--render``: a sample rendered, a
        page rendered once its template's samples differed, each stored as served before) is
        written all the same: it replaces the page and its links, as in one process, and writing
        it twice (replayed) writes the same rows (:meth:`crawler.store.Store.write_item`)."""
        if not item.get("rereads") and store.page(self.crawl_id, item["page"]["url"]) is not None:
            return False  # (a sitemap's parts too: its page row is written with its last part)
        self.state_seq = store.write_item(self.crawl_id, item, self.state_seq)
        return True

    def write_entries(self, store: Store, entries: list) -> None:
        """Write a read's entries in one transaction; once it is committed they are to be
        acknowledged and deleted (with the next read: :meth:`read`, or :meth:`acknowledge`).
        Raises what the store raised (nothing acknowledged)."""
        with store.batch():
            for _, fields in entries:
                if not fields:  # (an entry deleted after it was read: nothing to write)
                    continue
                data = fields.get(b"i", fields.get("i"))
                if self.write_item(store, cluster.decode_item(data)):
                    self.written += 1
                else:
                    self.skipped += 1
        self.done_ids.extend(entry_id for entry_id, _ in entries)

    def _ack(self, pipe) -> None:
        if self.done_ids:
            pipe.xack(self.stream, cluster.WRITER_GROUP, *self.done_ids)
            pipe.xdel(self.stream, *self.done_ids)

    def acknowledge(self) -> None:
        """Acknowledge and delete the entries stored since the last read."""
        if self.done_ids:
            with self.client.pipeline(transaction=True) as pipe:
                self._ack(pipe)
                pipe.execute()
            self.done_ids = []

    # -- the loop ---------------------------------------------------------------------------
    def read(self, start: str | None, block_ms: int | None = None) -> list:
        """Entries: this consumer's pending ones after ``start`` (a restarted writer), or new ones
        (waiting up to ``block_ms``, default :attr:`block_ms`, for them). The entries stored since
        the last read are acknowledged in the same round trip, first."""
        streams = {self.stream: start if start is not None else ">"}
        block = None if start is not None else (block_ms or self.block_ms)
        if not self.done_ids:
            reply = self.client.xreadgroup(cluster.WRITER_GROUP, CONSUMER, streams, count=self.batch, block=block)
        else:
            with self.client.pipeline(transaction=False) as pipe:
                self._ack(pipe)
                pipe.xreadgroup(cluster.WRITER_GROUP, CONSUMER, streams, count=self.batch, block=block)
                reply = pipe.execute()[-1]
            self.done_ids = []
        return reply[0][1] if reply else []

    def over(self) -> bool:
        """The crawl is done (or stopped) and the stream holds nothing more for the writer."""
        over = self.draining or self.client.get(self.status_key) in (b"done", b"stopped")
        return over and backlog(self.client, self.stream, cluster.WRITER_GROUP) == (0, 0)

    def run(self) -> int:
        """Write until the crawl is over; the exit code (0, or STORE_FAILED_EXIT)."""
        import redis

        from crawler.pipelines import reserve
        from crawler.run import STORE_FAILED_EXIT

        ensure_group(self.client, self.stream, cluster.WRITER_GROUP)
        room = reserve(self.db_path)  # the room to mark the crawl failed should the disk fill up
        pending, quiet, lost_since = "0", 0, None
        try:
            with Store(self.db_path) as store:
                while not self.stopping:
                    try:
                        entries = self.read(pending, QUIET_BLOCK_MS if quiet else None)
                        lost_since = None
                        if pending is not None:  # a restarted writer: its own pending entries first
                            if not entries:
                                pending = None
                                continue
                            pending = entries[-1][0]
                        if entries:
                            quiet = 0
                            self.write_entries(store, entries)
                            if len(entries) < self.batch and pending is None and not (self.draining or self.stopping):
                                time.sleep(GATHER)
                            continue
                        quiet = quiet + 1 if self.over() else 0
                        if quiet >= QUIET_CHECKS:
                            break
                    except redis.exceptions.ConnectionError as exc:
                        lost_since = lost_since or time.monotonic()
                        if self.draining or time.monotonic() - lost_since > LOST_REDIS_AFTER:  # (Ctrl-C: at once)
                            print(f"funnelcheck writer: lost Redis: {exc}", file=sys.stderr)
                            return 1
                        time.sleep(0.2)
                with contextlib.suppress(redis.exceptions.RedisError):  # (else: replayed, and skipped, by the next writer)
                    self.acknowledge()
        except Exception as exc:
            if not (isinstance(exc, StoreError) or write_failure(exc)):
                raise
            self.failure = str(exc) if isinstance(exc, StoreError) else write_error(self.db_path, exc)
        finally:
            if room is not None and self.failure is None:
                room.close()
        logger.info("writer: %d items written, %d already stored", self.written, self.skipped)
        if self.failure is None:
            return 0
        logger.error("%s: stopping the crawl", self.failure)
        with contextlib.suppress(redis.exceptions.RedisError):
            self.client.set(self.status_key, "stopped")  # every worker closes
        if room is not None:
            room.close()  # the room to say so
        mark_crawl_failed(self.db_path, self.crawl_id, self.failure)
        print(self.failure, file=sys.stderr)  # the last line of the writer's stderr: the coordinator reports it
        return STORE_FAILED_EXIT


def crawl_id_of(client, token: str) -> int:
    """The store's id of crawl ``token``: its announcement says it (else the token's first part)."""
    data = client.hget(cluster.ANNOUNCED, token)
    if data:
        return int(cluster.decode(data)["crawl"]["id"])
    return int(token.split("-", 1)[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.writer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", default=os.environ.get(cluster.REDIS_URL_ENV), required=not os.environ.get(
        cluster.REDIS_URL_ENV), help=f"the Redis of the crawl (redis://… or unix://…; default ${cluster.REDIS_URL_ENV})")
    parser.add_argument("--token", required=True, help="the crawl's token (crawler.cluster.new_token)")
    parser.add_argument("--db", required=True, help="the crawl store")
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
                        format="%(asctime)s writer %(levelname)s %(message)s")
    import redis

    try:
        client = cluster.connect(args.redis)
        crawl_id = crawl_id_of(client, args.token)
    except (redis.exceptions.RedisError, ValueError) as exc:
        from crawler.urls import redact_credentials

        print(f"funnelcheck writer: cannot join crawl {args.token} at {redact_credentials(args.redis)}: {exc}",
              file=sys.stderr)
        return 2
    writer = Writer(client, args.token, args.db, crawl_id)

    def stop(signum, frame):  # SIGTERM (the coordinator's death): end after the batch in hand
        writer.stopping = True

    def drain(signum, frame):  # Ctrl-C (the coordinator's too): what the workers sent is stored first
        writer.stopping = writer.draining
        writer.draining = True

    parent = os.getppid()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, drain)
    code = writer.run()
    if writer.stopping and os.getppid() != parent:  # the coordinator died (SIGTERM from PR_SET_PDEATHSIG)
        with contextlib.suppress(redis.exceptions.RedisError):  # its workers leave now, not when the status expires
            if client.get(writer.status_key) == b"running":
                client.set(writer.status_key, cluster.ABANDONED, px=int(cluster.HEARTBEAT_TTL * 1000))
    return code


if __name__ == "__main__":
    sys.exit(main())
