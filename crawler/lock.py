"""One audit of a site on a store at a time: an advisory lock beside the store.

A scheduled run that starts while the previous one still crawls the same site into the same
store would interleave two crawls; the second is refused instead. The lock is ``flock`` on a
file next to the store (``crawls.sqlite.<site hash>.lock``): the kernel lets go of it when
the process ends, however it ends (kill -9 included), so a stale lock never blocks a run.
"""
from __future__ import annotations

import fcntl
import hashlib
import os


class LockError(RuntimeError):
    """Another run holds the lock."""


class SiteLock:
    """``with SiteLock(db_path, site):`` holds the lock or raises :class:`LockError`.

    >>> import tempfile, os
    >>> db = os.path.join(tempfile.mkdtemp(), "c.sqlite")
    >>> with SiteLock(db, "https://a.example/"):
    ...     try:
    ...         SiteLock(db, "https://a.example/").acquire()
    ...     except LockError as e:
    ...         print(str(e).split(" (")[0])
    another funnelcheck run is auditing https://a.example/ into this store
    """

    def __init__(self, db_path: str, site: str):
        self.site = site
        digest = hashlib.sha256(site.encode("utf-8")).hexdigest()[:12]
        self.path = f"{db_path}.{digest}.lock"
        self.fd: int | None = None

    def acquire(self) -> "SiteLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            finally:
                os.close(fd)
            raise LockError(f"another funnelcheck run is auditing {self.site} into this store (pid {holder}); "
                            "try again when it has finished") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # (the file stays: removing it would race with a run taking it)
            self.fd = None

    def __enter__(self) -> "SiteLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
