"""How errors look: a small HTML page for browsers, JSON for everything else.

A client that prefers text/html (a browser) gets templates/error.html, restyle it
freely; API clients, curl and anything without a preference get
{"error": {"status", "name", "message"}}. A message passed to abort(404, "...")
appears in both. Unexpected exceptions become a 500 without a traceback (Flask
logs the exception with its traceback as one JSON line); with DEBUG or TESTING
they propagate instead, so the debugger shows them and a test sees the real one.
"""

from __future__ import annotations

import json

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException


def register(app: Flask) -> None:
    # Only HTTP errors: registering `Exception` too would swallow what DEBUG and
    # TESTING should propagate. Flask turns other exceptions into a 500 that comes here.
    app.register_error_handler(HTTPException, http_error)


def wants_html() -> bool:
    """True when the client ranks text/html above JSON; a tie goes to JSON."""
    return request.accept_mimetypes.best_match(("application/json", "text/html")) == "text/html"


def http_error(error: HTTPException) -> Response:
    # get_response() keeps the headers the error needs, such as Allow on a 405.
    response = error.get_response()
    if wants_html():
        response.set_data(
            render_template(
                "error.html", status=error.code, name=error.name, message=error.description
            )
        )
        response.content_type = "text/html; charset=utf-8"
    else:
        body = {"status": error.code, "name": error.name, "message": error.description}
        response.set_data(json.dumps({"error": body}))
        response.content_type = "application/json"
    return response
