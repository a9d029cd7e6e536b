"""Keys in the admin: the raw key shows once, on the page after creation; revoke and rotate actions work."""
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tenants import keys
from tenants.models import ApiKey, ApiKeyLastUsed

from .conftest import make_tenant

pytestmark = pytest.mark.django_db

RAW_KEY = re.compile(r'value="(gw-[A-Za-z0-9_-]+)"')


def changelist() -> str:
    return reverse("admin:tenants_apikey_changelist")


def add_key(admin_client, tenant, **fields):
    data = {"tenant": tenant.pk, "name": "ci", "expires_at_0": "", "expires_at_1": "", "rpm_limit": "", "tpm_limit": "", **fields}
    return admin_client.post(reverse("admin:tenants_apikey_add"), data)


def raw_keys(response) -> list[str]:
    return RAW_KEY.findall(response.content.decode())


def test_adding_a_key_shows_the_raw_key_once(admin_client):
    acme = make_tenant("acme")
    response = add_key(admin_client, acme.tenant)
    assert response.status_code == 200
    [raw] = raw_keys(response)
    key = ApiKey.objects.get(digest=keys.digest(raw))
    assert (key.tenant, key.name) == (acme.tenant, "ci")
    assert response.content.decode().count(raw) == 1
    assert "shown only on this page" in response.content.decode()
    assert "no-store" in response["Cache-Control"]


def test_the_raw_key_never_shows_again(admin_client):
    acme = make_tenant("acme")
    [raw] = raw_keys(add_key(admin_client, acme.tenant))
    key = ApiKey.objects.get(digest=keys.digest(raw))
    for url in (reverse("admin:tenants_apikey_change", args=[key.pk]), changelist(),
                reverse("admin:tenants_tenant_change", args=[acme.tenant.pk])):
        page = admin_client.get(url).content.decode()
        assert raw not in page
        assert key.digest not in page
        assert key.prefix in page


def test_the_add_form_saves_expiry_and_per_key_limits(admin_client):
    acme = make_tenant("acme")
    [raw] = raw_keys(add_key(admin_client, acme.tenant, expires_at_0="2099-01-31", expires_at_1="12:00:00", rpm_limit="5", tpm_limit="500"))
    key = ApiKey.objects.get(digest=keys.digest(raw))
    assert (key.rpm_limit, key.tpm_limit) == (5, 500)
    assert key.expires_at.year == 2099


def test_the_add_form_asks_only_tenant_name_expiry_and_limits(admin_client):
    page = admin_client.get(reverse("admin:tenants_apikey_add")).content.decode()
    for field in ("tenant", "name", "expires_at_0", "rpm_limit", "tpm_limit"):
        assert f'name="{field}"' in page
    for field in ("prefix", "digest", "revoked_at", "grace_until", "replaced_by"):
        assert f'name="{field}"' not in page


def test_the_add_form_refuses_a_missing_tenant(admin_client):
    response = admin_client.post(reverse("admin:tenants_apikey_add"), {"name": "x"})
    assert response.status_code == 200
    assert not ApiKey.objects.exists()
    assert not raw_keys(response)


def test_the_key_list_shows_prefix_and_last_use_but_not_the_digest(admin_client):
    acme = make_tenant("acme")
    ApiKeyLastUsed.objects.create(key=acme.key, last_used_at=timezone.now())
    page = admin_client.get(changelist()).content.decode()
    assert acme.key.prefix in page
    assert acme.key.digest not in page
    assert "last used" in page.lower()


def test_the_revoke_action_revokes_the_selected_keys(admin_client):
    acme = make_tenant("acme")
    other = keys.issue(acme.tenant, name="other")
    response = admin_client.post(changelist(), {"action": "revoke_selected", "_selected_action": [acme.key.pk]}, follow=True)
    assert "Revoked 1 key" in response.content.decode()
    acme.key.refresh_from_db()
    other.key.refresh_from_db()
    assert acme.key.revoked_at is not None
    assert other.key.revoked_at is None


def test_the_rotate_action_shows_each_new_key_once_and_gives_the_old_an_hour(admin_client):
    acme = make_tenant("acme")
    beta = make_tenant("beta")
    response = admin_client.post(changelist(), {"action": "rotate_selected", "_selected_action": [acme.key.pk, beta.key.pk]})
    assert response.status_code == 200
    new_raws = raw_keys(response)
    assert len(new_raws) == 2
    for old in (acme.key, beta.key):
        old.refresh_from_db()
        assert old.replaced_by.digest in {keys.digest(raw) for raw in new_raws}
        assert abs(old.grace_until - (timezone.now() + timedelta(minutes=60))) < timedelta(minutes=1)
    page = admin_client.get(changelist()).content.decode()
    assert not any(raw in page for raw in new_raws)


def test_the_rotate_action_skips_revoked_keys_with_a_warning(admin_client):
    acme = make_tenant("acme")
    keys.revoke(acme.key)
    response = admin_client.post(changelist(), {"action": "rotate_selected", "_selected_action": [acme.key.pk]}, follow=True)
    assert "cannot be rotated" in response.content.decode()
    assert ApiKey.objects.count() == 1


def test_the_state_filter_separates_active_rotated_and_revoked_keys(admin_client):
    acme = make_tenant("acme")
    revoked = keys.issue(acme.tenant, name="revoked").key
    keys.revoke(revoked)
    successor = keys.rotate(acme.key, timedelta(minutes=60)).key
    expected = {"active": {successor.pk}, "grace": {acme.key.pk}, "revoked": {revoked.pk}, "expired": set()}
    for state, pks in expected.items():
        response = admin_client.get(f"{changelist()}?state={state}")
        assert {key.pk for key in response.context["cl"].result_list} == pks, state
