"""The funnel spider as one of many workers of a cluster crawl (``crawler.worker`` runs it).

It is :class:`crawler.spiders.funnel.FunnelSpider`, with what one process keeps to itself shared
in Redis (keys of :mod:`crawler.cluster`):

- the start requests (targets, ``--social`` profiles, sitemaps, a resume's frontier) are made by
  one worker only, the one that wins ``SET starter NX``; it sets ``started`` once they are all
  pushed;
- the targets whose first answer has not come (``seed:<key>`` fields and the ``seeds`` count of
  the ``state`` hash): whichever worker reads the last of them starts the rest of the crawl;
- the site's origins (a target that redirects to its ``https://`` or ``www.`` form renames the
  site) and the handles of the business's own profiles, in ``state`` with a ``seq`` the workers
  check with every read of the queue (:class:`crawler.queues.StreamQueue`);
- the limits (:class:`crawler.extensions.ClusterLimits`);
- ``--render auto``'s plan: which pages of a template are its samples, which templates render,
  the pages read as served while their template's samples were out (:class:`ClusterRenderPlan`);
- what a callback or an errback made goes to Redis with the request's acknowledgement
  (:mod:`crawler.streams`; Scrapy 2.19 runs errbacks' output past the spider middlewares, so
  the errbacks hand it over here).
"""
from __future__ import annotations

import json
import logging

import scrapy

from crawler import cluster
from crawler.downloader import Dropped
from crawler.extensions import ClusterLimits, cluster_unrendered
from crawler.render import MAX_TEMPLATES, REQUEUE, SAMPLE, SAMPLES, TEMPLATE, RenderPlan, template_of
from crawler.spiders.funnel import FunnelSpider

logger = logging.getLogger(__name__)

# state hash: seed:<key> -> 1 for each target not answered yet, seeds -> how many
_SEED_ADD = """
if redis.call('HSETNX', KEYS[1], 'seed:' .. ARGV[1], 1) == 1 then
  return redis.call('HINCRBY', KEYS[1], 'seeds', 1)
end
return -1
"""
_SEED_DONE = """
if redis.call('HDEL', KEYS[1], 'seed:' .. ARGV[1]) == 1 then
  return redis.call('HINCRBY', KEYS[1], 'seeds', -1)
end
return -1
"""


_TAKE_START = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
START = "(the start requests)"   # a pseudo-target: pending while the starter is making them


class SharedSeeds:
    """The targets whose first answer has not come, across workers (the set the spider keeps as
    ``seeds_pending``)."""

    def __init__(self, client, state_key: str):
        self.client, self.state_key = client, state_key
        self._add = client.register_script(_SEED_ADD)
        self._done = client.register_script(_SEED_DONE)

    def add(self, key: str) -> None:
        self._add(keys=[self.state_key], args=[key])

    def discard(self, key: str) -> None:
        self.done(key)

    def done(self, key: str) -> int:
        """Mark ``key`` answered: how many are left, or -1 if it was not pending (any more)."""
        return int(self._done(keys=[self.state_key], args=[key]))

    def __contains__(self, key: str) -> bool:
        return bool(self.client.hexists(self.state_key, "seed:" + key))

    def __len__(self) -> int:
        return int(self.client.hget(self.state_key, "seeds") or 0)

    def __bool__(self) -> bool:
        return len(self) > 0


# --render auto's plan, shared (the ``render`` hash: s:<template> samples sent, l:<template> samples
# compared, r:<template> its samples differed: it renders, m:<template> pages read as served past
# REQUEUE, ``templates`` sampled, ``waited`` pages in the ``render:wait:<template>`` lists)
# KEYS: render hash, the template's waiting list; ARGV: template, url, SAMPLES, MAX_TEMPLATES, REQUEUE
# Returns: r (its template renders), s (a sample), w (read as served: its samples are out), f (read
# as served, for good: its samples were alike, or too many templates)
_RENDER_DECIDE = """
local t = ARGV[1]
if redis.call('HEXISTS', KEYS[1], 'r:' .. t) == 1 then return 'r' end
local n = tonumber(redis.call('HGET', KEYS[1], 's:' .. t) or '0')
if n >= tonumber(ARGV[3]) then
  if tonumber(redis.call('HGET', KEYS[1], 'l:' .. t) or '0') >= n then return 'f' end
  if tonumber(redis.call('HGET', KEYS[1], 'waited') or '0') < tonumber(ARGV[5]) then
    redis.call('RPUSH', KEYS[2], ARGV[2])
    redis.call('HINCRBY', KEYS[1], 'waited', 1)
  else
    redis.call('HINCRBY', KEYS[1], 'm:' .. t, 1)
  end
  return 'w'
end
if n == 0 then
  if tonumber(redis.call('HGET', KEYS[1], 'templates') or '0') >= tonumber(ARGV[4]) then return 'f' end
  redis.call('HINCRBY', KEYS[1], 'templates', 1)
end
redis.call('HINCRBY', KEYS[1], 's:' .. t, 1)
return 's'
"""
# KEYS: render hash, the template's waiting list; ARGV: template, differs (1/0)
# Returns the pages of the template read as served meanwhile, to render now (its first differing sample)
_RENDER_LEARN = """
local t = ARGV[1]
local learned = redis.call('HINCRBY', KEYS[1], 'l:' .. t, 1)
if ARGV[2] == '1' and redis.call('HSETNX', KEYS[1], 'r:' .. t, 1) == 1 then
  local again = redis.call('LRANGE', KEYS[2], 0, -1)
  redis.call('DEL', KEYS[2])
  if #again > 0 then redis.call('HINCRBY', KEYS[1], 'waited', 0 - #again) end
  return again
end
if ARGV[2] == '1' or learned >= tonumber(redis.call('HGET', KEYS[1], 's:' .. t) or '0') then
  local n = redis.call('LLEN', KEYS[2])
  if n > 0 then
    redis.call('HINCRBY', KEYS[1], 'waited', 0 - n)
    redis.call('DEL', KEYS[2])
  end
end
return {}
"""


