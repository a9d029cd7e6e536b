"""The same request from two tenants: two misses; each tenant only ever sees its own answers."""
from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async


from .conftest import chat_body, make_tenant, post_chat

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("cached_route")]


BODY = chat_body("gpt-test", temperature=0)


async def test_tenants_never_share_cached_answers(async_client, upstream):
    acme = await sync_to_async(make_tenant)("acme")
    globex = await sync_to_async(make_tenant)("globex")
    first = [(await post_chat(async_client, t, BODY))["x-cache"] for t in (acme, globex)]
    second = [(await post_chat(async_client, t, BODY))["x-cache"] for t in (acme, globex)]
    assert first == ["MISS", "MISS"]
    assert second == ["HIT", "HIT"]
    assert upstream.calls == 2
