"""The limiter admits at most `limit` per any 60 s, in process and in Redis alike (controlled clock)."""
from __future__ import annotations

import uuid

import pytest

from tenants import ratelimit
from tenants.ratelimit import Limit, MemoryBackend, RedisBackend
from tests.conftest import requires_redis

T0 = 1_700_000_000_000  # ms


class Memory:
    def __init__(self):
        self.backend = MemoryBackend()

    async def check(self, limits, now_ms, request_id=None):
        return self.backend.check(limits, request_id or uuid.uuid4().hex, now_ms)

    async def settle(self, keys, request_id, old, new):
        self.backend.settle(keys, request_id, new - old)


class Shared:
    def __init__(self):
        self.backend = RedisBackend()

    async def check(self, limits, now_ms, request_id=None):
        return await self.backend.check(limits, request_id or uuid.uuid4().hex, now_ms)

    async def settle(self, keys, request_id, old, new):
        await self.backend.settle(keys, request_id, old, new)


@pytest.fixture(params=["memory", pytest.param("redis", marks=requires_redis)])
async def limiter(request):
    if request.param == "memory":
        yield Memory()
        return
    yield Shared()


def rpm(limit: int, key: str | None = None) -> Limit:
    return Limit(key or f"t:{uuid.uuid4().hex}:rpm", "requests", "tenant", limit, 1)


async def test_it_admits_exactly_the_limit_within_the_window(limiter):
    limit = rpm(3)
    verdicts = [await limiter.check([limit], T0 + i) for i in range(5)]
    assert [v.retry_ms == 0 for v in verdicts] == [True, True, True, False, False]
    assert [v.used[0] for v in verdicts[:3]] == [1, 2, 3]


async def test_it_refuses_until_the_oldest_request_leaves_the_window(limiter):
    limit = rpm(2)
    await limiter.check([limit], T0)
    await limiter.check([limit], T0 + 30_000)
    refused = await limiter.check([limit], T0 + 59_999)
    assert refused.retry_ms == 1  # the first request stops counting at T0 + 60 s
    at_edge = await limiter.check([limit], T0 + 60_000)
    assert at_edge.retry_ms == 0
    # The second request still counts: only one slot came back, not a whole new minute.
    assert (await limiter.check([limit], T0 + 60_001)).retry_ms == 30_000 - 1


async def test_it_does_not_double_the_limit_across_a_minute_boundary(limiter):
    limit = rpm(10)
    for i in range(10):
        assert (await limiter.check([limit], T0 + 59_000 + i)).retry_ms == 0
    # A fixed window would start afresh at T0 + 60 s; a sliding one still counts the burst.
    assert (await limiter.check([limit], T0 + 61_000)).retry_ms > 0


async def test_it_counts_nothing_when_any_limit_refuses(limiter):
    loose, tight = rpm(10), rpm(1)
    assert (await limiter.check([loose, tight], T0)).retry_ms == 0
    assert (await limiter.check([loose, tight], T0 + 1)).retry_ms > 0
    assert (await limiter.check([loose], T0 + 2)).used == (2,)


async def test_it_reports_when_the_oldest_request_expires(limiter):
    limit = rpm(5)
    await limiter.check([limit], T0)
    verdict = await limiter.check([limit], T0 + 20_000)
    assert verdict.reset_ms == (40_000,)


async def test_tokens_wait_for_enough_cost_to_leave(limiter):
    tpm = Limit(f"t:{uuid.uuid4().hex}:tpm", "tokens", "tenant", 100, 40)
    for i in range(2):
        assert (await limiter.check([tpm], T0 + i * 10_000)).retry_ms == 0
    big = Limit(tpm.key, "tokens", "tenant", 100, 60)
    # 80 used; 60 more needs 40 freed: the first entry, at T0 + 60 s.
    assert (await limiter.check([big], T0 + 20_000)).retry_ms == 40_000


async def test_settle_replaces_the_estimate_by_the_real_cost(limiter):
    tpm = Limit(f"t:{uuid.uuid4().hex}:tpm", "tokens", "tenant", 100, 90)
    await limiter.check([tpm], T0, request_id="req_a")
    await limiter.settle([tpm.key], "req_a", 90, 30)
    small = Limit(tpm.key, "tokens", "tenant", 100, 70)
    verdict = await limiter.check([small], T0 + 1)
    assert verdict.retry_ms == 0 and verdict.used == (100,)


async def test_a_request_larger_than_the_limit_is_refused_for_a_whole_window(limiter):
    tpm = Limit(f"t:{uuid.uuid4().hex}:tpm", "tokens", "tenant", 100, 101)
    assert (await limiter.check([tpm], T0)).retry_ms == ratelimit.WINDOW_MS
