"""A big crawl's graph nodes and findings parked in a file while the funnel metrics solve.

The funnel metrics of a million-page crawl (:func:`analysis.metrics.funnel_metrics`) read the
graph's nodes once, before their link pass, and again only for the per-entry rows and the
action plan after the chain is solved; the link arrays, the chain's sparse matrix and the solves
in between (~650 MiB at 1,000,000 pages) never read a node or a finding. Held through them,
the nodes (~700 MiB: a URL string, a dict entry and a slotted object per URL) and the findings
(~125 MiB) are what puts the report over 1 GiB. :class:`Parking` writes them to a temporary
file beside the store (never a RAM disk: that would be memory again), empties the graph's node
dict and the findings list *in place* (whoever holds ``g`` or ``findings`` keeps them) and
refills them afterwards, in the same order, with equal values:

- the nodes' attribute dicts shared by many nodes (:class:`analysis.graph.NodeData`: a few
  hundred in a whole crawl) stay in memory, one object each, and every node gets its own back:
  shared as before, never copied;
- the URL strings are interned again as they are read: the node keys are the interned strings
  the graph builder made, and a finding's pages, target and locations are the node keys' very
  objects again (not one more copy of a million URLs).

>>> from analysis.graph import graph_from
>>> from analysis.findings import Finding
>>> g = graph_from([{"url": "https://a.example/", "role": "page", "status": 200, "parsed": 1, "title": "Home"}],
...                [("https://a.example/", "https://x.com/a", "footer", "profile")], site=["https://a.example/"])
>>> findings = [Finding("dead-end", "low", "https://a.example/", "m", sources=["https://a.example/"])]
>>> before = {u: dict(d) for u, d in g.nodes(data=True)}
>>> with Parking(g, findings):
...     len(g), len(findings)
(0, 0)
>>> {u: dict(d) for u, d in g.nodes(data=True)} == before, findings[0].target, g.nodes["https://a.example/"]["title"]
(True, 'https://a.example/', 'Home')
"""
from __future__ import annotations

import copy
from collections import deque
import gc
import logging
import os
import pickle
import tempfile
import time
from pathlib import Path
from sys import intern

from analysis.findings import Location, Locations
from analysis.graph import NodeData, TargetData
from crawler.malloc import release_free_memory

logger = logging.getLogger(__name__)

# Graphs of at least this many URLs are parked while the funnel metrics solve (a smaller one pays
# nothing: at 200,000 URLs the nodes are ~60 MiB).
PARK_URLS = 200_000
CHUNK = 1 << 16   # nodes pickled at once
SLOTS = NodeData.__slots__
_SETTERS = {name: getattr(NodeData, name).__set__ for name in SLOTS}  # (a slot's own setter: obj, value)


class _Unset:
    """A slot never set (pickled by reference: the same object when read back)."""


def _directory(g) -> str | None:
    """Where the parking file goes: beside the store's file (the default temporary directory
    for a store in memory)."""
    path = getattr(getattr(g, "store", None), "path", None)
    return str(Path(path).resolve().parent) if isinstance(path, (str, os.PathLike)) and path != ":memory:" else None


def _pickler(fh) -> pickle.Pickler:
    """A pickler without memo (``fast``): what is parked holds no cycle, and a memo of every
    string of a finding on a million pages would be tens of MiB at the moment memory is scarce."""
    p = pickle.Pickler(fh, protocol=pickle.HIGHEST_PROTOCOL)
    p.fast = True
    return p


