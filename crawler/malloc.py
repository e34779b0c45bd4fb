"""The C allocator told to give freed memory back to the system (glibc; a no-op elsewhere).

A report of a big crawl builds arrays of tens of MiB (the funnel metrics' link arrays, the
sparse matrix) and frees them. glibc raises its mmap threshold to the size of the largest
block freed, so every later block below it (up to 32 MiB) is carved from the heap, and a
heap with freed holes in it is not returned: the process keeps the RSS of its largest
moment for the rest of the run, and the next stage's peak adds to it. Measured on the
100,000-page bench store (``bench/rule_times.py``): RSS after the metrics 363 MiB with
the dynamic threshold, 267 MiB with a fixed one, for the same 247 MiB of live objects.

:func:`fix_mmap_threshold` (once, at the command line's start-up) keeps blocks of 128 KiB and
more in their own mappings, unmapped when freed; :func:`release_free_memory` (after a stage that freed a
lot of small objects) hands the free pages inside the heap back (``malloc_trim``).
Where the C library is not glibc (musl, macOS), both do nothing. The crawl process does
not hold the threshold: its memory did not need it (149 MiB at 100,000 pages either way), and
the page parser ran 4-5% slower with it (``extract`` of 600 bench pages three times: 2.02-2.03 s
against 1.91-1.96 s), the crawl's hot path.

>>> fix_mmap_threshold()   # glibc: Debian, Ubuntu, Fedora (False on musl or macOS)
True
"""
from __future__ import annotations

import ctypes
import sys
from functools import cache

M_MMAP_THRESHOLD = -3          # mallopt() parameter (malloc.h)
MMAP_THRESHOLD = 128 * 1024    # glibc's default, held fixed rather than raised as blocks are freed


@cache
def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the symbols of the running process, its C library's among them
        libc.mallopt.argtypes, libc.malloc_trim.argtypes = (ctypes.c_int, ctypes.c_int), (ctypes.c_size_t,)
    except (OSError, AttributeError):  # not glibc: no mallopt or no malloc_trim
        return None
    return libc


def fix_mmap_threshold(size: int = MMAP_THRESHOLD) -> bool:
    """Keep the mmap threshold at ``size`` bytes (setting it turns glibc's raising off). True if set."""
    libc = _glibc()
    return bool(libc and libc.mallopt(M_MMAP_THRESHOLD, size))


def release_free_memory() -> bool:
    """Return the heap's free pages to the system. True if any were."""
    libc = _glibc()
    return bool(libc and libc.malloc_trim(0))
