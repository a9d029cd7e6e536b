"""Fifty concurrent requests against room for five spend at most the budget plus one reservation."""
import asyncio
from decimal import ROUND_DOWN, Decimal

import orjson
import pytest
from asgiref.sync import sync_to_async
from django.db.models import Sum

from providers import routes
from providers.types import ChatRequest, Message
from usage import budget, ledger
from usage.models import UsageRecord

from .conftest import chat_body, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

BODY = chat_body(text="how much?", max_tokens=60)


async def post(client, tenant, body=BODY):
    return await client.post("/v1/chat/completions", data=orjson.dumps(body), content_type="application/json",
                              headers={"X-API-Key": tenant.raw})


async def settle_and_flush() -> None:
    await budget.settled()
    await sync_to_async(ledger.flush)()


async def spent(tenant) -> Decimal:
    total = await UsageRecord.objects.filter(tenant=tenant.tenant).aaggregate(total=Sum("cost_usd"))
    return total["total"] or Decimal(0)


async def one_request_cost(client) -> Decimal:
    probe = await sync_to_async(make_tenant)("probe")
    assert (await post(client, probe)).status_code == 200
    await settle_and_flush()
    return await spent(probe)


async def test_concurrent_requests_overshoot_by_at_most_one_reservation(async_client, mock_provider, backend):
    cost = await one_request_cost(async_client)
    targets = await routes.targets_for("mock-small")
    reservation = budget.max_cost(ChatRequest("mock-small", (Message("user", "how much?"),), max_tokens=60), targets)
    assert reservation > cost > 0
    limit = (cost * 5).quantize(Decimal("0.000001"), rounding=ROUND_DOWN)
    tenant = await sync_to_async(make_tenant)("acme", monthly_budget_usd=limit)

    responses = await asyncio.gather(*(post(async_client, tenant) for _ in range(50)))
    await settle_and_flush()

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) >= 1 and statuses.count(200) + statuses.count(429) == 50
    refused = [r.json()["error"] for r in responses if r.status_code == 429]
    assert all((e["type"], e["code"]) == ("budget_exceeded", "insufficient_quota") for e in refused)
    assert await UsageRecord.objects.filter(tenant=tenant.tenant).acount() == 50
    assert await spent(tenant) <= limit + reservation


async def test_a_hard_budget_refuses_once_spent_and_a_soft_one_only_alerts(async_client, mock_provider, backend):
    cost = await one_request_cost(async_client)
    limit = (cost * 2).quantize(Decimal("0.000001"), rounding=ROUND_DOWN)  # spent by the second request
    hard = await sync_to_async(make_tenant)("hard", monthly_budget_usd=limit)
    soft = await sync_to_async(make_tenant)("soft", monthly_budget_usd=limit, budget_is_hard=False)
    hard_statuses, soft_statuses = [], []
    for _ in range(4):
        hard_statuses.append((await post(async_client, hard)).status_code)
        soft_statuses.append((await post(async_client, soft)).status_code)
        await settle_and_flush()
    assert hard_statuses == [200, 200, 429, 429]
    assert soft_statuses == [200, 200, 200, 200]
    from usage.models import BudgetAlert

    fired = await sync_to_async(lambda: sorted(BudgetAlert.objects.values_list("tenant__slug", "threshold")))()
    assert fired == [("hard", 50), ("hard", 80), ("hard", 100), ("soft", 50), ("soft", 80), ("soft", 100)]
