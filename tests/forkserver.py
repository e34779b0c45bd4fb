"""``python -m cli ARGS`` for the tests at the cost of a fork: a fork server (one per pytest process).

Every ``funnelcheck`` a test runs (conftest.run_cli) is a new Python that imports the project
(click, the analysis, numpy, scipy ...): ~0.5 CPU-s before it reads its first argument, ~300 times a
suite, close to a third of all the CPU the suite uses (~500 CPU-s on a 2-core machine: the suite is
CPU-bound). A fork of this server costs ~0.04 CPU-s. This server is that
Python with the imports done (exactly ``cli``'s own, in the same environment and folder, nothing
more), waiting: each run is a ``fork()`` of it that then runs ``cli`` as ``python -m cli`` runs it
(``runpy._run_module_as_main``: ``__main__``, ``sys.argv``, the exit code of its SystemExit or
uncaught exception, atexit and logging's shutdown at the end) in a process of its own, with the
caller's stdin and its own stdout and stderr pipes, its own folder and environment. What a test
sees is what a new process gives: its exit code (negative: killed by that signal), every byte of
stdout and stderr, nothing of one run left in the next (each starts from the same untouched
imports). The caller (:func:`run`) falls back to a real new process whenever the imports could
have been made differently: another environment than the server's (but for PYTEST_CURRENT_TEST),
another folder. FUNNELCHECK_TESTS_FORKSERVER=0 makes every run a new process;
FUNNELCHECK_TESTS_FORKSERVER_LOG=FILE lists the runs that were, and why. (A run's process is a
child of the server, not of the test: tests that signal, list or watch the process they start
start it themselves, as before.)

Protocol (a Unix socket): the caller sends one JSON line ``{"argv": [...], "env": {...}}`` with
three descriptors (stdin, the write ends of its stdout and stderr pipes); the server answers
``pid`` when it has forked, then ``exit code`` when the run has ended. A line ``kill`` from the
caller kills the run (its timeout); the caller going away kills it too.
"""
from __future__ import annotations

import json
import os
import sys


def _serve(path: str) -> None:
    """The server's loop: fork a run for each request (in the child, return its request)."""
    import selectors
    import signal
    import socket
    import threading

    assert threading.active_count() == 1, "a fork server must have one thread"
    os.close(os.pidfd_open(os.getpid()))  # (Linux >= 5.3: else this ends here, and the caller makes new processes)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    listener.listen(64)
    os.rename(path + ".tmp", path)  # (the caller waits for the name: it appears listening)
    parent = os.getppid()
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, ("accept", None))
    runs: dict = {}  # conn -> (pid, pidfd)
    while True:
        events = sel.select(timeout=1.0)
        if os.getppid() != parent:  # the pytest process is gone: so is its server (and its runs)
            for pid, pidfd in runs.values():
                try:
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                except OSError:
                    pass
            return None
        for key, _ in events:
            kind, conn = key.data
            if kind == "accept":
                conn, _ = listener.accept()
                try:
                    msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
                    while not msg.endswith(b"\n"):
                        more = conn.recv(1 << 20)
                        if not more:
                            raise OSError("short request")
                        msg += more
                except OSError:
                    conn.close()
                    continue
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:  # the run: nothing of the server's open but the three descriptors given
                    sel.close()
                    listener.close()
                    conn.close()
                    for c, (_, pidfd) in runs.items():
                        c.close()
                        os.close(pidfd)
                    for target, fd in enumerate(fds):
                        os.dup2(fd, target)
                    for fd in fds:
                        if fd > 2:
                            os.close(fd)
                    return json.loads(msg)
                for fd in fds:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                runs[conn] = (pid, pidfd)
                conn.sendall(f"{pid}\n".encode())
                sel.register(conn, selectors.EVENT_READ, ("conn", conn))
                sel.register(pidfd, selectors.EVENT_READ, ("exit", conn))
            elif kind == "conn":  # a kill, or the caller gone
                if conn not in runs:  # (it ended in this same round of events: answered and closed)
                    continue
                try:
                    data = conn.recv(64)
                except OSError:
                    data = b""
                pid, pidfd = runs[conn]
                try:
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                except OSError:  # (it has ended already: its exit is on its way)
                    pass
                if not data:
                    sel.unregister(conn)
            else:  # the run ended
                pid, pidfd = runs.pop(conn)
                _, status = os.waitpid(pid, 0)
                sel.unregister(pidfd)
                os.close(pidfd)
                try:
                    sel.unregister(conn)
                except KeyError:
                    pass
                try:
                    conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
                except OSError:
                    pass
                conn.close()


def _main() -> None:
    # As ``python -m cli`` started in this folder would: the folder first on the path, then cli's
    # own imports (and no others); cli itself is run afresh as __main__ in each run.
    sys.path[0] = os.getcwd()
    import importlib

    importlib.import_module("cli")
    del sys.modules["cli"]
    import gc

    gc.freeze()  # (the imports' objects out of the collector's sight: each run's collections copy no pages of them)
    request = _serve(sys.argv[1])
    if request is None:
        return
    # (its environment and folder are the server's: the caller forks only runs that share them)
    for name, value in request["env"].items():  # (VOLATILE: the caller's, as a new process gets it)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    sys.argv[:] = ["-m", *request["argv"]]
    import runpy

    run = runpy._run_module_as_main
    namespace = sys.modules["__main__"].__dict__  # (cli's module namespace, as python -m gives it)
    builtins = namespace["__builtins__"]
    namespace.clear()
    namespace["__builtins__"] = builtins
    run("cli")


