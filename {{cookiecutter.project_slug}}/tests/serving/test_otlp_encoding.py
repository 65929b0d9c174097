"""The request's server span (serving/server_span.py) and the bytes otlp_encoding.py
writes for it, against the SDK: the SDK's own encoder reads the same span, and the
two requests, decoded with opentelemetry-proto, must be equal, for any attributes,
events and statuses hypothesis finds. And the span behaves as the API says a span
does: limits, values it drops, a status that does not go back, nothing after end.
"""

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import context, trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, StatusCode, TraceFlags, TraceState
from opentelemetry.trace.propagation import set_span_in_context

from {{ cookiecutter.package_name }}.serving import otlp_encoding
from {{ cookiecutter.package_name }}.serving.server_span import ServerSpan, ServerSpans

REQUEST = {
    "http.request.method": "GET",
    "url.scheme": "http",
    "url.path": "/items/1",
    "server.address": "example.com",
}


class Ended:
    """A processor keeping the spans that end, as the batch processor would queue them."""

    def __init__(self) -> None:
        self.spans = []

    def on_end(self, span) -> None:
        self.spans.append(span)


def make_spans(monkeypatch=None, **limits: str) -> tuple[ServerSpans, Ended]:
    for name, value in limits.items():
        monkeypatch.setenv(name, value)
    provider = TracerProvider(
        resource=Resource.create({"service.name": "encoding-test", "service.version": "1"})
    )
    ended = Ended()
    # The default sampler (parentbased_always_on), decided as start_worker_tracing's.
    return ServerSpans(provider, ended, "tests.encoding", root_sampled=True), ended


def both_ways(spans: ServerSpans, ended: list) -> tuple:
    header = otlp_encoding.resource_header(spans.resource, spans.scope)
    ours = ExportTraceServiceRequest.FromString(otlp_encoding.encode(ended, header))
    return ours, encode_spans(ended)


scalars = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    # NaN is left out: it is never equal to itself, in protobuf messages too.
    st.floats(allow_nan=False),
)
values = st.one_of(
    scalars,
    st.lists(st.text(max_size=5), max_size=4),
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=4),
    st.lists(st.booleans(), max_size=4),
    st.lists(st.floats(allow_nan=False), max_size=4),
)
attributes = st.dictionaries(st.text(min_size=1, max_size=10), values, max_size=6)


@settings(max_examples=150, deadline=None)
@given(
    set_later=attributes,
    events=st.lists(st.tuples(st.text(max_size=10), attributes), max_size=3),
    status=st.sampled_from([None, StatusCode.OK, StatusCode.ERROR]),
    description=st.text(max_size=10),
    remote_parent=st.sampled_from([None, False, True]),
    trace_state=st.booleans(),
    name=st.text(max_size=30),
)
def test_the_bytes_are_the_sdk_encoders(
    set_later, events, status, description, remote_parent, trace_state, name
):
    spans, ended = make_spans()
    parent_context = context.Context()
    if remote_parent is not None:
        parent = SpanContext(
            0x1234,
            0x5678,
            is_remote=remote_parent,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
            trace_state=TraceState([("vendor", "value")]) if trace_state else None,
        )
        parent_context = set_span_in_context(trace.NonRecordingSpan(parent))
    span = spans.start("GET", parent_context, dict(REQUEST))
    span.set_attributes(set_later)
    for event_name, event_attributes in events:
        span.add_event(event_name, event_attributes)
    if status is not None:
        span.set_status(status, description if status is StatusCode.ERROR else None)
    span.update_name(name)
    span.end()

    ours, sdks = both_ways(spans, ended.spans)
    assert ours == sdks


def test_a_batch_holds_every_span_in_one_resource_and_scope():
    spans, ended = make_spans()
    for number in range(3):
        span = spans.start("GET", context.Context(), dict(REQUEST))
        span.set_attribute("item", number)
        span.end()
    ours, sdks = both_ways(spans, ended.spans)
    assert ours == sdks
    (resource_spans,) = ours.resource_spans
    (scope_spans,) = resource_spans.scope_spans
    assert scope_spans.scope.name == "tests.encoding"
    assert len(scope_spans.spans) == 3


def test_a_recorded_exception_is_the_sdks_event():
    spans, ended = make_spans()
    span = spans.start("GET", context.Context(), dict(REQUEST))
    try:
        raise ValueError("no such item")
    except ValueError as error:
        span.record_exception(error)
    span.end()
    ((event),) = ended.spans[0].events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "no such item"
    assert "raise ValueError" in event.attributes["exception.stacktrace"]
    ours, sdks = both_ways(spans, ended.spans)
    assert ours == sdks


def test_values_the_sdk_refuses_are_dropped_with_a_warning(caplog):
    spans, _ = make_spans()
    span = spans.start("GET", context.Context(), dict(REQUEST))
    with caplog.at_level(logging.WARNING):
        span.set_attribute("object", object())
        span.set_attribute("mixed", [1, "a"])
        span.set_attribute("huge", 2**64)
        span.set_attribute("bytes", b"raw")
        span.set_attribute("kept", [1, None, 2])
    assert set(span.attributes) == {*REQUEST, "kept"}
    assert span.attributes["kept"] == (1, None, 2)
    assert [record.getMessage().split("'")[1] for record in caplog.records] == [
        "object",
        "mixed",
        "huge",
        "bytes",
    ]


