"""Prometheus metrics of the service, counted in each worker and served at /metrics.

What is counted (docs/metrics.md has the whole list and who can read it):

- http_requests_total{method,route,status_class} and
  http_request_duration_seconds{method,route}: `route` is the Flask rule that
  matched (`/notes/<int:note>`), `<unmatched>` when none did: never the raw path, so a
  scanner's thousand paths make one series, not a thousand. `method` is one of
  METHODS, else OTHER, for the same reason. A streamed body is measured to its
  last byte (when gunicorn closes it); a send_file() body, which gunicorn sends
  with sendfile() unseen by Python, to the moment the app returned it. A WebSocket
  session is counted under 1xx once it ends, and is in no duration bucket.
- http_requests_in_flight (livesum: the sum over live workers; a killed worker's
  requests died with it and leave the sum).
- worker_starts_total, worker_exits_total{reason,signal} (the master counts the
  exits: worker_exits.py), worker_memory_bytes (livemax: the largest live worker,
  the figure that meets the budget first; one series however often workers are
  replaced) and worker_memory_budget_bytes (WORKER_MEMORY_MB, livemax).
- build_info{version,revision} = 1 (livemax: 1 however many workers run).

Scrapes of /metrics are not counted: they are the reader, not the service's traffic.

Multiprocess mode: PROMETHEUS_MULTIPROC_DIR is set by the start command before
anything imports prometheus_client (metrics_files.py), and a scrape adds up every
worker's files, so any worker's answer is the whole service's. Without it (the
test client, `flask run`) the process's own registry is served. An app's own
Counter, Histogram or Gauge made with prometheus_client lands in the same files and
in the same answer.

Where /metrics is answered (metrics_settings.py): on METRICS_PORT, which answers
nothing else (404); on the main port only with `Authorization: Bearer METRICS_TOKEN`,
else the request goes on to the app as any other path (your app's 404).
"""

from __future__ import annotations

import glob
import hmac
import os
from time import perf_counter

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from . import metrics_files
from .metrics_settings import METRICS_PATH, MetricsSettings
from .metrics_writes import RequestWrites
from .slow_requests import ROUTE_KEY, SWITCHING_PROTOCOLS

METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
UNMATCHED = "<unmatched>"
# Seconds. 5 ms at the low end: a /health answers in 1-2 ms and nothing an operator
# acts on is finer; 1 s is where a request counts as slow (the slow-request
# warning's default); 30 s is GUNICORN_TIMEOUT's default, past which a sync
# worker is killed. Twelve buckets: each is a series per route and method.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter("http_requests", "HTTP requests answered", ("method", "route", "status_class"))
DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from the request reaching the app to its response's last byte",
    ("method", "route"),
    buckets=BUCKETS,
)
IN_FLIGHT = Gauge(
    "http_requests_in_flight", "HTTP requests being answered", multiprocess_mode="livesum"
)
WORKER_STARTS = Counter("worker_starts", "gunicorn workers booted")
WORKER_MEMORY = Gauge(
    "worker_memory_bytes",
    "Memory of the largest live worker (PSS, or RSS where the kernel has no smaps_rollup)",
    multiprocess_mode="livemax",
)
WORKER_MEMORY_BUDGET = Gauge(
    "worker_memory_budget_bytes",
    "WORKER_MEMORY_MB, the budget per worker",
    multiprocess_mode="livemax",
)
BUILD_INFO = Gauge(
    "build_info",
    "The running version and revision",
    ("version", "revision"),
    multiprocess_mode="livemax",
)


def worker_started(revision: str | None, memory_budget_bytes: int) -> None:
    """In each worker, once booted (server_hooks.post_worker_init). `revision`: the
    platform's name for the deployed code (settings.py, as /status shows it)."""
    WORKER_STARTS.inc()
    _writes.prepare()
    WORKER_MEMORY_BUDGET.set(memory_budget_bytes)
    BUILD_INFO.labels(_version(), revision or "").set(1)


def _version() -> str:
    from {{ cookiecutter.package_name }} import __version__

    return __version__


class SettledFilesCollector(MultiProcessCollector):
    """MultiProcessCollector without the files a worker is still creating.

    prometheus_client creates a worker's file, then sizes it: a scrape in that instant
    read 0 bytes and failed (struct.error, a 500), as a test saw with workers
    recycling under load. Such a file holds no value yet, so it is passed over.
    """

    def collect(self):
        files = []
        for path in glob.glob(os.path.join(self._path, "*.db")):
            try:
                if os.path.getsize(path) >= metrics_files.HEADER_BYTES:
                    files.append(path)
            except OSError:  # removed since the glob: a dead worker's live gauges
                continue
        return self.merge(files, accumulate=True)