class ClusterRenderPlan(RenderPlan):
    """:class:`crawler.render.RenderPlan` of one worker: the plan is the crawl's, in Redis (the
    ``render`` hash and ``render:wait:<template>`` lists), decided and learned atomically by
    scripts, so the workers together sample :data:`~crawler.render.SAMPLES` pages of a template,
    as one process does, and a template one worker's sample showed to differ is rendered by every
    worker, the pages any worker read as served meanwhile included (by the worker that learned it).

    A round trip for a page only while its template is undecided: a template that renders, or
    whose samples were all alike, is remembered here (a few bytes a template, at most
    :data:`~crawler.render.MAX_TEMPLATES`)."""

    def __init__(self, mode: str, browser: bool, client, token: str):
        super().__init__(mode, browser)
        self.client, self.token = client, token
        self.hash = cluster.key(token, "render")
        self._decide = client.register_script(_RENDER_DECIDE)
        self._learn = client.register_script(_RENDER_LEARN)
        self.settled: dict[str, bool] = {}   # template -> renders (True) or never (False), as Redis said

    def _wait_key(self, template: str) -> str:
        return cluster.key(self.token, f"render:wait:{template}")

    def by_template(self, url: str) -> str | None:
        template = template_of(url)
        settled = self.settled.get(template)
        if settled is not None:
            return TEMPLATE if settled else None
        said = self._decide(keys=[self.hash, self._wait_key(template)],
                            args=[template, url, SAMPLES, MAX_TEMPLATES, REQUEUE])
        said = said.decode() if isinstance(said, bytes) else said
        if said in ("r", "f") and len(self.settled) < MAX_TEMPLATES:
            self.settled[template] = said == "r"
        return TEMPLATE if said == "r" else SAMPLE if said == "s" else None

    def learn(self, template: str, differs: bool) -> list[str]:
        again = self._learn(keys=[self.hash, self._wait_key(template)], args=[template, 1 if differs else 0])
        if differs and len(self.settled) < MAX_TEMPLATES:
            self.settled[template] = True
        return [u.decode() if isinstance(u, bytes) else u for u in again]

    def unrendered(self) -> dict[str, int]:
        return cluster_unrendered(self.client, self.token)


