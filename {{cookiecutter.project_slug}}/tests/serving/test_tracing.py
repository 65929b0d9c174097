"""OpenTelemetry traces against real gunicorn masters and a real OTLP/HTTP receiver.

For every worker class: N requests give exactly N server spans, each with its route
and status code, and none for /health, /ready, /status or /metrics; a `traceparent`
makes the span its child; the request's log lines carry the span's ids; a SIGTERM
with requests in flight answers every one of them, and each has exactly its span at
the receiver (worker_exit exports them). Off, no worker imports anything from
OpenTelemetry. And the refusals of tracing_settings.py.
"""

import os
import signal
import threading

import pytest
import requests
from flask import Flask
from harness.http import free_port, wait_for, wait_for_health
from harness.otlp_receiver import otlp_receiver
from harness.tracing_app import ITEM_STARTED, OWN_SPAN, STREAMED

from {{ cookiecutter.package_name }}.serving.settings import SettingsError, load_settings
from {{ cookiecutter.package_name }}.serving.slow_requests import ROUTE_KEY
from {{ cookiecutter.package_name }}.serving.tracing import TracingMiddleware

TRACING_APP = "harness.tracing_app:app"
ROUTE = "/items/<int:item>"
REQUESTS = 12
# A batch every 100 ms rather than the SDK's 5 s: the tests wait for spans, not time.
FAST_BATCHES = {"OTEL_BSP_SCHEDULE_DELAY": "100"}
CASES = [
    pytest.param("sync", {}, id="sync"),
    pytest.param("gthread", {}, id="gthread"),
    pytest.param("gevent", {}, id="gevent"),
    # The app loaded in the master: instrumented there, its provider still made after fork.
    pytest.param("gthread", {"GUNICORN_PRELOAD": "true"}, id="gthread-preload"),
]


def start(start_gunicorn, receiver, worker_class: str, **env: str):
    server = start_gunicorn(
        {
            "GUNICORN_WORKER_CLASS": worker_class,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "METRICS_PORT": str(free_port()),
            "TRUSTED_HOSTS": "127.0.0.1",
            **FAST_BATCHES,
            **env,
        },
        app=TRACING_APP,
    )
    wait_for_health(server.url)
    return server


def traceparent(number: int) -> tuple[str, str, str]:
    """A sampled W3C traceparent, its trace id and its parent span id."""
    trace_id, parent = f"{number + 1:032x}", f"{number + 1:016x}"
    return f"00-{trace_id}-{parent}-01", trace_id, parent


