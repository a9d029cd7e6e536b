"""A stream the client leaves before its first chunk is pulled still closes the upstream and bills."""
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

from .conftest import add_route, chat_body

pytestmark = pytest.mark.django_db(transaction=True)


async def test_closing_an_unstarted_relay_bills_and_closes_the_upstream(acme, upstream):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    upstream.set_mode("slow", delay=0.5)
    principal = await authenticate({"x-api-key": acme.raw})
    ctx = Context.new({})
    reply = await pipeline.handle(CHAT, principal, orjson.dumps(chat_body("chat", stream=True)), ctx)
    await reply.stream.aclose()
    # In a thread: the event loop must keep running to finish closing the socket.
    assert await asyncio.to_thread(upstream.wait_disconnect, 2.0), "the upstream stream was left open"
    await sync_to_async(ledger.flush)()
    record = await UsageRecord.objects.aget(request_id=ctx.request_id)
    assert record.client_disconnected and record.streamed
    assert record.prompt_tokens > 0 and record.tokens_estimated
    assert record.ttft_ms is None
