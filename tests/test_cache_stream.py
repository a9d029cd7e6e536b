"""Streamed requests hit the cache too (replayed as SSE), and a streamed miss fills it."""
from __future__ import annotations

import asyncio

import orjson
import pytest
from asgiref.sync import sync_to_async

from completions import cache
from completions.validation import parse_chat_request

from .conftest import chat_body, make_tenant, post_chat

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("cached_route")]


async def events(response) -> list:
    raw = b"".join([chunk async for chunk in response.streaming_content]).decode()
    frames = [line[len("data: "):] for line in raw.split("\n\n") if line.startswith("data: ")]
    return [frame if frame == "[DONE]" else orjson.loads(frame) for frame in frames]


async def stored(tenant, body: dict) -> None:
    """Wait until the answer is in the cache (a stream stores it just after it ends)."""
    key = cache.cache_key(tenant.tenant.pk, parse_chat_request(body))
    for _ in range(100):
        if await cache._get(key) is not None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the streamed answer was never stored")


async def test_a_streamed_request_replays_a_stored_answer_as_sse(async_client, upstream):
    tenant = await sync_to_async(make_tenant)("acme")
    plain = chat_body("gpt-test", temperature=0)
    miss = await post_chat(async_client, tenant, plain)
    hit = await post_chat(async_client, tenant, {**plain, "stream": True, "stream_options": {"include_usage": True}})
    assert hit["x-cache"] == "HIT"
    assert hit["content-type"].startswith("text/event-stream")
    frames = await events(hit)
    assert frames[-1] == "[DONE]"
    chunks = frames[:-1]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == miss.json()["choices"][0]["message"]["content"]
    assert chunks[-2]["choices"][0]["finish_reason"] == miss.json()["choices"][0]["finish_reason"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == miss.json()["usage"]
    assert len({c["id"] for c in chunks}) == 1
    assert upstream.calls == 1


async def test_a_streamed_hit_without_include_usage_sends_no_usage_chunk(async_client, upstream):
    tenant = await sync_to_async(make_tenant)("acme")
    plain = chat_body("gpt-test", temperature=0)
    await post_chat(async_client, tenant, plain)
    frames = await events(await post_chat(async_client, tenant, {**plain, "stream": True}))
    assert all(frame == "[DONE]" or "usage" not in frame for frame in frames)


async def test_a_streamed_miss_fills_the_cache_when_it_ends(async_client, upstream):
    tenant = await sync_to_async(make_tenant)("acme")
    streamed = chat_body("gpt-test", temperature=0, stream=True)
    miss = await post_chat(async_client, tenant, streamed)
    assert miss["x-cache"] == "MISS"
    frames = await events(miss)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in frames[:-1] if c["choices"])
    await stored(tenant, streamed)
    hit = await post_chat(async_client, tenant, chat_body("gpt-test", temperature=0))
    assert hit["x-cache"] == "HIT"
    assert hit.json()["choices"][0]["message"]["content"] == text
    assert upstream.calls == 1


async def test_a_broken_stream_is_not_stored(async_client, upstream):
    tenant = await sync_to_async(make_tenant)("acme")
    upstream.set_mode("error_event")
    streamed = chat_body("gpt-test", temperature=0, stream=True)
    await events(await post_chat(async_client, tenant, streamed))
    await asyncio.sleep(0.1)
    upstream.set_mode("ok")
    again = await post_chat(async_client, tenant, streamed)
    assert again["x-cache"] == "MISS"
    await events(again)
