"""The request's SERVER span: a lean span of our own, for the one span every request makes.

The SDK's span is general: each one builds a lock, bounded attribute and event
containers, a resource and scope reference and a readable copy at its end, and the
OTLP exporter then builds a protobuf object per span, per attribute and per value
before it serializes them. For the server span that came to some 45 µs a request in
one process (about twice that under gunicorn), against a budget of 60 µs for the
whole of tracing (docs/tracing.md, "What it costs"). This span keeps its fields in
slots, and otlp_encoding.py writes it straight to OTLP's protobuf bytes.

It is still an OpenTelemetry span to everything else:
- the SDK's sampler and id generator decide and make its ids (ServerSpans, below),
  so OTEL_TRACES_SAMPLER and a parent's sampled flag count as for any span;
- it is the current span while the app runs (tracing.py attaches it): your code's
  `trace.get_current_span()` gets it, with set_attribute, add_event,
  record_exception, set_status and update_name as the API defines them, and the
  spans your own tracers start are its children;
- it ends into the worker's batch processor, exported with your spans by the same
  exporter (tracing.py's: a batch that holds both is sent as two requests);
- it reads as the SDK's ReadableSpan does (name, context, parent, attributes,
  events, links, status, times, resource, scope), so the SDK's own encoder reads
  it too: the tests encode it both ways and compare.
Span processors you add yourself see your own spans, not this one.

Values follow the SDK's rules: attributes are str, bool, int, float or a sequence
of one of them, anything else is dropped with a warning; strings are cut at
OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT when set; past the count limits
(OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT and the others, default 128) new entries are
dropped and counted, as the SDK counts them.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from time import time_ns

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, SpanLimits
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

log = logging.getLogger(__name__)

_SCALARS = (str, bool, int, float)
# The span's trace flags by (sampled, random trace id), made once: W3C's random flag as
# the SDK sets it, from the id generator for a root, else from the parent.
_FLAGS = {
    (sampled, random): TraceFlags(
        (TraceFlags.SAMPLED if sampled else 0) | (TraceFlags.RANDOM_TRACE_ID if random else 0)
    )
    for sampled in (False, True)
    for random in (False, True)
}
# The sampler's parent context when the request named none: empty, never the current one.
_NO_CONTEXT = Context()
# OTLP's integers are 64-bit: a larger one would not encode (the SDK's encoder drops it
# at export, with an error).
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class ServerSpans:
    """Makes this worker's server spans: the provider's sampler, id generator, limits
    and resource, and the processor they end into (tracing.start_worker_tracing)."""

    def __init__(self, provider, processor, scope_name: str, root_sampled: bool | None = None):
        self.sampler = provider.sampler
        # Whether a span with no parent is sampled, where the sampler always says the same
        # for it (always_on, always_off, with or without parentbased_): most requests
        # name no parent, and asking the sampler made three objects and looked the parent
        # up three times. None: ask it each time (traceidratio decides by the trace id).
        self.root_sampled = root_sampled
        self.ids = provider.id_generator
        self.random_ids = self.ids.is_trace_id_random()
        self.resource = provider.resource
        self.processor = processor
        self.scope = InstrumentationScope(scope_name)
        limits = SpanLimits()  # the OTEL_*_LIMIT variables, as the SDK reads them
        self.max_attributes = limits.max_span_attributes
        self.max_events = limits.max_events
        self.max_event_attributes = limits.max_event_attributes
        self.max_value_length = limits.max_span_attribute_length

    def start(self, name: str, parent_context, attributes: dict[str, str]) -> trace.Span:
        """A span named `name` under the span in `parent_context` (extracted from the
        request's headers; None when none of the propagator's headers came), with
        `attributes` (strings): recording if the sampler says so, else a
        NonRecordingSpan that still carries ids for the log lines, as the SDK makes them."""
        parent = None
        if parent_context is not None:
            parent = trace.get_current_span(parent_context).get_span_context()
            if not parent.is_valid:
                parent = None
        if parent is None and self.root_sampled is not None:
            trace_id = self.ids.generate_trace_id()
            sampled = recording = self.root_sampled
            trace_state = None
            kept = attributes  # what the built-in samplers give back when they sample
        else:
            trace_id = parent.trace_id if parent is not None else self.ids.generate_trace_id()
            decision = self.sampler.should_sample(
                parent_context if parent_context is not None else _NO_CONTEXT,
                trace_id,
                name,
                SpanKind.SERVER,
                attributes,
            )
            sampled = decision.decision.is_sampled()
            recording = decision.decision.is_recording()
            trace_state = decision.trace_state
            kept = decision.attributes
        context = SpanContext(
            trace_id,
            self.ids.generate_span_id(),
            is_remote=False,
            trace_flags=_FLAGS[
                sampled, self.random_ids if parent is None else parent.trace_flags.random_trace_id
            ],
            trace_state=trace_state,
        )
        if not recording:
            return trace.NonRecordingSpan(context)
        span = ServerSpan(self, name, context, parent)
        # The sampler's attributes are the span's, as in the SDK: the built-in samplers
        # (the only ones tracing_settings.py allows) give back the request's strings.
        if self.max_value_length is None and len(kept) <= self.max_attributes:
            span.attributes = dict(kept)  # strings, none too long: nothing to check
        else:
            span.set_attributes(kept)
        return span


class ServerSpan(trace.Span):
    """A recording SERVER span (see the top of this file)."""

    __slots__ = (
        "_context",
        "_end",
        "_events",
        "_spans",
        "_status",
        "attributes",
        "dropped_attributes",
        "dropped_events",
        "name",
        "parent",
        "start_time",
    )

    kind = SpanKind.SERVER
    links: tuple[Link, ...] = ()
    dropped_links = 0

    def __init__(self, spans: ServerSpans, name: str, context: SpanContext, parent) -> None:
        self._spans = spans
        self.name = name
        self._context = context
        self.parent = parent
        self.start_time = time_ns()
        self._end = None
        self.attributes: dict = {}
        self.dropped_attributes = 0
        self._events: list[Event] | None = None
        self.dropped_events = 0
        self._status = None

    # -- the API's Span --------------------------------------------------------

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._end is None

    def set_attribute(self, key: str, value) -> None:
        if self._end is not None:
            return
        kind = type(value)
        if kind is str:  # the common cases first: no other check applies
            limit = self._spans.max_value_length
            if limit is not None and len(value) > limit:
                value = value[:limit]
        elif kind is int:
            if not _INT64_MIN <= value <= _INT64_MAX:
                _warn_dropped(key, value)
                return
        elif kind is not bool and kind is not float:
            value = self._clean(key, value)
            if value is None:
                return
        attributes = self.attributes
        if key not in attributes and len(attributes) >= self._spans.max_attributes:
            self.dropped_attributes += 1
            return
        attributes[key] = value

    def set_attributes(self, attributes) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(self, name: str, attributes=None, timestamp: int | None = None) -> None:
        if self._end is not None:
            return
        if self._events is None:
            self._events = []
        if len(self._events) >= self._spans.max_events:
            self.dropped_events += 1
            return
        cleaned = {}
        limit = self._spans.max_event_attributes
        for key, value in (attributes or {}).items():
            value = self._clean(key, value)
            if value is not None and (limit is None or len(cleaned) < limit):
                cleaned[key] = value
        self._events.append(Event(name, cleaned, timestamp or time_ns()))

    def add_link(self, context: SpanContext, attributes=None) -> None:
        # Links are set when a span starts; a server span's start is the request.
        log.warning("a server span takes no links after its start; link dropped")

    def update_name(self, name: str) -> None:
        if self._end is None:
            self.name = name

    def set_status(self, status, description: str | None = None) -> None:
        if self._end is not None:
            return
        new = status if isinstance(status, Status) else Status(status, description)
        # As the SDK: OK is final; UNSET never replaces a status.
        if self._status is not None and self._status.status_code is StatusCode.OK:
            return
        if new.status_code is StatusCode.UNSET:
            return
        self._status = new

    def record_exception(
        self, exception: BaseException, attributes=None, timestamp=None, escaped=False
    ) -> None:
        event_attributes = {
            "exception.type": type(exception).__qualname__,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(
                traceback.format_exception(type(exception), exception, exception.__traceback__)
            ),
            "exception.escaped": str(escaped),
        }
        if attributes:
            event_attributes.update(attributes)
        self.add_event("exception", event_attributes, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end is not None:
            return
        self._end = end_time or time_ns()
        self._spans.processor.on_end(self)

    # -- what the SDK's ReadableSpan offers, read by exporters and the tests ----

    @property
    def context(self) -> SpanContext:
        return self._context

    @property
    def end_time(self) -> int | None:
        return self._end

    @property
    def events(self) -> Sequence[Event]:
        return tuple(self._events or ())

    @property
    def status(self) -> Status:
        return self._status or Status(StatusCode.UNSET)

    @property
    def resource(self):
        return self._spans.resource

    @property
    def instrumentation_scope(self) -> InstrumentationScope:
        return self._spans.scope

    # -------------------------------------------------------------------------

    def _clean(self, key: str, value):
        """The value as the SDK would keep it, or None to drop it (with its warning)."""
        if isinstance(value, _SCALARS):
            if isinstance(value, str):
                limit = self._spans.max_value_length
                if limit is not None:
                    return value[:limit]
            elif type(value) is int and not _INT64_MIN <= value <= _INT64_MAX:
                _warn_dropped(key, value)
                return None
            return value
        if isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray)):
            kinds = {type(item) for item in value if item is not None}
            if len(kinds) <= 1 and kinds <= set(_SCALARS):
                if kinds == {int} and not all(
                    _INT64_MIN <= item <= _INT64_MAX for item in value if item is not None
                ):
                    _warn_dropped(key, value)
                    return None
                limit = self._spans.max_value_length
                if limit is not None and kinds == {str}:
                    return tuple(item if item is None else item[:limit] for item in value)
                return tuple(value)
        _warn_dropped(key, value)
        return None


def _warn_dropped(key: str, value) -> None:
    log.warning(
        "Invalid value of type %s for attribute %r: expected str, bool, a 64-bit int, "
        "float or a sequence of one of them; dropped",
        type(value).__name__,
        key,
    )
