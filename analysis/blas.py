"""numpy's BLAS (OpenBLAS) held to one thread while the funnel metrics solve.

The funnel metrics' solves (:class:`analysis.metrics.Chain`: BiCGSTAB) call ``numpy.dot`` a few
times per iteration on vectors of a page each. OpenBLAS runs a dot of more than 10,000 numbers
on every core, and its worker threads then spin (``sched_yield``) waiting for the next call:
through a phase of many small BLAS calls they burn a second core the whole time, and more when
that core is busy with something else. The sparse products, most of the work, never use BLAS.
Measured on the 100,000-page bench store (2 cores, load ~3): the metrics' solves 4.2 CPU-s with
OpenBLAS's 2 threads, 1.35 with one; a dot of 100,000 numbers 20,000 times: 1.13 CPU-s against
0.41. A single thread also sums every dot in one order whatever the machine's cores.

:func:`one_thread` finds the OpenBLAS libraries loaded in this process (numpy's and scipy's
wheels each bring their own, with prefixed symbols) and sets their threads to one for the
``with`` block, as ``threadpoolctl`` would, without depending on it. Anything else (MKL, a BLAS
without the OpenBLAS calls, no ``/proc``) is left as it is.

>>> with one_thread():
...     threads()[:1] in ([], [1])
True
"""
from __future__ import annotations

import ctypes
import logging
from contextlib import contextmanager
from functools import cache

logger = logging.getLogger(__name__)

# The thread calls of OpenBLAS builds: plain, and the prefixed ones of numpy's and scipy's wheels.
_NAMES = tuple(f"{prefix}_{{}}_num_threads{suffix}" for prefix in ("scipy_openblas", "openblas")
               for suffix in ("64_", "", "_64_"))


@cache
def _openblas() -> tuple:
    """``(get, set)`` for each OpenBLAS library loaded in this process (after numpy is)."""
    import numpy  # noqa: F401 (its BLAS loaded, to be found)

    try:
        with open("/proc/self/maps") as fh:
            paths = dict.fromkeys(line.split()[-1] for line in fh
                                  if "openblas" in line.rsplit("/", 1)[-1].lower() and "/" in line)
    except OSError:  # (not Linux)
        return ()
    found = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)  # (loaded already: the same library)
        except OSError:
            continue
        for name in _NAMES:
            get, put = getattr(lib, name.format("get"), None), getattr(lib, name.format("set"), None)
            if get is not None and put is not None:
                get.restype, get.argtypes, put.restype, put.argtypes = ctypes.c_int, (), None, (ctypes.c_int,)
                found.append((get, put))
                break
    return tuple(found)


def threads() -> list[int]:
    """The threads of each OpenBLAS library loaded (empty: none found)."""
    return [get() for get, _ in _openblas()]


@contextmanager
def one_thread():
    """Run the ``with`` block with every OpenBLAS library loaded on one thread, as before after it."""
    libs = _openblas()
    before = [get() for get, _ in libs]
    for _, put in libs:
        put(1)
    try:
        yield
    finally:
        for (_, put), n in zip(libs, before):
            put(n)
