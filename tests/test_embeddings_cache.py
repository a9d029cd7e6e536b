"""Identical embeddings requests are answered from the cache, per tenant, billed at zero, with x-cache: HIT."""
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from usage import budget, ledger
from usage.models import UsageRecord

from .conftest import add_route, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def route(upstream, settings, db):
    settings.GATEWAY = {**settings.GATEWAY, "CACHE_TTL": 60}
    await sync_to_async(add_route)(upstream, "openai", "embed", mode="embeddings")
    return upstream


async def rows_by_id(*raws) -> dict[str, UsageRecord]:
    await budget.settled()
    await sync_to_async(ledger.flush)()
    ids = [raw.headers["x-request-id"] for raw in raws]
    return {row.request_id: row async for row in UsageRecord.objects.filter(request_id__in=ids)}


async def test_an_identical_request_is_answered_from_the_cache_at_zero_cost(openai_sdk, route):
    acme = await sync_to_async(make_tenant)("acme")
    sdk = openai_sdk(acme)
    first = await sdk.embeddings.with_raw_response.create(model="embed", input=["a", "b"], encoding_format="float")
    second = await sdk.embeddings.with_raw_response.create(model="embed", input=["a", "b"], encoding_format="float")
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert second.headers["x-gateway-provider"] == "openai-0"
    assert second.parse().model_dump() == first.parse().model_dump()
    assert route.calls == 1
    rows = await rows_by_id(first, second)
    miss, hit = rows[first.headers["x-request-id"]], rows[second.headers["x-request-id"]]
    assert not miss.cached and miss.cost_usd > 0
    assert hit.cached and hit.cost_usd == Decimal(0) and hit.prompt_tokens == miss.prompt_tokens


async def test_what_changes_the_answer_changes_the_key(openai_sdk, route):
    sdk = openai_sdk(await sync_to_async(make_tenant)("acme"))
    await sdk.embeddings.create(model="embed", input="a", encoding_format="float")
    other = [
        {"input": "b", "encoding_format": "float"},
        {"input": "a", "encoding_format": "base64"},
        {"input": "a", "encoding_format": "float", "dimensions": 4},
    ]
    for fields in other:
        raw = await sdk.embeddings.with_raw_response.create(model="embed", **fields)
        assert raw.headers["x-cache"] == "MISS", fields
    assert route.calls == 4


async def test_tenants_do_not_share_cached_answers(openai_sdk, route):
    acme, globex = await sync_to_async(make_tenant)("acme"), await sync_to_async(make_tenant)("globex")
    await openai_sdk(acme).embeddings.create(model="embed", input="same text")
    raw = await openai_sdk(globex).embeddings.with_raw_response.create(model="embed", input="same text")
    assert raw.headers["x-cache"] == "MISS"
    assert route.calls == 2
