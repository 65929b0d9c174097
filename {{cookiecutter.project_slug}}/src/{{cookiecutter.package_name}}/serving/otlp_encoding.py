"""Server spans (server_span.py) written straight to OTLP's protobuf bytes.

The exporter's own encoder builds a protobuf object for every span, attribute and
value, then serializes them: about 27 µs a span in one process. Writing the bytes
directly takes a few. The layout is opentelemetry-proto's (trace/v1/trace.proto,
common/v1/common.proto, collector/trace/v1/trace_service.proto; field numbers in
the comments), the same bytes the exporter's encoder would send for these spans:
tests/serving/test_otlp_encoding.py decodes both with opentelemetry-proto and
compares them, for any attribute values hypothesis finds.

Protobuf's wire format in brief: each field is a key, varint(number << 3 | wire
type), then a varint (type 0), 8 little-endian bytes (type 1), a varint length and
that many bytes (type 2: strings, bytes, nested messages) or 4 bytes (type 5).
Repeated fields repeat their key, and concatenated messages merge, so a request
holding these spans and one holding the SDK's spans are joined by concatenation.
"""

from __future__ import annotations

from struct import Struct

from opentelemetry.trace import StatusCode

_FIXED64 = Struct("<Q").pack
_DOUBLE = Struct("<d").pack
_FIXED32 = Struct("<I").pack
# The SDK encoder's span flags: whether the parent was remote is known (0x100), and
# if it was (0x200).
_FLAGS_HAS_IS_REMOTE = 0x100
_FLAGS_IS_REMOTE = 0x200
_KIND_SERVER = b"\x30\x02"  # kind = 6: Span.SpanKind.SPAN_KIND_SERVER
_STATUS_CODES = {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}
# status = 15, present and empty (UNSET, no message), as the SDK's encoder sends it.
_EMPTY_STATUS = b"\x7a\x00"


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _delimited(key: bytes, payload: bytes) -> bytes:
    return key + _varint(len(payload)) + payload


def _string(key: bytes, text: str) -> bytes:
    return _delimited(key, text.encode("utf-8", "replace"))


# Keys, each varint(field << 3 | wire type), written once.
_ANY_STRING = b"\x0a"  # AnyValue.string_value = 1
_ANY_BOOL = b"\x10"  # bool_value = 2
_ANY_INT = b"\x18"  # int_value = 3 (int64: negatives as 64-bit two's complement)
_ANY_DOUBLE = b"\x21"  # double_value = 4
_ANY_ARRAY = b"\x2a"  # array_value = 5 (ArrayValue.values = 1)
_KV_KEY = b"\x0a"  # KeyValue.key = 1
_KV_VALUE = b"\x12"  # KeyValue.value = 2
_ATTRIBUTE = b"\x4a"  # Span.attributes = 9 (also Resource.attributes = 1 below)


