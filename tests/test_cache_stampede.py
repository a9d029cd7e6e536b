"""Concurrent identical misses do not stampede the provider: one upstream call, the rest wait for it."""
from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async


from .conftest import chat_body, make_tenant, post_chat

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("cached_route")]


BODY = chat_body("gpt-test", temperature=0)


async def test_ten_concurrent_identical_misses_make_one_upstream_call(async_client, upstream):
    tenant = await sync_to_async(make_tenant)("acme")
    upstream.set_mode("slow", delay=0.3)
    started = time.monotonic()
    responses = await asyncio.gather(*(post_chat(async_client, tenant, BODY) for _ in range(10)))
    assert [r.status_code for r in responses] == [200] * 10
    assert upstream.calls == 1
    assert sorted(r["x-cache"] for r in responses) == ["HIT"] * 9 + ["MISS"]
    assert len({r.json()["choices"][0]["message"]["content"] for r in responses}) == 1
    assert time.monotonic() - started < 5


async def test_waiters_call_the_provider_themselves_when_the_first_call_fails(async_client, upstream):
    tenant = await sync_to_async(make_tenant)("acme")
    upstream.set_mode("slow", delay=0.2)
    upstream.queue_modes("400")
    responses = await asyncio.gather(*(post_chat(async_client, tenant, BODY) for _ in range(3)))
    assert sorted(r.status_code for r in responses) == [200, 200, 400]
