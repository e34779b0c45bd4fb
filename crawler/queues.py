"""The scheduler's queue: Scrapy's per-host priority queue, with file names any host fits in.

Pending requests wait on disk (``JOBDIR``, see :mod:`crawler.run`), one folder per download
slot; Scrapy names the folder after the host in full, and a host name may be 253 characters,
more than a file name can hold (``OSError: File name too long`` lost that host's requests).
"""
from __future__ import annotations

import hashlib
import logging
import marshal
import zlib
from collections import deque
from time import monotonic

from scrapy import Request, squeues
from scrapy.pqueues import DownloaderAwarePriorityQueue, ScrapyPriorityQueue
from scrapy.utils.request import request_from_dict

logger = logging.getLogger(__name__)


def folder_name(slot: str) -> str:
    """A file-system-safe, bounded, unique folder name for a download slot.

    >>> folder_name("a.example"), len(folder_name("d" * 253))
    ('a.example-b8e7453371a0', 73)
    """
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in slot)[:60]
    return f"{safe}-{hashlib.sha256(slot.encode('utf-8')).hexdigest()[:12]}"


class HostPriorityQueue(DownloaderAwarePriorityQueue):
    def pqfactory(self, slot: str, startprios=()) -> ScrapyPriorityQueue:
        return ScrapyPriorityQueue(self.crawler, self.downstream_queue_cls, self.key + "/" + folder_name(slot),
                                   startprios, start_queue_cls=self._start_queue_cls)


def method_name(func, spider) -> str | None:
    """``func``'s name if it is a method of ``spider`` under that name, else None.

    >>> class S:
    ...     def parse(self): pass
    >>> s = S(); method_name(s.parse, s), method_name(print, s), method_name(None, s)
    ('parse', None, None)
    """
    name = getattr(func, "__name__", None)
    if name and getattr(func, "__self__", None) is spider and \
            getattr(getattr(spider, name, None), "__func__", None) is getattr(func, "__func__", 0):
        return name
    return None


def request_dict(request, spider) -> dict | None:
    """``request.to_dict(spider=spider)``, the names of its callback and errback found directly:
    Scrapy looks for them with ``inspect.getmembers`` of the whole spider (every attribute, its
    ``logger`` property built each time), twice a request: ~2% of a crawl process's CPU, ~4% of
    a worker's. None when a callback is not a method of the spider (then ``to_dict`` says why).

    >>> import scrapy
    >>> class S(scrapy.Spider):
    ...     name = "s"
    ...     def parse(self, response): pass
    ...     def on_error(self, failure): pass
    >>> s = S(); r = scrapy.Request("https://a.example/", callback=s.parse, errback=s.on_error)
    >>> request_dict(r, s) == r.to_dict(spider=s), r.callback == s.parse
    (True, True)
    """
    callback, errback = request.callback, request.errback
    names = (method_name(callback, spider), method_name(errback, spider))
    if (callable(callback) and names[0] is None) or (callable(errback) and names[1] is None):
        return None
    request.callback = request.errback = None
    try:
        d = request.to_dict(spider=spider)
    finally:
        request.callback, request.errback = callback, errback
    if names[0] is not None:
        d["callback"] = names[0]
    if names[1] is not None:
        d["errback"] = names[1]
    return d


class PickleFifoDiskQueue(squeues.PickleFifoDiskQueue):
    """Scrapy's pickled disk queue of one crawl process (``JOBDIR``), each request pickled as the
    same dict, its callback's name found directly (:func:`request_dict`)."""

    def push(self, request) -> None:
        d = request_dict(request, self.spider)
        if d is None:
            d = request.to_dict(spider=self.spider)
        super(squeues.PickleFifoDiskQueue, self).push(d)  # (the pickling queue under Scrapy's own push)


