"""WebSocket routes (flask-sock) that never starve the service, and close cleanly.

Your app declares its routes with flask-sock (`ws.py`, docs/websockets.md); this
module guards them, from `init_app(app)`, with the rules of websocket_admission.py.
Before a WebSocket route's view runs:
- a cross-site handshake is refused with 403 (its Origin is not a site of this service);
- a worker that holds its bound of open sockets answers 503 with Retry-After at
  once, so a client retries (another worker or instance takes it) and is never left
  to time out; so does a worker that is stopping;
- a sync worker answers 501: it serves one request at a time, and one socket would
  hold it.

While a socket is open, one watcher per worker (a thread, a greenlet under gevent):
- pings it every WEBSOCKET_PING_INTERVAL seconds, which keeps the routers' idle
  windows open (Heroku's 55 s, ingresses' 60 s) and makes a live client answer;
- closes it (1000 "idle timeout") when the client sent nothing, not even the answer to
  a ping, for WEBSOCKET_IDLE_TIMEOUT seconds: a peer that vanished frees its slot;
- closes every socket with 1001 "going away" once the worker drains (SIGTERM,
  lifecycle.py), so clients reconnect, to an instance that is not stopping, and the
  view returns well within GUNICORN_GRACEFUL_TIMEOUT;
- shuts the connection down when the client has not answered a close frame within
  CLOSE_WAIT seconds.
Messages larger than MAX_CONTENT_LENGTH close the socket with 1009, as a larger
body gets a 413.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time

from flask import Flask, g, request
from werkzeug.exceptions import Forbidden, ServiceUnavailable

from .lifecycle import is_draining
from .settings import Settings
from .websocket_admission import (
    GOING_AWAY,
    NO_SPARE_THREAD,
    RETRY_AFTER,
    NeedsAnotherWorkerClass,
    capacity,
    same_site,
)

log = logging.getLogger(__name__)

NORMAL_CLOSURE = 1000
# How often the watcher looks at the sockets: the close frame goes out at most this
# long after SIGTERM, a small part of the graceful timeout (8 s by default).
TICK = 0.25
# A client answers a close frame within a round trip; one that has not after this
# long is cut, so a stop ends within SIGTERM + TICK + CLOSE_WAIT (under 3 s).
CLOSE_WAIT = 2.0
# Bytes read per recv(): simple-websocket's 4 KiB took 256 reads for a 1 MiB message.
RECEIVE_BYTES = 65536
# The server's frames the watcher writes itself (RFC 6455 5.2: FIN set, unmasked).
# A control frame is never fragmented and never compressed: its first byte is exact.
_PING = b"\x89\x00"
_CLOSE = 0x88
_ENVIRON_SOCKETS = ("gunicorn.socket", "werkzeug.socket")


def init_websockets(app: Flask, settings: Settings) -> None:
    sockets = _OpenSockets(
        capacity(settings), settings.websocket_ping_interval, settings.websocket_idle_timeout
    )
    app.extensions["service.websockets"] = sockets
    # flask-sock passes these to simple-websocket's Server. No ping_interval: the
    # watcher pings, and one thread per socket, not two, waits on it.
    app.config.setdefault(
        "SOCK_SERVER_OPTIONS",
        {
            "max_message_size": settings.max_content_length,
            "receive_bytes": RECEIVE_BYTES,
            "event_class": _RecheckingEvent,
        },
    )
    trusted_hosts = settings.trusted_hosts

    def admit_websocket():
        rule = request.url_rule
        if rule is None or not rule.websocket:
            return
        if sockets.capacity == 0 and settings.worker_class == "gthread":
            raise NeedsAnotherWorkerClass(NO_SPARE_THREAD)
        if sockets.capacity == 0:
            raise NeedsAnotherWorkerClass()
        if not same_site(request.headers.get("Origin"), request.host, trusted_hosts):
            log.info("websocket refused: Origin %r", request.headers.get("Origin"))
            raise Forbidden("The Origin of this WebSocket is not a site of this service.")
        environ = request.environ
        raw = next((environ[key] for key in _ENVIRON_SOCKETS if key in environ), None)
        if raw is None:  # a test client: nothing to hold
            return
        watched = sockets.open(raw)
        if watched is None:
            log.info("websocket refused: %d of %d open", len(sockets), sockets.capacity)
            raise ServiceUnavailable(
                "This worker holds all the WebSockets it takes; try again.",
                retry_after=RETRY_AFTER,
            )
        g._service_websocket = watched
        for key in _ENVIRON_SOCKETS:
            if key in request.environ:
                request.environ[key] = watched

    def release_websocket(_error):
        watched = g.pop("_service_websocket", None)
        if watched is not None:
            sockets.discard(watched)

    # Right after the Host check (trusted_hosts.py), before the app's own hooks.
    app.before_request_funcs.setdefault(None, []).insert(1, admit_websocket)
    app.teardown_request(release_websocket)


class _RecheckingEvent(threading.Event):
    """simple-websocket's receive() waits on this event, then checks whether the socket
    closed. On a message too big it sets the event before it marks the socket closed:
    a view waiting at that moment would wait forever, holding its thread and slot.
    Waking each TICK while it waits without a timeout lets it see the close."""

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is not None:
            return super().wait(timeout)
        super().wait(TICK)
        return True  # receive() checks again, and waits again if nothing changed


class _OpenSockets:
    """This worker's open sockets, and the watcher that pings and closes them."""

    def __init__(self, capacity: int, ping_interval: int, idle_timeout: int) -> None:
        self.capacity = capacity
        self.ping_interval = ping_interval
        self.idle_timeout = idle_timeout
        # Made in the worker (create_app runs there): under gevent, a patched lock.
        self._lock = threading.Lock()
        self._open: set[_WatchedSocket] = set()
        self._watcher: threading.Thread | None = None

    def __len__(self) -> int:
        return len(self._open)

    def open(self, raw: socket.socket) -> _WatchedSocket | None:
        with self._lock:
            if len(self._open) >= self.capacity or is_draining():
                return None
            watched = _WatchedSocket(raw)
            self._open.add(watched)
            if self._watcher is None:
                # Started with the first socket: an app that never opens one runs none.
                self._watcher = threading.Thread(
                    target=self._watch, name="websocket-watcher", daemon=True
                )
                self._watcher.start()
        return watched

    def discard(self, watched: _WatchedSocket) -> None:
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


class _WatchedSocket:
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
