"""A client that leaves while a provider computes its embeddings cancels the upstream call and is billed its input, estimated."""
import socket
import time

import orjson
import pytest

from usage.models import UsageRecord

from .conftest import add_route, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(done, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)
    return done()


def test_leaving_cancels_the_upstream_and_leaves_a_499_row(gateway, upstream):
    add_route(upstream, "openai", "embed", mode="embeddings")  # $1 per 1M input tokens
    acme = make_tenant("acme")
    upstream.set_mode("hang")
    text = "x" * 40  # estimated as 10 tokens (characters / 4)
    body = orjson.dumps({"model": "embed", "input": text})
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"X-API-Key: {acme.raw}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        )
        assert wait_until(lambda: upstream.calls == 1)
    assert wait_until(lambda: upstream.disconnects == 1)  # the gateway hung up on the provider
    assert wait_until(lambda: UsageRecord.objects.filter(status=499).exists())
    row = UsageRecord.objects.get()
    assert (row.model, row.error_type, row.client_disconnected) == ("embed", "client_disconnected", True)
    assert (row.prompt_tokens, row.completion_tokens, row.tokens_estimated) == (10, 0, True)
    assert row.cost_usd > 0
