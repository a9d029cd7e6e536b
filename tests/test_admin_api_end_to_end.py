"""The management API end to end on a real gateway: tenant, key, traffic, usage, rotation, revocation, finance."""
import time

import httpx
import pytest

from .conftest import admin_client, chat_body

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(check, what: str):
    """The first truthy value of check(); a generous bound only against hangs."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def chat(server, raw: str) -> int:
    return httpx.post(f"{server.url}/v1/chat/completions", json=chat_body(), headers={"X-API-Key": raw}, timeout=10).status_code


def test_an_operator_runs_a_tenant_through_its_life_over_http(admin_gateway, mock_provider):
    server = admin_gateway
    with admin_client(server) as admin, admin_client(server, "fin", superuser=False, groups=("finance",)) as finance:
        made = admin.post("/v1/admin/tenants", json={"slug": "acme", "rpm_limit": 100, "allowed_models": ["mock-small"]})
        assert made.status_code == 201, made.text
        key = admin.post("/v1/admin/tenants/acme/keys", json={"name": "ci"}).json()
        assert chat(server, key["key"]) == 200

        def usage():
            body = finance.get("/v1/admin/usage", params={"tenant": "acme"}).json()
            return body if body["total"]["requests"] == 1 else None

        report = wait_for(usage, "the request in the ledger")
        assert [item["model"] for item in report["data"]] == ["mock-small"]
        assert finance.post("/v1/admin/tenants", json={"slug": "mine"}).status_code == 403
        assert finance.post(f"/v1/admin/keys/{key['prefix']}/revoke").status_code == 403
        assert chat(server, key["key"]) == 200

        rotated = admin.post(f"/v1/admin/keys/{key['prefix']}/rotate", json={"grace_minutes": 0}).json()["new"]
        assert chat(server, rotated["key"]) == 200
        wait_for(lambda: chat(server, key["key"]) == 401, "the rotated key stops")
        assert admin.post(f"/v1/admin/keys/{rotated['prefix']}/revoke").status_code == 200
        wait_for(lambda: chat(server, rotated["key"]) == 401, "the revoked key stops")

        listed = {k["prefix"]: k for k in admin.get("/v1/admin/tenants/acme/keys").json()}
        assert listed[key["prefix"]]["replaced_by"] == rotated["prefix"]
        assert listed[rotated["prefix"]]["revoked_at"]
