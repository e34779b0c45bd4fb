"""Politeness across the workers of one crawl: per-host download leases and Retry-After pauses
in Redis (the keys ``hosts:<host>`` and ``pause:<host>`` of :mod:`crawler.cluster`).

A worker's :class:`crawler.downloader.Downloader` takes a lease before a request of a host
leaves its queue and gives it back when the download ends. ``hosts:<host>`` is a sorted set
of the leases held (member -> expiry, Redis server time in ms): a take removes the expired
ones and adds leases only while fewer than ``CONCURRENT_REQUESTS_PER_DOMAIN`` are held, in one
Lua script, so all workers together never ask a host more than ``--concurrency`` things at
once. A lease expires ``DOWNLOAD_TIMEOUT`` + :data:`MARGIN` seconds after it was taken (no
download lasts longer); a worker killed mid-download frees its leases sooner, once its heartbeat
(``alive:<worker>``) has expired: the next take that finds the host full takes them back.

``pause:<host>`` holds the time (server ms) until which no worker asks the host, set with a
TTL from a 429/503 ``Retry-After``; a take answers "wait" while it lives. Times are Redis's
own (``TIME``), so workers on machines with different clocks agree.

robots.txt is fetched once per crawl, not once per worker: the first worker to need a host's
rules claims the fetch (``robots-claim:<site>``, SET NX with the lease's TTL, so a worker that
dies fetching leaves it to another), fetches it and shares what came back in the hash
``robots`` (field: ``scheme://host[:port]``; value: ``<status> <body>``, ``-`` when the host
gave no answer, ``+`` when it was too big to share); the others wait for it there and parse
the same text.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket

from crawler import cluster

logger = logging.getLogger(__name__)

MARGIN = 10.0   # seconds a lease outlives DOWNLOAD_TIMEOUT (the timeout covers the whole download)
ROBOTS_POLL = 0.05          # seconds between looks at the shared robots.txt while another worker fetches it
ROBOTS_MAX_SHARED = 2 << 20  # a robots.txt bigger than this is not shared: each worker fetches its own
UNREACHABLE = b"-"
TOO_BIG = b"+"              # shared instead of a robots.txt over ROBOTS_MAX_SHARED

WANTING = 1000   # ms a worker that asked for a host's leases counts as wanting them (its fair share)

# KEYS: hosts zset, pause key, wanting zset, workers hash. ARGV: limit, ttl ms, leases this worker
# holds, worker, the prefix of the workers' alive keys, n, n leases given back, members wanted...
# Returns {leases granted, ms to wait before asking again (0: unknown, a lease may end any time)}.
# Fair: a worker gets no more than its share (the limit over the workers that asked for the host
# in the last WANTING ms): one busy worker would otherwise take back every lease the moment it
# gave one back, and the others wait for ever.
# A host whose leases are all held: the leases of a worker that joined the crawl (``workers``)
# and whose heartbeat expired are taken back at once (a lease is ``<worker>:<n>``), rather than
# after their TTL (DOWNLOAD_TIMEOUT + MARGIN, 30 s by default, while the host waited).
_TAKE = """
local back = tonumber(ARGV[6])
for i = 1, back do redis.call('ZREM', KEYS[1], ARGV[6 + i]) end
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return {0, paused} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[3], now + %d, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('PEXPIRE', KEYS[3], %d)
local limit = tonumber(ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= limit then
  local dead = {}
  for _, lease in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local holder = string.match(lease, '^(.*):%%d+$')
    if holder and holder ~= ARGV[4] then
      if dead[holder] == nil then
        dead[holder] = redis.call('HEXISTS', KEYS[4], holder) == 1
                       and redis.call('EXISTS', ARGV[5] .. holder) == 0
      end
      if dead[holder] then redis.call('ZREM', KEYS[1], lease) end
    end
  end
end
local share = math.ceil(limit / redis.call('ZCARD', KEYS[3]))
local first = 7 + back
local n = math.min(limit - redis.call('ZCARD', KEYS[1]), #ARGV - first + 1, share - tonumber(ARGV[3]))
if n <= 0 then return {0, 0} end
local ttl = tonumber(ARGV[2])""" % (WANTING, WANTING) + """
for i = 0, n - 1 do redis.call('ZADD', KEYS[1], now + ttl, ARGV[first + i]) end
redis.call('PEXPIRE', KEYS[1], ttl)
return {n, 0}
"""

# KEYS: hosts zset, pause key. ARGV: pause ms (0 for none), leases given back...
# The pause is set before the leases go, in one step: no worker slips a request in between.
_RELEASE = """
local ms = tonumber(ARGV[1])
if ms > 0 and redis.call('PTTL', KEYS[2]) < ms then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[2], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + ms, 'PX', ms)
end
for i = 2, #ARGV do redis.call('ZREM', KEYS[1], ARGV[i]) end
return 0
"""


class HostLeases:
    """The leases and pauses of one crawl (``token``) in the Redis at ``client``.

    >>> from crawler.redisserver import RedisServer
    >>> with RedisServer() as server:
    ...     leases = HostLeases(cluster.connect(server.url), "7-ab", limit=1, timeout=20)
    ...     one, wait = leases.take("acme.example", 2)
    ...     two, _ = leases.take("acme.example", 1)
    ...     leases.release("acme.example", one)
    ...     len(one), two, leases.take("acme.example", 1)[0] != []
    (1, [], True)
    """

    def __init__(self, client, token: str, limit: int, timeout: float, worker: str | None = None):
        self.client, self.token, self.limit = client, token, max(1, int(limit))
        self.ttl_ms = int((float(timeout) + MARGIN) * 1000)
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self._ids = itertools.count()
        self._take = client.register_script(_TAKE)
        self._release = client.register_script(_RELEASE)

    @classmethod
    def from_settings(cls, settings) -> "HostLeases | None":
        """The crawl's leases when ``FUNNEL_REDIS_URL`` and ``FUNNEL_CLUSTER_TOKEN`` are set, else None."""
        url, token = settings.get("FUNNEL_REDIS_URL"), settings.get("FUNNEL_CLUSTER_TOKEN")
        if not (url and token):
            return None
        return cls(cluster.connect(url), token, settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"),
                   settings.getfloat("DOWNLOAD_TIMEOUT"), settings.get("FUNNEL_WORKER_ID"))

    def _keys(self, host: str) -> list[str]:
        return [cluster.key(self.token, f"hosts:{host}"), cluster.key(self.token, f"pause:{host}")]

    def take(self, host: str, wanted: int, back: list[str] | tuple = (), limit: int | None = None,
             mine: int = 0) -> tuple[list[str], float]:
        """Up to ``wanted`` leases of ``host`` (one Redis round trip, which also gives back the
        leases ``back``), with at most ``limit`` (default: the crawl's) held by all workers, and
        this worker's ``mine`` and the new ones within its fair share of them: the lease ids
        granted, and when none was, the seconds to wait before asking again (0.0 when unknown)."""
        members = [f"{self.worker}:{next(self._ids)}" for _ in range(wanted)]
        keys = [*self._keys(host), cluster.key(self.token, f"wanting:{host}"), cluster.key(self.token, "workers")]
        granted, wait_ms = self._take(keys=keys, args=[limit or self.limit, self.ttl_ms, mine, self.worker,
                                                       cluster.key(self.token, "alive:"), len(back), *back, *members])
        return members[:int(granted)], int(wait_ms) / 1000.0

    def release(self, host: str, leases: list[str] | tuple = (), pause: float = 0.0) -> None:
        """Give ``leases`` of ``host`` back; with ``pause`` (seconds), first stop every worker
        asking ``host`` for that long (a longer pause already set stays)."""
        self._release(keys=self._keys(host), args=[int(pause * 1000), *leases])

    def paused(self, host: str) -> float:
        """Seconds left of ``host``'s pause (0.0 when none)."""
        ms = self.client.pttl(self._keys(host)[1])
        return ms / 1000.0 if ms and ms > 0 else 0.0

    def held(self, host: str) -> int:
        """Leases of ``host`` held now by all workers (expired ones not counted)."""
        now_s, now_us = self.client.time()
        return self.client.zcount(self._keys(host)[0], now_s * 1000 + now_us // 1000 + 1, "+inf")

    # -- robots.txt, fetched once per crawl --------------------------------------------------

    async def robots(self, site: str) -> tuple[int, bytes] | bytes | None:
        """What ``site``'s (``scheme://host[:port]``) robots.txt answered another worker:
        ``(status, body)``, :data:`UNREACHABLE`, or None when this worker is to fetch it (it
        claimed it; then :meth:`share_robots` what came back). Waits, without blocking the
        reactor, while another worker fetches it."""
        shared, claim = cluster.key(self.token, "robots"), cluster.key(self.token, f"robots-claim:{site}")
        while True:
            data = self.client.hget(shared, site)
            if data is not None:
                if data == UNREACHABLE:
                    return UNREACHABLE
                if data == TOO_BIG:
                    return None
                status, _, body = data.partition(b" ")
                return int(status), body
            if self.client.set(claim, self.worker, nx=True, px=self.ttl_ms):
                return None
            holder = self.client.get(claim)
            if holder is not None and self.dead(holder.decode()):  # (killed fetching it: not its TTL's 30 s)
                self.client.delete(claim)
                continue
            await asyncio.sleep(ROBOTS_POLL)

    def dead(self, worker: str) -> bool:
        """``worker`` joined the crawl and its heartbeat has expired (killed, or cut off)."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hexists(cluster.key(self.token, "workers"), worker)
            pipe.exists(cluster.key(self.token, f"alive:{worker}"))
            joined, alive = pipe.execute()
        return bool(joined) and not alive

    def share_robots(self, site: str, status: int | None, body: bytes = b"") -> None:
        """Tell the other workers what ``site``'s robots.txt answered (``status`` None: no
        answer at all). One too big to share is left to each worker to fetch."""
        if status is None:
            value = UNREACHABLE
        elif len(body) > ROBOTS_MAX_SHARED:
            value = TOO_BIG
        else:
            value = b"%d %s" % (status, body)
        self.client.hset(cluster.key(self.token, "robots"), site, value)