# -- the caller's side ----------------------------------------------------------------------------
_lock = __import__("threading").Lock()
_server = None  # (Popen, socket path, its environment, its folder) of this pytest process


def _start(env: dict, cwd: str):
    import atexit
    import subprocess
    import tempfile
    import time

    folder = tempfile.mkdtemp(prefix="funnelcheck-forkserver-")
    path = os.path.join(folder, "s")
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), path], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            return None
        time.sleep(0.01)

    def stop():
        proc.kill()
        proc.wait()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    return proc, path, env, cwd


def run(argv: list[str], cwd: str, env: dict, timeout: float, server_env: dict):
    """``subprocess.run([sys.executable, "-m", "cli", *argv], cwd=cwd, env=env, capture_output=True,
    text=True, timeout=timeout)``, through the fork server when its imports are those the new
    process would make (the same environment and folder), else exactly that call. The server is
    started on the first call, in ``server_env`` (the environment most runs have: the session's)."""
    import subprocess

    global _server
    with _lock:
        if _server is None:  # (FUNNELCHECK_TESTS_FORKSERVER=0: every run a new process)
            _server = os.environ.get("FUNNELCHECK_TESTS_FORKSERVER") != "0" and _start(server_env, cwd) or False
    if not _server or _server[3] != cwd or _server[0].poll() is not None or _same(_server[2]) != _same(env):
        if os.environ.get("FUNNELCHECK_TESTS_FORKSERVER_LOG"):  # (which runs are new processes, and why)
            with open(os.environ["FUNNELCHECK_TESTS_FORKSERVER_LOG"], "a") as fh:
                fh.write(json.dumps({"argv": argv[:2], "test": os.environ.get("PYTEST_CURRENT_TEST"),
                                     "env": _server and sorted(k for k in set(env) | set(_server[2]) if k not in VOLATILE
                                                               and env.get(k) != _server[2].get(k))}) + "\n")
        return subprocess.run([sys.executable, "-m", "cli", *argv], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=timeout)
    return _run_forked(_server[1], argv, {k: env.get(k) for k in VOLATILE}, timeout)


# What pytest changes in the environment for each test (and nothing that cli imports reads): set in
# each run as the caller's, not a reason for a new process.
VOLATILE = ("PYTEST_CURRENT_TEST",)


def _same(env: dict) -> dict:
    return {k: v for k, v in env.items() if k not in VOLATILE}


def _run_forked(path: str, argv: list[str], volatile: dict, timeout: float):
    import io
    import selectors
    import socket
    import subprocess
    import time

    deadline = time.monotonic() + timeout
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        msg = (json.dumps({"argv": argv, "env": volatile}) + "\n").encode()
        socket.send_fds(conn, [msg], [0, out_w, err_w])
    finally:
        os.close(out_w)
        os.close(err_w)
    chunks = {out_r: [], err_r: []}
    answer = b""  # "pid\n", then "exit code\n"
    sel = selectors.DefaultSelector()
    for fd in (out_r, err_r, conn):
        sel.register(fd, selectors.EVENT_READ)

    def recv() -> None:
        nonlocal answer
        data = conn.recv(4096)
        if not data:
            raise RuntimeError(f"the fork server lost the run of {argv}: {answer!r}")
        answer += data

    try:
        # as Popen.communicate: every byte of both pipes until they close, and the exit code
        while answer.count(b"\n") < 2 or out_r in sel.get_map() or err_r in sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:  # as subprocess.run: kill the process, wait for it, raise TimeoutExpired
                conn.sendall(b"kill\n")
                while answer.count(b"\n") < 2:
                    recv()
                raise subprocess.TimeoutExpired([sys.executable, "-m", "cli", *argv], timeout,
                                                output=b"".join(chunks[out_r]), stderr=b"".join(chunks[err_r]))
            for key, _ in sel.select(timeout=left):
                if key.fileobj is conn:
                    recv()
                    if answer.count(b"\n") >= 2:
                        sel.unregister(conn)
                    continue
                data = os.read(key.fileobj, 65536)
                if data:
                    chunks[key.fileobj].append(data)
                else:
                    sel.unregister(key.fileobj)
    finally:
        sel.close()
        conn.close()
        os.close(out_r)
        os.close(err_r)

    def text(data: bytes) -> str:  # what text=True gives: the locale's encoding, universal newlines
        wrapper = io.TextIOWrapper(io.BytesIO())
        return data.decode(wrapper.encoding, wrapper.errors).replace("\r\n", "\n").replace("\r", "\n")

    return subprocess.CompletedProcess([sys.executable, "-m", "cli", *argv], int(answer.split(b"\n")[1]),
                                       text(b"".join(chunks[out_r])), text(b"".join(chunks[err_r])))


if __name__ == "__main__":
    _main()
