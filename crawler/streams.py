"""What a worker of a cluster crawl sends to Redis: requests, items and acknowledgements, per page
in one atomic step.

A response (or a download error) is done when the requests its callback (errback) made are in the
``requests`` stream, the items it made in the ``items`` stream, and its own request entry is
acknowledged (``XACK``, then ``XDEL``: an acknowledged request is gone, so the stream holds only
what is still to do and Redis's memory does not grow with the crawl). :data:`FLUSH` does all
of that in one Lua step, so a worker killed at any moment leaves its request pending with
nothing sent, and the worker that claims it makes the same requests and items again.

The same step is the cluster's de-duplication: each new request's URL key is added to ``seen``
(:func:`crawler.cluster.digest`) and the request is pushed only if no one had added it (two
workers that found the same link at once: one request). So the spider decides on its local set
alone (no blocking round trip per link) and Redis has the last word, once per page. The shared
limits' counters move in the same step (:class:`crawler.extensions.ClusterLimits`): a page counts
for ``--max-pages`` and a trap's variants only when its request was the one pushed.

Scrapy 2.19 runs a callback's output through the spider middlewares (:class:`StreamSender`
wraps it) but an errback's straight to the scheduler and the item pipelines; the cluster's
spider (:class:`crawler.clustered.ClusteredSpider`) hands its errbacks' output to
:meth:`Sender.through` itself. Either way the output is taken whole, then its requests go
through the engine (scheduler, dupefilter, :class:`crawler.queues.StreamQueue`) into one batch
and that batch leaves in one step with the items and the acknowledgement.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from scrapy import Request

from crawler import cluster

logger = logging.getLogger(__name__)
_SENDERS: WeakKeyDictionary = WeakKeyDictionary()
_CLIENTS: dict = {}

CHUNK = 1000        # requests + items a response may make before a part of them is sent (a sitemap)
DIRECT_BATCH = 200  # requests pushed outside a response (start requests, a resume) sent together

# KEYS: requests, items, seen, limits, limits:depth, limits:max_pages
# ARGV: n steps, then per step (the output of one response, or a part of it):
#       ack id ("" = none), group, n requests, then per request: digest, gated (1/0), request bytes
#       ("" = a key decided without a request), trap template ("" = none), counted (1/0: a page
#       for --max-pages; both count when the key was new, or is not gated: a GET after a HEAD);
#       n items, then their bytes; n ops, then per op: code, field, value
#       (i: HINCRBY limits, n: HSETNX limits, x: HSET limits if larger, d / m: SADD to the cut sets)
# Several steps in one call are done in their order, all or none (several responses that ended
# while the step before was on its way: one round trip, see Sender.send_output_async).
# Returns: {pages, template, variants, its shape (h:, f:, y: or -1), template, variants, ...}
FLUSH = """
local out = {0}
local at = 2
for _ = 1, tonumber(ARGV[1]) do
  local ack, group = ARGV[at], ARGV[at + 1]
  local n = tonumber(ARGV[at + 2])
  at = at + 3
  for _ = 1, n do
    local digest, gated, data, tpl, counted = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4]
    at = at + 5
    local added = redis.call('SADD', KEYS[3], digest)
    if added == 1 or gated == '0' then
      if data ~= '' then redis.call('XADD', KEYS[1], '*', 'r', data) end
      if tpl ~= '' then
        table.insert(out, tpl)
        table.insert(out, redis.call('HINCRBY', KEYS[4], 'v:' .. tpl, 1))
        local shape = redis.call('HMGET', KEYS[4], 'h:' .. tpl, 'f:' .. tpl, 'y:' .. tpl)
        for i = 1, 3 do table.insert(out, shape[i] or '-1') end
      end
      if counted == '1' then redis.call('HINCRBY', KEYS[4], 'pages', 1) end
    end
  end
  local items = tonumber(ARGV[at])
  at = at + 1
  for _ = 1, items do
    redis.call('XADD', KEYS[2], '*', 'i', ARGV[at])
    at = at + 1
  end
  local ops = tonumber(ARGV[at])
  at = at + 1
  for _ = 1, ops do
    local code, field, value = ARGV[at], ARGV[at + 1], ARGV[at + 2]
    at = at + 3
    if code == 'i' then redis.call('HINCRBY', KEYS[4], field, tonumber(value))
    elseif code == 'n' then redis.call('HSETNX', KEYS[4], field, value)
    elseif code == 'x' then
      if tonumber(value) > tonumber(redis.call('HGET', KEYS[4], field) or '-1') then
        redis.call('HSET', KEYS[4], field, value)
      end
    elseif code == 'd' then redis.call('SADD', KEYS[5], value)
    elseif code == 'm' then redis.call('SADD', KEYS[6], value)
    end
  end
  if ack ~= '' then
    redis.call('XACK', KEYS[1], group, ack)
    redis.call('XDEL', KEYS[1], ack)
  end
