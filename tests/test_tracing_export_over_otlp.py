"""A gateway started with OTEL_EXPORTER_OTLP_ENDPOINT exports its spans over OTLP/HTTP, in the caller's trace."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .conftest import chat_body
from .live import GatewayServer

pytestmark = pytest.mark.django_db(transaction=True)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver on 127.0.0.1 that keeps every span it is sent."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Receive)
        self.spans: list = []
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Receive(BaseHTTPRequestHandler):
    def do_POST(self):
        request = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
        for resource in request.resource_spans:
            for scoped in resource.scope_spans:
                self.server.spans.extend(scoped.spans)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def collector():
    server = Collector()
    server.thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_gateway_exports_server_and_attempt_spans(acme, mock_provider, collector):
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "50"}
    with GatewayServer(env=env) as gateway:
        response = httpx.post(f"{gateway.url}/v1/chat/completions", json=chat_body(), timeout=10,
                              headers={**acme.headers, "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"})
        assert response.status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len([s for s in collector.spans if s.trace_id.hex() == TRACE_ID]) < 2:
            time.sleep(0.05)
    names = {s.name for s in collector.spans if s.trace_id.hex() == TRACE_ID}
    assert {"POST /v1/chat/completions", "chat mock-small"} <= names