class Parking:
    """Graph ``g``'s nodes and ``findings`` (a list: emptied and refilled in place) written to a
    temporary file by :meth:`park` and read back by :meth:`unpark`; as a context manager, parked
    inside the ``with`` block and back after it (an exception too). ``directory``: where the file
    goes (default: beside the store's file)."""

    def __init__(self, g, findings: list | None = None, directory: str | None = None):
        self.g, self.findings = g, findings
        self.directory = directory if directory is not None else _directory(g)
        self.file = None
        self.profiles: list = []   # the distinct shared attribute dicts, held (a few hundred)
        self.chunks = self.count = self.bytes = 0
        self.seconds = [0.0, 0.0]  # park, unpark

    @property
    def parked(self) -> bool:
        return self.file is not None

    def park(self) -> None:
        started = time.monotonic()
        nodes = self.g.node_data
        fh = tempfile.TemporaryFile(dir=self.directory)
        try:
            self._write(fh, nodes)
        except BaseException:
            fh.close()
            self.profiles = []
            raise
        self.file = fh
        self.count = len(nodes)
        nodes.clear()  # (in place: the graph's NodeView reads the same dict)
        if self.findings is not None:
            self.findings.clear()
        gc.collect()  # (the rules' cyclic garbage too, before the arrays to come)
        release_free_memory()  # (what they held, back to the system: the arrays to come are new mappings)
        self.bytes = fh.tell()
        self.seconds[0] = time.monotonic() - started
        logger.debug("parked %d nodes and the findings: %d MiB in %.1f s", self.count, self.bytes >> 20,
                     self.seconds[0])

    def _write(self, fh, nodes: dict) -> None:
        shared: dict[int, int] = {}  # id of a shared attribute dict -> its number in profiles
        profiles = self.profiles
        items = iter(nodes.items())
        pickler = _pickler(fh)
        while True:
            keys, sids, own = [], [], []
            for url, d in items:
                i = shared.get(id(d._shared))
                if i is None:
                    i = shared[id(d._shared)] = len(profiles)
                    profiles.append(d._shared)
                keys.append(url)
                if type(d) is TargetData:
                    sids.append(-1 - i)
                else:
                    sids.append(i)
                    own.append(d)
                if len(keys) >= CHUNK:
                    break
            if not keys:
                break
            # the pages' slots a column each (read back with a C-level setter per column, no loop a node)
            slots = [[getattr(d, name, _Unset) for d in own] for name in SLOTS]
            del own
            pickler.dump((keys, sids, slots))
            pickler.clear_memo()
            self.chunks += 1
        if self.findings is not None:
            pickler.dump(len(self.findings))
            lists: list = []
            index: dict[int, int] = {}
            for f in self.findings:
                done = len(lists)
                skeleton = copy.copy(f)
                for name in ("sources", "locations", "detail"):
                    setattr(skeleton, name, _skeleton(getattr(f, name), lists, index))
                more = lists[done:]
                pickler.dump((skeleton, len(more)))
                for items in more:  # a list of a million URLs a chunk at a time: read back, no more held at once
                    if len(items) > CHUNK and all(type(item) is str for item in items):
                        pickler.dump(-len(items))
                        for start in range(0, len(items), CHUNK):
                            pickler.dump(items[start:start + CHUNK])
                    else:
                        pickler.dump(items)

    def unpark(self) -> None:
        if self.file is None:
            return
        started = time.monotonic()
        fh, self.file = self.file, None
        try:
            fh.seek(0)
            unpickler = pickle.Unpickler(fh)
            nodes = self.g.node_data
            profiles = self.profiles
            new_node, new_target = NodeData.__new__, TargetData.__new__
            for _ in range(self.chunks):
                keys, sids, slots = unpickler.load()
                made, own = [], []
                for sid in sids:
                    if sid < 0:
                        d = new_target(TargetData)
                        d._shared = profiles[-1 - sid]
                    else:
                        d = new_node(NodeData)
                        d._shared = profiles[sid]
                        own.append(d)
                    made.append(d)
                for name, values in zip(SLOTS, slots):
                    if name == "final_url":
                        values = [intern(v) if type(v) is str else v for v in values]
                    if _Unset in values:  # (a slot never set stays unset)
                        own_set = [d for d, v in zip(own, values) if v is not _Unset]
                        values = [v for v in values if v is not _Unset]
                    else:
                        own_set = own
                    deque(map(_SETTERS[name], own_set, values), maxlen=0)
                nodes.update(zip(map(intern, keys), made))
                del keys, sids, slots, made, own
            if self.findings is not None:
                lists: list = []
                for _ in range(unpickler.load()):
                    f, more = unpickler.load()
                    for _ in range(more):  # (a list shared by several: interned once)
                        items = unpickler.load()
                        if type(items) is int:  # (a long list of URLs, in chunks)
                            whole: list = []
                            while len(whole) < -items:
                                whole += map(intern, unpickler.load())
                            lists.append(whole)
                        else:
                            lists.append(_reshare(items))
                    f.target = _reshare(f.target)
                    for name in ("sources", "locations", "detail"):
                        setattr(f, name, _restore(getattr(f, name), lists))
                    self.findings.append(f)
        finally:
            fh.close()
            self.profiles = []
        self.seconds[1] = time.monotonic() - started
        logger.debug("unparked %d nodes and the findings in %.1f s", len(self.g.node_data), self.seconds[1])

    def __enter__(self) -> Parking:
        self.park()
        return self

    def __exit__(self, *exc) -> None:
        self.unpark()