def exposition() -> bytes:
    """The text a scrape gets: every worker's files added up, or this process's registry."""
    if metrics_files.VARIABLE not in os.environ:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    SettledFilesCollector(registry)
    with metrics_files.reading():
        return generate_latest(registry)


class MetricsMiddleware:
    """Counts every request and answers /metrics where it may be read."""

    def __init__(self, app, settings: MetricsSettings, url_prefix: str | None = None) -> None:
        self.app = app
        self.port = settings.port
        # gunicorn sets SERVER_PORT from the listening socket's address where that is
        # TCP, as the metrics port is: a request elsewhere then never has it, and only
        # one that claims it costs a getsockname() to confirm (on a unix: or fd://
        # socket gunicorn takes SERVER_PORT from the Host header).
        self._port_text = None if settings.port is None else str(settings.port)
        self._token = f"Bearer {settings.token}".encode() if settings.token else None
        # The main port's /metrics, also under URL_PREFIX (a router may pass only those).
        self._paths = (
            {METRICS_PATH, f"{url_prefix}{METRICS_PATH}"} if url_prefix else {METRICS_PATH}
        )

    def __call__(self, environ, start_response):
        if (
            self._port_text is not None
            and environ.get("SERVER_PORT") == self._port_text
            and _local_port(environ) == self.port
        ):
            if environ.get("PATH_INFO") == METRICS_PATH:
                return _answer(start_response, "200 OK", exposition(), CONTENT_TYPE_LATEST)
            return _answer(start_response, "404 Not Found", b"Not Found\n", "text/plain")
        if (
            self._token is not None
            and environ.get("PATH_INFO") in self._paths
            and hmac.compare_digest(
                environ.get("HTTP_AUTHORIZATION", "").encode("latin-1"), self._token
            )
        ):
            return _answer(start_response, "200 OK", exposition(), CONTENT_TYPE_LATEST)
        return self._counted(environ, start_response)

    def _counted(self, environ, start_response):
        measured = _Measured(environ)
        _writes.started()
        try:
            body = self.app(environ, start_response)
        except StopIteration:  # the app took the connection over (slow_requests.py)
            measured.finish(switched=True)
            raise
        except BaseException:
            measured.finish(raised=True)
            raise
        file_wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(file_wrapper, type) and isinstance(body, file_wrapper):
            # Wrapped, gunicorn would no longer see it and would read it in Python.
            measured.finish()
            return body
        measured.body = body
        return measured


class _Measured:
    """One request, measured: the body as the server sees it, iterated unchanged and
    observed once closed (gunicorn closes it after the last byte, or when the
    connection is cut). One object a request."""

    __slots__ = ("_environ", "_started", "body")

    def __init__(self, environ) -> None:
        self._environ = environ
        self.body = None
        self._started = perf_counter()

    def __iter__(self):
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.finish()

    def finish(self, raised: bool = False, switched: bool = False) -> None:
        """`raised`: the app raised instead of answering, and the server answers 500.
        `switched`: the app took the connection over (a WebSocket session, ended):
        counted under 1xx, and timed by no bucket, a session's length being no
        response time that a latency quantile should take in."""
        if self._started is None:
            return
        ended = perf_counter()
        started, self._started = self._started, None
        environ = self._environ
        method = environ.get("REQUEST_METHOD", "")
        if method not in METHODS:
            method = "OTHER"
        # The rule Flask matched and the status the client got, noted for the request
        # (slow_requests.RouteNote, request_context.py): Flask clears its request from
        # the environ before the body is sent.
        note = environ.get(ROUTE_KEY)
        route = (note.rule if note is not None else None) or UNMATCHED
        if switched:
            _writes.finished(method, route, SWITCHING_PROTOCOLS[:1], None)
            return
        status = None if raised or note is None else note.status
        status = status or "500"
        _writes.finished(method, route, status[:1], ended - started)


# The request metrics' writes: straight into the worker's files in multiprocess mode,
# one addition each (metrics_writes.py).
_writes = RequestWrites(REQUESTS, DURATION, IN_FLIGHT)


def _local_port(environ) -> int | None:
    """The port the connection came in on, from its socket: never from a header."""
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        try:
            address = sock.getsockname()
        except OSError:
            return None
        return address[1] if isinstance(address, tuple) else None
    port = environ.get("SERVER_PORT", "")  # outside gunicorn: the test client's
    return int(port) if port.isascii() and port.isdigit() else None


def _answer(start_response, status: str, body: bytes, content_type: str):
    start_response(
        status,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]
