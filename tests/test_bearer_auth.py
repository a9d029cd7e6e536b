"""Keys are accepted as X-API-Key or Authorization: Bearer; bad keys get 401 JSON."""
from datetime import timedelta

import pytest
from django.utils import timezone

from tenants import keys

from .conftest import chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_accepts_x_api_key(async_client, acme):
    response = await async_client.get("/v1/models", headers={"X-API-Key": acme.raw})
    assert response.status_code == 200


async def test_it_accepts_bearer(async_client, acme):
    response = await async_client.get("/v1/models", headers={"Authorization": f"Bearer {acme.raw}"})
    assert response.status_code == 200


async def test_it_rejects_missing_key(async_client, db):
    response = await async_client.get("/v1/models")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


async def test_it_rejects_unknown_key(async_client, acme):
    response = await async_client.get("/v1/models", headers={"X-API-Key": acme.raw + "x"})
    assert response.status_code == 401
    assert acme.raw not in response.content.decode()


async def test_it_rejects_revoked_key(async_client, acme):
    from asgiref.sync import sync_to_async

    await sync_to_async(keys.revoke)(acme.key)
    response = await async_client.get("/v1/models", headers={"X-API-Key": acme.raw})
    assert response.status_code == 401


async def test_it_rejects_expired_key(async_client, acme):
    from asgiref.sync import sync_to_async

    acme.key.expires_at = timezone.now() - timedelta(seconds=1)
    await sync_to_async(acme.key.save)()
    response = await async_client.get("/v1/models", headers={"X-API-Key": acme.raw})
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


async def test_it_refuses_a_disabled_tenant_with_403(async_client, mock_provider):
    from asgiref.sync import sync_to_async

    off = await sync_to_async(make_tenant)("off", active=False)
    response = await post_chat(async_client, off, chat_body())
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"