@pytest.mark.parametrize(("worker_class", "env"), CASES)
def test_one_server_span_per_request_with_route_status_and_parent(
    start_gunicorn, worker_class, env
):
    with otlp_receiver() as receiver:
        server = start(start_gunicorn, receiver, worker_class, **env)
        for path in ("/health", "/ready", "/status", "/metrics", "/health?probe=1"):
            requests.get(f"{server.url}{path}", timeout=5)
        header, trace_id, parent = traceparent(7)
        for number in range(REQUESTS):
            headers = {"traceparent": header} if number == 0 else {}
            # The first with a query string, which its span leaves out (url.path); the
            # second's view uses the API (harness/tracing_app.py).
            query = {0: "?email=someone@example.com", 1: "?own=1"}.get(number, "")
            requests.get(f"{server.url}/items/{number}{query}", headers=headers, timeout=5)
        requests.get(f"{server.url}/no/such/path", timeout=5)
        stream_header, stream_trace_id, _ = traceparent(8)
        streamed = requests.get(
            f"{server.url}/stream", headers={"traceparent": stream_header}, timeout=5
        )
        assert streamed.text == "0\n1\n"
        # A Host TRUSTED_HOSTS refuses: its 400 is traced like any answer.
        refused = requests.get(f"{server.url}/items/0", headers={"Host": "evil.test"}, timeout=5)
        assert refused.status_code == 400

        spans = receiver.wait_for_spans(REQUESTS + 3)
        # What was sent has been answered and exported; a batch of the untraced paths'
        # spans would have gone out with or before these.
        server_lines = server.json_lines()
        assert not receiver.refused
        routes = [span.attributes.get("http.route") for span in spans]
        assert routes.count(ROUTE) == REQUESTS + 1, routes
        assert len(spans) == REQUESTS + 3, [span.name for span in spans]
        item_spans = [span for span in spans if span.attributes.get("http.route") == ROUTE]
        assert {span.name for span in item_spans} == {f"GET {ROUTE}"}
        assert sorted(_status(span) for span in item_spans) == [200] * REQUESTS + [400]
        (unmatched,) = [span for span in spans if span.attributes.get("http.route") is None]
        assert _status(unmatched) == 404
        # No WARNING (a request without its span, say).
        assert not [line for line in server.json_lines() if line["severity"] != "INFO"]

        (child,) = [span for span in spans if span.trace_id == trace_id]
        assert child.parent_span_id == parent
        assert child.resource["service.name"] == "{{ cookiecutter.project_slug }}"
        assert child.resource["service.version"]
        # The stable HTTP semantic conventions, the path without its query.
        assert child.attributes == {
            "http.request.method": "GET",
            "http.route": ROUTE,
            "http.response.status_code": 200,
            "url.scheme": "http",
            "url.path": "/items/0",
            "server.address": "127.0.0.1",
        }

        # The app's own span is the child of the request's, and its attribute is on the
        # request's span: one exporter sends both kinds.
        (own,) = wait_for(
            lambda: [span for span in receiver.spans if span.name == OWN_SPAN] or None,
            5,
            "the app's own span",
        )
        (parent_span,) = [span for span in item_spans if span.attributes.get("item.own")]
        assert (own.trace_id, own.parent_span_id) == (parent_span.trace_id, parent_span.span_id)
        assert own.attributes == {"item": 1}
        assert parent_span.attributes["url.path"] == "/items/1"

        # The request's own line and its access line carry the span's ids.
        started = [line for line in server_lines if line.get("message") == ITEM_STARTED]
        (line,) = [line for line in started if line.get("item") == 0]
        assert (line["trace_id"], line["span_id"]) == (trace_id, child.span_id)
        # A streamed body's lines too, logged after the view returned.
        chunks = [line for line in server_lines if line.get("message") == STREAMED]
        assert [line.get("trace_id") for line in chunks] == [stream_trace_id] * 2
        wait_for(
            lambda: any(
                line.get("path") == "/items/0" and line.get("trace_id") == trace_id
                for line in server.json_lines()
            ),
            5,
            "the access line of /items/0 with its trace id",
        )
        assert all(
            "trace_id" not in line for line in server.json_lines() if line.get("path") == "/health"
        )


def _status(span) -> int:
    return span.attributes["http.response.status_code"]


def test_with_a_project_a_traced_requests_lines_carry_cloud_loggings_trace_and_span(
    start_gunicorn,
):
    """GOOGLE_CLOUD_PROJECT set (deploy/cloudrun/service.yaml sets it): a line logged
    during a traced request, and its access line, name the span's trace and id in
    Cloud Logging's fields, which Logs Explorer links to the trace."""
    project = "p-123456"
    with otlp_receiver() as receiver:
        server = start(start_gunicorn, receiver, "gthread", GOOGLE_CLOUD_PROJECT=project)
        header, trace_id, parent = traceparent(9)
        response = requests.get(f"{server.url}/items/5", headers={"traceparent": header}, timeout=5)
        assert response.status_code == 200
        (span,) = [span for span in receiver.wait_for_spans(1) if span.trace_id == trace_id]
        # The request's own span, not the parent the caller sent.
        assert span.parent_span_id == parent and span.span_id != parent
        cloud_fields = {
            "logging.googleapis.com/trace": f"projects/{project}/traces/{trace_id}",
            "logging.googleapis.com/spanId": span.span_id,
            "logging.googleapis.com/trace_sampled": True,
        }

        def lines_of_the_request() -> list[dict] | None:
            """Its view's line and its access line (the only request sent), once both
            are written; found by what they say, not by the fields under test."""
            lines = server.json_lines()
            view = [line for line in lines if line.get("message") == ITEM_STARTED]
            access = [line for line in lines if line.get("path") == "/items/5"]
            return view + access if view and access else None

        lines = wait_for(lines_of_the_request, 5, "the view's line and the access line")
        assert len(lines) == 2, lines
        for line in lines:
            assert {key: line.get(key) for key in cloud_fields} == cloud_fields, line


