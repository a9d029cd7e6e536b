"""A client that leaves mid-stream cancels the upstream request long before it would end, and is still billed."""
import socket
import time

import orjson
import pytest

from usage.models import UsageRecord

from .conftest import add_route, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


UPSTREAM_PAUSE = 5.0  # seconds between upstream events: the stream lasts far longer than a cancellation takes


def wait_for_end(upstream, count: int = 1, seconds: float = 120.0) -> str:
    """How the upstream streams ended: "disconnected" once `count` were abandoned, "completed" if one ran to its end."""
    deadline = time.monotonic() + seconds  # a bound for a hang only: a completed stream answers long before
    while time.monotonic() < deadline:
        if upstream.stream_done.is_set():
            return "completed"
        if upstream.disconnects >= count:
            return "disconnected"
        time.sleep(0.02)
    return "neither"


def open_stream(url: str, key: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    body = orjson.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"X-API-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    )
    return sock


def test_disconnect_closes_the_upstream_connection_and_bills(gateway, upstream):
    add_route(upstream, "openai", "chat")
    acme = make_tenant("acme")
    upstream.set_mode("slow", delay=UPSTREAM_PAUSE)
    sock = open_stream(gateway.url, acme.raw)
    received = b""
    while b"data: {" not in received:
        part = sock.recv(65536)
        assert part, f"the gateway closed the stream early: {received!r}"
        received += part
    sock.close()
    assert wait_for_end(upstream) == "disconnected", "the gateway kept the upstream stream open to its end"
    deadline = time.monotonic() + 5
    while not UsageRecord.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    record = UsageRecord.objects.get()
    assert gateway.records(record.request_id) == 1  # recorded once, not merely one row left
    assert record.client_disconnected and record.streamed
    assert record.prompt_tokens > 0
