"""Completion answers carry OpenAI's x-ratelimit-* headers; remaining counts after this request."""
from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async

from tenants import ratelimit

from .conftest import chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


DURATION = re.compile(r"^(\d+ms|\d+s|\d+m\d+s)$")


async def test_answers_carry_the_request_and_token_headers(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("acme", rpm_limit=5, tpm_limit=100_000)
    first = await post_chat(async_client, tenant, chat_body(max_tokens=50))
    second = await post_chat(async_client, tenant, chat_body(max_tokens=50))
    assert first.status_code == second.status_code == 200
    assert first["x-ratelimit-limit-requests"] == "5"
    assert (first["x-ratelimit-remaining-requests"], second["x-ratelimit-remaining-requests"]) == ("4", "3")
    assert DURATION.match(first["x-ratelimit-reset-requests"])
    assert first["x-ratelimit-limit-tokens"] == "100000"
    assert int(first["x-ratelimit-remaining-tokens"]) < 100_000
    assert DURATION.match(first["x-ratelimit-reset-tokens"])


async def test_streamed_answers_carry_them_too(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("acme", rpm_limit=5)
    response = await post_chat(async_client, tenant, chat_body(stream=True))
    assert response.status_code == 200
    b"".join([chunk async for chunk in response.streaming_content])
    assert response["x-ratelimit-remaining-requests"] == "4"


async def test_token_headers_only_where_a_tpm_limit_is_set(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("acme", rpm_limit=5)
    response = await post_chat(async_client, tenant, chat_body())
    assert response["x-ratelimit-limit-requests"] == "5"
    assert not response.has_header("x-ratelimit-limit-tokens")


async def test_unlimited_tenants_get_no_limit_headers(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("acme")
    response = await post_chat(async_client, tenant, chat_body())
    assert response.status_code == 200
    assert not response.has_header("x-ratelimit-limit-requests")


@pytest.mark.parametrize("ms, text", [(0, "0ms"), (17, "17ms"), (1000, "1s"), (1001, "2s"), (59_500, "1m0s"), (60_000, "1m0s"), (360_000, "6m0s")])
def test_durations_use_openai_format(ms, text):
    assert ratelimit.duration(ms) == text
