"""Over the limit: 429 rate_limit_error with Retry-After, recorded, and no upstream call."""
from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from providers.models import ModelRoute, Provider
from tests.fakes.upstream import FakeUpstream

from .conftest import chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def upstream():
    with FakeUpstream() as fake:
        yield fake


def fake_route(fake: FakeUpstream) -> None:
    provider = Provider.objects.create(name="fake", kind="openai", base_url=fake.base_url("openai"), timeout_seconds=5)
    ModelRoute.objects.create(public_name="gpt-test", provider=provider, upstream_model="gpt-4o-mini")


async def test_the_request_over_the_limit_gets_429_without_an_upstream_call(async_client, upstream):
    await sync_to_async(fake_route)(upstream)
    tenant = await sync_to_async(make_tenant)("acme", rpm_limit=2)
    statuses = [(await post_chat(async_client, tenant, chat_body("gpt-test"))).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert upstream.calls == 2


async def test_the_429_says_why_and_when_to_retry(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("acme", rpm_limit=1)
    await post_chat(async_client, tenant, chat_body())
    refused = await post_chat(async_client, tenant, chat_body())
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["x-ratelimit-remaining-requests"] == "0"
    assert refused["x-request-id"].startswith("req_")


async def test_a_request_larger_than_the_tpm_limit_is_refused(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("acme", tpm_limit=100)
    refused = await post_chat(async_client, tenant, chat_body(max_tokens=500))
    assert refused.status_code == 429
    assert "tokens" in refused.json()["error"]["message"]
    assert int(refused["Retry-After"]) >= 1