@pytest.mark.parametrize("worker_class", ["sync", "gthread", "gevent"])
def test_no_span_is_lost_across_a_sigterm_with_requests_in_flight(start_gunicorn, worker_class):
    # A batch far in the future: only the exit's flush can send these spans.
    with otlp_receiver() as receiver:
        server = start(
            start_gunicorn,
            receiver,
            worker_class,
            OTEL_BSP_SCHEDULE_DELAY="60000",
            # Each held request also logs the slow-request WARNING, after its span ended.
            SLOW_REQUEST_SECONDS="0.2",
            WEB_CONCURRENCY="2",
            GUNICORN_THREADS="2" if worker_class == "gthread" else "1",
        )
        server.wait_for_workers()
        # The other side of test_off_no_worker_imports_opentelemetry: it could fail.
        loaded = requests.get(f"{server.url}/loaded", timeout=5).json()
        assert "opentelemetry.sdk.trace" in loaded
        assert "opentelemetry.exporter.otlp.proto.http.trace_exporter" in loaded
        # Sync workers serve one request each: one in flight per worker.
        in_flight = 2 if worker_class == "sync" else 4
        # Each request's own trace id, sent in its traceparent: the marker that finds
        # its view's log line, its span and its WARNING.
        sent = {traceparent(100 + number)[1]: number for number in range(in_flight)}
        # trace id -> the status code, or the name of the error: every outcome noted.
        outcomes: dict[str, int | str] = {}

        def get(number: int) -> None:
            header, trace_id, _ = traceparent(100 + number)
            try:
                response = requests.get(
                    f"{server.url}/items/{number}?hold=1",
                    headers={"traceparent": header},
                    timeout=10,
                )
            except requests.RequestException as error:
                outcomes[trace_id] = type(error).__name__
            else:
                outcomes[trace_id] = response.status_code

        def started() -> set[str]:
            """The trace ids whose view has logged its first line: in flight, held."""
            return {
                line.get("trace_id")
                for line in server.json_lines()
                if line.get("message") == ITEM_STARTED
            }

        clients = [threading.Thread(target=get, args=(n,)) for n in range(in_flight)]
        for client in clients:
            client.start()
        # Every one inside its view, not only some: each is in flight when SIGTERM lands,
        # its hold of 1 s being some twenty polls of the log. One that a loaded machine
        # let end first proves as much of the flush: its span waits in the batch, which
        # only the exit sends.
        wait_for(lambda: started() >= set(sent), 10, f"all {in_flight} requests in flight")
        os.kill(server.process.pid, signal.SIGTERM)
        for client in clients:
            client.join(15)
        server.process.wait(timeout=15)
        # A graceful stop: every request in flight was answered, none dropped.
        assert outcomes == dict.fromkeys(sent, 200), outcomes
        # The master has exited, so every worker's exit flush is done (the receiver
        # keeps an export's spans before answering it): what is here is all there is.
        # The /loaded request above has a span too, of a trace of its own.
        receiver.wait_for_spans(in_flight + 1, 5)
        spans = [span for span in receiver.server_spans() if span.trace_id in sent]
        # Exactly one span per request, each its own: its path and its parent.
        assert sorted(span.trace_id for span in spans) == sorted(sent), spans
        for span in spans:
            number = sent[span.trace_id]
            assert span.attributes["url.path"] == f"/items/{number}", span
            assert span.parent_span_id == traceparent(100 + number)[2], span
            assert span.attributes["http.response.status_code"] == 200, span
        warned = [line for line in server.json_lines() if line["severity"] == "WARNING"]
        assert sorted(line.get("trace_id") for line in warned) == sorted(sent)


def test_off_no_worker_imports_opentelemetry(start_gunicorn):
    server = start_gunicorn({"OTEL_SERVICE_NAME": "named-but-off"}, app=TRACING_APP)
    wait_for_health(server.url)
    assert requests.get(f"{server.url}/loaded", timeout=5).json() == []
    assert all("trace_id" not in line for line in server.json_lines())


