"""A key's own limit below its tenant's applies to that key; the tenant's still binds all its keys."""
from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from tenants import keys

from .conftest import TenantWithKey, chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


def second_key(owner: TenantWithKey, **limits) -> TenantWithKey:
    issued = keys.issue(owner.tenant, name="second")
    for name, value in limits.items():
        setattr(issued.key, name, value)
    issued.key.save()
    return TenantWithKey(owner.tenant, issued.key, issued.raw)


async def test_a_key_limit_below_the_tenants_applies_to_that_key(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("acme", rpm_limit=10)
    tight = await sync_to_async(second_key)(tenant, rpm_limit=2)
    statuses = [(await post_chat(async_client, tight, chat_body())).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = await post_chat(async_client, tight, chat_body())
    assert refused["x-ratelimit-limit-requests"] == "2"
    assert "key" in refused.json()["error"]["message"]
    # The tenant's other key still has room under the tenant's limit.
    assert (await post_chat(async_client, tenant, chat_body())).status_code == 200


async def test_the_tenant_limit_binds_all_its_keys_together(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("acme", rpm_limit=3)
    other = await sync_to_async(second_key)(tenant)
    for client_key in (tenant, other, tenant):
        assert (await post_chat(async_client, client_key, chat_body())).status_code == 200
    refused = await post_chat(async_client, other, chat_body())
    assert refused.status_code == 429
    assert "tenant" in refused.json()["error"]["message"]


async def test_a_key_tpm_limit_applies_beside_the_tenants(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("acme", tpm_limit=100_000)
    tight = await sync_to_async(second_key)(tenant, tpm_limit=1000)
    response = await post_chat(async_client, tight, chat_body(max_tokens=100))
    assert response["x-ratelimit-limit-tokens"] == "1000"
    assert (await post_chat(async_client, tight, chat_body(max_tokens=2000))).status_code == 429
    assert (await post_chat(async_client, tenant, chat_body(max_tokens=2000))).status_code == 200
