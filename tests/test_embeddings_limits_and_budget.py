"""Embeddings count against the same rate limits and hard budget as chat; a reservation holds input tokens only."""
from decimal import Decimal

import openai
import pytest
from asgiref.sync import sync_to_async

from completions.embeddings import parse_embedding_request
from providers import routes
from usage import budget

from .conftest import add_route, chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def route(upstream, db):
    await sync_to_async(add_route)(upstream, "openai", "embed", mode="embeddings")  # $1 per 1M input tokens
    await sync_to_async(add_route)(upstream, "openai", "chat", name="chat-provider")
    return upstream


async def test_an_rpm_limit_counts_embeddings_and_chat_alike(openai_sdk, api, route):
    acme = await sync_to_async(make_tenant)("acme", rpm_limit=2)
    sdk = openai_sdk(acme)
    raw = await sdk.embeddings.with_raw_response.create(model="embed", input="one")
    assert raw.headers["x-ratelimit-limit-requests"] == "2" and raw.headers["x-ratelimit-remaining-requests"] == "1"
    assert (await post_chat(api, acme, chat_body("chat"))).status_code == 200
    with pytest.raises(openai.RateLimitError) as refused:
        await sdk.embeddings.create(model="embed", input="three")
    assert refused.value.body["code"] == "rate_limit_exceeded"
    assert refused.value.response.headers["retry-after"]
    assert route.calls == 2


async def test_a_tpm_limit_counts_the_input_only(openai_sdk, route):
    acme = await sync_to_async(make_tenant)("acme", tpm_limit=100)
    raw = await openai_sdk(acme).embeddings.with_raw_response.create(model="embed", input="hi")
    # Counted up front: "hi" estimated at one token (characters / 4, rounded up), nothing for output
    # (a chat request would hold TPM_DEFAULT_MAX_TOKENS more).
    assert raw.headers["x-ratelimit-limit-tokens"] == "100"
    assert raw.headers["x-ratelimit-remaining-tokens"] == "99"


async def test_a_reservation_is_the_inputs_bytes_at_the_input_price(route):
    req = parse_embedding_request({"model": "embed", "input": ["héllo", "world"]})
    assert req.output_ceiling(4096) == 0
    targets = await routes.targets_for("embed")
    assert budget.max_cost(req, targets) == Decimal(len("héllo".encode()) + len("world")) / 1_000_000
    tokens = parse_embedding_request({"model": "embed", "input": [[1, 2, 3], [4]]})
    assert budget.max_cost(tokens, targets) == Decimal(4) / 1_000_000  # token arrays: their length, exactly


async def test_a_spent_hard_budget_refuses_embeddings(openai_sdk, route):
    acme = await sync_to_async(make_tenant)("acme", monthly_budget_usd=Decimal("0.00001"), budget_is_hard=True)
    sdk = openai_sdk(acme)
    await sdk.embeddings.create(model="embed", input="first")  # 12 tokens at $1 per 1M: $0.000012, over the budget
    await budget.settled()
    with pytest.raises(openai.RateLimitError) as refused:
        await sdk.embeddings.create(model="embed", input="second")
    assert (refused.value.body["type"], refused.value.body["code"]) == ("budget_exceeded", "insufficient_quota")
    assert route.calls == 1
