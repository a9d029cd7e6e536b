"""Requests refused by a rate limit or a hard budget are counted per tenant."""
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from .conftest import add_route, chat_body, make_tenant, post_chat
from .promtext import value

pytestmark = pytest.mark.django_db(transaction=True)


async def scrape(client) -> str:
    return (await client.get("/metrics")).content.decode()


async def test_a_rate_limited_request_is_counted(async_client, upstream):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    tenant = await sync_to_async(make_tenant)("limited", rpm_limit=1)
    before = value(await scrape(async_client), "gateway_rate_limited_requests_total", tenant="limited")
    statuses = [(await post_chat(async_client, tenant, chat_body("chat"))).status_code for _ in range(2)]
    assert statuses == [200, 429]
    after = await scrape(async_client)
    assert value(after, "gateway_rate_limited_requests_total", tenant="limited") - before == 1
    assert value(after, "gateway_budget_blocked_requests_total", tenant="limited") == 0


async def test_a_request_over_a_hard_budget_is_counted(async_client, upstream):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    tenant = await sync_to_async(make_tenant)("skint", monthly_budget_usd=Decimal(0), budget_is_hard=True)
    before = value(await scrape(async_client), "gateway_budget_blocked_requests_total", tenant="skint")
    response = await post_chat(async_client, tenant, chat_body("chat"))
    assert response.status_code == 429
    assert response.json()["error"]["type"] == "budget_exceeded"
    after = await scrape(async_client)
    assert value(after, "gateway_budget_blocked_requests_total", tenant="skint") - before == 1
    assert value(after, "gateway_rate_limited_requests_total", tenant="skint") == 0
    assert upstream.calls == 0
