"""The management API makes, lists, rotates and revokes keys over HTTP; the raw key is shown once, on POST."""
import time

import httpx
import pytest

from tenants.models import ApiKey

from .conftest import admin_client, chat_body, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin(admin_gateway, mock_provider):
    with admin_client(admin_gateway) as client:
        yield client


def status_with(server, raw: str) -> int:
    return httpx.post(f"{server.url}/v1/chat/completions", json=chat_body(), headers={"X-API-Key": raw}, timeout=10).status_code


def eventually(server, raw: str, status: int) -> bool:
    """Whether the key reaches `status` (caches on the gateway forget within KEY_CACHE_LOCAL_TTL); generous bound."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if status_with(server, raw) == status:
            return True
        time.sleep(0.1)
    return False


def test_a_new_key_is_shown_once_and_works(admin, admin_gateway):
    make_tenant("acme")
    response = admin.post("/v1/admin/tenants/acme/keys", json={"name": "ci", "expires_days": 30})
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["key"].startswith(made["prefix"]) and made["name"] == "ci" and made["expires_at"]
    assert status_with(admin_gateway, made["key"]) == 200
    listed = admin.get("/v1/admin/tenants/acme/keys").json()
    assert made["prefix"] in [k["prefix"] for k in listed]
    assert all("key" not in k and "digest" not in k for k in listed)
    assert made["key"] not in admin.get("/v1/admin/tenants/acme/keys").text


def test_the_key_list_says_prefix_name_created_expires_and_last_used(admin):
    acme = make_tenant("acme")
    (key,) = admin.get("/v1/admin/tenants/acme/keys").json()
    assert set(key) >= {"prefix", "name", "created_at", "expires_at", "last_used_at", "revoked_at"}
    assert (key["prefix"], key["name"], key["last_used_at"]) == (acme.key.prefix, "test", None)


def test_rotation_issues_a_successor_and_the_old_key_works_during_the_grace(admin, admin_gateway):
    acme = make_tenant("acme")
    response = admin.post(f"/v1/admin/keys/{acme.key.prefix}/rotate", json={"grace_minutes": 30})
    assert response.status_code == 201, response.text
    old, new = response.json()["old"], response.json()["new"]
    assert old["prefix"] == acme.key.prefix and old["replaced_by"] == new["prefix"] and old["grace_until"]
    assert status_with(admin_gateway, new["key"]) == 200
    assert status_with(admin_gateway, acme.raw) == 200
    again = admin.post(f"/v1/admin/keys/{acme.key.prefix}/rotate", json={})
    assert again.status_code == 400 and again.json()["error"]["param"] == "prefix"


def test_rotation_with_no_grace_stops_the_old_key(admin, admin_gateway):
    acme = make_tenant("acme")
    assert status_with(admin_gateway, acme.raw) == 200
    new = admin.post(f"/v1/admin/keys/{acme.key.prefix}/rotate", json={"grace_minutes": 0}).json()["new"]
    assert eventually(admin_gateway, acme.raw, 401)
    assert status_with(admin_gateway, new["key"]) == 200


def test_revocation_stops_the_key(admin, admin_gateway):
    acme = make_tenant("acme")
    assert status_with(admin_gateway, acme.raw) == 200
    response = admin.post(f"/v1/admin/keys/{acme.key.prefix}/revoke")
    assert response.status_code == 200, response.text
    assert response.json()["revoked_at"]
    assert eventually(admin_gateway, acme.raw, 401)
    assert admin.post(f"/v1/admin/keys/{acme.key.prefix}/revoke").status_code == 200  # again: no change
    assert ApiKey.objects.get(pk=acme.key.pk).revoked_at is not None


def test_a_bad_grace_is_refused_naming_it(admin):
    acme = make_tenant("acme")
    for body in ({"grace_minutes": -1}, {"grace_minutes": "5"}, {"grace_minutes": True}):
        response = admin.post(f"/v1/admin/keys/{acme.key.prefix}/rotate", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "grace_minutes"
    assert ApiKey.objects.get(pk=acme.key.pk).replaced_by is None


def test_a_bad_expiry_is_refused_naming_it(admin):
    make_tenant("acme")
    response = admin.post("/v1/admin/tenants/acme/keys", json={"expires_days": 0})
    assert response.status_code == 400 and response.json()["error"]["param"] == "expires_days"


def test_an_unknown_prefix_is_404(admin):
    make_tenant("acme")
    for prefix in ("gw-nothing00", "gw-short", "x" * 40, "gw-nothing%000"):
        for action in ("rotate", "revoke"):
            response = admin.post(f"/v1/admin/keys/{prefix}/{action}", json={})
            assert response.status_code == 404, response.text
            assert response.json()["error"]["type"] == "not_found_error"
