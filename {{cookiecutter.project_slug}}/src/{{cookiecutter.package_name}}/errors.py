"""Every error is JSON: {"error": {"status", "name", "message"}}, never HTML or a traceback."""

from __future__ import annotations

import json
import logging

from flask import Flask, Response
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError

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
    if isinstance(error, (ParseException, NoMoreData)):
        # Gunicorn raises these while a view reads a body with broken chunking, or
        # one cut short: the client's fault, a 400, not ours.
        log.info("malformed request body: %s", error)
        return _http_error(BadRequest("The request body is malformed or incomplete."))
    log.exception("unhandled exception")
    # The traceback goes to the log, never to the client.
    return _http_error(InternalServerError())