def test_grpc_stops_the_service_before_it_binds_with_one_line(start_gunicorn):
    server = start_gunicorn({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, app=TRACING_APP)
    assert server.process.wait(timeout=20) == 2
    (line,) = server.lines()
    assert line.startswith("configuration error: OTEL_EXPORTER_OTLP_PROTOCOL='grpc' is not")


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "svc"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://x.example/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "false"}, True),
    ],
)
def test_on_only_when_the_standard_variables_ask(environ, enabled):
    assert load_settings(environ).tracing.enabled is enabled


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTEL_SDK_DISABLED", "maybe"),
        ("OTEL_TRACES_EXPORTER", "console"),
        ("OTEL_TRACES_EXPORTER", "otlp,zipkin"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://collector/v1/traces"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:99999"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "10000ms"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "10000"),
        ("OTEL_TRACES_SAMPLER", "jaeger_remote"),
        ("OTEL_PYTHON_FLASK_EXCLUDED_URLS", "health,("),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=payments,prod"),
    ],
)
def test_a_bad_tracing_value_is_refused_naming_the_variable(name, value):
    with pytest.raises(SettingsError) as raised:
        load_settings({name: value})
    message = str(raised.value)
    assert message.startswith(f"{name}={value!r} is not allowed")
    assert "\n" not in message


def test_the_service_name_comes_in_the_specifications_order():
    named = {"OTEL_RESOURCE_ATTRIBUTES": "service.name=from%20attributes,team=x"}
    assert load_settings(named).tracing.service_name == "from attributes"
    both = {**named, "OTEL_SERVICE_NAME": "svc"}
    assert load_settings(both).tracing.service_name == "svc"
    assert load_settings({}).tracing.service_name == "{{ cookiecutter.project_slug }}"


def test_a_bad_sampler_ratio_is_refused():
    environ = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"}
    settings = load_settings({**environ, "OTEL_TRACES_SAMPLER_ARG": "0.25"})
    assert settings.tracing.sampler_ratio == 0.25
    for ratio in ("1.5", "-0.1", "half", "nan"):
        with pytest.raises(SettingsError, match=rf"^OTEL_TRACES_SAMPLER_ARG={ratio!r} is not"):
            load_settings({**environ, "OTEL_TRACES_SAMPLER_ARG": ratio})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key SECRET-VALUE"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=SECRET-VALUE,,"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://user:SECRET-VALUE@collector:4318"),
    ],
)
def test_refused_headers_and_credentials_are_never_shown(name, value):
    with pytest.raises(SettingsError) as raised:
        load_settings({name: value})
    assert str(raised.value).startswith(f"{name} is not allowed")
    assert "SECRET-VALUE" not in str(raised.value)


