"""Socket.IO (Flask-SocketIO) on gunicorn's workers: `init_socketio(app, socketio)`.

Your app makes its SocketIO object and its event handlers (rooms.py); this module
binds it to the app with the options the serving machinery decides:
- the websocket transport only: long-polling sends each client's requests to
  whichever worker or instance takes them, and Socket.IO's polling session lives in
  one worker's memory, so it needs sticky sessions that gunicorn's workers do not
  have. A websocket is one connection, held by one worker for its life: any worker
  or instance takes any client, with no affinity anywhere;
- the async mode of the worker class: gevent (one greenlet per socket, the class
  that fits) or threading on gthread (one thread per socket, bounded below the
  thread count); a sync worker answers 501 (websocket_guard.py);
- REDIS_URL as the message queue, when set: rooms and broadcasts reach the clients
  of every worker and instance. Unset, the service runs one worker
  (worker_sizing.py, with a WARNING at boot), which reaches all of its own clients;
- the Origin check of flask-sock's routes (websocket_guard.same_site), the Host
  check of TRUSTED_HOSTS, and the bound of open sockets per worker: 503 with
  Retry-After at once past it, or while the worker stops;
- on a stop (SIGTERM, or a reload's new workers taking over), every socket is closed
  with 1001 "going away" without a Socket.IO disconnect, so clients reconnect at
  once, to a worker or instance that is not stopping.
The handshake does not pass through the app's middlewares (Flask-SocketIO answers
it in front of them): this module's guard is what checks it.
"""

from __future__ import annotations

import logging

import socketio as python_socketio
from flask import Flask
from flask_socketio import SocketIO
from werkzeug.exceptions import BadRequest, ServiceUnavailable
from werkzeug.sansio.utils import host_is_trusted

from .settings import Settings
from .websocket_guard import (
    NO_SPARE_THREAD,
    RETRY_AFTER,
    NeedsAnotherWorkerClass,
    OpenSockets,
    capacity,
    same_site,
)

log = logging.getLogger(__name__)

# Socket.IO's path, its clients' default.
PATH = "socket.io"
ASYNC_MODES = {"gevent": "gevent", "gthread": "threading", "sync": "threading"}
# Engine.IO's protocol always pings (WEBSOCKET_PING_INTERVAL=0 or
# WEBSOCKET_IDLE_TIMEOUT=0 take its own defaults): the server every interval, and a
# client that has not answered within the timeout is disconnected.
ENGINEIO_PING_INTERVAL = 25
ENGINEIO_PING_TIMEOUT = 20


def init_socketio(app: Flask, socketio: SocketIO, settings: Settings) -> None:
    ping_interval = settings.websocket_ping_interval or ENGINEIO_PING_INTERVAL
    idle_timeout = settings.websocket_idle_timeout
    ping_timeout = (
        idle_timeout - ping_interval if idle_timeout > ping_interval else ENGINEIO_PING_TIMEOUT
    )
    # Given every time, None without a queue: init_app keeps the options of an
    # earlier call (a test's app before this one).
    options = {"client_manager": None}
    if settings.socketio_message_queue is not None:
        redis_options = {}
        if (
            settings.socketio_message_queue.startswith("rediss://")
            and not settings.socketio_redis_tls_verify
        ):
            # REDIS_TLS_VERIFY=no: a self-signed certificate (Heroku Key-Value Store).
            redis_options = {"ssl_cert_reqs": "none", "ssl_check_hostname": False}
        options["client_manager"] = python_socketio.RedisManager(
            settings.socketio_message_queue,
            # The package's name: two services sharing one Redis keep their rooms apart.
            channel=f"{app.import_name.partition('.')[0]}-socketio",
            redis_options=redis_options,
        )
    trusted_hosts = settings.trusted_hosts
    socketio.init_app(
        app,
        async_mode=ASYNC_MODES[settings.worker_class],
        transports=["websocket"],
        # Engine.IO calls this with each handshake's Origin: flask-sock's rule.
        cors_allowed_origins=lambda origin, environ: same_site(
            origin, environ.get("HTTP_HOST", ""), trusted_hosts
        ),
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        # A larger message closes the socket, as a larger body gets a 413.
        max_http_buffer_size=settings.max_content_length,
        path=PATH,
        **options,
    )
    sockets = OpenSockets(capacity(settings), ping_interval=0, idle_timeout=0)
    app.extensions["service.socketio"] = sockets
    app.wsgi_app = _SocketGuard(app.wsgi_app, sockets, settings)


class _SocketGuard:
    """In front of Flask-SocketIO: admits or refuses each Socket.IO handshake, and
    hands Engine.IO a socket that the watcher closes with 1001 on a stop (and that
    sends whole: gevent's send() may send part of a large message)."""

    def __init__(self, app, sockets: OpenSockets, settings: Settings) -> None:
        self.app = app
        self.sockets = sockets
        self.settings = settings
        self.prefix = f"/{PATH}/"

    def __call__(self, environ, start_response):
        if not environ.get("PATH_INFO", "").startswith(self.prefix):
            return self.app(environ, start_response)
        refusal = self._refusal(environ)
        if refusal is not None:
            return refusal(environ, start_response)
        raw = environ.get("gunicorn.socket")
        if raw is None or environ.get("HTTP_UPGRADE", "").lower() != "websocket":
            # Not a socket (a test client), or not a websocket: Engine.IO refuses
            # every other transport itself.
            return self.app(environ, start_response)
        watched = self.sockets.open(raw)
        if watched is None:
            log.info("socket.io refused: %d of %d open", len(self.sockets), self.sockets.capacity)
            return ServiceUnavailable(
                "This worker holds all the WebSockets it takes; try again.",
                retry_after=RETRY_AFTER,
            )(environ, start_response)
        environ["gunicorn.socket"] = watched
        try:
            return self.app(environ, start_response)
        finally:
            self.sockets.discard(watched)

    def _refusal(self, environ):
        settings = self.settings
        if settings.worker_class == "sync":
            return NeedsAnotherWorkerClass()
        if self.sockets.capacity == 0:
            return NeedsAnotherWorkerClass(NO_SPARE_THREAD)
        host = environ.get("HTTP_HOST", "")
        if settings.trusted_hosts and not host_is_trusted(host, settings.trusted_hosts):
            return BadRequest("The Host of this request is not one of TRUSTED_HOSTS.")
        return None
