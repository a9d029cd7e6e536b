"""A tenant's budget changed in the admin shows in the audit trail with its value before and after."""
from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import User
from django.urls import reverse

from tenants.models import Tenant

from .audit_entries import entries_for, whole_trail

pytestmark = pytest.mark.django_db

WEBHOOK = "https://hooks.example.com/services/T000/B000/s3cr3t-webhook-token?key=also-secret"


def tenant_form(tenant: Tenant, **changes) -> dict:
    """The admin's change form for `tenant` as a browser would post it, with `changes` applied."""
    fields = {
        "slug": tenant.slug, "name": tenant.name, "active": "on", "allowed_models": "[]",
        "rpm_limit": "", "tpm_limit": "", "cache_ttl_seconds": "",
        "monthly_budget_usd": str(tenant.monthly_budget_usd), "budget_is_hard": "on",
        "alert_thresholds": "[50, 80, 100]", "alert_email": "", "alert_webhook_url": tenant.alert_webhook_url,
        "keys-TOTAL_FORMS": "0", "keys-INITIAL_FORMS": "0", "keys-MIN_NUM_FORMS": "0", "keys-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    return {**fields, **changes}


@pytest.fixture
def root(client):
    user = User.objects.create_superuser("root", password="x")
    client.force_login(user)
    return user


def test_a_budget_change_shows_before_and_after(client, root):
    tenant = Tenant.objects.create(slug="acme", name="Acme", monthly_budget_usd=Decimal("5"))
    url = reverse("admin:tenants_tenant_change", args=[tenant.pk])
    response = client.post(url, tenant_form(tenant, monthly_budget_usd="12.50", budget_is_hard=""))
    assert response.status_code == 302, response.content.decode()[:2000]

    entry = entries_for(tenant)[-1]
    assert entry.action == LogEntry.Action.UPDATE
    assert entry.actor == root
    assert set(entry.changes) == {"monthly_budget_usd", "budget_is_hard"}
    before, after = entry.changes["monthly_budget_usd"]
    assert (Decimal(before), Decimal(after)) == (Decimal("5"), Decimal("12.5"))
    assert entry.changes["budget_is_hard"] == [True, False]


def test_a_webhook_url_is_kept_by_its_host_only(client, root):
    tenant = Tenant.objects.create(slug="acme", name="Acme", monthly_budget_usd=Decimal("5"))
    url = reverse("admin:tenants_tenant_change", args=[tenant.pk])
    assert client.post(url, tenant_form(tenant, alert_webhook_url=WEBHOOK)).status_code == 302

    entry = entries_for(tenant)[-1]
    assert entry.changes["alert_webhook_url"] == [None, "https://hooks.example.com/…"]
    assert "s3cr3t" not in whole_trail() and "also-secret" not in whole_trail()


def test_creating_a_tenant_records_its_fields_not_its_relations():
    tenant = Tenant.objects.create(slug="acme", name="Acme", monthly_budget_usd=Decimal("5"))
    (entry,) = entries_for(tenant)
    assert entry.action == LogEntry.Action.CREATE
    assert entry.changes["slug"] == [None, "acme"]
    assert not {"keys", "usage", "budget_alerts", "updated_at"} & set(entry.changes)
