"""A provider claiming more tokens than a ledger column holds is a malformed answer: the next route answers, and a row is always left."""
from decimal import Decimal

import orjson
import pytest
from asgiref.sync import sync_to_async

from providers.types import MAX_TOKENS
from usage import ledger
from usage.models import UsageRecord

from .conftest import add_route, chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def acme(db):
    return await sync_to_async(make_tenant)("acme")


async def row_of(response) -> UsageRecord:
    await sync_to_async(ledger.flush)()
    return await UsageRecord.objects.aget(request_id=response["x-request-id"])


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_count_beyond_the_column_falls_back_to_the_next_route(async_client, upstream, acme, kind):
    await sync_to_async(add_route)(upstream, kind, "chat", name="liar", priority=0)
    await sync_to_async(add_route)(upstream, "mock", "chat", name="mock", priority=1)
    upstream.prompt_tokens = MAX_TOKENS + 1
    response = await post_chat(async_client, acme, chat_body("chat"))
    assert response.status_code == 200
    assert response["x-gateway-provider"] == "mock"
    row = await row_of(response)
    assert row.provider == "mock" and row.prompt_tokens < 100


async def test_with_no_other_route_the_request_fails_and_is_still_recorded(async_client, upstream, acme):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    upstream.completion_tokens = 10**12
    response = await post_chat(async_client, acme, chat_body("chat"))
    assert response.status_code == 502
    assert orjson.loads(response.content)["error"]["type"] == "upstream_error"
    row = await row_of(response)
    assert (row.status, row.cost_usd) == (502, Decimal(0))


async def test_a_stream_ending_with_an_impossible_count_is_billed_on_our_count(async_client, upstream, acme):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    upstream.prompt_tokens = MAX_TOKENS * 4
    response = await post_chat(async_client, acme, chat_body("chat", stream=True))
    assert response.status_code == 200
    b"".join([part async for part in response.streaming_content])
    row = await row_of(response)
    assert row.tokens_estimated and 0 < row.prompt_tokens < 100 and row.cost_usd > 0
