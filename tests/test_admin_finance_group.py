"""The finance group (made by a data migration) sees usage, reports, tenants and exports, and cannot touch keys or providers."""
import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from providers.models import Provider
from tenants.models import ApiKey, Tenant
from usage.models import UsageRecord

from .conftest import make_tenant
from .ledger_rows import row, save

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance(client):
    user = User.objects.create_user("fin", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="finance"))
    client.force_login(user)
    return client


@pytest.fixture
def acme(mock_provider):
    acme = make_tenant("acme", monthly_budget_usd=Decimal("5"))
    save(
        row(acme, "2026-11-02 10:00", cost_usd=Decimal("0.25"), request_id="fin-1"),
        row(acme, "2026-11-03 10:00", cost_usd=Decimal("0.5"), request_id="fin-2"),
    )
    return acme


def csv_text(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_the_migration_gives_finance_exactly_its_view_permissions(db):
    codenames = set(Group.objects.get(name="finance").permissions.values_list("content_type__app_label", "codename"))
    assert codenames == {("tenants", "view_tenant"), ("usage", "view_usagerecord"), ("usage", "view_budgetalert")}


def test_finance_sees_the_dashboard_and_the_reports_module(finance, acme):
    page = finance.get(reverse("admin:index")).content.decode()
    assert 'id="gw-dashboard"' in page
    assert reverse("usage_report") in page
    assert reverse("admin:tenants_apikey_changelist") not in page
    assert reverse("admin:providers_provider_changelist") not in page


def test_finance_opens_the_report_and_downloads_its_csv(finance, acme):
    period = {"start": "2026-11-01", "end": "2026-11-30"}
    assert finance.get(reverse("usage_report"), period).status_code == 200
    response = finance.get(reverse("usage_report_csv"), period)
    assert response.status_code == 200
    assert {r["request_id"] for r in csv.DictReader(io.StringIO(csv_text(response)))} == {"fin-1", "fin-2"}


def test_finance_exports_selected_ledger_rows(finance, acme):
    chosen = UsageRecord.objects.get(request_id="fin-2")
    response = finance.post(
        reverse("admin:usage_usagerecord_changelist"), {"action": "export_selected_csv", "_selected_action": [chosen.pk]}
    )
    assert response.status_code == 200
    assert [r["request_id"] for r in csv.DictReader(io.StringIO(csv_text(response)))] == ["fin-2"]


def test_finance_sees_a_tenant_with_its_glance_but_cannot_change_it(finance, acme):
    url = reverse("admin:tenants_tenant_change", args=[acme.tenant.pk])
    page = finance.get(url).content.decode()
    assert "at a glance" in page
    assert acme.key.prefix not in page  # the key inline needs key permissions
    assert 'name="_save"' not in page
    assert finance.post(url, {"slug": "renamed", "name": "x"}).status_code == 403
    assert Tenant.objects.get(pk=acme.tenant.pk).slug == "acme"


@pytest.mark.parametrize(
    "name", ["tenants_apikey_changelist", "tenants_apikey_add", "providers_provider_changelist", "providers_provider_add",
             "providers_modelroute_changelist", "tenants_tenant_add"],
)
def test_finance_cannot_open_key_or_provider_pages(finance, acme, name):
    assert finance.get(reverse(f"admin:{name}")).status_code == 403


def test_finance_cannot_revoke_keys_or_disable_providers(finance, acme, mock_provider):
    keys_url, providers_url = reverse("admin:tenants_apikey_changelist"), reverse("admin:providers_provider_changelist")
    assert finance.post(keys_url, {"action": "revoke_selected", "_selected_action": [acme.key.pk]}).status_code == 403
    assert finance.post(providers_url, {"action": "disable_selected", "_selected_action": [mock_provider.pk]}).status_code == 403
    assert ApiKey.objects.get(pk=acme.key.pk).revoked_at is None
    assert Provider.objects.get(pk=mock_provider.pk).enabled


def test_finance_cannot_edit_or_delete_ledger_rows(finance, acme):
    record = UsageRecord.objects.get(request_id="fin-1")
    assert finance.post(reverse("admin:usage_usagerecord_change", args=[record.pk]), {"status": 500}).status_code == 403
    assert finance.post(reverse("admin:usage_usagerecord_delete", args=[record.pk]), {"post": "yes"}).status_code == 403
    assert UsageRecord.objects.get(pk=record.pk).status == 200
