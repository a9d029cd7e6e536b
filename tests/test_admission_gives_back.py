"""Limits and budget are checked together; what one admitted is given back when the other refuses."""
from decimal import Decimal

import orjson
import pytest
from asgiref.sync import sync_to_async

from completions import pipeline
from usage import budget

from .conftest import chat_body, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

BODY = chat_body(text="what does it cost?", max_tokens=50)


async def post(client, tenant):
    return await client.post("/v1/chat/completions", data=orjson.dumps(BODY), content_type="application/json",
                              headers={"X-API-Key": tenant.raw})


async def test_a_rate_limited_request_leaves_no_budget_reserved(async_client, mock_provider, backend):
    probe = await sync_to_async(make_tenant)("probe", monthly_budget_usd=Decimal(1000))
    assert (await post(async_client, probe)).status_code == 200
    # Room for three answers, and refused requests that would each have reserved more than that.
    tenant = await sync_to_async(make_tenant)("acme", rpm_limit=0, monthly_budget_usd=Decimal("0.000100"))
    for _ in range(5):
        refused = await post(async_client, tenant)
        assert refused.status_code == 429 and refused.json()["error"]["type"] == "rate_limit_error"
    await budget.settled()

    tenant.tenant.rpm_limit = None
    await sync_to_async(tenant.tenant.save)()  # the key cache forgets the tenant on save
    assert (await post(async_client, tenant)).status_code == 200


async def test_a_budget_refusal_gives_back_the_token_estimate(async_client, mock_provider, backend):
    tenant = await sync_to_async(make_tenant)("skint", tpm_limit=100_000, monthly_budget_usd=Decimal(0))
    first = await post(async_client, tenant)
    await pipeline.finished()  # the refund is bookkeeping after the answer
    second = await post(async_client, tenant)
    for refused in (first, second):
        assert refused.status_code == 429 and refused.json()["error"]["type"] == "budget_exceeded"
        assert refused["x-ratelimit-limit-tokens"] == "100000"
    # Each refusal counted its estimate only while it was checked: the second saw none of the first.
    assert first["x-ratelimit-remaining-tokens"] == second["x-ratelimit-remaining-tokens"]


async def test_limits_and_budget_are_checked_without_a_task_of_their_own(async_client, mock_provider, backend):
    import asyncio

    tenant = await sync_to_async(make_tenant)("acme", tpm_limit=100_000, monthly_budget_usd=Decimal(1000))
    assert (await post(async_client, tenant)).status_code == 200  # warm: key and route caches
    loop, made = asyncio.get_running_loop(), []
    factory = loop.get_task_factory()

    def counting(loop_, coro, **kwargs):
        made.append(getattr(coro, "__qualname__", repr(coro)))
        return factory(loop_, coro, **kwargs) if factory else asyncio.Task(coro, loop=loop_, **kwargs)

    loop.set_task_factory(counting)
    try:
        assert (await post(async_client, tenant)).status_code == 200
    finally:
        loop.set_task_factory(factory)
    # Both scripts are queued before either is awaited: no gather, no task per check.
    assert not [name for name in made if "acquire" in name or "reserve" in name or "gather" in name], made