@pytest.fixture
def traced(monkeypatch):
    """TracingMiddleware around a bare WSGI app, inside the request context's middleware
    (which notes the status) as init_app chains them, with a worker's server spans
    kept by the SDK in memory: the request's environ in, the spans it made out."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from {{ cookiecutter.package_name }}.serving import tracing
    from {{ cookiecutter.package_name }}.serving.request_context import RequestContextMiddleware
    from {{ cookiecutter.package_name }}.serving.server_span import ServerSpans

    kept = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    # What start_worker_tracing() makes in a worker.
    monkeypatch.setattr(
        tracing,
        "_server_spans",
        # The default sampler (parentbased_always_on), decided as start_worker_tracing's.
        ServerSpans(provider, SimpleSpanProcessor(kept), "test", root_sampled=True),
    )

    def call(path, excluded=(), status="200 OK", query="", rule=None, view=None, **environ):
        """`rule`: the one Flask matched, as flask_app.py notes it; `view`: called as
        the view would be, while the span is current."""

        def wsgi_app(environ, start_response):
            if rule is not None:
                environ[ROUTE_KEY].rule = rule
            if view is not None:
                view()
            start_response(status, [])
            return [b""]

        flask_app = Flask(__name__)
        chain = RequestContextMiddleware(
            TracingMiddleware(wsgi_app, flask_app, excluded), flask_app
        )
        base = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "0.0.0.0",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "[::1]:8000",
            "wsgi.url_scheme": "http",
        }
        kept.clear()
        body = chain({**base, **environ}, lambda status, headers, exc_info=None: None)
        list(body)
        body.close()
        return kept.get_finished_spans()

    yield call
    provider.shutdown()


def test_the_machinerys_paths_are_untraced_and_the_others_excluded_by_their_url(traced):
    for path in ("/health", "/ready", "/status", "/metrics"):
        assert traced(path) == ()
    assert len(traced("/healthy")) == 1
    # OTEL_PYTHON_FLASK_EXCLUDED_URLS: searched in the whole URL, query included.
    assert traced("/items/1", excluded=(r"items/\d+\?debug",), query="debug=1") == ()
    assert len(traced("/items/1", excluded=(r"items/\d+\?debug",))) == 1


def test_a_span_names_the_method_and_its_status_without_the_query(traced):
    (span,) = traced("/x", query="token=SECRET", REQUEST_METHOD="BREW", status="503 Busy")
    assert span.name == "_OTHER"  # a made-up method names no span of its own
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["url.path"] == "/x"
    assert "SECRET" not in str(dict(span.attributes))
    assert span.attributes["server.address"] == "[::1]"
    assert span.attributes["http.response.status_code"] == 503
    assert span.status.status_code.name == "ERROR"
    (ok,) = traced("/x", status="404 NOT FOUND")
    assert ok.status.status_code.name == "UNSET"  # a client's error is not the server's


def test_the_span_is_named_by_its_rule_unless_your_code_named_it(traced):
    from opentelemetry import trace

    (span,) = traced("/items/7", rule="/items/<int:item>")
    assert span.name == "GET /items/<int:item>"
    assert span.attributes["http.route"] == "/items/<int:item>"

    def rename():
        current = trace.get_current_span()
        current.update_name("load the basket")
        current.set_attribute("http.route", "/basket")

    (renamed,) = traced("/items/7", rule="/items/<int:item>", view=rename)
    assert renamed.name == "load the basket"
    assert renamed.attributes["http.route"] == "/basket"


def test_the_requests_baggage_and_parent_are_current_while_the_view_runs(traced):
    from opentelemetry import baggage, trace

    seen = {}

    def view():
        seen["baggage"] = baggage.get_baggage("tenant")
        seen["trace_id"] = trace.get_current_span().get_span_context().trace_id

    (span,) = traced(
        "/items/7",
        view=view,
        HTTP_TRACEPARENT="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        HTTP_BAGGAGE="tenant=blue",
    )
    assert seen == {"baggage": "blue", "trace_id": 0x0AF7651916CD43DD8448EB211C80319C}
    assert span.parent.span_id == 0xB7AD6B7169203331


@pytest.mark.parametrize(
    "name", ["always_on", "always_off", "parentbased_always_on", "parentbased_always_off"]
)
def test_a_span_is_sampled_as_the_sampler_says_and_it_is_asked_only_with_a_parent(name):
    # Where the sampler always says the same for a span with no parent, ServerSpans
    # decides without asking it (tracing._root_sampled); with a parent it asks.
    from opentelemetry import context, trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import SpanContext, TraceFlags, TraceState

    from {{ cookiecutter.package_name }}.serving import tracing
    from {{ cookiecutter.package_name }}.serving.server_span import ServerSpans

    provider = TracerProvider(sampler=tracing._sampler(name, 1.0), shutdown_on_exit=False)
    spans = ServerSpans(provider, None, "test", tracing._root_sampled(name))
    asked = []
    sampler = spans.sampler

    class Spy:
        def should_sample(self, *args, **kwargs):
            asked.append(args)
            return sampler.should_sample(*args, **kwargs)

    spans.sampler = Spy()
    sdk = provider.get_tracer("test")

    def remote(flags: int, state=None):
        parent = SpanContext(1, 2, is_remote=True, trace_flags=TraceFlags(flags), trace_state=state)
        return trace.set_span_in_context(trace.NonRecordingSpan(parent))

    parents = {
        "none": None,
        "empty": context.Context(),
        "sampled": remote(TraceFlags.SAMPLED),
        "unsampled": remote(TraceFlags.DEFAULT),
        "random, with state": remote(
            TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID, TraceState([("vendor", "v")])
        ),
    }
    for label, parent in parents.items():
        asked.clear()
        span = spans.start("GET", parent, {"url.path": "/"})
        theirs = sdk.start_span(
            "GET", context=parent or context.Context(), attributes={"url.path": "/"}
        )
        ours, their_context = span.get_span_context(), theirs.get_span_context()
        assert span.is_recording() == theirs.is_recording(), (name, label)
        if span.is_recording():
            assert dict(span.attributes) == dict(theirs.attributes), (name, label)
        assert int(ours.trace_flags) == int(their_context.trace_flags), (name, label)
        assert ours.trace_state == their_context.trace_state, (name, label)
        assert (len(asked) == 1) == (label not in ("none", "empty")), (name, label, asked)