end
out[1] = tonumber(redis.call('HGET', KEYS[4], 'pages') or '0')
return out
"""


def client_of(settings):
    """The process's Redis client for the crawl's ``FUNNEL_REDIS_URL`` (one connection pool)."""
    url = settings.get("FUNNEL_REDIS_URL")
    if url not in _CLIENTS:
        _CLIENTS[url] = cluster.connect(url)
    return _CLIENTS[url]


class Sender:
    """One worker's way into the crawl's streams (one per crawler: :meth:`of`)."""

    def __init__(self, client, token: str, crawler=None):
        self.client, self.token, self.crawler = client, token, crawler
        self.keys = [cluster.key(token, n) for n in ("requests", "items", "seen", "limits",
                                                     "limits:depth", "limits:max_pages")]
        self.script = client.register_script(FLUSH)
        self.aclient = self.ascript = None   # redis.asyncio, for the steps awaited (made on first use)
        self.batch: list | None = None   # requests collected for the response being sent
        self.direct: list = []           # requests pushed outside any response, not sent yet
        self.limits = None               # the crawl's ClusterLimits, once it exists
        self.sent = 0                    # steps sent (a measure: round trips per page)
        self.flushing = False            # an awaited step is on its way (send_output_async)
        self.waiting: list = []          # steps that wait for it: (argv, future)

    @classmethod
    def of(cls, crawler) -> "Sender":
        sender = _SENDERS.get(crawler)
        if sender is None:
            sender = _SENDERS[crawler] = cls(client_of(crawler.settings),
                                             crawler.settings.get("FUNNEL_CLUSTER_TOKEN"), crawler)
        return sender

    # -- what the queue hands over -------------------------------------------------------
    def push(self, entry: tuple, ack: str | None = None) -> None:
        """One encoded request ``(digest, gated, data, key)`` from the queue: into the batch of
        the response being sent; a request re-scheduled by a downloader middleware (a redirect,
        a retry: ``ack`` is the entry it came from) at once, with that entry's acknowledgement;
        else (start requests, a resume) in a batch of :data:`DIRECT_BATCH`."""
        if self.batch is not None:
            self.batch.append(entry)
        elif ack is not None:
            self.send([entry], [], ack)
        else:
            self.direct.append(entry)
            if len(self.direct) >= DIRECT_BATCH:
                self.flush_direct()

    def flush_direct(self) -> None:
        if self.direct:
            entries, self.direct = self.direct, []
            self.send(entries, [], None)

    # -- what a response made ------------------------------------------------------------------
    def through(self, request, output):
        """Take a callback's (errback's) ``output`` whole and send it, acknowledging ``request``'s
        entry; a generator that yields nothing (what it made is in Redis when it ends)."""
        meta = request.meta if request is not None else {}
        if meta.get("stream_sent"):  # an errback called by a spider middleware: sent by the spider already
            yield from output
            return
        meta["stream_sent"] = True
        ack = meta.get("stream_id")
        requests, items = [], []
        try:
            for x in output:
                if isinstance(x, Request):
                    requests.append(x)
                elif x is not None:
                    items.append(x)
                if len(requests) + len(items) >= CHUNK:  # a long sitemap: sent in parts, acknowledged with the last
                    self.send_output(requests, items, None)
                    requests, items = [], []
        except Exception:
            # the callback failed: what it made is sent, and its request done (one process loses the
            # rest of that output too, and logs the error as this one does)
            self.send_output(requests, items, ack)
            raise
        self.send_output(requests, items, ack)
        return
        yield  # (a generator)

    async def through_async(self, request, output):
        """:meth:`through` for an asynchronous output (the spider middlewares' usual one in Scrapy
        2.19): the step is awaited, so the worker goes on with other responses meanwhile."""
        meta = request.meta if request is not None else {}
        if meta.get("stream_sent"):
            async for x in output:
                yield x
            return
        meta["stream_sent"] = True
        ack = meta.get("stream_id")
        requests, items = [], []
        try:
            async for x in output:
                if isinstance(x, Request):
                    requests.append(x)
                elif x is not None:
                    items.append(x)
                if len(requests) + len(items) >= CHUNK:
                    await self.send_output_async(requests, items, None)
                    requests, items = [], []
        except Exception:
            await self.send_output_async(requests, items, ack)
            raise
        await self.send_output_async(requests, items, ack)

    def send_output(self, requests: list, items: list, ack: str | None) -> None:
        """Schedule ``requests`` (Scrapy's scheduler, the dupefilter, the queue: into a batch), then
        send the batch, the items and the acknowledgement in one step."""
        argv = self._output(requests, items, ack)
        if argv is not None:
            self._sent(self.script(keys=self.keys, args=argv))

    async def send_output_async(self, requests: list, items: list, ack: str | None) -> None:
        """:meth:`send_output`, the step awaited on the reactor's asyncio loop. While a step is on
        its way, the steps of the responses that end meanwhile wait and then leave together, in
        one call (a round trip and a script run for several pages; each still all or nothing, in
        order)."""
        argv = self._output(requests, items, ack)
        if argv is None:
            return
        if self.ascript is None:
            import redis.asyncio

            self.aclient = redis.asyncio.Redis.from_url(self.crawler.settings.get("FUNNEL_REDIS_URL"),
                                                        socket_connect_timeout=5)
            self.ascript = self.aclient.register_script(FLUSH)
        if self.flushing:
            import asyncio

            done = asyncio.get_running_loop().create_future()
            self.waiting.append((argv, done))
            if await done:
                return
            # (the step on its way failed before this one left: it is sent on its own, as any other)
            self._sent(await self.ascript(keys=self.keys, args=argv))
            return
        self.flushing = True
        try:
            self._sent(await self.ascript(keys=self.keys, args=argv))
            while self.waiting:
                steps, self.waiting = self.waiting, []
                args = [len(steps)]
                for step, _ in steps:
                    args += step[1:]
                try:
                    self._sent(await self.ascript(keys=self.keys, args=args))
                except Exception as exc:  # noqa: BLE001 - theirs: each waiting response gets it (this one's was sent)
                    for _, done in steps:
                        if not done.done():  # (a response whose task was cancelled meanwhile)
                            done.set_exception(exc)
                    break
                except BaseException:
                    for _, done in steps:
                        done.cancel()
                    raise
                for _, done in steps:
                    if not done.done():
                        done.set_result(True)
        finally:
            self.flushing = False
            if self.waiting:  # (the step in hand failed: the waiting ones were not sent, each goes alone)
                steps, self.waiting = self.waiting, []
                for _, done in steps:
                    if not done.done():
                        done.set_result(False)

    def _output(self, requests: list, items: list, ack: str | None) -> list | None:
        engine = getattr(self.crawler, "engine", None) if self.crawler is not None else None
        if requests and (engine is None or engine.spider is None):
            # the spider is closed (a stopped worker): nothing is sent, the request stays pending and
            # another worker makes the same requests and items again
            logger.info("not sending the output of %s: the spider is closed", ack)
            return None
        with self.collecting() as batch:
            for r in requests:
                engine.crawl(r)
        if not (batch or items or ack):
            return None
        return self._argv(batch, [cluster.encode_item(i) for i in items], ack,
                          [i["page"]["url"] for i in items if isinstance(i, dict) and "page" in i])

    def send_items(self, items: list) -> None:
        """Items made outside any response (by the start requests)."""
        self.send([], [cluster.encode_item(i) for i in items], None,
                  keys=[i["page"]["url"] for i in items if isinstance(i, dict) and "page" in i])

    @contextmanager
    def collecting(self):
        outer, self.batch = self.batch, []
        try:
            yield self.batch
        finally:
            self.batch = outer

    def send(self, entries: list, items: list, ack: str | None, keys: list[str] = ()) -> None:
        """One step (:data:`FLUSH`): ``entries`` from :meth:`push`, encoded ``items`` (whose page
        ``keys`` are decided too: an excluded URL's item makes no request), ``ack`` the entry done."""
        self._sent(self.script(keys=self.keys, args=self._argv(entries, items, ack, keys)))

    def _argv(self, entries: list, items: list, ack: str | None, keys) -> list:
        limits = self.limits
        argv = [ack or "", cluster.WORKERS_GROUP]
        gate = []
        listed = set()
        for digest, gated, data, key in entries:
            tpl, counted = limits.take(key) if limits is not None and key else ("", False)
            gate += [digest, "1" if gated else "0", data, tpl or "", "1" if counted else "0"]
            listed.add(digest)
        for key in keys:
            digest = cluster.digest(key)
            if digest not in listed:
                tpl, counted = limits.take(key) if limits is not None else ("", False)
                gate += [digest, "0", b"", tpl or "", "1" if counted else "0"]  # (no request: nothing pushed)
                listed.add(digest)
        ops = limits.ops() if limits is not None else []
        return [1, *argv, len(gate) // 5, *gate, len(items), *items, len(ops) // 3, *ops]

    def _sent(self, out) -> None:
        self.sent += 1
        if self.limits is not None:
            self.limits.update(out)


class StreamSender:
    """The spider middleware of a cluster crawl: a callback's output goes to Redis (see the module).
    Installed first (closest to the engine) so every other spider middleware has seen it."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.sender = Sender.of(crawler)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_spider_output(self, response, result, spider=None):
        return self.sender.through(response.request, result)

    async def process_spider_output_async(self, response, result, spider=None):
        async for x in self.sender.through_async(response.request, result):
            yield x
