"""Per-request context: the request id and the Cloud Trace id, as WSGI middleware.

Plain WSGI rather than Flask hooks so that the id is set before Flask runs, reaches
every response (error pages included) and lands in the WSGI environ, where
gunicorn's access log entry reads it after the response is sent.

A streamed body runs after the app has returned, while the server iterates it, so
the id and trace are bound again around each chunk and the body's close(). The
body's first chunk is read here, before the server's start_response is called
(gunicorn sends no header before that chunk either, so an event stream loses
nothing): an exception before it is answered by your error handlers (errors.py,
JSON or HTML) with the request id, and logged once. After it the status line has
gone out; an exception is logged here, with the request id, and re-raised, so that
gunicorn cuts the connection and the client sees an unfinished body, not a short
one that looks complete.
"""

from __future__ import annotations

import logging
import os
import random
import re

from .logging_setup import mark_logged, request_id_var, span_var, trace_var
from .slow_requests import ROUTE_KEY, RouteNote

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# Accept a caller's id only when it is short and plain: it is echoed in a header
# and written to every log line. Heroku's router sends a UUID; some proxies send
# base64 or dotted ids.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9+/=._:-]{8,200}$")
# X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=OPTIONS (trace id: 32 hex digits).
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/|$)")
# W3C traceparent: VERSION-TRACE_ID-PARENT_ID-FLAGS.
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
# A version 4 UUID's version (4) and variant (RFC 9562) bits, as uuid.uuid4() sets them.
_UUID4_CLEARED = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)
# The ids' own generator, seeded from os.urandom, and again in each forked worker so
# that no two share a sequence. Not the random module's: an app's random.seed(0) would
# give every worker, and every start, the same ids. (A process copied without a fork,
# from a snapshot of its memory, would repeat them: none of the targets does that.)
_ids = random.Random()  # noqa: S311 - predictable, and no secret: new_request_id
os.register_at_fork(after_in_child=_ids.seed)


class RequestContextMiddleware:
    """`app` is the WSGI app to wrap, `flask_app` the Flask app: its config is read per
    request (GOOGLE_CLOUD_PROJECT, so a value a test or the factory sets after
    init_app() still applies), and its error handlers answer a body that fails
    before its first chunk."""

    def __init__(self, app, flask_app) -> None:
        self.app = app
        self.flask_app = flask_app

    def __call__(self, environ, start_response):
        request_id = _request_id(environ.get("HTTP_X_REQUEST_ID"))
        trace = self._trace(environ)
        environ["service.request_id"] = request_id
        environ["service.trace"] = trace
        # Filled in by Flask's routing (flask_app.py), read with gunicorn's timing.
        environ[ROUTE_KEY] = note = RouteNote()
        bound = _Bound(request_id, trace, note)
        start = _DeferredStart(start_response, request_id, note)
        with bound:
            body = self.app(environ, start)
            file_wrapper = environ.get("wsgi.file_wrapper")
            if isinstance(file_wrapper, type) and isinstance(body, file_wrapper):
                # send_file(): gunicorn sends it with sendfile(), unread by Python.
                start.send()
                return body
            chunks = iter(body)
            # The span's ids, noted while the app ran (tracing.py), for a streamed
            # body's first step too.
            span_token = span_var.set(note.span)
            try:
                first = next(chunks)
            except StopIteration:  # an empty body, as for HEAD
                first, chunks = _NO_CHUNK, iter(())
            except Exception as error:
                _close(body)
                return self._answer(error, environ, start)
            finally:
                span_var.reset(span_token)
        start.send()
        return _BoundBody(first, chunks, body, bound, environ)

    def _answer(self, error: Exception, environ, start) -> object:
        """The response to an exception raised before the body's first chunk, built
        as Flask builds one for an exception a view raised. Called while `error` is
        being handled: Flask's handlers re-raise it with a bare `raise`."""
        app = self.flask_app
        context = app.request_context(environ)
        context.push()
        try:
            try:
                response = app.finalize_request(app.handle_user_exception(error))
            except Exception as unhandled:
                # Logs it (the request id is still bound) and answers 500 through the
                # handler errors.py registers; re-raises with TESTING or DEBUG on.
                response = app.handle_exception(unhandled)
            body = response(environ, start)
        finally:
            context.pop(error)
        start.send()
        return body

    def _trace(self, environ) -> str | None:
        project = self.flask_app.config.get("GOOGLE_CLOUD_PROJECT")
        if not project:
            return None
        trace_id = None
        cloud = _CLOUD_TRACE.match(environ.get("HTTP_X_CLOUD_TRACE_CONTEXT", ""))
        if cloud:
            trace_id = cloud.group(1).lower()
        else:
            parent = _TRACEPARENT.match(environ.get("HTTP_TRACEPARENT", ""))
            if parent:
                trace_id = parent.group(1)
        if trace_id is None or trace_id == "0" * 32:
            return None
        return f"projects/{project}/traces/{trace_id}"


