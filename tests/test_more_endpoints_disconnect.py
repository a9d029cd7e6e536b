"""A client that leaves a /v1/messages or /v1/responses stream midway cancels the upstream request, and the
request is billed for what was sent (one ledger row, marked as a client disconnect)."""
import socket
import time

import orjson
import pytest

from usage.models import UsageRecord

from .conftest import add_route, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

BODIES = {
    "/v1/messages": {"model": "chat", "max_tokens": 50, "stream": True,
                     "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": "chat", "input": "hi", "stream": True},
}
FIRST_TEXT = {"/v1/messages": b"text_delta", "/v1/responses": b"response.output_text.delta"}


def open_stream(url: str, key: str, path: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    body = orjson.dumps(BODIES[path])
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n".encode()
        + f"x-api-key: {key}\r\nanthropic-version: 2023-06-01\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    )
    return sock


@pytest.mark.parametrize("path", BODIES)
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_leaving_mid_stream_closes_the_upstream_and_bills(gateway, upstream, path, kind):
    add_route(upstream, kind, "chat")
    acme = make_tenant("acme")
    upstream.set_mode("slow", delay=0.5)
    sock = open_stream(gateway.url, acme.raw, path)
    received = b""
    while FIRST_TEXT[path] not in received:
        part = sock.recv(65536)
        assert part, f"the gateway closed the stream early: {received!r}"
        received += part
    sock.close()
    assert upstream.wait_disconnect(timeout=5.0), "the gateway kept the upstream stream open"
    assert not upstream.stream_done.is_set()
    deadline = time.monotonic() + 10
    while not UsageRecord.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    record = UsageRecord.objects.get()
    assert record.client_disconnected and record.streamed and record.status == 499
    assert record.prompt_tokens > 0 and record.completion_tokens > 0  # the text that reached the client
    assert record.cost_usd > 0
