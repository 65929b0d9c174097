"""What the serving machinery adds to your Flask app: `init_app(app)`, called by create_app.

It takes the server's settings (settings.py) and sets up, in this order: the one
logging setup, the data location as Flask's instance path (with a warning naming
what in it another UID of its group cannot write), body-size limits, session cookie
defaults, 400s for bodies gunicorn cannot parse, the Host check and path-only routing
redirects, and the WSGI middlewares (security headers, request ids and trace, the
size limit of chunked bodies, URL_PREFIX, and the Prometheus metrics where
METRICS_PORT or METRICS_TOKEN asks for them), and inside them the OpenTelemetry
server span where the OTEL_* variables ask for traces (tracing.py).
{%- if cookiecutter.database == "postgresql" %}
Then the database: a session per request, 503 when the database cannot serve, the
`db` commands (database.py).
{%- endif %}
Nothing here decides how errors look: that is errors.py in your app.
{%- if cookiecutter.websockets == "yes" %}
Last, the guard of WebSocket routes (websockets.py): Origin, sockets per worker,
pings, and the close on a stop.
{%- endif %}
{%- if cookiecutter.websockets == "socketio" %}
Socket.IO is bound by `init_socketio(app, socketio)` (socketio.py), which your
factory calls after this.
{%- endif %}
"""

from __future__ import annotations

import logging

from flask import Flask, request
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import BadRequest

from .data_files import unshared_files
from .logging_setup import configure_logging
from .request_bodies import ChunkedBodyLimitMiddleware
from .request_context import RequestContextMiddleware
from .security_headers import SecurityHeadersMiddleware
from .sessions import ProxyAwareSessionInterface
from .settings import current_settings
from .slow_requests import ROUTE_KEY
from .trusted_hosts import init_trusted_hosts
from .url_prefix import UrlPrefixMiddleware

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    # In the service, the settings the master validated at boot, which this worker
    # inherited when it was forked: nothing is read again. Elsewhere (tests, `flask`),
    # the environment as it is now.
    settings = current_settings()
    configure_logging(settings.log_level, settings.log_format)

    # Flask would derive the instance path from the installed package: inside the
    # venv, read-only in the image and not writable by an arbitrary UID.
    app.instance_path = str(settings.data_dir)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        # A service that keeps no files runs without it; one that does fails on
        # first write, with this line explaining why.
        log.warning("DATA_DIR %s is not writable: %s", settings.data_dir, error.strerror)
    _warn_of_unshared_files(settings.data_dir)

    app.config.update(
        # Larger bodies get a 413: before the view runs when they announce their
        # length, when it reads them if chunked (request_bodies.py).
        MAX_CONTENT_LENGTH=settings.max_content_length,
        GOOGLE_CLOUD_PROJECT=settings.google_cloud_project,
        # Not sent on cross-site subrequests or POSTs: the default CSRF defence.
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.session_interface = ProxyAwareSessionInterface()

    # Gunicorn raises these while a view reads a body with broken chunking, or one
    # cut short: the client's fault, a 400, answered the way errors.py answers it.
    app.register_error_handler(ParseException, _malformed_body)
    app.register_error_handler(NoMoreData, _malformed_body)

    init_trusted_hosts(app, settings.trusted_hosts)
    # First of all the before_request hooks, the Host check's too: a request one of
    # them answers (a refused Host's 400, your login check's redirect) is counted,
    # timed and traced under the route it asked for.
    app.before_request_funcs.setdefault(None, []).insert(0, _note_route)

    if settings.tracing.enabled:
        # A span per request, around Flask's own wsgi_app (tracing.py); the provider
        # and exporter are made in each worker after fork (server_hooks.py).
        from .tracing import instrument

        instrument(app, settings)
    wsgi_app = ChunkedBodyLimitMiddleware(app.wsgi_app, app)
    if settings.url_prefix:
        wsgi_app = UrlPrefixMiddleware(wsgi_app, settings.url_prefix)
    wsgi_app = RequestContextMiddleware(wsgi_app, app)
    if settings.metrics.enabled:
        # Counts every request (the request id's middleware inside it, so a streamed
        # body is measured to its last byte) and answers /metrics (metrics.py).
        from .metrics import MetricsMiddleware

        wsgi_app = MetricsMiddleware(wsgi_app, settings.metrics, settings.url_prefix)
    app.wsgi_app = SecurityHeadersMiddleware(wsgi_app)
{%- if cookiecutter.database == "postgresql" %}

    from .database import init_database

    init_database(app)
{%- endif %}
{%- if cookiecutter.websockets == "yes" %}

    from .websockets import init_websockets

    init_websockets(app, settings)
{%- endif %}


def _note_route() -> None:
    """The rule this request matched, for the metrics, the slow-request line and the
    span's name (metrics.py, slow_requests.py, tracing.py)."""
    current = request._get_current_object()  # one context lookup, not three (~1 us each)
    rule = current.url_rule
    if rule is not None:
        note = current.environ.get(ROUTE_KEY)
        if note is not None:
            note.rule = rule.rule


def _warn_of_unshared_files(data_dir) -> None:
    """Before the first request fails with "readonly database" or "permission denied"."""
    unshared = unshared_files(data_dir)
    if unshared:
        names = ", ".join(str(path.relative_to(data_dir)) for path in unshared[:5])
        more = f" and {len(unshared) - 5} more" if len(unshared) > 5 else ""
        log.warning(
            "DATA_DIR %s: %s%s cannot be written by another UID of its group (not "
            "group-writable): create files with serving.shared_file(), see docs/state.md",
            data_dir,
            names,
            more,
            extra={"unshared_files": len(unshared)},
        )


def _malformed_body(error: Exception):
    from flask import current_app

    log.info("malformed request body: %s", error)
    return current_app.handle_http_exception(
        BadRequest("The request body is malformed or incomplete.")
    )
