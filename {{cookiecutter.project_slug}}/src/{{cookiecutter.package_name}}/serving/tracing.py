"""OpenTelemetry traces: a server span per request, exported over OTLP/HTTP by each worker.

Imported only when tracing is on (tracing_settings.py says when): a service that
does not ask for traces loads nothing from OpenTelemetry and pays nothing per request.
In the three places gunicorn's pre-fork model allows:

- `instrument(app, settings)`, from init_app (flask_app.py), wherever the app is
  loaded: in each worker, or in the master under GUNICORN_PRELOAD. It only wraps
  Flask's wsgi_app in `TracingMiddleware` (below): no provider, no exporter, no
  thread yet; its tracer is the API's proxy, which finds the worker's provider once
  it is set.
- `start_worker_tracing(settings)`, from post_worker_init (server_hooks.py): in each
  worker after fork, and after the gevent worker has patched the standard library,
  so the BatchSpanProcessor's thread is a greenlet there and the exporter's sockets
  cooperate. The provider, its batch processor and the OTLP/HTTP exporter (requests,
  a new connection pool per worker) are made here and never in the master: an
  exporter made before fork shares its connections and its lock with every worker.
- `stop_worker_tracing()`, from worker_exit: after the worker's last request, out of
  any signal handler, the batch is exported within FLUSH_SECONDS.

The middleware is ours rather than opentelemetry-instrumentation-flask's: that
package cost some 100 µs per request before any span was made (it collects the
request's attributes twice, for the span and for its metrics, which a no-op meter
drops), where the budget of a traced request is 60 µs (docs/tracing.md, "What it
costs"). Ours sets the stable HTTP conventions' attributes and nothing more, on a
lean span of ours (server_span.py) that the exporter below writes straight to
protobuf bytes (otlp_encoding.py): the SDK's span and encoder took 45 µs of those 60.
Your own spans are the SDK's, children of it, sent by the same exporter.

The paths of the serving machinery (/health, /ready, /status, /metrics) are never
traced: probes every few seconds would bury the traffic. Each request's span ids are
bound for its log lines (logging_setup.SpanIds): `trace_id` and `span_id`, and on
Google Cloud `logging.googleapis.com/trace`, `spanId` and `trace_sampled`.
"""

from __future__ import annotations

import logging
import re
import threading

from flask import Flask
from opentelemetry import context, propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import otlp_encoding
from .logging_setup import SpanIds, span_var
from .metrics_settings import METRICS_PATH
from .server_span import ServerSpan, ServerSpans
from .settings import Settings
from .slow_requests import ROUTE_KEY, SWITCHING_PROTOCOLS
from .trusted_hosts import PROBE_PATHS

log = logging.getLogger(__name__)

# /status is your health.py's route, answered by serving.service_status(): as cheap and
# as frequent as the probes (status pages and dashboards poll it).
STATUS_PATH = "/status"
UNTRACED_PATHS = frozenset({*PROBE_PATHS, STATUS_PATH, METRICS_PATH})
# The methods HTTP defines: any other is `_OTHER` in the span's name and attribute, as
# the semantic conventions ask, so a scanner's made-up methods do not each name a span.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
# Seconds the last batch may take at a worker's exit. A collector on the same network
# answers in milliseconds; 2 s is a quarter of GUNICORN_GRACEFUL_TIMEOUT's default
# (8 s), which must also hold the worker's last requests before the master's SIGKILL,
# and never more than half of a shorter one.
FLUSH_SECONDS = 2.0
# This worker's provider, and what makes its server spans (server_span.py), once
# start_worker_tracing() has made them.
_provider = None
_server_spans = None


class _EnvironGetter(Getter):
    """A propagator's header, read from the WSGI environ (`traceparent` is
    HTTP_TRACEPARENT there)."""

    def get(self, carrier, key):
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return None if value is None else [value]

    def keys(self, carrier):
        return [key[5:].lower().replace("_", "-") for key in carrier if key.startswith("HTTP_")]


_GETTER = _EnvironGetter()


def instrument(app: Flask, settings: Settings) -> None:
    """Wrap Flask's own wsgi_app in TracingMiddleware, inside the serving middlewares
    (URL_PREFIX is off PATH_INFO there). Call before they wrap it."""
    app.wsgi_app = TracingMiddleware(app.wsgi_app, app, settings.tracing.excluded_urls)


