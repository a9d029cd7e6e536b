"""The cache rule holds on /v1/messages and /v1/responses: a deterministic request is answered from the cache in
the endpoint's own shape, whole and streamed; a Messages request with fields its translation cannot hold
(thinking, top_k) is never answered from the cache."""
import orjson
import pytest
from asgiref.sync import sync_to_async

from completions import messages, responses
from providers.types import Usage

from .conftest import add_route

pytestmark = pytest.mark.django_db(transaction=True)

BODIES = {
    "/v1/messages": {"model": "gpt-test", "max_tokens": 50, "temperature": 0,
                     "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": "gpt-test", "input": "hi", "temperature": 0},
}


async def post(client, tenant, path, body):
    return await client.post(path, data=orjson.dumps(body), content_type="application/json", headers=tenant.headers)


@pytest.mark.parametrize("path", BODIES)
async def test_a_deterministic_request_is_answered_from_the_cache_in_the_endpoints_shape(
        async_client, acme, cached_route, path):
    miss = await post(async_client, acme, path, BODIES[path])
    hit = await post(async_client, acme, path, BODIES[path])
    assert (miss["x-cache"], hit["x-cache"]) == ("MISS", "HIT")
    assert cached_route.calls == 1
    whole = hit.json()
    if path == "/v1/messages":
        assert whole["type"] == "message" and whole["content"][0]["text"] == "Hello from fake-openai"
        assert whole["usage"]["input_tokens"] == 12
    else:
        assert whole["object"] == "response" and whole["output"][0]["content"][0]["text"] == "Hello from fake-openai"
    streamed = await post(async_client, acme, path, {**BODIES[path], "stream": True})
    assert streamed["x-cache"] == "HIT" and cached_route.calls == 1
    text = b"".join([part async for part in streamed.streaming_content])
    assert (b"message_stop" if path == "/v1/messages" else b"response.completed") in text
    assert b"Hello from fake-openai" in text  # the cache replays the whole text as one delta


@pytest.mark.parametrize("extra", [{"top_k": 5}, {"thinking": {"type": "enabled", "budget_tokens": 1024}}])
async def test_messages_with_fields_beyond_the_translation_skip_the_cache(async_client, acme, upstream, settings,
                                                                        extra):
    settings.GATEWAY = {**settings.GATEWAY, "CACHE_TTL": 60}
    await sync_to_async(add_route)(upstream, "anthropic", "gpt-test")
    body = {**BODIES["/v1/messages"], **extra}
    first = await post(async_client, acme, "/v1/messages", body)
    second = await post(async_client, acme, "/v1/messages", body)
    assert first.status_code == second.status_code == 200
    assert upstream.calls == 2
    assert {k: upstream.last.body[k] for k in extra} == extra  # passed through to the anthropic provider


def test_usage_carries_cache_reads_and_writes_in_each_shape():
    counts = Usage(1000, 50, cached_tokens=600, cache_write_tokens=300, reasoning_tokens=20)
    payload = {"id": "chatcmpl-1", "model": "m", "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
               "usage": counts.to_openai()}
    assert messages.answer(payload)["usage"] == {"input_tokens": 100, "output_tokens": 50,
                                                 "cache_creation_input_tokens": 300, "cache_read_input_tokens": 600}
    assert responses.answer(payload)["usage"] == {
        "input_tokens": 1000, "input_tokens_details": {"cached_tokens": 600}, "output_tokens": 50,
        "output_tokens_details": {"reasoning_tokens": 20}, "total_tokens": 1050}
