"""Errors are never cached: the next identical request asks the provider again."""
from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async


from .conftest import chat_body, make_tenant, post_chat

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("cached_route")]


BODY = chat_body("gpt-test", temperature=0)


async def test_an_upstream_error_is_not_stored(async_client, upstream):
    tenant = await sync_to_async(make_tenant)("acme")
    upstream.set_mode("400")
    failed = await post_chat(async_client, tenant, BODY)
    assert failed.status_code == 400
    assert failed["x-cache"] == "MISS"
    calls = upstream.calls
    upstream.set_mode("ok")
    again = await post_chat(async_client, tenant, BODY)
    assert (again.status_code, again["x-cache"]) == (200, "MISS")
    assert upstream.calls == calls + 1
    assert (await post_chat(async_client, tenant, BODY))["x-cache"] == "HIT"
