"""A private ``redis-server`` for one crawl with ``--workers N`` (when no ``--redis URL`` is given).

Debian's ``redis-server`` runs as a child of the process that opens :class:`RedisServer`, on a
Unix socket in a folder of its own (mode 700, the socket 700: no other user reaches it, and no
TCP port is opened), keeps nothing on disk (no RDB snapshot, no AOF) and holds at most
``maxmemory`` (it refuses writes beyond that rather than evict a crawl's keys). It dies with
its parent (Linux ``PR_SET_PDEATHSIG``), so a killed ``funnelcheck`` never leaves it running;
on a normal exit it is stopped and its folder removed (the folder of a parent killed with
SIGKILL is removed by the next RedisServer, once it is two minutes old).

>>> with RedisServer() as server:  # doctest: +SKIP
...     server.url
'unix:///tmp/funnelcheck-redis-…/redis.sock'
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)

EXECUTABLE = "redis-server"
MISSING = ("redis-server is not installed: --workers needs it (Debian: apt-get install redis-server), "
           "or give --redis URL")
MAXMEMORY = "768mb"      # a million-page crawl's seen set and streams fit well below this
START_TIMEOUT = 10.0     # seconds to wait for the first PONG
STOP_TIMEOUT = 5.0       # seconds SIGTERM gets before SIGKILL


class RedisMissing(RuntimeError):
    """``redis-server`` is not on PATH (its message is the one line the CLI prints)."""

    def __init__(self, message: str = MISSING):
        super().__init__(message)


def _die_with_parent() -> None:
    """In the redis-server process, before exec: SIGTERM when the parent dies (Linux prctl
    ``PR_SET_PDEATHSIG``, as crawler/run.py's crawl process does). Note: Linux sends it when
    the parent *thread* that started it ends, so open a RedisServer in a thread that lives as
    long as the crawl (the main thread)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: the parent's __exit__ still stops it
        pass


def redis_server_path() -> str:
    """The ``redis-server`` executable on PATH; raises :class:`RedisMissing` when there is none.

    >>> import os
    >>> old = os.environ["PATH"]; os.environ["PATH"] = "/nonexistent"
    >>> try:
    ...     redis_server_path()
    ... except RedisMissing as e:
    ...     print(e)
    ... finally:
    ...     os.environ["PATH"] = old
    redis-server is not installed: --workers needs it (Debian: apt-get install redis-server), or give --redis URL
    """
    path = shutil.which(EXECUTABLE)
    if path is None:
        raise RedisMissing()
    return path


PREFIX = "funnelcheck-redis-"
STALE = 120.0   # seconds: a folder of ours without a socket this long is a killed parent's


def _sweep(tmp: Path) -> None:
    """Remove the folders that servers of killed parents left (a parent killed with SIGKILL
    cannot remove its folder; its server, stopped by PR_SET_PDEATHSIG, removed the socket and
    left its log). Only this user's folders, without a socket, untouched for :data:`STALE` s."""
    now = time.time()
    for folder in tmp.glob(PREFIX + "*"):
        try:
            info = folder.stat()
            if (info.st_uid != os.getuid() or now - info.st_mtime < STALE or (folder / "redis.sock").exists()
                    or any(now - f.stat().st_mtime < STALE for f in folder.iterdir())):
                continue
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)


class RedisServer:
    """Context manager: a running private ``redis-server``; ``.url`` (``unix:///…/redis.sock``)
    for :func:`crawler.cluster.connect`, ``.pid`` of the server process, ``.folder`` it runs in.

    ``folder``: where the socket and the log go; by default a new temporary folder, removed on
    exit (a folder given by the caller is kept, only the socket and log are removed). Raises
    :class:`RedisMissing` when ``redis-server`` is not installed, ``RuntimeError`` (with the
    last line of its log) when it does not start.
    """

    def __init__(self, folder: str | os.PathLike | None = None, maxmemory: str = MAXMEMORY):
        self._given = folder is not None
        self._folder_arg = folder
        self.maxmemory = maxmemory
        self.folder: Path | None = None
        self.proc: subprocess.Popen | None = None
        self._pid: int | None = None

    @property
    def socket(self) -> Path:
        return self.folder / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int | None:
        """The server's process id (kept after exit, for a test that checks it is gone)."""
        return self._pid

    def __enter__(self) -> "RedisServer":
        executable = redis_server_path()
        if self._given:
            self.folder = Path(self._folder_arg).resolve()
            self.folder.mkdir(parents=True, exist_ok=True)
        else:
            _sweep(Path(tempfile.gettempdir()))
            self.folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        os.chmod(self.folder, 0o700)
        if len(str(self.socket)) > 100:  # sun_path holds 108 bytes
            raise RuntimeError(f"redis-server: the socket path is too long for a Unix socket: {self.socket}")
        args = [executable, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no", "--dir", str(self.folder),
                "--logfile", str(self.folder / "redis.log"), "--daemonize", "no",
                "--maxmemory", self.maxmemory, "--maxmemory-policy", "noeviction"]
        try:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, close_fds=True,
                                         start_new_session=True,  # Ctrl-C is the crawl's to handle: Redis stays
                                                                  # until the writer has stored what it holds
                                         preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
            self._pid = self.proc.pid
            self._wait_ready()
        except BaseException:
            self._stop()
            raise
        logger.debug("redis-server %s listening on %s", self.proc.pid, self.socket)
        return self

    def _wait_ready(self) -> None:
        import redis

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            code = self.proc.poll()
            if code is not None:
                raise RuntimeError(f"redis-server exited ({code}) at start: {self._last_log_line()}")
            if self.socket.exists():
                client = redis.Redis(unix_socket_path=str(self.socket), socket_connect_timeout=1)
                try:
                    if client.ping():
                        return
                except (redis.exceptions.ConnectionError, redis.exceptions.BusyLoadingError):
                    pass
                finally:
                    client.close()
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer within {START_TIMEOUT:.0f} s: {self._last_log_line()}")
            time.sleep(0.01)

    def _last_log_line(self) -> str:
        try:
            lines = (self.folder / "redis.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1] if lines else "empty log"

    def _stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        elif proc is not None:
            proc.wait()
        if self.folder is None:
            return
        if self._given:
            for name in ("redis.sock", "redis.log"):
                try:
                    (self.folder / name).unlink()
                except FileNotFoundError:
                    pass
        else:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __exit__(self, *exc) -> None:
        self._stop()
