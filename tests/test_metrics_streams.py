"""A stream is an open stream while it flows, and leaves a time-to-first-token observation."""
import asyncio

import pytest
from asgiref.sync import sync_to_async

from .conftest import add_route, chat_body, post_chat
from .promtext import value

pytestmark = pytest.mark.django_db(transaction=True)


async def scrape(client) -> str:
    return (await client.get("/metrics")).content.decode()


async def test_a_stream_is_open_while_it_flows_and_records_its_first_token(async_client, acme, upstream):
    await sync_to_async(add_route)(upstream, "openai", "chat", name="oa")
    upstream.set_mode("slow")
    before = await scrape(async_client)
    assert value(before, "gateway_open_streams") == 0

    response = await post_chat(async_client, acme, chat_body("chat", stream=True))
    body = aiter(response.streaming_content)
    await anext(body)
    assert value(await scrape(async_client), "gateway_open_streams") == 1
    rest = b"".join([part async for part in body])
    assert rest.endswith(b"data: [DONE]\n\n")
    await asyncio.sleep(0)

    after = await scrape(async_client)
    assert value(after, "gateway_open_streams") == 0
    ttft = "gateway_time_to_first_token_seconds_count"
    assert value(after, ttft, model="chat", provider="oa") - value(before, ttft, model="chat", provider="oa") == 1
    tokens = "gateway_tokens_total"
    labels = {"tenant": "acme", "model": "chat", "provider": "oa", "type": "completion"}
    assert value(after, tokens, **labels) - value(before, tokens, **labels) == upstream.completion_tokens
