"""Each embeddings request leaves one ledger row billed on its input tokens: the provider's count, else the gateway's, marked estimated."""
from decimal import Decimal

import openai
import pytest
from asgiref.sync import sync_to_async

from providers import tokens
from usage import budget, ledger
from usage.cost import cost_usd
from usage.models import UsageRecord

from .conftest import add_route, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


async def row_of(raw) -> UsageRecord:
    await budget.settled()
    await sync_to_async(ledger.flush)()
    rows = await sync_to_async(list)(UsageRecord.objects.filter(request_id=raw.headers["x-request-id"]))
    assert len(rows) == 1, rows
    return rows[0]


@pytest.fixture
async def acme(db):
    return await sync_to_async(make_tenant)("acme")


async def test_a_request_is_billed_on_the_providers_input_tokens(openai_sdk, acme, upstream):
    await sync_to_async(add_route)(upstream, "openai", "embed", mode="embeddings")  # $1 in, $2 out per 1M
    upstream.prompt_tokens = 37
    raw = await openai_sdk(acme).embeddings.with_raw_response.create(model="embed", input=["a", "b"])
    assert raw.parse().usage.prompt_tokens == 37
    row = await row_of(raw)
    assert (row.model, row.provider, row.upstream_model, row.status) == ("embed", "openai-0", "openai-model", 200)
    assert (row.prompt_tokens, row.completion_tokens, row.tokens_estimated) == (37, 0, False)
    assert row.cost_usd == cost_usd(37, 0, Decimal("1"), Decimal("2")) == Decimal("0.000037")
    assert not row.cached and not row.streamed


async def test_an_answer_without_usage_is_billed_on_the_gateways_count_marked_estimated(openai_sdk, acme, upstream):
    await sync_to_async(add_route)(upstream, "openai", "embed", mode="embeddings")
    upstream.embeddings_usage = False
    texts = ["The quick brown fox", "jumps over the lazy dog"]
    raw = await openai_sdk(acme).embeddings.with_raw_response.create(model="embed", input=texts)
    counted = tokens.count_text(texts[0]) + tokens.count_text(texts[1])
    assert raw.parse().usage.prompt_tokens == raw.parse().usage.total_tokens == counted
    row = await row_of(raw)
    assert (row.prompt_tokens, row.tokens_estimated) == (counted, True)
    assert row.cost_usd == cost_usd(counted, 0, Decimal("1"), Decimal("2")) > 0


async def test_token_arrays_are_counted_by_their_length(openai_sdk, acme, upstream):
    await sync_to_async(add_route)(upstream, "openai", "embed", mode="embeddings")
    upstream.embeddings_usage = False
    raw = await openai_sdk(acme).embeddings.with_raw_response.create(model="embed", input=[[1, 2, 3], [4, 5]])
    row = await row_of(raw)
    assert (row.prompt_tokens, row.tokens_estimated) == (5, True)


async def test_a_failed_request_leaves_its_row_too(openai_sdk, acme, upstream):
    await sync_to_async(add_route)(upstream, "openai", "embed", mode="embeddings")
    upstream.set_mode("500")

    with pytest.raises(openai.APIStatusError) as failed:
        await openai_sdk(acme).embeddings.create(model="embed", input="x")
    assert failed.value.status_code == 502
    row = await row_of(failed.value.response)
    assert (row.status, row.error_type, row.cost_usd) == (502, "upstream_error", Decimal(0))
