"""A key revoked in the admin of one replica is refused by every replica within KEY_CACHE_LOCAL_TTL.

Each replica holds the key in its own memory for KEY_CACHE_LOCAL_TTL seconds (README "Keys"); the
revocation deletes the shared Redis entry, so once a replica's copy expires it reads the truth.
"""
from __future__ import annotations

import re
import time

import httpx
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User

from .conftest import chat_body, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

LOCAL_TTL = 3
PASSWORD = "fleet-admin-password"


def revoke_in_admin(url: str, key_pk: int) -> None:
    """Log in to the admin of one replica and run its "Revoke" action on the key (as an operator would)."""
    # The replicas check passwords with Django's default hasher, PBKDF2 (the tests' own is MD5).
    User.objects.create(username="ops", is_staff=True, is_superuser=True,
                        password=PBKDF2PasswordHasher().encode(PASSWORD, "fleetsalt"))
    with httpx.Client(base_url=url, timeout=30) as admin:
        form = admin.get("/admin/login/").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        response = admin.post("/admin/login/?next=/admin/", data={
            "username": "ops", "password": PASSWORD, "csrfmiddlewaretoken": token, "next": "/admin/"})
        assert response.status_code == 302, response.text[:500]
        response = admin.post("/admin/tenants/apikey/", data={
            "action": "revoke_selected", "_selected_action": [key_pk], "csrfmiddlewaretoken": admin.cookies["csrftoken"]})
        assert response.status_code == 302, response.text[:500]


def test_a_key_revoked_through_one_replica_is_refused_by_all_within_the_local_ttl(mock_provider, start_fleet):
    tenant = make_tenant("acme")
    fleet = start_fleet({"KEY_CACHE_LOCAL_TTL": str(LOCAL_TTL)})

    def status(url: str) -> int:
        return httpx.post(f"{url}/v1/chat/completions", json=chat_body(), headers=tenant.headers, timeout=30).status_code

    assert [status(replica.url) for replica in fleet.replicas.values()] == [200, 200, 200]  # each holds the key
    revoke_in_admin(fleet.replicas["gw1"].url, tenant.key.pk)
    tenant.key.refresh_from_db()
    assert tenant.key.revoked_at is not None

    time.sleep(LOCAL_TTL)  # every copy cached before the revocation has now expired
    assert [status(replica.url) for replica in fleet.replicas.values()] == [401, 401, 401]
    assert status(fleet.url) == 401  # and through HAProxy
