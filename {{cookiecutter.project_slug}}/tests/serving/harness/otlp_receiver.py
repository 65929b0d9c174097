"""A real OTLP/HTTP receiver for the tracing tests: POST /v1/traces, decoded with
opentelemetry-proto's ExportTraceServiceRequest, as a collector would decode it.

It listens on 127.0.0.1 (a port of the harness), answers each export the way a
collector does (200, an ExportTraceServiceResponse in protobuf), un-gzips a
compressed body, and keeps every span it received. Tests wait on what it holds
(`wait_for_spans`), never on time.
"""

import contextlib
import gzip
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from harness.http import free_port, wait_for

PROTOBUF = "application/x-protobuf"
SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER
STATUS_ERROR = 2  # opentelemetry.proto.trace.v1.Status.StatusCode.STATUS_CODE_ERROR


@dataclass
class ReceivedSpan:
    name: str
    kind: int
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str  # "" for a root span
    attributes: dict
    resource: dict = field(default_factory=dict)
    status_code: int = 0  # STATUS_CODE_UNSET; STATUS_ERROR for a span in error


class OtlpReceiver:
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.exports = 0
        self.refused: list[str] = []  # what it could not take, said by the failing test
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces" or self.headers.get("Content-Type") != PROTOBUF:
                    receiver.refused.append(f"{self.path} {self.headers.get('Content-Type')}")
                    self.send_error(404 if self.path != "/v1/traces" else 415)
                    return
                receiver._take(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", PROTOBUF)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass  # the test's output is the service's lines

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _take(self, request: ExportTraceServiceRequest) -> None:
        spans = []
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        ReceivedSpan(
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes=_attributes(span.attributes),
                            resource=resource,
                            status_code=span.status.code,
                        )
                    )
        with self._lock:
            self.spans.extend(spans)
            self.exports += 1

    def server_spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return [span for span in self.spans if span.kind == SERVER_KIND]

    def wait_for_spans(self, count: int, timeout: float = 15.0) -> list[ReceivedSpan]:
        """At least `count` server spans received (the batch goes out every 5 s at the
        latest, OTEL_BSP_SCHEDULE_DELAY; the tests set it shorter)."""

        def enough():
            spans = self.server_spans()
            return spans if len(spans) >= count else None

        return wait_for(
            enough,
            timeout,
            f"{count} server spans received (have {len(self.server_spans())})",
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _attributes(attributes) -> dict:
    """key -> plain value, whatever AnyValue field holds it."""
    values = {}
    for attribute in attributes:
        kind, value = next(iter(MessageToDict(attribute.value).items()), (None, None))
        values[attribute.key] = int(value) if kind == "intValue" else value
    return values


@contextlib.contextmanager
def otlp_receiver():
    receiver = OtlpReceiver()
    try:
        yield receiver
    finally:
        receiver.close()
