"""A request whose bytes a provider does not take within the timeout ends as a timeout, and routing treats it as
one (504 upstream_timeout when every provider timed out), instead of waiting forever on a full socket."""
from __future__ import annotations

import asyncio
import time

import pytest

from infra.errors import GatewayError
from providers import http, routing
from providers.http.http1 import Pool, WriteTimeout
from providers.types import ChatRequest, Message, UpstreamError, UpstreamRequest
from tests.test_http1_transport import Server, fetch
from tests.test_transport import target

BIG = b"x" * (64 * 1024 * 1024)  # more than the loopback socket buffers of both ends can hold


async def head_then_stall(server: Server, reader, writer) -> None:
    """Reads the request head, then stops reading until the test ends."""
    await reader.readuntil(b"\r\n\r\n")
    await server.gate.wait()


async def test_the_engine_raises_a_write_timeout_and_drops_the_connection():
    pool = Pool()
    async with Server(head_then_stall) as server:
        started = time.monotonic()
        with pytest.raises(WriteTimeout):
            await fetch(pool, server.url, content=BIG, timeout=0.3)
        assert time.monotonic() - started < 5.0  # a hang bound, not a timing
        assert not pool._conns
    await pool.aclose()


async def test_the_seam_reports_it_as_a_timeout():
    async with Server(head_then_stall) as server:
        with pytest.raises(UpstreamError) as caught:
            await http.send(target(server.url, timeout=0.3), UpstreamRequest("POST", server.url, {}, BIG))
    assert (caught.value.kind, caught.value.retryable) == ("timeout", True)
    assert "WriteTimeout" in caught.value.message
    await http.close_all()


async def test_routing_answers_504_when_the_only_provider_does_not_take_the_request():
    async with Server(head_then_stall) as server:
        base = server.url.removesuffix("/chat")
        req = ChatRequest(model="gpt-test", messages=(Message("user", "x" * len(BIG)),))
        with pytest.raises(GatewayError) as caught:
            await asyncio.wait_for(routing.complete(req, (target(base, timeout=0.3),)), 10)
    assert (caught.value.status, caught.value.code) == (504, "upstream_timeout")
    await http.close_all()
