"""Cached, cache-write and reasoning tokens reach the client (OpenAI's shape), the ledger and the bill, from every adapter."""
from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from asgiref.sync import sync_to_async

from providers.models import ModelRoute
from usage import ledger
from usage.models import UsageRecord

from .conftest import add_route, chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)

PRICES = {"input_price_per_mtok": Decimal("3"), "output_price_per_mtok": Decimal("15"),
          "cached_input_price_per_mtok": Decimal("0.3"), "cache_write_price_per_mtok": Decimal("3.75")}


def priced_route(upstream, kind: str) -> None:
    route = add_route(upstream, kind, "chat", upstream_model="model-x")
    ModelRoute.objects.filter(pk=route.pk).update(**PRICES)


async def read(response) -> bytes:
    return b"".join([part async for part in response.streaming_content])


def last_usage(stream: bytes) -> dict:
    events = [line[6:] for line in stream.decode().split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return orjson.loads(events[-2])["usage"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("kind", ["openai", "azure", "ollama", "anthropic"])
async def test_every_token_class_is_answered_recorded_and_billed(async_client, upstream, kind, stream):
    await sync_to_async(priced_route)(upstream, kind)
    acme = await sync_to_async(make_tenant)("acme")
    upstream.prompt_tokens, upstream.completion_tokens, upstream.cached_tokens = 2000, 400, 1500
    # Anthropic reports cache writes and no reasoning count; OpenAI the reverse.
    write, reasoning = (300, 0) if kind == "anthropic" else (0, 250)
    upstream.cache_write_tokens, upstream.reasoning_tokens = write, reasoning

    body = chat_body("chat", stream=stream, stream_options={"include_usage": True}) if stream else chat_body("chat")
    response = await post_chat(async_client, acme, body)
    assert response.status_code == 200
    usage = last_usage(await read(response)) if stream else orjson.loads(response.content)["usage"]
    assert usage == {
        "prompt_tokens": 2000, "completion_tokens": 400, "total_tokens": 2400,
        # cache_write_tokens: no OpenAI field; kept beside cached_tokens when there are any (/v1/messages answers it).
        "prompt_tokens_details": {"cached_tokens": 1500, **({"cache_write_tokens": write} if write else {})},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }

    await sync_to_async(ledger.flush)()
    row = await UsageRecord.objects.aget(request_id=response["x-request-id"])
    assert (row.prompt_tokens, row.cached_tokens, row.cache_write_tokens) == (2000, 1500, write)
    assert (row.completion_tokens, row.reasoning_tokens, row.tokens_estimated) == (400, reasoning, False)
    frozen = (row.input_price_per_mtok, row.output_price_per_mtok, row.cached_input_price_per_mtok,
              row.cache_write_price_per_mtok)
    assert frozen == tuple(PRICES.values())
    # (2000 - 1500 - write) x $3 + 1500 x $0.30 + write x $3.75 + 400 x $15, per million tokens.
    uncached = 2000 - 1500 - write
    expected = (uncached * Decimal("3") + 1500 * Decimal("0.3") + write * Decimal("3.75") + 400 * Decimal("15")) / 10**6
    assert row.cost_usd == expected
    assert row.cost_usd == (Decimal("0.008175") if kind == "anthropic" else Decimal("0.00795"))


async def test_the_mock_provider_answers_every_class_as_zero_parts(async_client, mock_provider):
    acme = await sync_to_async(make_tenant)("acme")
    response = await post_chat(async_client, acme, chat_body("mock-small"))
    usage = orjson.loads(response.content)["usage"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0}
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 0}
    await sync_to_async(ledger.flush)()
    row = await UsageRecord.objects.aget(request_id=response["x-request-id"])
    assert (row.cached_tokens, row.cache_write_tokens, row.reasoning_tokens) == (0, 0, 0)
    # No cache prices on the route: those classes are billed (and frozen) at the input price.
    assert row.cached_input_price_per_mtok == row.cache_write_price_per_mtok == Decimal("0.15")
