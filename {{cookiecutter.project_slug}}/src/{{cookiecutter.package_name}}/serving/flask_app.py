"""What the serving machinery adds to your Flask app: `init_app(app)`, called by create_app.

It takes the server's settings (settings.py) and sets up, in this order: the one
logging setup, the data location as Flask's instance path, body-size limits,
session cookie defaults, 400s for bodies gunicorn cannot parse, and the two WSGI
middlewares (request ids and trace, security headers). Nothing here decides how
errors look: that is errors.py in your app.
"""

from __future__ import annotations

import logging

from flask import Flask
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import BadRequest

from .logging_setup import configure_logging
from .request_context import RequestContextMiddleware
from .security_headers import SecurityHeadersMiddleware
from .sessions import ProxyAwareSessionInterface
from .settings import current_settings

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

    app.config.update(
        # Larger bodies get a 413 before the view reads them.
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

    app.wsgi_app = SecurityHeadersMiddleware(RequestContextMiddleware(app.wsgi_app, app))


def _malformed_body(error: Exception):
    from flask import current_app

    log.info("malformed request body: %s", error)
    return current_app.handle_http_exception(
        BadRequest("The request body is malformed or incomplete.")
    )
