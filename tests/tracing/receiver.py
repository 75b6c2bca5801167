"""A local OTLP/HTTP trace receiver: ``POST /v1/traces`` on a free loopback port, each
request's protobuf decoded with opentelemetry-proto into ``Received`` spans. Nothing leaves
the machine. ``python -m tests.tracing.receiver [PORT]`` prints what it receives."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


@dataclass(frozen=True)
class Received:
    """One span as the receiver got it (ids as hex, as a traceparent writes them)."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]
    status_code: int


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def decode(body: bytes) -> list[Received]:
    request = ExportTraceServiceRequest.FromString(body)
    out: list[Received] = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    Received(
                        service=str(resource.get("service.name")),
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        kind=span.kind,
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        status_code=span.status.code,
                    )
                )
    return out


class Receiver:
    """What the server got: ``spans``, and ``paths`` posted to (in order)."""

    def __init__(self) -> None:
        self.spans: list[Received] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()
        self.port = 0

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.spans)


@contextmanager
def otlp_receiver(port: int = 0) -> Iterator[Receiver]:
    """A receiver on ``port`` (0: a free one, in ``receiver.port``) until the block ends."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            with receiver.lock:
                receiver.paths.append(self.path)
                if self.path == "/v1/traces":
                    receiver.spans.extend(decode(body))
            status = 200 if self.path == "/v1/traces" else 404
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def line(span: Received) -> str:
    """One span on one line (ids shortened), as ``python -m tests.tracing.receiver`` prints."""
    facts = " ".join(
        f"{key.removeprefix('taskplane.')}={value}"
        for key, value in sorted(span.attributes.items())
        if key.startswith("taskplane.") and key != "taskplane.task_id"
    )
    parent = span.parent_span_id[:8] or "-"
    return (
        f"{span.service:<20} {span.name:<40} trace {span.trace_id[:8]} "
        f"span {span.span_id[:8]} parent {parent:<8} {facts}".rstrip()
    )


def main(port: int) -> None:
    """Receive on ``port`` and print each span as it arrives, until Ctrl-C."""
    import time

    with otlp_receiver(port) as receiver:
        print(f"OTLP/HTTP receiver on http://127.0.0.1:{receiver.port}", flush=True)
        shown = 0
        try:
            while True:
                spans = receiver.received()
                for span in spans[shown:]:
                    print(line(span), flush=True)
                shown = len(spans)
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    import sys

    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4318)
