"""How the notes app answers errors: its own shape, replacing the starter's errors.py.

API clients get {"problem": {"status", "title", "detail"}}; browsers get a page in the
app's own layout (templates/errors/page.html). Unexpected exceptions are a 500 without
a traceback; with DEBUG or TESTING they propagate, as the starter's did.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, problem)


def problem(error: HTTPException) -> Response:
    response = error.get_response()  # keeps the headers an error needs (Allow on a 405)
    best = request.accept_mimetypes.best_match(("application/json", "text/html"))
    if best == "text/html":
        page = render_template("errors/page.html", status=error.code, detail=error.description)
        response.set_data(page)
        response.content_type = "text/html; charset=utf-8"
    else:
        body = {"status": error.code, "title": error.name, "detail": error.description}
        response.set_data(jsonify(problem=body).get_data())
        response.content_type = "application/json"
    return response
