"""OpenTelemetry traces: a server span per request, exported over OTLP/HTTP by each worker.

Imported only when tracing is on (tracing_settings.py says when): a service that
does not ask for traces loads nothing from OpenTelemetry and pays nothing per request.
In the three places gunicorn's pre-fork model allows:

- `instrument(app, settings)`, from init_app (flask_app.py), wherever the app is
  loaded: in each worker, or in the master under GUNICORN_PRELOAD. It only wraps the
  app (the Flask instrumentation: a SERVER span per request, named and tagged with
  the rule Flask matched, `http.route`, and the status code; the parent read from a
  W3C `traceparent` header by the default propagators). No provider, no exporter,
  no thread yet: its tracer is the API's proxy, which finds the worker's provider
  once it is set.
- `start_worker_tracing(settings)`, from post_worker_init (server_hooks.py): in each
  worker after fork, and after the gevent worker has patched the standard library,
  so the BatchSpanProcessor's thread is a greenlet there and the exporter's sockets
  cooperate. The provider, its batch processor and the OTLP/HTTP exporter (requests,
  a new connection pool per worker) are made here and never in the master: an
  exporter made before fork shares its connections and its lock with every worker.
- `stop_worker_tracing()`, from worker_exit: after the worker's last request, out of
  any signal handler, the batch is exported within FLUSH_SECONDS.

The paths of the serving machinery (/health, /ready, /status, /metrics) are never
traced: probes every few seconds would bury the traffic. Each request's span ids are
bound for its log lines (logging_setup.SpanIds): `trace_id` and `span_id`, and on
Google Cloud `logging.googleapis.com/trace`, `spanId` and `trace_sampled`.
"""

from __future__ import annotations

import logging
import re
import threading

from flask import Flask, current_app, request
from opentelemetry import trace

from .logging_setup import SpanIds, span_var
from .metrics_settings import METRICS_PATH
from .settings import Settings
from .slow_requests import ROUTE_KEY
from .trusted_hosts import PROBE_PATHS

log = logging.getLogger(__name__)

# /status is your health.py's route, answered by serving.service_status(): as cheap and
# as frequent as the probes (status pages and dashboards poll it).
STATUS_PATH = "/status"
UNTRACED_PATHS = (*sorted(PROBE_PATHS), STATUS_PATH, METRICS_PATH)
# Seconds the last batch may take at a worker's exit. A collector on the same network
# answers in milliseconds; 2 s is a quarter of GUNICORN_GRACEFUL_TIMEOUT's default
# (8 s), which must also hold the worker's last requests before the master's SIGKILL,
# and never more than half of a shorter one.
FLUSH_SECONDS = 2.0
# This worker's provider, once start_worker_tracing() has made it.
_provider = None
# The environ key of the token that binds a request's span ids (set, then reset).
_TOKEN_KEY = "service.span_token"  # noqa: S105 (a contextvar's token, no secret)


def untraced_url_patterns(url_prefix: str | None, extra: tuple[str, ...] = ()) -> list[str]:
    """Regexes of the URLs not traced, as the Flask instrumentation matches them:
    searched in the whole URL (scheme, host, path and query)."""
    paths = "|".join(re.escape(path) for path in UNTRACED_PATHS)
    prefix = f"(?:{re.escape(url_prefix)})?" if url_prefix else ""
    return [rf"^[a-z]+://[^/]+{prefix}(?:{paths})(?:\?|$)", *extra]


def instrument(app: Flask, settings: Settings) -> None:
    """Wrap `app` in the Flask instrumentation: directly around Flask's own wsgi_app,
    inside the serving middlewares (the status code is read while Flask's request is
    still current). Call before they wrap it."""
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    excluded = untraced_url_patterns(settings.url_prefix, settings.tracing.excluded_urls)
    hooks = app.before_request_funcs.setdefault(None, [])
    others = list(hooks)
    FlaskInstrumentor.instrument_app(
        app,
        excluded_urls=",".join(excluded),
        # Its SQL comments are for database instrumentations, which are not installed.
        enable_commenter=False,
    )
    # Its hook starts the span: first of all, then the span's ids bound for the log.
    # After the Host check (trusted_hosts.py), a request that check refuses had no span
    # and the instrumentation logged a WARNING for each: a scanner's every request.
    started = [hook for hook in hooks if hook not in others]
    hooks[:] = [*started, _bind_span, *others]
    app.teardown_request(_unbind_span)


def _bind_span() -> None:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:  # an untraced path
        return
    trace_id = format(context.trace_id, "032x")
    project = current_app.config.get("GOOGLE_CLOUD_PROJECT")
    ids = SpanIds(
        trace_id=trace_id,
        span_id=format(context.span_id, "016x"),
        sampled=context.trace_flags.sampled,
        cloud_trace=f"projects/{project}/traces/{trace_id}" if project else None,
    )
    environ = request.environ
    note = environ.get(ROUTE_KEY)
    if note is not None:  # for the access line, after this request's context has gone
        note.span = ids
    environ[_TOKEN_KEY] = span_var.set(ids)


def _unbind_span(_error: BaseException | None) -> None:
    token = request.environ.pop(_TOKEN_KEY, None)
    if token is not None:
        span_var.reset(token)


def start_worker_tracing(settings: Settings) -> None:
    """This worker's provider, batch processor and exporter (post_worker_init)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
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
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    global _provider
    _provider = provider


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


def _sampler(name: str, ratio: float):
    from opentelemetry.sdk.trace import sampling

    root = {
        "always_on": sampling.ALWAYS_ON,
        "always_off": sampling.ALWAYS_OFF,
        "traceidratio": sampling.TraceIdRatioBased(ratio),
    }[name.removeprefix("parentbased_")]
    return sampling.ParentBased(root) if name.startswith("parentbased_") else root
