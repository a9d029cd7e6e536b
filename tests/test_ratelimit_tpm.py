"""TPM counts prompt tokens plus max_tokens up front, then the real usage once the answer is in."""
from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from completions import pipeline
from usage import budget
from providers import tokens
from providers.types import Message

from .conftest import chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


LIMIT = 10_000


def prompt_tokens(text: str = "hi") -> int:
    # Admission counts the prompt as OpenAI's limiter does (characters / 4, no tokenizer), not with the BPE.
    return tokens.measure((Message("user", text),)).estimate()


async def test_it_counts_max_tokens_up_front_then_the_real_usage(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("acme", tpm_limit=LIMIT)
    first = await post_chat(async_client, tenant, chat_body(max_tokens=500))
    assert int(first["x-ratelimit-remaining-tokens"]) == LIMIT - (prompt_tokens() + 500)
    used = first.json()["usage"]["total_tokens"]
    assert used < prompt_tokens() + 500
    await pipeline.finished()  # the correction is bookkeeping after the answer
    second = await post_chat(async_client, tenant, chat_body(max_tokens=500))
    # The first request now counts what it used, not what it might have.
    assert int(second["x-ratelimit-remaining-tokens"]) == LIMIT - used - (prompt_tokens() + 500)


async def test_settlements_are_queued_without_a_task_per_request(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("acme", tpm_limit=LIMIT, monthly_budget_usd=Decimal("100"),
                                              budget_is_hard=True)
    first = await post_chat(async_client, tenant, chat_body(max_tokens=500))
    # The token correction and the budget settlement ride the next bookkeeping pipeline: no task waits on them.
    assert not pipeline._after and not budget._tasks
    await pipeline.finished()
    second = await post_chat(async_client, tenant, chat_body(max_tokens=500))
    used = first.json()["usage"]["total_tokens"]
    assert int(second["x-ratelimit-remaining-tokens"]) == LIMIT - used - (prompt_tokens() + 500)


async def test_without_max_tokens_it_counts_the_configured_default(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("acme", tpm_limit=LIMIT)
    response = await post_chat(async_client, tenant, chat_body())
    default = settings.GATEWAY["TPM_DEFAULT_MAX_TOKENS"]
    assert int(response["x-ratelimit-remaining-tokens"]) == LIMIT - (prompt_tokens() + default)


async def test_it_admits_exactly_what_fits_after_the_correction(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("acme", tpm_limit=2000)
    first = await post_chat(async_client, tenant, chat_body(max_tokens=100))
    room = 2000 - first.json()["usage"]["total_tokens"]
    await pipeline.finished()
    too_big = await post_chat(async_client, tenant, chat_body(max_tokens=room - prompt_tokens() + 1))
    assert too_big.status_code == 429
    assert "tokens" in too_big.json()["error"]["message"]
    await pipeline.finished()  # the refusal's refund
    fits = await post_chat(async_client, tenant, chat_body(max_tokens=room - prompt_tokens()))
    assert fits.status_code == 200
    assert fits["x-ratelimit-remaining-tokens"] == "0"
