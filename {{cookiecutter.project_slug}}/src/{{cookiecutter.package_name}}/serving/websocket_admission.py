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
"""

from __future__ import annotations

from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.sansio.utils import host_is_trusted

from .settings import Settings

GOING_AWAY = 1001
# Seconds a refused client waits before it tries again: a socket of another worker
# or instance may be free by then.
RETRY_AFTER = 1


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
