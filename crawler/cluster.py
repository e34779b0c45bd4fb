"""One crawl, many processes: what the coordinator, the workers and the writer share in Redis.

A crawl with ``--workers N`` (or ``--redis URL``) is announced in Redis by the coordinator (the
``funnelcheck audit`` process); workers (``funnelcheck worker --redis URL``, or the N local ones)
join it, fetch and parse through scrapy-redis's scheduler seams, and send what they found to one
writer, the only process that writes the SQLite store. Every key of a crawl lives under its
namespace ``funnelcheck:<token>``; this module is the one place that names them.

======================  =======  ============================================================
key (under the ns)      type     what it holds
======================  =======  ============================================================
``requests``            stream   requests to fetch (field ``r``: ``request.to_dict()`` as
                                 :func:`crawler.queues.compact` writes it); group ``workers``: a request is
                                 pending (in flight) until its worker sends the items it made;
                                 then it is acknowledged and deleted (``XDEL``: the stream holds
                                 only what is left to do, ``XLEN`` 0 = nothing waits; the
                                 group's ``lag`` may read nil while deletions trail a read)
``items``               stream   what workers found (field ``i``: :func:`encode` of one spider
                                 item); group ``writer``: pending until the store has it
``seen``                set      :func:`digest` of every URL key the crawl decided about
``frontier``            stream   a resumed crawl's frontier, from the store (field ``f``:
                                 ``[key, fetch, state]`` JSON), read by the starting worker
``starter``             string   the worker that runs the spider's start requests (SET NX)
``started``             string   ``1`` once the start requests were all scheduled
``status``              string   ``running`` (with a TTL of :data:`HEARTBEAT_TTL` the coordinator
                                 refreshes: a crawl whose coordinator died ends by itself),
                                 ``done`` (workers close), ``stopped``, ``abandoned``
                                 (the writer saw its coordinator die: workers leave; it
                                 expires as ``running`` would)
``state``               hash     the spider's shared state: ``origins`` (JSON), ``h:<handle>``,
                                 ``seed:<key>`` / ``seeds`` (targets not answered yet), ``seq``
``limits``              hash     shared counters of ``--max-pages``, ``--depth`` and traps
                                 (``pages``, ``v:``, ``h:``, ``f:``, ``y:``, ``t:``, ``e:``, ``c:``, ``k:<template>``)
``render``              hash     ``--render auto``'s plan (:class:`crawler.clustered.ClusterRenderPlan`):
                                 ``s:``, ``l:<template>`` its samples sent and compared, ``r:<template>``
                                 it renders, ``m:<template>`` pages read as served past the
                                 re-render bound, ``templates``, ``waited``
``render:wait:<tpl>``   list     pages of a template read as served while its samples were out
                                 (rendered once one of them differs)
``limits:depth``        set      digests of the keys ``--depth`` left out (and
``limits:max_pages``    set      ... ``--max-pages``): what the summary counts
``workers``             hash     worker id -> JSON ``{"host", "pid", "started"}``
``alive:<worker>``      string   set with a TTL of :data:`HEARTBEAT_TTL`, refreshed: a worker
                                 whose key expired is dead and its pending requests are
                                 claimed by the others
``hosts:<slot>``        zset     per-host download leases (member -> expiry; the slot is
                                 Scrapy's, the host name): politeness (``--concurrency``)
                                 across all workers together (crawler.leases)
``wanting:<slot>``      zset     the workers that asked for its leases in the last second
                                 (member -> until): each gets at most its share of them
``pause:<slot>``        string   a host's ``Retry-After``: no worker asks it before this time
``robots``              hash     each site's robots.txt, status and body, fetched once for all
``robots-claim:<site>`` string   the worker fetching that robots.txt (expires if it dies)
======================  =======  ============================================================

The announcement itself is a field of the hash :data:`ANNOUNCED` (token -> JSON
:func:`announce`), so a worker started before any crawl waits there, and joins the crawl
once it appears.
"""
from __future__ import annotations

