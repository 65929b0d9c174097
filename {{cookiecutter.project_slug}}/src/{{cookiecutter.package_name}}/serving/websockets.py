"""WebSocket routes (flask-sock) that never starve the service, and close cleanly.

Your app declares its routes with flask-sock (`ws.py`, docs/websockets.md); this
module guards them, from `init_app(app)`, with the rules of websocket_guard.py.
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

import logging
import threading

from flask import Flask, g, request
from werkzeug.exceptions import Forbidden, ServiceUnavailable

from .settings import Settings
from .trusted_hosts import insert_after_host_check
from .websocket_guard import (
    NO_SPARE_THREAD,
    RETRY_AFTER,
    TICK,
    NeedsAnotherWorkerClass,
    OpenSockets,
    capacity,
    same_site,
)

log = logging.getLogger(__name__)

# Bytes read per recv(): simple-websocket's 4 KiB took 256 reads for a 1 MiB message.
RECEIVE_BYTES = 65536
_ENVIRON_SOCKETS = ("gunicorn.socket", "werkzeug.socket")


def init_websockets(app: Flask, settings: Settings) -> None:
    sockets = OpenSockets(
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

    # Right after the Host check, before the app's own hooks.
    insert_after_host_check(app, admit_websocket)
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
