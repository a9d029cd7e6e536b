"""Clients opt out per request: Cache-Control no-cache skips the lookup, no-store skips storing."""
from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async


from .conftest import chat_body, make_tenant, post_chat

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("cached_route")]


BODY = chat_body("gpt-test", temperature=0)


async def test_no_cache_asks_the_provider_and_refreshes_the_entry(async_client, upstream):
    tenant = await sync_to_async(make_tenant)("acme")
    await post_chat(async_client, tenant, BODY)
    fresh = await post_chat(async_client, tenant, BODY, {"Cache-Control": "no-cache"})
    assert fresh["x-cache"] == "MISS"
    assert upstream.calls == 2
    assert (await post_chat(async_client, tenant, BODY))["x-cache"] == "HIT"


async def test_no_store_answers_but_keeps_nothing(async_client, upstream):
    tenant = await sync_to_async(make_tenant)("acme")
    kept = await post_chat(async_client, tenant, BODY, {"Cache-Control": "no-store"})
    assert kept["x-cache"] == "MISS"
    assert (await post_chat(async_client, tenant, BODY))["x-cache"] == "MISS"
    assert (await post_chat(async_client, tenant, BODY))["x-cache"] == "HIT"
    assert upstream.calls == 2


async def test_no_store_still_uses_a_stored_answer(async_client, upstream):
    tenant = await sync_to_async(make_tenant)("acme")
    await post_chat(async_client, tenant, BODY)
    assert (await post_chat(async_client, tenant, BODY, {"Cache-Control": "no-store"}))["x-cache"] == "HIT"
