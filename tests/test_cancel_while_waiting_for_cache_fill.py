"""A request cancelled while it waits for an identical request to fill the cache still leaves its ledger row."""
import asyncio

import orjson
import pytest
from asgiref.sync import sync_to_async

from completions import pipeline
from completions.chat import CHAT
from completions.context import Context
from tenants.auth import authenticate
from usage import ledger
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

BODY = orjson.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "same question"}], "temperature": 0})


async def test_the_waiter_that_leaves_is_recorded_and_the_filler_still_answers(cached_route, acme):
    cached_route.set_mode("slow", delay=1.0)
    principal = await authenticate({"x-api-key": acme.raw})
    filler_ctx, waiter_ctx = Context.new({}), Context.new({})
    filler = asyncio.ensure_future(pipeline.handle(CHAT, principal, BODY, filler_ctx))
    for _ in range(200):  # until the filler's call reached the provider
        if cached_route.calls:
            break
        await asyncio.sleep(0.01)
    waiter = asyncio.ensure_future(pipeline.handle(CHAT, principal, BODY, waiter_ctx))
    await asyncio.sleep(0.2)  # the waiter is parked on the filler's flight
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (await filler).status == 200
    await pipeline.finished()
    await sync_to_async(ledger.flush)()
    left = await UsageRecord.objects.aget(request_id=waiter_ctx.request_id)
    assert left.status == 499 and left.client_disconnected and left.cost_usd == 0
    assert await UsageRecord.objects.filter(request_id=filler_ctx.request_id, status=200).aexists()