def _request_id(offered: str | None) -> str:
    if offered and _SANE_REQUEST_ID.match(offered):
        return offered
    return new_request_id()


def new_request_id() -> str:
    """A random (version 4) UUID's 32 hex digits, as `uuid.uuid4().hex` gives them.

    From a generator of the process's own (_ids), not uuid4()'s getrandom() system
    call on every request. An id ties log lines together and is sent back to the
    client: it guards nothing. Some 160 ids of one worker tell its next ones, so never
    use one as a token, or as a key that finds anything (`secrets` is for those).
    """
    return f"{_ids.getrandbits(128) & _UUID4_CLEARED | _UUID4_SET:032x}"


class _Bound:
    """Binds a request's id and trace for one `with` block: the app's call, then each
    step of its body. Set and reset every time, never held from one step to the
    next: a context variable belongs to a thread (gthread) or a greenlet (gevent),
    and a token can only be reset in the context that set it. The span's ids, where
    tracing noted them (tracing.py), are bound for the body's steps too."""

    __slots__ = ("_tokens", "note", "request_id", "trace")

    def __init__(self, request_id: str, trace: str | None, note: RouteNote) -> None:
        self.request_id = request_id
        self.trace = trace
        self.note = note

    def __enter__(self) -> None:
        self._tokens = (
            request_id_var.set(self.request_id),
            trace_var.set(self.trace),
            span_var.set(self.note.span),
        )

    def __exit__(self, *exc_info) -> None:
        request_token, trace_token, span_token = self._tokens
        span_var.reset(span_token)
        trace_var.reset(trace_token)
        request_id_var.reset(request_token)


class _DeferredStart:
    """The start_response the app gets: it holds the status and headers until
    send(), which passes them on to the server's with the request id added."""

    __slots__ = ("_note", "_pending", "_request_id", "_sent", "_start_response", "_write")

    def __init__(self, start_response, request_id: str, note: RouteNote) -> None:
        self._start_response = start_response
        self._request_id = request_id
        self._note = note
        self._pending = None
        self._sent = False
        self._write = None

    def __call__(self, status, headers, exc_info=None):
        self._note.status = status  # for the span (tracing.py), as the client gets it
        if self._sent:  # the server decides (PEP 3333: it re-raises exc_info)
            return self._start_response(status, self._with_request_id(headers), exc_info)
        self._pending = (status, headers, exc_info)
        return self._write_now

    def send(self) -> None:
        if not self._sent:
            status, headers, exc_info = self._pending
            self._write = self._start_response(status, self._with_request_id(headers), exc_info)
            self._sent = True

    def _write_now(self, data: bytes) -> None:
        # PEP 3333's write() for apps that use it: the response starts at once.
        self.send()
        self._write(data)

    def _with_request_id(self, headers):
        headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
        headers.append((REQUEST_ID_HEADER, self._request_id))
        return headers


_NO_CHUNK = object()


class _BoundBody:
    """The body the server iterates: the chunk read ahead, then the rest, each step
    and close() with the request's id and trace bound."""

    __slots__ = ("_body", "_bound", "_chunks", "_environ", "_first")

    def __init__(self, first, chunks, body, bound: _Bound, environ) -> None:
        self._first = first
        self._chunks = chunks
        self._body = body
        self._bound = bound
        self._environ = environ

    def __iter__(self):
        return self

    def __next__(self):
        if self._first is not _NO_CHUNK:
            first, self._first = self._first, _NO_CHUNK
            return first
        with self._bound:
            try:
                chunk = next(self._chunks, _NO_CHUNK)
            except Exception as error:
                self._log_cut(error)
                raise
        if chunk is _NO_CHUNK:
            raise StopIteration
        return chunk

    def close(self) -> None:
        with self._bound:
            try:
                _close(self._body)
            except Exception as error:
                self._log_cut(error)
                raise

    def _log_cut(self, error: Exception) -> None:
        # The status line is out: re-raised, the exception makes gunicorn close the
        # connection unfinished. Logged here, where the request id is bound; gunicorn's
        # own line for it would have none (logging_setup.mark_logged).
        log.error(
            "Exception in the body of %s %s after the response started; connection cut",
            self._environ.get("REQUEST_METHOD"),
            self._environ.get("PATH_INFO"),
            exc_info=error,
        )
        mark_logged(error)


def _close(body) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()
