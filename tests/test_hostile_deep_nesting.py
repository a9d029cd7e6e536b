"""A body nesting deeper than the gateway can pass on gets a 400, not a 500 when an adapter serialises it."""
import orjson
import pytest
from asgiref.sync import sync_to_async

from completions.validation import MAX_DEPTH

from .conftest import add_route, chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


def nested(depth: int) -> bytes:
    """A chat body whose unknown field holds objects `depth` levels deep (the body itself is one more)."""
    inner = b'{"a":' * (depth - 1) + b"1" + b"}" * (depth - 1)
    return b'{"model":"chat","messages":[{"role":"user","content":"hi"}],"x_extra":' + inner + b"}"


@pytest.mark.parametrize("depth", [1000, 300, MAX_DEPTH + 1])
@pytest.mark.parametrize("kind", ["openai", "anthropic", "mock"])
async def test_a_body_nested_too_deep_is_refused_with_400(async_client, upstream, kind, depth):
    await sync_to_async(add_route)(upstream, kind, "chat")
    acme = await sync_to_async(make_tenant)("acme")
    response = await post_chat(async_client, acme, nested(depth))
    assert response.status_code == 400
    error = orjson.loads(response.content)["error"]
    assert error["type"] == "invalid_request_error" and "levels deep" in error["message"]
    assert upstream.calls == 0


async def test_nesting_within_the_limit_is_passed_on(async_client, upstream):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    acme = await sync_to_async(make_tenant)("acme")
    response = await post_chat(async_client, acme, nested(MAX_DEPTH))
    assert response.status_code == 200
    assert orjson.loads(upstream.last.raw)["x_extra"] == orjson.loads(nested(MAX_DEPTH))["x_extra"]


async def test_many_shallow_brackets_are_fine(async_client, upstream):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    acme = await sync_to_async(make_tenant)("acme")
    body = chat_body("chat", x_extra=[[{"k": [1]}] for _ in range(5000)])
    assert (await post_chat(async_client, acme, body)).status_code == 200
