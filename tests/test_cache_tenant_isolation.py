"""The same request from two tenants: two misses; each tenant only ever sees its own answers."""
from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from providers.models import ModelRoute, Provider
from tests.fakes.upstream import FakeUpstream

from .conftest import chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def upstream(db, settings):
    settings.GATEWAY = {**settings.GATEWAY, "CACHE_TTL": 60}
    with FakeUpstream() as fake:
        provider = Provider.objects.create(name="fake", kind="openai", base_url=fake.base_url("openai"), timeout_seconds=5)
        ModelRoute.objects.create(public_name="gpt-test", provider=provider, upstream_model="gpt-4o-mini")
        yield fake


BODY = chat_body("gpt-test", temperature=0)


async def test_tenants_never_share_cached_answers(async_client, upstream):
    acme = await sync_to_async(make_tenant)("acme")
    globex = await sync_to_async(make_tenant)("globex")
    first = [(await post_chat(async_client, t, BODY))["x-cache"] for t in (acme, globex)]
    second = [(await post_chat(async_client, t, BODY))["x-cache"] for t in (acme, globex)]
    assert first == ["MISS", "MISS"]
    assert second == ["HIT", "HIT"]
    assert upstream.calls == 2
