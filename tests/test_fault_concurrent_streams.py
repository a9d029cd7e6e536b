"""200 concurrent streams from one client machine all complete, and the gateway's memory returns to its baseline.

The baseline is the resident size after a warm-up of a few streams (imports, pools, caches loaded).
A burst of 200 streams leaves a high-water mark: about 10 MB on a 114 MB process, nearly all of it
Python's allocator arenas kept by a few surviving objects (not live data). Once the gateway is idle it
collects garbage and trims the C heap (gateway_project/shutdown.py), so later bursts add almost
nothing. The bounds are generous (several times what was measured) and still catch what they are
for: memory that does not come back after a burst (BURST_KB), and a per-stream leak of 15 KB or
more, which LATER_BURSTS x STREAMS streams would add up past LEAK_KB.
"""
import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest

from gateway_project.shutdown import IDLE_SECONDS, RELEASE_EVERY
from usage.models import UsageRecord

from .conftest import add_route, chat_body, make_tenant
from .fakes import upstream as fake
from .live import GatewayServer

pytestmark = pytest.mark.django_db(transaction=True)

STREAMS = int(os.environ.get("FAULT_STREAMS", 200))
WARM_UP = 20
BURST_KB = 48_000  # what a burst may leave above the baseline (measured: 9.8-10.5 MB)
LATER_BURSTS = 4
LEAK_KB = 12_000  # what the later bursts may add to the first, together (measured: 0.1-0.8 MB a burst)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def idle_rss(pid: int) -> int:
    """The resident size once the gateway, idle, has released memory (due at most RELEASE_EVERY after the last)."""
    time.sleep(max(IDLE_SECONDS, RELEASE_EVERY) + 1)
    return rss_kb(pid)


async def one_stream(client: httpx.AsyncClient) -> bytes:
    async with client.stream("POST", "/v1/chat/completions", json=chat_body("chat", stream=True)) as response:
        assert response.status_code == 200
        return b"".join([part async for part in response.aiter_bytes()])


async def streams_at_once(url: str, key: str, count: int) -> list[bytes]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=60, limits=limits) as client:
        return await asyncio.wait_for(asyncio.gather(*(one_stream(client) for _ in range(count))), 90)


def all_complete(bodies: list[bytes]) -> bool:
    return all(body.endswith(b"data: [DONE]\n\n") for body in bodies)


@pytest.fixture
def upstream(monkeypatch):
    """The fake provider with a listen backlog deep enough for every stream connecting at once."""
    monkeypatch.setattr(fake._Server, "request_queue_size", 2 * STREAMS)
    with fake.FakeUpstream() as server:
        yield server


@pytest.fixture
def gateway(transactional_db):
    """`python -m gateway_project.serve` with production-like caching: steady-state requests read no database."""
    env = {"ROUTE_CACHE_TTL": "30", "KEY_CACHE_LOCAL_TTL": "30", "LEDGER_FLUSH_INTERVAL": "0.5"}
    with GatewayServer(env=env, module="gateway_project.serve") as server:
        yield server


def test_two_hundred_concurrent_streams_complete_and_memory_returns(gateway, upstream):
    add_route(upstream, "openai", "chat")
    tenant = make_tenant("acme")
    upstream.set_mode("slow", delay=0.05)
    pid = gateway.proc.pid
    assert all_complete(asyncio.run(streams_at_once(gateway.url, tenant.raw, WARM_UP)))
    baseline = idle_rss(pid)
    levels = []
    for _ in range(1 + LATER_BURSTS):
        assert all_complete(asyncio.run(streams_at_once(gateway.url, tenant.raw, STREAMS)))
        levels.append(idle_rss(pid))
    assert max(levels) - baseline <= BURST_KB, (baseline, levels)
    assert levels[-1] - levels[0] <= LEAK_KB, (baseline, levels)
    written = WARM_UP + len(levels) * STREAMS
    deadline = time.monotonic() + 60
    while UsageRecord.objects.count() < written and time.monotonic() < deadline:
        time.sleep(0.1)
    assert UsageRecord.objects.filter(status=200, streamed=True).count() == written