class TracingMiddleware:
    """A SERVER span per request around Flask: its parent from the headers (the global
    propagator: W3C traceparent by default), named `METHOD ROUTE`, with the stable HTTP
    semantic conventions' attributes. The path is sent without its query string, which
    may hold tokens or personal data. Ended when Flask has answered: a streamed body's
    time is not in it, its log lines carry its ids (request_context.py)."""

    def __init__(self, wsgi_app, flask_app: Flask, excluded_urls: tuple[str, ...]) -> None:
        self.wsgi_app = wsgi_app
        # Read per request, as request_context.py does: a value the factory or a test
        # sets after init_app counts.
        self.config = flask_app.config
        self.tracer = trace.get_tracer(__name__)
        # OTEL_PYTHON_FLASK_EXCLUDED_URLS, searched in the whole URL as the Flask
        # instrumentation did; the URL is only built when there are some.
        self.excluded = re.compile("|".join(excluded_urls)) if excluded_urls else None

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        if path in UNTRACED_PATHS or (self.excluded and self._excluded(environ, path)):
            return self.wsgi_app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in KNOWN_METHODS:
            method = "_OTHER"
        # The request's context: what its headers carry, else empty. Never whatever is
        # current in this thread (a test's span around its client call, say).
        parent = _parent(environ)
        request_context = _EMPTY if parent is None else parent
        # The stable HTTP conventions' attributes, set if the sampler says yes (the
        # samplers tracing_settings.py allows read none of them). Not
        # network.protocol.version: gunicorn speaks HTTP/1.1 and little else (HTTP/2
        # ends at the proxy), and each attribute costs a span about 1 µs.
        attributes = {
            "http.request.method": method,
            "url.scheme": environ.get("wsgi.url_scheme", "http"),
            "url.path": environ.get("SCRIPT_NAME", "") + path,
            "server.address": _host(environ),
        }
        if _server_spans is not None:
            span = _server_spans.start(method, parent, attributes)
        else:  # no provider in this process (the test client, `flask run`): the API's
            span = self.tracer.start_span(
                method, context=request_context, kind=SpanKind.SERVER, attributes=attributes
            )
        # On the request's context, so the caller's baggage is current too.
        token = context.attach(trace.set_span_in_context(span, request_context))
        # Unsampled too: its log lines carry its ids, with trace_sampled false.
        note = environ.get(ROUTE_KEY)
        ids_token = _bind_ids(span, note, self.config.get("GOOGLE_CLOUD_PROJECT"))
        try:
            return self.wsgi_app(environ, start_response)
        except StopIteration:  # the app took the connection over (slow_requests.py)
            if note is not None:
                note.status = SWITCHING_PROTOCOLS
            raise
        except BaseException as error:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise
        finally:
            if note is not None and span.is_recording():
                _note_answer(span, note, method)
            span.end()
            if ids_token is not None:
                span_var.reset(ids_token)
            context.detach(token)

    def _excluded(self, environ, path: str) -> bool:
        query = environ.get("QUERY_STRING")
        url = (
            f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
            f"{environ.get('SCRIPT_NAME', '')}{path}{'?' + query if query else ''}"
        )
        return self.excluded.search(url) is not None


def _note_answer(span, note, method: str) -> None:
    """The route and the status code, from the request's note: named by the rule Flask
    matched (flask_app.py notes it first of all the before_request hooks; the method
    alone when none did: a 404, a 405), its status as the client gets it
    (request_context.py notes it), an error from 500 on."""
    if note.rule is not None:
        # Unless your code named the span or set its route while it ran.
        if "http.route" not in span.attributes:
            span.set_attribute("http.route", note.rule)
        if span.name == method:
            span.update_name(f"{method} {note.rule}")
    if note.status is not None:
        code = int(note.status[:3])
        span.set_attribute("http.response.status_code", code)
        if code >= 500:
            span.set_status(Status(StatusCode.ERROR))


def _host(environ) -> str:
    """The Host header without its port ([::1]:8000 is [::1])."""
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    name, colon, port = host.rpartition(":")
    return name if colon and port.isdigit() else host


def _bind_ids(span, note, project: str | None):
    """The span's ids for this request's log lines (logging_setup.py), and for its
    access line and streamed body through the route note (request_context.py)."""
    span_context = span.get_span_context()
    if not span_context.is_valid:  # no provider yet, or the SDK disabled
        return None
    ids = SpanIds(
        span_context.trace_id, span_context.span_id, span_context.trace_flags.sampled, project
    )
    if note is not None:  # for the access line, after this request's context has gone
        note.span = ids
    return span_var.set(ids)


def _parent(environ):
    """The context the request's headers carry, as the global propagator reads them
    (W3C traceparent and baggage by default, or OTEL_PROPAGATORS'), or None when none
    of its headers came: most requests, and extracting nothing costs a request some
    3 µs."""
    propagator = propagate.get_global_textmap()
    keys = _HEADER_KEYS.get(propagator)
    if keys is None:
        keys = _HEADER_KEYS[propagator] = tuple(
            "HTTP_" + field.upper().replace("-", "_") for field in propagator.fields
        )
    if not keys:
        return propagate.extract(environ, getter=_GETTER)
    for key in keys:
        if key in environ:
            return propagate.extract(environ, getter=_GETTER)
    return None


