"""A request cancelled while its admission is awaited gives its budget reservation back and leaves a ledger row."""
import asyncio
from decimal import Decimal

import orjson
import pytest
import redis.asyncio
from asgiref.sync import sync_to_async
from django.conf import settings

from completions import pipeline
from completions.chat import CHAT
from completions.context import Context
from tenants.auth import load_principal
from usage import budget, ledger
from usage.models import BudgetCounter, UsageRecord

from .conftest import chat_body, make_tenant


async def held_now(backend: str, tenant_id: int, month) -> Decimal:
    """Spent plus reserved in the tenant's counter, where the backend keeps it."""
    if backend == "redis":
        async with redis.asyncio.Redis.from_url(settings.REDIS_URL) as client:
            raw = await client.hgetall(budget._key(tenant_id, month))
        return budget.from_pico(int(raw[b"u"]) * budget.MICRO + int(raw[b"p"]))  # micro-dollars and a picodollar rest
    row = await BudgetCounter.objects.aget(tenant_id=tenant_id, month=month)
    return row.amount_usd

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_cancel_during_admission_releases_the_reservation(backend, mock_provider, monkeypatch):
    tk = await sync_to_async(make_tenant)("acme", monthly_budget_usd=Decimal("5"), budget_is_hard=True)
    principal = await sync_to_async(load_principal)(tk.key.digest)
    # A first request seeds the month's counter, so the cancelled one's script reserves at once.
    first = await pipeline.handle(CHAT, principal, orjson.dumps(chat_body()), Context.new({}))
    assert first.status == 200
    await pipeline.finished()
    await budget.settled()
    spent = await held_now(backend, principal.tenant_id, budget.month_start(Context.new({}).started_at))
    asked = asyncio.Event()
    reserve = budget.reserve

    def spy(*args):
        asked.set()  # the script is queued; the request's task suspends on its answer next
        return reserve(*args)

    monkeypatch.setattr(budget, "reserve", spy)
    ctx = Context.new({})
    work = asyncio.ensure_future(pipeline.handle(CHAT, principal, orjson.dumps(chat_body()), ctx))
    await asyncio.wait_for(asked.wait(), 10)
    work.cancel()
    with pytest.raises(asyncio.CancelledError):
        await work
    await asyncio.sleep(0.2)  # the shielded answer lands after the cancel
    await pipeline.finished()
    await budget.settled()

    # Nothing more is held: spent plus reserved is what the first request cost.
    assert await held_now(backend, principal.tenant_id, budget.month_start(ctx.started_at)) == spent

    await sync_to_async(ledger.flush)()
    row = await UsageRecord.objects.aget(request_id=ctx.request_id)
    assert row.status == 499 and row.client_disconnected and row.cost_usd == 0
