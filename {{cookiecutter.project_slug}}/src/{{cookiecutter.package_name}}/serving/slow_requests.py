"""One WARNING for each request slower than SLOW_REQUEST_SECONDS (default 1 s; 0: off).

The time is gunicorn's own, the one its access entry reports: from the parsed request
to the response's last byte handed to the socket, a streamed body's last chunk and
a sent file included, under every worker class. gunicorn's logger passes it here
(logging_setup.GunicornLogger.access), also with the access log turned off, and
binds the request's id for the line. Under `make dev` (Werkzeug's server) nothing
measures requests, and nothing warns.

The line names the route, Flask's rule (`/items/<int:item_id>`), never the path: a
path carries ids and tokens, and a scanner's paths are endless. A request no rule
matched (a 404) has none. The rule is noted per request in the WSGI environ
(`RouteNote`, set up by request_context.py, filled by flask_app.py), where gunicorn's
access call finds it after Flask's request has ended.

Standard library only: gunicorn's master imports this with logging_setup.py.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

# The WSGI environ key of a request's RouteNote.
ROUTE_KEY = "service.route"
# The status of a request whose app took its connection over: flask-sock sends a
# WebSocket handshake's 101 itself, and when the session ends raises StopIteration out
# of the app, gunicorn's sign to close the connection without a response of its own.
# The metrics count such a request under 1xx and the span names 101 (metrics.py,
# tracing.py): a session that ended is not a crash.
SWITCHING_PROTOCOLS = "101 Switching Protocols"


class RouteNote:
    """The rule Flask matched for one request, its status line once the app has given
    it, and its span's ids where tracing is on (tracing.py). An object in the environ
    rather than a string: URL_PREFIX hands Flask a copy of gunicorn's environ
    (url_prefix.py), and both copies hold this one note."""

    __slots__ = ("rule", "span", "status")

    def __init__(self) -> None:
        self.rule: str | None = None
        # "200 OK": noted by request_context.py as the app starts its response.
        self.status: str | None = None
        # logging_setup.SpanIds, for the access line and this warning.
        self.span = None


def warn_if_slow(environ, status: int, seconds: float, threshold: float) -> None:
    """Log the WARNING when `seconds` is over `threshold` (0: never)."""
    if not threshold or seconds <= threshold:
        return
    note = environ.get(ROUTE_KEY)
    route = note.rule if note is not None else None
    method = environ.get("REQUEST_METHOD")
    duration_ms = round(seconds * 1000, 3)
    log.warning(
        "slow request: %s %s answered %s in %.0f ms (SLOW_REQUEST_SECONDS=%g)",
        method,
        route or "(no route)",
        status,
        duration_ms,
        threshold,
        extra={
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "slow_request_seconds": threshold,
        },
    )
