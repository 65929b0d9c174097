"""Per-request context: the request id and the Cloud Trace id, as WSGI middleware.

Plain WSGI rather than Flask hooks so that the id is set before Flask runs, reaches
every response (error pages included) and lands in the WSGI environ, where
gunicorn's access log entry reads it after the response is sent.
"""

from __future__ import annotations

import re
import uuid

from .logging_setup import request_id_var, trace_var

REQUEST_ID_HEADER = "X-Request-ID"
# Accept a caller's id only when it is short and plain: it is echoed in a header
# and written to every log line. Heroku's router sends a UUID; some proxies send
# base64 or dotted ids.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9+/=._:-]{8,200}$")
# X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=OPTIONS (trace id: 32 hex digits).
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/|$)")
# W3C traceparent: VERSION-TRACE_ID-PARENT_ID-FLAGS.
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


class RequestContextMiddleware:
    """`config` is the Flask app's config: GOOGLE_CLOUD_PROJECT is read per request,
    so a value a test or the factory sets after init_app() still applies."""

    def __init__(self, app, config) -> None:
        self.app = app
        self.config = config

    def __call__(self, environ, start_response):
        request_id = _request_id(environ.get("HTTP_X_REQUEST_ID"))
        trace = self._trace(environ)
        environ["service.request_id"] = request_id
        environ["service.trace"] = trace
        request_token = request_id_var.set(request_id)
        trace_token = trace_var.set(trace)

        def start_with_request_id(status, headers, exc_info=None):
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, start_with_request_id)
        finally:
            trace_var.reset(trace_token)
            request_id_var.reset(request_token)

    def _trace(self, environ) -> str | None:
        project = self.config.get("GOOGLE_CLOUD_PROJECT")
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
    return uuid.uuid4().hex
