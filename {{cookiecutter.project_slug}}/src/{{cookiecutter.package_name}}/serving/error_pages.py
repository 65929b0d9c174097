"""gunicorn's own error pages, with the security headers and a request id.

gunicorn answers a request it cannot parse (400), a request line or header block
over its limits (414, 431) and a few more itself, in the worker's `handle_error`,
before any WSGI code runs: the middlewares that add the security headers and the
`X-Request-ID` never see these responses. The worker classes gunicorn_config.py
selects all take this mixin first. It binds a new request id around gunicorn's own
handling, so gunicorn's warning line and its access entry carry it (gunicorn
refuses these requests before it has their headers: a client's X-Request-ID is
not known yet), and it replaces gunicorn's page writer, in the worker's process
only, with one that sends the same status, the security headers and that id. The
body is plain text: the message can quote the client's own bytes.
"""

from __future__ import annotations

from gunicorn import util

from .logging_setup import request_id_var
from .request_context import REQUEST_ID_HEADER, new_request_id
from .security_headers import SECURITY_HEADERS


class ErrorPages:
    """Mixin for a gunicorn worker class: put it first among the bases."""

    def init_process(self) -> None:
        # gunicorn's handle_error calls util.write_error by module attribute; this
        # worker process is the only one that sees the change.
        util.write_error = write_error
        super().init_process()

    def handle_error(self, req, client, addr, exc) -> None:
        token = request_id_var.set(new_request_id())
        try:
            super().handle_error(req, client, addr, exc)
        finally:
            request_id_var.reset(token)


def write_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's util.write_error, with the headers every response of the service carries."""
    body = f"{status_int} {reason}\n{mesg}\n".encode("utf-8", "replace")
    request_id = request_id_var.get() or new_request_id()
    headers = [
        f"HTTP/1.1 {status_int} {reason}",
        "Connection: close",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in SECURITY_HEADERS.items()),
        f"{REQUEST_ID_HEADER}: {request_id}",
    ]
    util.write_nonblock(sock, "\r\n".join(headers).encode("latin-1") + b"\r\n\r\n" + body)