def test_subclasses_of_the_value_types_are_encoded_as_their_type():
    """A StrEnum, an HTTPStatus, a float subclass: the SDK's encoder takes them by
    isinstance, and so must ours (a str subclass is not a sequence of characters)."""
    import enum
    from http import HTTPStatus

    class Colour(enum.StrEnum):
        RED = "red"

    class Ratio(float):
        pass

    spans, ended = make_spans()
    span = spans.start("GET", context.Context(), dict(REQUEST))
    span.set_attributes(
        {"colour": Colour.RED, "status": HTTPStatus.OK, "ratio": Ratio(0.5), "flag": True}
    )
    span.add_event("checked", {"colour": Colour.RED, "status": HTTPStatus.NOT_FOUND})
    span.end()
    ours, sdks = both_ways(spans, ended.spans)
    assert ours == sdks
    sent = {a.key: a.value for a in ours.resource_spans[0].scope_spans[0].spans[0].attributes}
    assert sent["colour"].string_value == "red"
    assert sent["status"].int_value == 200
    assert sent["ratio"].double_value == 0.5


def test_long_values_are_written_each_time_and_never_kept():
    """The cache of written attribute pairs stays small: a long path or Host header
    (a scanner's) is not kept, whatever its count."""
    otlp_encoding._PAIRS.clear()
    spans, ended = make_spans()
    for number in range(50):
        span = spans.start("GET", context.Context(), dict(REQUEST))
        span.set_attribute("url.path", f"/{number}/" + "x" * 200)
        span.end()
    ours, sdks = both_ways(spans, ended.spans)
    assert ours == sdks
    assert otlp_encoding._PAIRS  # the short pairs are kept
    kept = otlp_encoding._PAIRS.values()
    assert all(len(pair) <= otlp_encoding.MAX_CACHED_PAIR_BYTES for pair in kept)
    assert not any("x" * 200 in str(key) for key in otlp_encoding._PAIRS)


def test_the_count_and_length_limits_are_the_sdks(monkeypatch):
    spans, ended = make_spans(
        monkeypatch,
        OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT="6",
        OTEL_SPAN_EVENT_COUNT_LIMIT="1",
        OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT="4",
        OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT="2",
    )
    span = spans.start("GET", context.Context(), dict(REQUEST))
    assert span.attributes["url.path"] == "/ite"  # cut at the length limit
    span.set_attribute("a", "long value")
    span.set_attribute("b", ["long", "longer"])
    span.set_attribute("c", 1)  # the seventh: over the count limit
    span.set_attribute("a", "again")  # an existing key is replaced, not counted
    span.add_event("first", {"one": 1, "two": 2, "three": 3})
    span.add_event("second")
    span.end()
    assert span.events[0].attributes == {"one": 1, "two": 2}  # the event limit
    assert span.attributes["a"] == "agai"
    assert span.attributes["b"] == ("long", "long")
    assert "c" not in span.attributes
    assert (span.dropped_attributes, span.dropped_events) == (1, 1)
    ours, sdks = both_ways(spans, ended.spans)
    assert ours == sdks
    assert ours.resource_spans[0].scope_spans[0].spans[0].dropped_attributes_count == 1


def test_ok_is_final_unset_changes_nothing_and_an_ended_span_is_closed():
    spans, ended = make_spans()
    span = spans.start("GET", context.Context(), dict(REQUEST))
    span.set_status(StatusCode.ERROR, "first")
    span.set_status(StatusCode.UNSET)
    assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, "first")
    span.set_status(StatusCode.OK)
    span.set_status(StatusCode.ERROR, "too late")
    assert span.status.status_code is StatusCode.OK
    span.end()
    end_time = span.end_time
    span.set_attribute("after", 1)
    span.update_name("renamed")
    span.add_event("after")
    span.end()
    assert not span.is_recording()
    assert "after" not in span.attributes and span.name == "GET" and not span.events
    assert span.end_time == end_time
    assert ended.spans == [span]  # ended once


@pytest.mark.parametrize(
    ("sampler", "parent_sampled", "recording"),
    [
        ("always_off", None, False),
        ("parentbased_always_on", False, False),
        ("parentbased_always_on", True, True),
        ("always_on", False, True),
    ],
)
def test_the_sdks_sampler_decides(sampler, parent_sampled, recording):
    from {{ cookiecutter.package_name }}.serving.tracing import _sampler

    provider = TracerProvider(sampler=_sampler(sampler, 1.0))
    spans = ServerSpans(provider, Ended(), "tests.encoding")
    parent_context = context.Context()
    if parent_sampled is not None:
        flags = TraceFlags(TraceFlags.SAMPLED if parent_sampled else TraceFlags.DEFAULT)
        parent = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=flags)
        parent_context = set_span_in_context(trace.NonRecordingSpan(parent))
    span = spans.start("GET", parent_context, dict(REQUEST))
    assert isinstance(span, ServerSpan) is recording
    assert span.get_span_context().trace_flags.sampled is recording
    # Unsampled, it still has ids of its own, under the parent's trace: for the log lines.
    assert span.get_span_context().is_valid
    if parent_sampled is not None:
        assert span.get_span_context().trace_id == 0xABC


def test_spans_your_code_starts_are_its_children():
    spans, _ = make_spans()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    server = spans.start("GET", context.Context(), dict(REQUEST))
    token = context.attach(set_span_in_context(server))
    try:
        assert trace.get_current_span() is server
        with provider.get_tracer("app").start_as_current_span("query"):
            pass
    finally:
        context.detach(token)
    (child,) = exporter.get_finished_spans()
    assert child.parent.span_id == server.get_span_context().span_id
    assert child.context.trace_id == server.get_span_context().trace_id