def _any_value(value) -> bytes:
    kind = type(value)
    if kind is str:
        return _string(_ANY_STRING, value)
    if kind is bool:
        return _ANY_BOOL + (b"\x01" if value else b"\x00")
    if kind is int:
        return _ANY_INT + _varint(value & 0xFFFFFFFFFFFFFFFF)
    if kind is float:
        return _ANY_DOUBLE + _DOUBLE(value)
    if value is None:
        return b""  # an empty AnyValue, as the SDK encodes None in a sequence
    # Subclasses (a StrEnum, an HTTPStatus, numpy.float64), as the SDK's isinstance
    # checks take them, bool first: it is an int.
    if isinstance(value, bool):
        return _ANY_BOOL + (b"\x01" if value else b"\x00")
    if isinstance(value, str):
        return _string(_ANY_STRING, str(value))
    if isinstance(value, int):
        return _ANY_INT + _varint(int(value) & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return _ANY_DOUBLE + _DOUBLE(float(value))
    # A sequence (server_span.py keeps only these and scalars): ArrayValue.values = 1.
    return _delimited(_ANY_ARRAY, b"".join(_delimited(b"\x0a", _any_value(v)) for v in value))


def _key_values(key: bytes, attributes) -> bytes:
    return b"".join(_key_value(key, name, value) for name, value in attributes.items())


def _key_value(key: bytes, name: str, value) -> bytes:
    kind = type(value)
    if kind is float or kind is tuple:  # floats vary; sequences are not kept
        return _delimited(key, _string(_KV_KEY, name) + _delimited(_KV_VALUE, _any_value(value)))
    # Most attributes repeat from span to span (a method, a route, a host, a status
    # code): each pair is written once and kept, up to a bound, so paths with ids in
    # them cannot grow the worker's memory. The type is in the key: True == 1.
    cache_key = (key, name, kind, value)
    cached = _PAIRS.get(cache_key)
    if cached is None:
        cached = _delimited(key, _string(_KV_KEY, name) + _delimited(_KV_VALUE, _any_value(value)))
        if len(_PAIRS) < MAX_CACHED_PAIRS and len(cached) <= MAX_CACHED_PAIR_BYTES:
            _PAIRS[cache_key] = cached
    return cached


# Attribute pairs already written, with string, int or bool values: at most 4,096
# pairs of at most 128 bytes (a long path, a Host header or a stack trace is written
# each time, never kept), with their keys some 1.5 MiB at most per worker. Never
# emptied: the pairs that repeat (methods, routes, hosts, status codes) come first.
MAX_CACHED_PAIRS = 4096
MAX_CACHED_PAIR_BYTES = 128
_PAIRS: dict[tuple, bytes] = {}


def _span(span) -> bytes:
    context = span.context
    parent = span.parent
    flags = _FLAGS_HAS_IS_REMOTE | (_FLAGS_IS_REMOTE if parent and parent.is_remote else 0)
    parts = [
        b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),  # trace_id = 1
        b"\x12\x08" + context.span_id.to_bytes(8, "big"),  # span_id = 2
    ]
    trace_state = context.trace_state.to_header() if context.trace_state else ""
    if trace_state:
        parts.append(_string(b"\x1a", trace_state))  # trace_state = 3
    if parent is not None:
        parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))  # parent_span_id = 4
    parts += (
        _string(b"\x2a", span.name),  # name = 5
        _KIND_SERVER,  # kind = 6
        b"\x39" + _FIXED64(span.start_time),  # start_time_unix_nano = 7
        b"\x41" + _FIXED64(span.end_time),  # end_time_unix_nano = 8
        _key_values(_ATTRIBUTE, span.attributes),  # attributes = 9
    )
    if span.dropped_attributes:
        parts.append(b"\x50" + _varint(span.dropped_attributes))  # = 10
    for event in span.events:  # events = 11: time = 1, name = 2, attributes = 3
        parts.append(
            _delimited(
                b"\x5a",
                b"\x09"
                + _FIXED64(event.timestamp)
                + _string(b"\x12", event.name)
                + _key_values(b"\x1a", event.attributes),
            )
        )
    if span.dropped_events:
        parts.append(b"\x60" + _varint(span.dropped_events))  # dropped_events_count = 12
    status = span.status
    if status.status_code is StatusCode.UNSET and not status.description:
        parts.append(_EMPTY_STATUS)
    else:  # Status: message = 2, code = 3
        message = _string(b"\x12", status.description) if status.description else b""
        code = _STATUS_CODES[status.status_code]
        parts.append(_delimited(b"\x7a", message + (b"\x18" + _varint(code) if code else b"")))
    parts.append(b"\x85\x01" + _FIXED32(flags))  # flags = 16 (a two-byte key)
    return _delimited(b"\x12", b"".join(parts))  # ScopeSpans.spans = 2


def resource_header(resource, scope) -> tuple[bytes, bytes]:
    """The bytes of the resource and of the scope, written once per worker:
    ResourceSpans.resource = 1 and ScopeSpans.scope = 1."""
    resource_bytes = _delimited(b"\x0a", _key_values(b"\x0a", resource.attributes))
    scope_bytes = _string(b"\x0a", scope.name) if scope.name else b""
    if scope.version:
        scope_bytes += _string(b"\x12", scope.version)
    return resource_bytes, _delimited(b"\x0a", scope_bytes)


def encode(spans, header: tuple[bytes, bytes]) -> bytes:
    """An ExportTraceServiceRequest (resource_spans = 1) holding `spans`, all of one
    resource and scope: `header` from resource_header()."""
    resource_bytes, scope_bytes = header
    scope_spans = _delimited(b"\x12", scope_bytes + b"".join(map(_span, spans)))
    return _delimited(b"\x0a", resource_bytes + scope_spans)
