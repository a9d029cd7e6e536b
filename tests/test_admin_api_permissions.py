"""Admin tokens and Django model permissions: 401 without a valid token, 403 without the permission; finance reads usage only."""
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from tenants.models import AdminToken, Tenant

from .conftest import admin_client, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

EVERY_OPERATION = [
    ("GET", "/v1/admin/tenants"), ("POST", "/v1/admin/tenants"), ("GET", "/v1/admin/tenants/acme"),
    ("PATCH", "/v1/admin/tenants/acme"), ("GET", "/v1/admin/tenants/acme/keys"), ("POST", "/v1/admin/tenants/acme/keys"),
    ("POST", "/v1/admin/keys/{prefix}/rotate"), ("POST", "/v1/admin/keys/{prefix}/revoke"),
    ("GET", "/v1/admin/providers"), ("POST", "/v1/admin/providers"), ("GET", "/v1/admin/routes"),
    ("POST", "/v1/admin/routes"), ("GET", "/v1/admin/usage"),
]


def call(client: httpx.Client, method: str, path: str, prefix: str) -> httpx.Response:
    body = {"slug": "made", "name": "x", "kind": "mock", "public_name": "m", "provider": "mock"}
    return client.request(method, path.format(prefix=prefix), json=body if method != "GET" else None)


def assert_error(response: httpx.Response, status: int, type_: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["type"] == type_


def test_no_token_or_a_wrong_one_is_401(admin_gateway):
    acme = make_tenant("acme")
    for headers in ({}, {"Authorization": "Bearer gwa-not-a-token"}, {"Authorization": "Token x"}, {"X-API-Key": acme.raw},
                    {"Authorization": f"Bearer {acme.raw}"}):
        with httpx.Client(base_url=admin_gateway.url, headers=headers, timeout=10) as client:
            for method, path in EVERY_OPERATION:
                response = call(client, method, path, acme.key.prefix)
                assert_error(response, 401, "authentication_error")
                assert response.headers["www-authenticate"].startswith("Bearer")
    assert not Tenant.objects.filter(slug="made").exists()


def test_an_expired_or_revoked_token_is_401(admin_gateway):
    with admin_client(admin_gateway) as admin:
        assert admin.get("/v1/admin/tenants").status_code == 200
        AdminToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        assert_error(admin.get("/v1/admin/tenants"), 401, "authentication_error")
        AdminToken.objects.update(expires_at=None, revoked_at=timezone.now())
        assert_error(admin.get("/v1/admin/tenants"), 401, "authentication_error")


def test_a_token_of_a_deactivated_user_is_401(admin_gateway):
    with admin_client(admin_gateway) as admin:
        from django.contrib.auth.models import User

        User.objects.update(is_active=False)
        assert_error(admin.get("/v1/admin/tenants"), 401, "authentication_error")


def test_a_user_without_permissions_is_403(admin_gateway, mock_provider):
    acme = make_tenant("acme")
    with admin_client(admin_gateway, "nobody", superuser=False) as client:
        for method, path in EVERY_OPERATION:
            assert_error(call(client, method, path, acme.key.prefix), 403, "permission_error")
    assert not Tenant.objects.filter(slug="made").exists()


def test_finance_is_refused_every_write_and_every_read_but_usage(admin_gateway, mock_provider):
    acme = make_tenant("acme")
    with admin_client(admin_gateway, "fin", superuser=False, groups=("finance",)) as finance:
        for method, path in EVERY_OPERATION[:-1]:
            assert_error(call(finance, method, path, acme.key.prefix), 403, "permission_error")
    assert not Tenant.objects.filter(slug="made").exists()
    assert acme.key.__class__.objects.get(pk=acme.key.pk).revoked_at is None


def test_finance_reads_usage(admin_gateway):
    make_tenant("acme")
    with admin_client(admin_gateway, "fin", superuser=False, groups=("finance",)) as finance:
        response = finance.get("/v1/admin/usage", params={"tenant": "acme"})
        assert response.status_code == 200, response.text
        assert response.json()["tenant"] == "acme"


def test_permissions_are_per_action(admin_gateway):
    make_tenant("acme")
    with admin_client(admin_gateway, "ops", superuser=False, perms=("tenants.change_tenant",)) as ops:
        assert ops.get("/v1/admin/tenants").status_code == 200
        assert ops.patch("/v1/admin/tenants/acme", json={"rpm_limit": 5}).status_code == 200
        assert_error(ops.post("/v1/admin/tenants", json={"slug": "made"}), 403, "permission_error")
        assert_error(ops.get("/v1/admin/tenants/acme/keys"), 403, "permission_error")