# Each propagator's headers, as environ keys; a propagator that names none reads all.
_HEADER_KEYS: dict = {}
_EMPTY = context.Context()


def start_worker_tracing(settings: Settings) -> None:
    """This worker's provider, batch processor and exporter (post_worker_init)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from {{ cookiecutter.package_name }} import __version__

    attributes = {"service.name": settings.tracing.service_name, "service.version": __version__}
    if settings.revision:
        # No semantic convention names a platform's deploy (Cloud Run's K_REVISION is a
        # name, Render's a commit): the name /status and build_info give it.
        attributes["service.revision"] = settings.revision
    provider = TracerProvider(
        # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES; these win over it.
        resource=Resource.create(attributes),
        sampler=_sampler(settings.tracing.sampler, settings.tracing.sampler_ratio),
        # stop_worker_tracing() shuts it down, within a bound; atexit would wait 30 s.
        shutdown_on_exit=False,
    )
    # The exporter reads its endpoint, headers, compression and timeout from the
    # OTEL_EXPORTER_OTLP_* variables tracing_settings.py checked at boot.
    processor = BatchSpanProcessor(_exporter_class()(provider.resource))
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    global _provider, _server_spans
    _provider = provider
    _server_spans = ServerSpans(
        provider, processor, __name__, _root_sampled(settings.tracing.sampler)
    )


def _exporter_class():
    """The OTLP/HTTP exporter, writing server spans itself (otlp_encoding.py) and the
    SDK's spans (your own) with its own encoder; a class made here, as the exporter
    is imported only once tracing is on."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    class Exporter(OTLPSpanExporter):
        def __init__(self, resource) -> None:
            super().__init__()
            self._header = None
            self._resource = resource

        def export(self, spans):
            ours = [span for span in spans if type(span) is ServerSpan]
            theirs = [span for span in spans if type(span) is not ServerSpan]
            result = SpanExportResult.SUCCESS
            if ours and not self._sent(ours):
                result = SpanExportResult.FAILURE
            if theirs and super().export(theirs) is not SpanExportResult.SUCCESS:
                result = SpanExportResult.FAILURE
            return result

        def _sent(self, ours) -> bool:
            """The server spans encoded and sent, with the checks the SDK's export()
            makes: a batch that fails to encode or is over max_request_size is logged
            and dropped, never raised into the processor (which would drop your spans
            of the same batch with it)."""
            if self._shutdown:
                return False
            try:
                if self._header is None:
                    self._header = otlp_encoding.resource_header(
                        self._resource, ours[0].instrumentation_scope
                    )
                data = otlp_encoding.encode(ours, self._header)
            except Exception:
                log.exception("traces: %d server spans could not be encoded, dropped", len(ours))
                return False
            limit = getattr(self, "_max_request_size", 0) or 0
            if 0 < limit < len(data):
                log.warning(
                    "traces: %d server spans dropped: %d bytes, over max_request_size %d",
                    len(ours),
                    len(data),
                    limit,
                )
                return False
            # The exporter's own sending: compression, retries with backoff on 429 and
            # 5xx, its timeout. A private method, pinned with the package
            # (requirements.txt); test_tracing.py's receiver tests fail if it moves.
            return self._client.export(data).success

    return Exporter


def stop_worker_tracing(graceful_timeout: float) -> None:
    """Export what is left, waiting at most FLUSH_SECONDS (worker_exit, never a signal
    handler: the processor takes its lock and joins its thread)."""
    if _provider is None:  # the worker stopped before post_worker_init
        return
    # The SDK's shutdown waits up to 30 s for the batch (and the exporter's request up
    # to OTEL_EXPORTER_OTLP_TIMEOUT): run it aside and wait as long as the exit allows.
    # A greenlet under gevent (threading is patched by then), as the processor's own.
    stopping = threading.Thread(target=_provider.shutdown, name="otel-shutdown", daemon=True)
    stopping.start()
    stopping.join(min(FLUSH_SECONDS, graceful_timeout / 2))
    if stopping.is_alive():
        log.warning(
            "traces: the last spans were not exported within %g s (OTLP endpoint slow "
            "or unreachable); the worker exits without them",
            min(FLUSH_SECONDS, graceful_timeout / 2),
        )


def _root_sampled(name: str) -> bool | None:
    """Whether the sampler `name` samples a span with no parent, where it always says
    the same; None where it decides by the trace id (traceidratio)."""
    return {"always_on": True, "always_off": False}.get(name.removeprefix("parentbased_"))


def _sampler(name: str, ratio: float):
    from opentelemetry.sdk.trace import sampling

    root = {
        "always_on": sampling.ALWAYS_ON,
        "always_off": sampling.ALWAYS_OFF,
        "traceidratio": sampling.TraceIdRatioBased(ratio),
    }[name.removeprefix("parentbased_")]
    return sampling.ParentBased(root) if name.startswith("parentbased_") else root