import hashlib
import json
import marshal
import os
import socket
import time

PREFIX = "funnelcheck"
ANNOUNCED = f"{PREFIX}:crawls"      # hash: token -> announcement JSON
WORKERS_GROUP = "workers"           # the consumer group of the requests stream
WRITER_GROUP = "writer"             # ... and of the items stream
HEARTBEAT_TTL = 5.0                 # seconds a worker's alive key lives without a refresh
HEARTBEAT_EVERY = 1.0               # seconds between refreshes
ABANDONED = b"abandoned"            # the ``status`` a writer whose coordinator died leaves: workers leave
REDIS_URL_ENV = "FUNNELCHECK_REDIS_URL"   # where a worker or writer finds the URL when --redis is not given


def namespace(token: str) -> str:
    """The prefix of every key of one crawl.

    >>> namespace("7-ab12")
    'funnelcheck:7-ab12'
    """
    return f"{PREFIX}:{token}"


def key(token: str, name: str) -> str:
    """One key of a crawl (see the module's table).

    >>> key("7-ab12", "requests"), key("7-ab12", "hosts:acme.example:443")
    ('funnelcheck:7-ab12:requests', 'funnelcheck:7-ab12:hosts:acme.example:443')
    """
    return f"{namespace(token)}:{name}"


def new_token(crawl_id: int) -> str:
    """A crawl's token: its id in the store and a random part (a store can be crawled again).

    >>> new_token(7).startswith("7-"), len(new_token(7))
    (True, 14)
    """
    return f"{crawl_id}-{os.urandom(6).hex()}"