class _Ref:
    """A list of a parked finding, by its number among the lists parked (pickled once: a
    finding's pages are often its locations' pages too, and its detail's)."""
    __slots__ = ("k",)

    def __init__(self, k: int):
        self.k = k

    def __reduce__(self):
        return _Ref, (self.k,)


def _skeleton(value, lists: list, index: dict):
    """``value`` (a finding's field) with each list in it replaced by a :class:`_Ref` (the lists
    added to ``lists``, once each: ``index`` by their ids); the containers around them copied,
    ``value`` left as it is.

    >>> pages = ["a", "b"]; lists = []
    >>> got = _skeleton({"pages": pages, "same": pages, "at": ("x", [1])}, lists, {})
    >>> _restore(got, lists) == {"pages": pages, "same": pages, "at": ("x", [1])}, len(lists)
    (True, 2)
    """
    kind = type(value)
    if kind is list:
        k = index.get(id(value))
        if k is None:
            k = index[id(value)] = len(lists)
            lists.append(value)
        return _Ref(k)
    if kind is dict:
        return {key: _skeleton(v, lists, index) for key, v in value.items()}
    if kind is tuple:
        return tuple([_skeleton(v, lists, index) for v in value])
    if kind is Locations:
        locs = Locations.__new__(Locations)
        locs.urls, locs.lines = _skeleton(value.urls, lists, index), value.lines
        return locs
    return value


def _restore(value, lists: list):
    """``value`` of :func:`_skeleton` with its lists back (``lists``: those read back)."""
    kind = type(value)
    if kind is _Ref:
        return lists[value.k]
    if kind is dict:
        for key, v in value.items():
            value[key] = _restore(v, lists)
    elif kind is tuple:
        return tuple([_restore(v, lists) for v in value])
    elif kind is Locations:
        value.urls = _restore(value.urls, lists)
    return value


def _reshare(value):
    """``value`` with each string in it interned: lists and dicts changed in place, tuples and
    locations made anew.

    >>> a, b = "".join(["https://a.example/", "x"]), "https://a.example/x"
    >>> got = _reshare({"pages": [a], "at": (a, 3)}); got["pages"][0] is intern(b) is got["at"][0]
    True
    """
    kind = type(value)
    if kind is str:
        return intern(value)
    if kind is list:
        try:
            value[:] = map(intern, value)  # (a list of URLs: no call of this function per item)
        except TypeError:
            value[:] = [_reshare(v) for v in value]
    elif kind is dict:
        for key, v in value.items():
            value[key] = _reshare(v)
    elif kind is tuple:
        return tuple([_reshare(v) for v in value])
    elif kind is Location:
        return Location(_reshare(value[0]), value[1])
    elif kind is Locations:
        value.urls = _reshare(value.urls)
    return value
