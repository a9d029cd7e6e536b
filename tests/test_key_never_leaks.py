"""A raw key never shows after creation: not in logs, metrics, error messages, headers or the admin."""
import logging

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import AsyncClient

from tenants import keys

from .conftest import add_route, chat_body, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


async def text_of(response) -> str:
    body = b"".join([part async for part in response.streaming_content]) if response.streaming else response.content
    headers = "\n".join(f"{k}: {v}" for k, v in response.items())
    return headers + "\n" + body.decode(errors="replace")


async def test_a_key_never_appears_in_answers_logs_or_metrics(async_client, acme, mock_provider, upstream, caplog):
    caplog.set_level(logging.DEBUG)
    await sync_to_async(add_route)(upstream, "openai", "failing", name="failing")
    upstream.set_mode("500")
    secret_part = acme.raw[12:]  # everything past the public prefix
    seen = [
        await text_of(await post_chat(async_client, acme, chat_body())),
        await text_of(await post_chat(async_client, acme, chat_body(stream=True))),
        await text_of(await post_chat(async_client, acme, chat_body("failing"))),
        await text_of(await post_chat(async_client, acme, chat_body("no-such-model"))),
        await text_of(await post_chat(async_client, acme, b"{not json")),
        await text_of(await post_chat(async_client, None, chat_body(), headers={"X-API-Key": acme.raw + "x"})),
        await text_of(await async_client.get("/v1/models", headers=acme.headers)),
        await text_of(await async_client.get("/v1/usage", headers=acme.headers)),
        await text_of(await async_client.get("/metrics")),
    ]
    seen += [record.getMessage() + str(record.args) for record in caplog.records]
    for text in seen:
        assert secret_part not in text


async def test_a_wrong_key_is_not_echoed_back(async_client, mock_provider):
    guess = "gw-" + "A" * 40
    response = await post_chat(async_client, None, chat_body(), headers={"Authorization": f"Bearer {guess}"})
    assert response.status_code == 401
    assert guess not in await text_of(response)


async def test_the_admin_shows_only_the_prefix_after_creation(acme):
    admin = await sync_to_async(User.objects.create_superuser)("root", "root@example.com", "pw")
    client = AsyncClient()
    await sync_to_async(client.force_login)(admin)
    rotated = await sync_to_async(keys.issue)(acme.tenant, name="second")
    pages = [
        "/admin/tenants/apikey/",
        f"/admin/tenants/apikey/{acme.key.pk}/change/",
        f"/admin/tenants/apikey/{rotated.key.pk}/change/",
        f"/admin/tenants/tenant/{acme.tenant.pk}/change/",
        "/admin/usage/usagerecord/",
    ]
    for page in pages:
        response = await client.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        for raw in (acme.raw, rotated.raw):
            assert raw[12:] not in html, page
