"""One audit of a site on a store at a time: an advisory lock beside the store.

A scheduled run that starts while the previous one still crawls the same site into the same
store would interleave two crawls; the second is refused instead. The lock is ``flock`` on a
file next to the store (``crawls.sqlite.<site hash>.lock``): the kernel lets go of it when
the process ends, however it ends (kill -9 included), so a stale lock never blocks a run.

The holder removes the file when it lets go (while still holding the lock), so no file is left
beside the store after a run. A run that opened the file just before it was removed gets the
lock on a file that is no longer at the path: it checks, after locking, that the path still
names the file it locked, and starts again otherwise (the usual ``flock`` + ``unlink`` dance).
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
        while True:
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
            except BaseException:
                os.close(fd)
                raise
            if _same_file(fd, self.path):
                break
            os.close(fd)  # its holder removed it as we opened it: take the one at the path now
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self.fd = fd
        return self

    def release(self) -> None:
        """Let go, and remove the file (still locked while it is removed: see the module docstring).

        >>> import tempfile, os
        >>> folder = tempfile.mkdtemp()
        >>> with SiteLock(os.path.join(folder, "c.sqlite"), "https://a.example/"):
        ...     len(os.listdir(folder))
        1
        >>> os.listdir(folder)
        []
        """
        if self.fd is not None:
            try:
                if _same_file(self.fd, self.path):
                    os.unlink(self.path)
            except OSError:  # (a folder that takes no more changes: the file stays, harmless)
                pass
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "SiteLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _same_file(fd: int, path: str) -> bool:
    """Whether ``path`` still names the open file ``fd``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)
