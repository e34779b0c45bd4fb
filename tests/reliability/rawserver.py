"""A raw TCP server on 127.0.0.1 that answers each request with exactly the bytes it is told to.

``http.server`` always writes well-formed answers; the transport failures funnelcheck must
survive (a body shorter than its Content-Length, a server that closes mid-response or never
answers, a Content-Length that lies either way) need a server that misbehaves on purpose.

``routes`` maps a request path to a :class:`Raw` answer (or a callable ``(path) -> Raw``).
An answer is the bytes to write, then what to do with the connection: ``"keep"`` (read the
next request on it: HTTP/1.1 keep-alive), ``"close"`` (a clean FIN), ``"reset"`` (an RST) or
``"hang"`` (say nothing more until the server is closed). Unknown paths get a well-formed 404.
A :class:`Stream` answer is written as it goes by a function (a bomb streamed, a drip, headers
without end); the time each one held its connection is in ``held``.
"""
from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class Raw:
    data: bytes
    then: str = "keep"   # keep, close, reset, hang


@dataclass
class Stream:
    """An answer ``write(conn)`` writes as it likes, the connection closed after it."""
    write: Callable[[socket.socket], None]


def response(body: bytes | str = b"", status: int = 200, headers: dict | None = None,
             content_length: int | str | None = "auto", then: str = "keep") -> Raw:
    """A response written byte for byte: ``content_length`` ``"auto"`` (the true length), a
    number or text (a lie, or garbage), or None (no header). ``headers`` are added as given."""
    body = body.encode() if isinstance(body, str) else body
    lines = [f"HTTP/1.1 {status} Status"]
    head = {"Content-Type": "text/html; charset=utf-8", **(headers or {})}
    if content_length == "auto":
        head["Content-Length"] = str(len(body))
    elif content_length is not None:
        head["Content-Length"] = str(content_length)
    if then != "keep":
        head.setdefault("Connection", "close")  # honest about it, unless told otherwise
    lines += [f"{k}: {v}" for k, v in head.items() if v is not None]
    return Raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body, then)


class RawServer:
    def __init__(self, routes: dict):
        self.routes = routes
        self.requests: list[tuple[str, str]] = []   # (method, path), in arrival order
        self.held: list[tuple[str, float]] = []     # (path, seconds) of each Stream answer
        self.connections = 0
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self._sock.settimeout(0.2)
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            self._open.append(conn)
            t = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        buf = b""
        try:
            while not self._stop.is_set():
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")  # GET and HEAD only: no request bodies
                method, path = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]
                self.requests.append((method, path))
                answer = self.routes.get(path) or self.routes.get(path.split("?", 1)[0])
                if callable(answer):
                    answer = answer(path)
                if answer is None:
                    answer = response("<html><body>not found</body></html>", 404)
                if isinstance(answer, Stream):
                    started = time.monotonic()
                    try:
                        answer.write(conn)  # a client that stops reading ends it with an error
                    finally:
                        self.held.append((path, time.monotonic() - started))
                    return
                data = answer.data
                if method == "HEAD":
                    data = data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                conn.sendall(data)
                if answer.then == "keep":
                    continue
                if answer.then == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif answer.then == "hang":
                    self._stop.wait()
                return
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._accept.join(timeout=5)
        for conn in self._open:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=5)
        self._sock.close()
