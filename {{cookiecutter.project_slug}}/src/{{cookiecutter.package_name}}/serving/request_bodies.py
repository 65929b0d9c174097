"""A chunked request body over the size limit gets a 413, as one with Content-Length does.

Werkzeug refuses a body whose Content-Length is over MAX_CONTENT_LENGTH before the
view runs. A chunked body has no length to check: Werkzeug reads it up to the limit
and stops there, and `get_data()`, `get_json()` and a url-encoded `form` silently
return its first MAX_CONTENT_LENGTH bytes (the view answers 200 on a cut body).
This middleware wraps such a body so that the read which reaches the limit checks
for one more byte: if the client sent more, the read raises RequestEntityTooLarge,
which Flask answers with a 413 through your error handlers. The limit is the one
the request has when it is read (Flask's `request.max_content_length`, which a
view may change for itself).
"""

from __future__ import annotations

from flask import has_request_context, request
from werkzeug.exceptions import RequestEntityTooLarge


class ChunkedBodyLimitMiddleware:
    def __init__(self, app, flask_app) -> None:
        self.app = app
        self.flask_app = flask_app

    def __call__(self, environ, start_response):
        # Only bodies without a length: gunicorn ends a Content-Length body at its
        # length, and Werkzeug checks that length against the limit up front.
        if (
            environ.get("CONTENT_LENGTH") is None
            and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        ):
            environ["wsgi.input"] = _LimitedBody(environ["wsgi.input"], self._limit)
        return self.app(environ, start_response)

    def _limit(self) -> int | None:
        if has_request_context():
            return request.max_content_length
        return self.flask_app.config["MAX_CONTENT_LENGTH"]


class _LimitedBody:
    """A wsgi.input that raises RequestEntityTooLarge once more than the limit arrives."""

    def __init__(self, stream, limit) -> None:
        self._stream = stream
        self._limit = limit
        self._read = 0

    def _count(self, data: bytes) -> bytes:
        self._read += len(data)
        limit = self._limit()
        # At the limit Werkzeug stops asking: look for one more byte here.
        if (
            limit is not None
            and self._read >= limit
            and (self._read > limit or self._stream.read(1))
        ):
            raise RequestEntityTooLarge()
        return data

    def _bounded(self, size: int | None) -> int | None:
        """At most one byte past the limit: a view's read() of "everything" must not
        take in a 100 MiB body before it is counted."""
        limit = self._limit()
        if limit is None:
            return size
        room = max(limit - self._read + 1, 1)
        return room if size is None or size < 0 or size > room else size

    def read(self, size: int | None = None) -> bytes:
        return self._count(self._stream.read(self._bounded(size)))

    def readline(self, size: int | None = None) -> bytes:
        return self._count(self._stream.readline(self._bounded(size)))

    def readlines(self, hint: int | None = None) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self):
        return iter(self.readline, b"")
