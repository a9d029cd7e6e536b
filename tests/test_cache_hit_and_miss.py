"""A deterministic request answered twice: MISS calls the provider, HIT does not, and is billed as cached."""
from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from usage import ledger
from usage.models import UsageRecord

from .conftest import chat_body, make_tenant, post_chat

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("cached_route")]


async def test_the_second_identical_request_is_a_hit_without_an_upstream_call(async_client, upstream):
    tenant = await sync_to_async(make_tenant)("acme")
    body = chat_body("gpt-test", temperature=0)
    miss = await post_chat(async_client, tenant, body)
    hit = await post_chat(async_client, tenant, body)
    assert (miss.status_code, hit.status_code) == (200, 200)
    assert (miss["x-cache"], hit["x-cache"]) == ("MISS", "HIT")
    assert upstream.calls == 1
    assert hit.json()["choices"] == miss.json()["choices"]
    assert hit.json()["usage"] == miss.json()["usage"]
    assert hit.json()["id"] != miss.json()["id"]
    assert hit["x-gateway-provider"] == "fake"


async def test_hits_are_recorded_as_cached_at_zero_cost(async_client, upstream):
    tenant = await sync_to_async(make_tenant)("acme")
    body = chat_body("gpt-test", temperature=0)
    await post_chat(async_client, tenant, body)
    hit = await post_chat(async_client, tenant, body)
    await sync_to_async(ledger.flush)()
    row = await UsageRecord.objects.aget(request_id=hit["x-request-id"])
    assert row.cached and row.cost_usd == 0
    assert row.prompt_tokens + row.completion_tokens == hit.json()["usage"]["total_tokens"]


async def test_non_deterministic_requests_are_never_cached(async_client, upstream):
    tenant = await sync_to_async(make_tenant)("acme")
    body = chat_body("gpt-test", temperature=0.7)
    caches = [(await post_chat(async_client, tenant, body))["x-cache"] for _ in range(2)]
    assert caches == ["MISS", "MISS"]
    assert upstream.calls == 2
