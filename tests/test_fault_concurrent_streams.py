"""200 concurrent streams from one client machine all complete, and the gateway's memory does not grow per round."""
import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest

from usage.models import UsageRecord

from .conftest import add_route, chat_body, make_tenant
from .fakes import upstream as fake
from .live import GatewayServer

pytestmark = pytest.mark.django_db(transaction=True)

STREAMS = int(os.environ.get("FAULT_STREAMS", 200))
ROUNDS = 2  # the first sets the high-water mark (pools, caches); the second must not add to it


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def one_stream(client: httpx.AsyncClient) -> bytes:
    async with client.stream("POST", "/v1/chat/completions", json=chat_body("chat", stream=True)) as response:
        assert response.status_code == 200
        return b"".join([part async for part in response.aiter_bytes()])


async def round_of_streams(url: str, key: str) -> list[bytes]:
    limits = httpx.Limits(max_connections=STREAMS, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=60, limits=limits) as client:
        return await asyncio.wait_for(asyncio.gather(*(one_stream(client) for _ in range(STREAMS))), 90)


@pytest.fixture
def upstream(monkeypatch):
    """The fake provider with a listen backlog deep enough for every stream connecting at once."""
    monkeypatch.setattr(fake._Server, "request_queue_size", 2 * STREAMS)
    with fake.FakeUpstream() as server:
        yield server


@pytest.fixture
def gateway(transactional_db):
    """Production-like caching: steady-state requests read no database."""
    env = {"ROUTE_CACHE_TTL": "30", "KEY_CACHE_LOCAL_TTL": "30", "LEDGER_FLUSH_INTERVAL": "0.5"}
    with GatewayServer(env=env) as server:
        yield server


def test_two_hundred_concurrent_streams_complete_without_leaking(gateway, upstream):
    add_route(upstream, "openai", "chat")
    tenant = make_tenant("acme")
    upstream.set_mode("slow", delay=0.05)
    sizes = []
    for _ in range(ROUNDS):
        bodies = asyncio.run(round_of_streams(gateway.url, tenant.raw))
        assert all(body.endswith(b"data: [DONE]\n\n") for body in bodies)
        time.sleep(0.5)
        sizes.append(rss_kb(gateway.proc.pid))
    assert sizes[-1] - sizes[0] < 15_000, sizes
    deadline = time.monotonic() + 10
    while UsageRecord.objects.count() < ROUNDS * STREAMS and time.monotonic() < deadline:
        time.sleep(0.1)
    assert UsageRecord.objects.filter(status=200, streamed=True).count() == ROUNDS * STREAMS
