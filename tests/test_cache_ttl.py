"""Cache TTL: global default, per-tenant override, 0 turns caching off; entries expire."""
from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async


from .conftest import chat_body, make_tenant, post_chat

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("cached_route")]


BODY = chat_body("gpt-test", temperature=0)


async def outcomes(client, tenant, times: int = 2) -> list[str]:
    return [(await post_chat(client, tenant, BODY))["x-cache"] for _ in range(times)]


async def test_an_entry_expires_after_the_tenants_ttl(async_client, upstream):
    tenant = await sync_to_async(make_tenant)("acme", cache_ttl_seconds=2)
    assert await outcomes(async_client, tenant) == ["MISS", "HIT"]
    await asyncio.sleep(2.1)
    assert await outcomes(async_client, tenant) == ["MISS", "HIT"]
    assert upstream.calls == 2


async def test_a_tenant_ttl_of_zero_turns_caching_off(async_client, upstream):
    tenant = await sync_to_async(make_tenant)("acme", cache_ttl_seconds=0)
    assert await outcomes(async_client, tenant) == ["MISS", "MISS"]


async def test_a_global_ttl_of_zero_turns_caching_off_unless_the_tenant_sets_one(async_client, upstream, settings):
    settings.GATEWAY = {**settings.GATEWAY, "CACHE_TTL": 0}
    default = await sync_to_async(make_tenant)("acme")
    own = await sync_to_async(make_tenant)("globex", cache_ttl_seconds=60)
    assert await outcomes(async_client, default) == ["MISS", "MISS"]
    assert await outcomes(async_client, own) == ["MISS", "HIT"]
