"""Chunks are forwarded as they arrive: the first reaches the client before the upstream finishes."""
import time

import httpx
import pytest

from .conftest import add_route, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def test_first_chunk_arrives_before_the_upstream_is_done(gateway, upstream):
    add_route(upstream, "openai", "chat")
    acme = make_tenant("acme")
    upstream.set_mode("slow", delay=0.3)
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    started = time.monotonic()
    arrivals = []
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body,
                      headers={"X-API-Key": acme.raw}, timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append((time.monotonic() - started, upstream.stream_done.is_set()))
    assert arrivals[0][1] is False, "the first chunk waited for the whole upstream stream"
    assert len(arrivals) >= 4
    gaps = [b[0] - a[0] for a, b in zip(arrivals, arrivals[1:-1])]
    assert max(gaps) > 0.2  # chunks came spread out, as the upstream sent them, not in one burst
