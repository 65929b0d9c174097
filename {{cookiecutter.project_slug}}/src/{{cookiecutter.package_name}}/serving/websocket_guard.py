"""Who may open a WebSocket here, for flask-sock's routes (websockets.py) and
Socket.IO (socketio.py) alike: the same Origin check, the same bound per worker, the
same answers past it.

- A browser sends its page's Origin, which must name the request's own host, or one
  of TRUSTED_HOSTS when set: a page elsewhere would otherwise talk to this service
  with its visitor's cookies (cross-site WebSocket hijacking).
- On gthread each open socket holds a request thread for its whole life, so a worker
  takes at most GUNICORN_THREADS - 1, leaving a thread for /health, /ready and plain
  requests; on gevent a socket is a greenlet, and WEBSOCKET_MAX_PER_WORKER bounds the
  memory they take (docs/websockets.md has the figures). Past the bound, and while
  the worker stops, a new socket gets 503 with Retry-After at once.
- A sync worker serves one request at a time, and one socket would hold it: 501.

OpenSockets holds a worker's open sockets, and its watcher (a thread, a greenlet
under gevent) pings them, closes idle ones, and closes every one with 1001 "going
away" once the worker drains (SIGTERM, or the old workers of a reload), so clients
reconnect to a worker that is not stopping.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.sansio.utils import host_is_trusted

from .lifecycle import is_draining
from .settings import Settings

GOING_AWAY = 1001
# Seconds a refused client waits before it tries again: a socket of another worker
# or instance may be free by then.
RETRY_AFTER = 1
NORMAL_CLOSURE = 1000
# How often the watcher looks at the sockets: the close frame goes out at most this
# long after SIGTERM, a small part of the graceful timeout (8 s by default).
TICK = 0.25
# A client answers a close frame within a round trip; one that has not after this
# long is cut, so a stop ends within SIGTERM + TICK + CLOSE_WAIT (under 3 s).
CLOSE_WAIT = 2.0
# The server's frames the watcher writes itself (RFC 6455 5.2: FIN set, unmasked).
# A control frame is never fragmented and never compressed: its first byte is exact.
_PING = b"\x89\x00"
_CLOSE = 0x88


class NeedsAnotherWorkerClass(HTTPException):
    code = 501
    description = (
        "WebSockets need GUNICORN_WORKER_CLASS=gthread or gevent: a sync worker serves "
        "one request at a time, and an open socket would hold it."
    )


NO_SPARE_THREAD = (
    "WebSockets on gthread need GUNICORN_THREADS=2 or more: one thread is "
    "kept for other requests, and each open socket holds another."
)


def capacity(settings: Settings) -> int:
    """Open sockets one worker takes."""
    if settings.worker_class == "gthread":
        # One thread kept for plain requests and probes.
        return min(settings.websocket_max_per_worker, settings.threads - 1)
    if settings.worker_class == "gevent":
        # One connection kept, as for gthread.
        return min(settings.websocket_max_per_worker, settings.worker_connections - 1)
    return 0


def same_site(origin: str | None, host: str, trusted_hosts: tuple[str, ...]) -> bool:
    """Whether a handshake's Origin names this service: the Host it asked for, or one
    of TRUSTED_HOSTS when set."""
    if origin is None:
        # Not a browser (browsers always send it): no visitor's cookies to misuse.
        return True
    origin_host = urlsplit(origin).hostname
    if not origin_host:  # "null": a sandboxed page or a file
        return False
    if trusted_hosts:
        return host_is_trusted(origin_host, trusted_hosts)
    return origin_host == (urlsplit(f"//{host}").hostname or "")


class OpenSockets:
    """This worker's open sockets, and the watcher that pings and closes them."""

    def __init__(self, capacity: int, ping_interval: int, idle_timeout: int) -> None:
        self.capacity = capacity
        self.ping_interval = ping_interval
        self.idle_timeout = idle_timeout
        # Made in the worker (create_app runs there): under gevent, a patched lock.
        self._lock = threading.Lock()
        self._open: set[WatchedSocket] = set()
        self._watcher: threading.Thread | None = None

    def __len__(self) -> int:
        return len(self._open)

    def open(self, raw: socket.socket) -> WatchedSocket | None:
        with self._lock:
            if len(self._open) >= self.capacity or is_draining():
                return None
            watched = WatchedSocket(raw)
            self._open.add(watched)
            if self._watcher is None:
                # Started with the first socket: an app that never opens one runs none.
                self._watcher = threading.Thread(
                    target=self._watch, name="websocket-watcher", daemon=True
                )
                self._watcher.start()
        return watched

    def discard(self, watched: WatchedSocket) -> None:
        with self._lock:
            self._open.discard(watched)

    def _watch(self) -> None:
        while True:
            time.sleep(TICK)
            now = time.monotonic()
            draining = is_draining()
            with self._lock:
                watched_now = list(self._open)
            for watched in watched_now:
                if watched.closing_since is not None:
                    if now - watched.closing_since > CLOSE_WAIT:
                        watched.shutdown()
                elif draining:
                    watched.close_with(GOING_AWAY, "going away")
                elif self.idle_timeout and now - watched.last_heard > self.idle_timeout:
                    watched.close_with(NORMAL_CLOSURE, "idle timeout")
                elif self.ping_interval and now - watched.last_pinged >= self.ping_interval:
                    watched.ping(now)


class WatchedSocket:
    """The connection as simple-websocket uses it (send, recv, fileno, close).

    send() sends everything: gevent's socket.send() sends what fits in the kernel's
    buffer and returns, and simple-websocket sends once, so a large message was cut.
    Sends, the watcher's frames included, go out whole, one at a time. After the
    server's close frame nothing more is sent (RFC 6455 5.5.1). close() leaves the
    connection to the worker that accepted it, which closes it after the view.
    """

    def __init__(self, raw: socket.socket) -> None:
        self._raw = raw
        self._send_lock = threading.Lock()
        self.last_heard = self.last_pinged = time.monotonic()
        self.closing_since: float | None = None

    def fileno(self) -> int:
        return self._raw.fileno()

    def recv(self, size: int) -> bytes:
        data = self._raw.recv(size)
        self.last_heard = time.monotonic()
        return data

    def send(self, data: bytes) -> int:
        self._send(data)
        return len(data)

    def _send(self, data: bytes) -> None:
        with self._send_lock:
            if self.closing_since is not None:
                return
            if data[:1] == bytes((_CLOSE,)):
                self.closing_since = time.monotonic()
            with contextlib.suppress(OSError):  # the peer is gone: the reader sees it
                self._raw.sendall(data)

    def close(self) -> None:
        pass

    def ping(self, now: float) -> None:
        self.last_pinged = now
        self._send(_PING)

    def close_with(self, code: int, reason: str) -> None:
        payload = struct.pack("!H", code) + reason.encode()
        self._send(bytes((_CLOSE, len(payload))) + payload)

    def shutdown(self) -> None:
        # The reader then sees the end of the stream, and the view's receive() raises.
        with contextlib.suppress(OSError):
            self._raw.shutdown(socket.SHUT_RDWR)