_COMPACT = b"Z1"   # the first bytes of a compact request (scrapy-redis's pickles start with b"\x80")
#: zlib's preset dictionary for compact requests: the names and values every funnelcheck request
#: repeats (a change here is a new ``_COMPACT`` version: requests in Redis must still decode).
_ZDICT = (b"http://https://www./index.html/blog/posts/products/sitemap.xmlrobots.txt"
          b"\xfa\x08callback\xfa\x05parse\xfa\x07errback\xfa\x08on_error\xfa\x07headers"
          b"{\xf3\x07Referer[\xf3\xfa\x04meta{\xfa\x04role\xfa\x04page\xfa\x05depth"
          b"\xfa\x07claimed\xfa\rdont_redirectT\xfa\x15handle_httpstatus_allT\xfa\x12rate_limit_retries"
          b"\xfa\x13dont_obey_robotstxtT\xfa\x06public\xfa\x03key\xfa\x07listed\xfa\x04fetch"
          b"\xfa\x01=[\xfa\x06public\xfa\x03key\xfa\x07claimed0")


#: what ``Request(url).to_dict()`` holds besides the URL: the fields a compact request leaves out
_DEFAULTS = {k: v for k, v in Request("http://x/").to_dict().items() if k != "url"}


def compact(d: dict) -> bytes:
    """A request's ``to_dict()`` in ~105 bytes instead of scrapy-redis's ~525 (a pickle of every
    field; measured on the bench site's requests): the fields left at their defaults are left
    out, meta values that repeat the URL are named instead, and the rest is marshalled and deflated with a preset dictionary. A crawl's
    frontier waits in Redis's memory: a million requests are ~200 MB this way, ~600 as pickles.

    >>> d = {"url": "https://a.example/blog/", "callback": "parse", "errback": None, "headers": {},
    ...      "body": b"", "cookies": {}, "meta": {"key": "https://a.example/blog/", "depth": 2},
    ...      "encoding": "utf-8", "priority": 0, "dont_filter": False, "flags": [], "cb_kwargs": {},
    ...      "method": "GET"}
    >>> uncompact(compact(d)) == d, len(compact(d))
    (True, 57)
    """
    url = d["url"]
    out = {k: v for k, v in d.items() if k != "url" and (k not in _DEFAULTS or _DEFAULTS[k] != v)}
    meta = out.get("meta")
    if meta:
        out["="] = [k for k, v in meta.items() if v == url]
        if out["="]:
            out["meta"] = {k: (None if v == url else v) for k, v in meta.items()}
        else:
            del out["="]
    z = zlib.compressobj(6, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, _ZDICT)
    return _COMPACT + z.compress(marshal.dumps((url, out))) + z.flush()


def uncompact(data: bytes) -> dict:
    """The ``to_dict()`` that :func:`compact` encoded."""
    z = zlib.decompressobj(-15, _ZDICT)
    url, out = marshal.loads(z.decompress(data[len(_COMPACT):]) + z.flush())
    d = {**_DEFAULTS, **out, "url": url}
    same = d.pop("=", ())
    if same:
        d["meta"] = {k: (url if k in same else v) for k, v in d["meta"].items()}
    return d