class ClusteredSpider(FunnelSpider):
    name = "funnel"

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        ClusterLimits.from_crawler(crawler)  # the crawler's limits are the shared ones (before configure)
        return super().from_crawler(crawler, *args, **kwargs)

    def configure(self, settings) -> None:
        from crawler.streams import Sender, client_of

        super().configure(settings)
        self.client = client_of(settings)
        self.token = settings.get("FUNNEL_CLUSTER_TOKEN")
        self.worker_id = settings.get("FUNNEL_WORKER_ID")
        self.sender = Sender.of(self.crawler)
        self.limits = ClusterLimits.from_crawler(self.crawler)
        self.state_key = cluster.key(self.token, "state")
        self.seeds_pending = SharedSeeds(self.client, self.state_key)
        self._take_start = self.client.register_script(_TAKE_START)
        self.shared_seq = -1
        self.shared_state_seen(int(self.client.hget(self.state_key, "seq") or 0))
        self.render = ClusterRenderPlan(self.render.mode, self.render.browser, self.client, self.token)

    # -- shared state ---------------------------------------------------------------------
    def shared_state_seen(self, seq: int) -> None:
        """The ``state`` hash is at ``seq``: read it if it changed since this worker last did."""
        if seq == self.shared_seq:
            return
        fields = {k.decode(): v for k, v in self.client.hgetall(self.state_key).items()}
        origins = fields.get("origins")
        if origins is not None:
            aliases = json.loads(origins)
            if aliases != self.aliases:
                self.aliases = aliases
                self.classify.cache_clear()
        handles = {k[2:] for k in fields if k.startswith("h:")}
        if not handles <= self.known_handles:
            self.known_handles |= handles
            self.classify.cache_clear()
        self.shared_seq = max(seq, int(fields.get("seq") or 0))

    def _publish(self, mapping: dict) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self.state_key, mapping=mapping)
        pipe.hincrby(self.state_key, "seq", 1)
        _, seq = pipe.execute()
        if seq != self.shared_seq + 1:  # another worker changed it too: take theirs as well
            self.shared_seq = -1
            self.shared_state_seen(seq)
        self.shared_seq = seq

    def own_profile(self, url: str, kind: str, region: str, rel: str) -> bool:
        before = set(self.known_handles)
        mine = super().own_profile(url, kind, region, rel)
        if len(self.known_handles) != len(before):
            self._publish({f"h:{h}": 1 for h in self.known_handles - before})
        return mine

    def follow_variant(self, response, page: dict, location: str):
        before = dict(self.aliases)
        for x in super().follow_variant(response, page, location):
            if self.aliases != before:  # a target renamed the site: every worker keys URLs so from now on
                self._publish({"origins": json.dumps(self.aliases)})
                before = dict(self.aliases)
            yield x

    def resume_state(self) -> dict | None:
        """As one process's, numbered by the crawl's ``state`` sequence (the writer keeps the newest)."""
        state = super().resume_state()
        if state is not None:
            state["seq"] = max(self.shared_seq, 0)
        return state

    # -- the start, by one worker ------------------------------------------------------------
    async def start(self):
        if not self.client.set(cluster.key(self.token, "starter"), self.worker_id, nx=True):
            return
        logger.info("worker %s makes the start requests", self.worker_id)
        async for request in self.start_as_starter():
            yield request

    async def start_as_starter(self, again: bool = False):
        """The start requests (``again``: a worker taking over from a starter that died on the way:
        the targets are asked again, whatever ``seen`` says, so that they are answered).
        The start itself counts as a target not answered yet, so the rest of the crawl
        (:meth:`after_seeds`) starts only once it is over and every target has answered."""
        self.seeds_pending.add(START)
        async for x in super().start():
            if isinstance(x, scrapy.Request):
                if again and x.meta.get("seed"):
                    x.meta["restored"] = True
                yield x
            elif x is not None:  # an item (a target excluded, a URL too long): for the writer
                self.sender.send_items([x])
        if self.seeds_pending.done(START) == 0:
            for x in self.after_seeds():
                if isinstance(x, scrapy.Request):
                    yield x
                elif x is not None:
                    self.sender.send_items([x])
        self.sender.flush_direct()
        self.client.set(cluster.key(self.token, "started"), 1)

    def take_over_start(self) -> bool:
        """Make the start requests if the worker that was making them is gone before it finished
        (its ``alive:`` key expired): True if this worker took over."""
        starter = self.client.get(cluster.key(self.token, "starter"))
        if starter is None or self.client.exists(cluster.key(self.token, f"alive:{starter.decode()}")):
            return False
        if not self._take_start(keys=[cluster.key(self.token, "starter")], args=[starter, self.worker_id]):
            return False
        logger.warning("worker %s takes over the start requests of %s, gone", self.worker_id, starter.decode())
        from scrapy.utils.defer import deferred_from_coro

        async def run():
            async for request in self.start_as_starter(again=True):
                self.crawler.engine.crawl(request)

        deferred_from_coro(run())
        return True

    def restore(self):
        for request in super().restore():
            if isinstance(request, scrapy.Request):
                request.meta["restored"] = True  # decided before: pushed whatever `seen` says
            yield request
        self.limits.send_restored(self.client, self.token)

    def seed_answered(self, meta) -> list:
        if not meta.get("seed") or self.seeds_pending.done(meta["key"]) != 0:
            return []
        return self.after_seeds()  # this worker read the last target's answer

    # -- errbacks: their output does not pass the spider middlewares ----------------------------
    def _sent(self, failure, errback):
        """An errback's output sent to the writer; nothing for a request never sent (``Dropped``:
        a worker leaving; it stays pending in Redis, for another worker or the resume)."""
        if failure.check(Dropped):
            return []
        return self.sender.through(failure.request, errback(failure))

    def on_error(self, failure):
        return self._sent(failure, super().on_error)

    def on_render_error(self, failure):
        return self._sent(failure, super().on_render_error)

    def on_support_error(self, failure):
        return self._sent(failure, super().on_support_error)


__all__ = ["ClusterRenderPlan", "ClusteredSpider", "SharedSeeds"]