def digest(url_key: str) -> bytes:
    """The compact form of a URL key in the ``seen`` set: 8 bytes, whatever the URL's length
    (a million keys in ~60 MiB of Redis rather than ~150; collisions at 2**-64 per pair).

    >>> len(digest("https://acme.example/"))
    8
    """
    return hashlib.blake2b(url_key.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def encode(obj) -> bytes:
    """An item (or any JSON-able value) as stream field bytes; tuples become lists.

    >>> decode(encode({"page": {"url": "https://a.example/"}, "links": [("a", "b")]}))
    {'page': {'url': 'https://a.example/'}, 'links': [['a', 'b']]}
    """
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


def decode(data: bytes):
    return json.loads(data.decode("utf-8", "surrogatepass"))


ITEM_MARSHAL = b"m"   # the first byte of an item in the stream encoded by :func:`encode_item`


def encode_item(item) -> bytes:
    """An item of the spider as the ``items`` stream carries it: :mod:`marshal` (format 4, which
    every Python 3.4+ reads), after a marker byte. Between a worker and the writer an item is
    made and read once, and its encoding was a fifth of what the writer paid for it: marshal
    writes ~6x and reads ~4x faster than JSON (0.010 + 0.034 ms against 0.061 + 0.145 ms an item of
    the bench site), ~25% smaller, and keeps an item's tuples tuples (as one process's pipeline
    gets them). Strings keep lone surrogates (marshal's UTF-8 passes them).

    >>> decode_item(encode_item({"page": {"url": "https://a.example/"}, "links": [("a", "b", 1, None)]}))
    {'page': {'url': 'https://a.example/'}, 'links': [('a', 'b', 1, None)]}

    What marshal cannot write (a subclass of ``str``, ``tuple`` or ``dict``) goes as JSON:

    >>> class Text(str): pass
    >>> decode_item(encode_item({"title": Text("Acme")}))
    {'title': 'Acme'}
    """
    try:
        return ITEM_MARSHAL + marshal.dumps(item, 4)
    except ValueError:  # a value marshal cannot write (a subclass of str, tuple or dict): JSON
        return encode(item)


def decode_item(data: bytes):
    """An item :func:`encode_item` wrote (or, from a worker of an earlier version, JSON).

    >>> decode_item(encode({"page": {"url": "https://a.example/"}}))
    {'page': {'url': 'https://a.example/'}}
    """
    if data[:1] == ITEM_MARSHAL:
        return marshal.loads(memoryview(data)[1:])
    return decode(data)


def connect(url: str):
    """A Redis client for ``url`` (``redis://host:port/db`` or ``unix:///path/redis.sock``);
    raises ``redis.exceptions.ConnectionError`` when nothing answers there."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
    client.ping()
    return client


#: How the processes of a crawl talk: bumped whenever what they put in Redis changes (2: requests
#: as :func:`crawler.queues.compact` entries, items in marshal; 3: a trap pattern's shape in the
#: ``limits`` hash, :class:`crawler.extensions.ClusterLimits`; 4: ``--render``'s plan in the
#: ``render`` hash, :class:`crawler.clustered.ClusterRenderPlan`, and items that reread a page).
#: A worker joins only a crawl of its own protocol: workers on other machines may run another
#: funnelcheck version.
PROTOCOL = 4


def announcement(token: str, crawl: dict, db_path: str | None, resume: bool, verbose: int = 0) -> dict:
    """What a worker needs to join a crawl: the crawl row's fields the spider reads
    (``FUNNEL_CRAWL``), whether it resumes, and where the store is (a worker on the same
    machine may read its external-link cache there; one elsewhere does without).

    >>> a = announcement("7-ab", {"id": 7, "targets": ["https://a.example/"], "options": "{}"}, "/x/c.sqlite", False)
    >>> a["token"], a["crawl"]["id"], a["resume"], a["host"] == socket.gethostname()
    ('7-ab', 7, False, True)
    """
    return {"token": token, "crawl": {k: crawl.get(k) for k in ("id", "targets", "options", "origins", "state", "limits")},
            "db": db_path, "resume": resume, "verbose": verbose, "host": socket.gethostname(), "announced": time.time(),
            "protocol": PROTOCOL}


def announce(client, info: dict) -> None:
    """Make a crawl joinable (workers waiting on :data:`ANNOUNCED` see it) for as long as its
    coordinator says it runs (:func:`still_running`)."""
    client.set(key(info["token"], "status"), "running", px=int(HEARTBEAT_TTL * 1000))
    client.hset(ANNOUNCED, info["token"], encode(info))


def still_running(client, token: str) -> None:
    """The coordinator's heartbeat: a running crawl's ``status`` lives another
    :data:`HEARTBEAT_TTL` seconds."""
    client.pexpire(key(token, "status"), int(HEARTBEAT_TTL * 1000))


def withdraw(client, token: str) -> None:
    """The crawl is over: no worker joins it any more."""
    client.hdel(ANNOUNCED, token)


def forget(client, token: str, chunk: int = 1000) -> int:
    """Delete every key of an ended crawl (a Redis that outlives crawls keeps none of theirs:
    a resume rebuilds its own from the store under a new token). Returns how many went."""
    gone = 0
    batch = []
    for name in client.scan_iter(match=f"{namespace(token)}:*", count=chunk):
        batch.append(name)
        if len(batch) >= chunk:
            gone += client.unlink(*batch)
            batch = []
    if batch:
        gone += client.unlink(*batch)
    return gone


def announced(client) -> list[dict]:
    """The crawls announced in this Redis and still running, oldest first. A crawl whose
    coordinator died (its ``status`` expired) is withdrawn and its keys deleted: no worker waits
    in it for ever, and a Redis that outlives crawls keeps nothing of it."""
    out = []
    for token, data in client.hgetall(ANNOUNCED).items():
        info = decode(data)
        status = client.get(key(info["token"], "status"))
        if status is None:
            withdraw(client, info["token"])
            forget(client, info["token"])
        elif status == b"running":
            out.append(info)
    return sorted(out, key=lambda i: i.get("announced", 0))