class StreamQueue:
    """scrapy-redis's queue (``SCHEDULER_QUEUE_CLASS``) of a cluster crawl, on a Redis stream.

    ``push`` encodes a request (:func:`compact`, or scrapy-redis's serializer for a request it
    cannot write) and hands it to
    the worker's :class:`crawler.streams.Sender`, which adds it to ``requests`` (``XADD``) with the
    page that made it, in one step. ``pop`` reads the group ``workers`` as this worker
    (``XREADGROUP``, a few entries at a time kept in a small local buffer); an entry stays pending
    until the items its response made are sent (:mod:`crawler.streams`), and the pending entries
    of a worker whose ``alive:<id>`` key expired are claimed (``XCLAIM``) by the next worker that
    runs short of work. The entry id travels in ``request.meta["stream_id"]``.

    One stream, first in first out: breadth-first, as one process crawls (request priorities are
    not kept across workers: a robots.txt or a sitemap waits its turn like a page).

    Backpressure: while the crawl's ``items`` stream holds ``FUNNEL_MAX_UNWRITTEN`` entries or more
    (pages sent and not stored yet: the writer is behind, or gone), no new request is read; the
    worker finishes what it holds and waits for the writer. Redis's memory stays bounded, and a
    writer killed loses (to the next resume) at most that many pages, not all the workers made
    until the crawl was stopped.
    """

    BATCH = 32            # entries read at once (a worker holds at most this many it has not started)
    RECLAIM_EVERY = 1.0   # seconds between looks for dead workers' pending entries
    RECLAIM_IDLE = 1000   # ms an entry must have been idle to be claimed (two claimers: one wins)
    EMPTY_PAUSE = 0.02    # seconds an empty read is trusted before Redis is asked again
    MAX_DELIVERIES = 5    # a request whose workers all died with it is given up after this many
    UNWRITTEN_CHECK = 0.05   # seconds between looks at the items stream while the writer is behind

    def __init__(self, server, spider, key, serializer=None):
        from scrapy_redis.queue import Base

        from crawler import cluster
        from crawler.dupefilter import dupefilter_of
        from crawler.streams import Sender

        self._codec = Base(server, spider, key, serializer)  # scrapy-redis's encoding of a request
        self.server, self.spider, self.key = server, spider, self._codec.key
        settings = spider.crawler.settings
        self.token = settings.get("FUNNEL_CLUSTER_TOKEN")
        self.consumer = settings.get("FUNNEL_WORKER_ID")
        self.group = cluster.WORKERS_GROUP
        self.state_key = cluster.key(self.token, "state")
        self.alive_prefix = cluster.key(self.token, "alive:")
        self.sender = Sender.of(spider.crawler)
        self.dupefilter = dupefilter_of(spider.crawler)
        self.buffer: deque = deque()
        self.next_reclaim = 0.0
        self.empty_at = -1.0
        self.claimed = 0   # entries taken over from dead workers
        self.items_key = cluster.key(self.token, "items")
        self.max_unwritten = settings.getint("FUNNEL_MAX_UNWRITTEN", 0)   # 0: no bound
        self.unwritten = 0          # the items stream's length at the last look
        self.unwritten_at = 0.0
        self.held_back = False
        create_group(server, self.key, self.group)

    def __len__(self) -> int:
        """Requests this worker holds plus those no worker has read yet."""
        try:
            groups = self.server.xinfo_groups(self.key)
        except Exception:  # noqa: BLE001 - the stream is gone (the crawl is over)
            return len(self.buffer)
        lag = next((g.get("lag") for g in groups if _text(g["name"]) == self.group), 0)
        return len(self.buffer) + (lag if lag is not None else self.server.xlen(self.key))

    def push(self, request) -> None:
        ack = request.meta.pop("stream_id", None)   # a redirect or retry of a request in flight
        digest, gated = self.dupefilter.shared_key(request)
        if ack is not None:
            gated = False   # its key was decided with the request it continues
        data = self._encode(request)
        if ack is not None:
            request.meta["stream_id"] = ack
        self.sender.push((digest, gated, data, request.meta.get("key") if gated else None),
                         _text(ack) if ack is not None else None)

    def _encode(self, request) -> bytes:
        """scrapy-redis's encoding (``request.to_dict(spider)``, its serializer), with the names of
        the spider's methods found directly (:func:`request_dict`)."""
        d = request_dict(request, self.spider)
        if d is None:
            return self._codec._encode_request(request)
        try:
            return compact(d)
        except ValueError:  # a meta value marshal cannot write: scrapy-redis's pickle
            return self._codec.serializer.dumps(d)

    def _decode(self, data: bytes):
        if data.startswith(_COMPACT):
            return request_from_dict(uncompact(data), spider=self.spider)
        return self._codec._decode_request(data)

    def pop(self, timeout=0):
        if not self.buffer:
            self.sender.flush_direct()
            now = monotonic()
            if now - self.empty_at < self.EMPTY_PAUSE:
                return None
            if self.behind(now):
                return None
            if now >= self.next_reclaim:
                self.next_reclaim = now + self.RECLAIM_EVERY
                self.reclaim()
            if not self.buffer:
                self.read()
            if not self.buffer:
                self.empty_at = now
                return None
        entry_id, fields = self.buffer.popleft()
        request = self._decode(fields[b"r"])
        request.meta["stream_id"] = _text(entry_id)
        return request

    def behind(self, now: float) -> bool:
        """The writer has :attr:`max_unwritten` pages or more to store (the length of the items
        stream at the last read, looked at again every :data:`UNWRITTEN_CHECK` s while so)."""
        if not self.max_unwritten or self.unwritten < self.max_unwritten:
            return False
        if now - self.unwritten_at >= self.UNWRITTEN_CHECK:
            self.unwritten, self.unwritten_at = self.server.xlen(self.items_key), now
        behind = self.unwritten >= self.max_unwritten
        if behind != self.held_back:
            self.held_back = behind
            logger.info("the writer has %d pages to store: %s", self.unwritten,
                        "waiting for it" if behind else "reading requests again")
        return behind

    def read(self) -> None:
        """The next few entries no worker has read, and the spider's shared state if it changed
        (and the length of the items stream: :meth:`behind`)."""
        pipe = self.server.pipeline(transaction=False)
        pipe.xreadgroup(self.group, self.consumer, {self.key: ">"}, count=self.BATCH)
        pipe.hget(self.state_key, "seq")
        pipe.xlen(self.items_key)
        try:
            got, seq, self.unwritten = pipe.execute()
            self.unwritten_at = monotonic()
        except Exception as exc:  # noqa: BLE001 - the group is gone: the crawl is over
            if "NOGROUP" in str(exc):
                return
            raise
        refresh = getattr(self.spider, "shared_state_seen", None)
        if refresh is not None:
            refresh(int(seq or 0))
        for _stream, entries in got or ():
            self._keep(entries)

    def _keep(self, entries) -> None:
        for entry_id, fields in entries:
            if not fields or b"r" not in fields:  # deleted meanwhile: nothing to do
                self.server.xack(self.key, self.group, entry_id)
                continue
            self.buffer.append((entry_id, fields))

    def reclaim(self) -> int:
        """Claim the pending entries of workers that are gone (their ``alive:`` key expired, or
        they stopped): returns how many were taken over."""
        try:
            consumers = self.server.xinfo_consumers(self.key, self.group)
        except Exception:  # noqa: BLE001 - no group (the crawl is over)
            return 0
        others = [c for c in consumers if _text(c["name"]) != self.consumer]
        if not others:
            return 0
        pipe = self.server.pipeline(transaction=False)
        for c in others:
            pipe.exists(self.alive_prefix + _text(c["name"]))
        dead = [(_text(c["name"]), c) for c, alive in zip(others, pipe.execute()) if not alive]
        taken = 0
        for name, info in dead:
            if not info.get("pending"):
                self.server.xgroup_delconsumer(self.key, self.group, name)
                continue
            pending = self.server.xpending_range(self.key, self.group, "-", "+", 100, consumername=name)
            ids = [p["message_id"] for p in pending if p["times_delivered"] < self.MAX_DELIVERIES]
            for p in pending:
                if p["times_delivered"] >= self.MAX_DELIVERIES:  # it took every worker that tried it down
                    logger.error("gave up request %s: %d workers died with it", _text(p["message_id"]),
                                 p["times_delivered"])
                    self.server.xack(self.key, self.group, p["message_id"])
                    self.server.xdel(self.key, p["message_id"])
            if ids:
                claimed = self.server.xclaim(self.key, self.group, self.consumer, self.RECLAIM_IDLE, ids)
                self._keep(claimed)
                taken += len(claimed)
        if taken:
            self.claimed += taken
            logger.info("took over %d requests of workers that are gone", taken)
        return taken

    def clear(self) -> None:
        """(scrapy-redis's flush; a cluster crawl's requests are the coordinator's to delete)"""


def create_group(server, key: str, group: str) -> None:
    """Create the consumer group (and the stream) if it is not there yet; it reads from the
    stream's first entry, so what was added before it existed is read too."""
    try:
        server.xgroup_create(key, group, id="0", mkstream=True)
    except Exception as exc:  # noqa: BLE001 - redis.ResponseError BUSYGROUP: it exists
        if "BUSYGROUP" not in str(exc):
            raise


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value
