"""Every error is JSON: {"error": {"status", "name", "message"}}, never HTML or a traceback."""

from __future__ import annotations

import json
import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def _http_error(error: HTTPException) -> Response:
    # get_response() keeps the headers the error needs, such as Allow on a 405.
    response = error.get_response()
    body = {"status": error.code, "name": error.name, "message": error.description}
    response.set_data(json.dumps({"error": body}))
    response.content_type = "application/json"
    return response


def _unexpected_error(error: Exception) -> Response:
    log.exception("unhandled exception")
    # The traceback goes to the log, never to the client.
    return _http_error(InternalServerError())
