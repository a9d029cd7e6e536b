"""Limits edited in the admin (or the ORM) apply within seconds, without a restart."""
from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from .conftest import chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


def raise_limit(tenant, rpm: int) -> None:
    tenant.rpm_limit = rpm
    tenant.save()


async def test_a_raised_tenant_limit_applies_at_once(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("acme", rpm_limit=1)
    assert (await post_chat(async_client, tenant, chat_body())).status_code == 200
    assert (await post_chat(async_client, tenant, chat_body())).status_code == 429
    await sync_to_async(raise_limit)(tenant.tenant, 3)
    response = await post_chat(async_client, tenant, chat_body())
    assert response.status_code == 200
    assert response["x-ratelimit-limit-requests"] == "3"


async def test_a_key_limit_set_in_the_admin_applies_at_once(async_client, client, mock_provider):
    tenant = await sync_to_async(make_tenant)("acme")
    assert (await post_chat(async_client, tenant, chat_body())).status_code == 200
    admin = await sync_to_async(User.objects.create_superuser)("admin", "a@example.com", "pw-long-enough")
    await sync_to_async(client.force_login)(admin)
    key = tenant.key
    form = {"name": key.name, "expires_at_0": "", "expires_at_1": "", "rpm_limit": "1", "tpm_limit": ""}
    saved = await sync_to_async(client.post)(f"/admin/tenants/apikey/{key.pk}/change/", form)
    assert saved.status_code == 302, saved.content[:2000]
    admitted = await post_chat(async_client, tenant, chat_body())
    assert admitted["x-ratelimit-limit-requests"] == "1"
    assert (await post_chat(async_client, tenant, chat_body())).status_code == 429
