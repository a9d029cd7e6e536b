"""Admin pages load for every model, show no secrets, and keep the usage ledger read-only."""
from datetime import datetime, timezone as dt_timezone

import pytest
from django.urls import reverse

from providers.models import Provider
from usage.models import UsageRecord

from .conftest import make_tenant

pytestmark = pytest.mark.django_db


def record(tenant, key, request_id, **fields) -> UsageRecord:
    defaults = {"model": "mock-small", "status": 200, "created_at": datetime(2026, 11, 2, 12, tzinfo=dt_timezone.utc)}
    return UsageRecord.objects.create(request_id=request_id, tenant=tenant, api_key=key, **{**defaults, **fields})


@pytest.fixture
def data(mock_provider):
    acme = make_tenant("acme")
    record(acme.tenant, acme.key, "req-ok")
    record(acme.tenant, acme.key, "req-limited", status=429, error_type="rate_limit_error")
    record(acme.tenant, acme.key, "req-cached", cached=True, model="mock-large")
    record(acme.tenant, acme.key, "req-old", created_at=datetime(2026, 10, 1, tzinfo=dt_timezone.utc))
    return acme


@pytest.mark.parametrize(
    "name",
    [
        "tenants_tenant_changelist", "tenants_tenant_add", "tenants_apikey_changelist", "tenants_apikey_add",
        "providers_provider_changelist", "providers_provider_add", "providers_modelroute_changelist",
        "providers_modelroute_add", "usage_usagerecord_changelist",
    ],
)
def test_every_admin_page_loads(admin_client, data, name):
    assert admin_client.get(reverse(f"admin:{name}")).status_code == 200


def test_change_pages_load(admin_client, data, mock_provider):
    urls = [
        reverse("admin:tenants_tenant_change", args=[data.tenant.pk]),
        reverse("admin:tenants_apikey_change", args=[data.key.pk]),
        reverse("admin:providers_provider_change", args=[mock_provider.pk]),
        reverse("admin:providers_modelroute_change", args=[mock_provider.routes.first().pk]),
        reverse("admin:usage_usagerecord_change", args=[UsageRecord.objects.first().pk]),
    ]
    for url in urls:
        assert admin_client.get(url).status_code == 200, url


def test_the_tenant_page_lists_its_keys_read_only(admin_client, data):
    page = admin_client.get(reverse("admin:tenants_tenant_change", args=[data.tenant.pk])).content.decode()
    assert data.key.prefix in page
    assert data.key.digest not in page
    assert 'name="keys-0-name"' not in page


def test_provider_pages_show_the_variable_name_never_the_secret(admin_client, monkeypatch):
    monkeypatch.setenv("GW_TEST_SECRET_API_KEY", "sk-very-secret-value")
    provider = Provider.objects.create(name="openai", kind="openai", base_url="https://api.openai.com/v1", api_key_env="GW_TEST_SECRET_API_KEY")
    for url in (reverse("admin:providers_provider_changelist"), reverse("admin:providers_provider_change", args=[provider.pk])):
        page = admin_client.get(url).content.decode()
        assert "GW_TEST_SECRET_API_KEY" in page
        assert "sk-very-secret-value" not in page


def test_the_provider_form_refuses_azure_without_an_api_version(admin_client):
    data = {
        "name": "azure", "kind": "azure", "base_url": "https://acme.openai.azure.com", "api_key_env": "AZURE_OPENAI_API_KEY",
        "timeout_seconds": "60", "enabled": "on", "options": "{}",
        "routes-TOTAL_FORMS": "0", "routes-INITIAL_FORMS": "0",
    }
    response = admin_client.post(reverse("admin:providers_provider_add"), data)
    assert response.status_code == 200
    assert "API version" in response.content.decode()
    assert not Provider.objects.exists()


def test_usage_records_cannot_be_added_changed_or_deleted(admin_client, data):
    row = UsageRecord.objects.get(request_id="req-ok")
    assert admin_client.get(reverse("admin:usage_usagerecord_add")).status_code == 403
    change = admin_client.post(reverse("admin:usage_usagerecord_change", args=[row.pk]), {"model": "changed", "status": 500})
    assert change.status_code == 403
    assert admin_client.post(reverse("admin:usage_usagerecord_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
    changelist = admin_client.get(reverse("admin:usage_usagerecord_changelist")).content.decode()
    assert "delete_selected" not in changelist
    row.refresh_from_db()
    assert (row.model, row.status) == ("mock-small", 200)
    assert UsageRecord.objects.count() == 4


@pytest.mark.parametrize(
    "query, expected",
    [
        ("created_at__gte=2026-11-01+00:00:00%2B00:00&created_at__lt=2026-12-01+00:00:00%2B00:00", {"req-ok", "req-limited", "req-cached"}),
        ("model=mock-large", {"req-cached"}),
        ("status_class=429", {"req-limited"}),
        ("status_class=2xx", {"req-ok", "req-cached", "req-old"}),
        ("cached__exact=1", {"req-cached"}),
        ("q=req-old", {"req-old"}),
    ],
)
def test_the_usage_list_filters_and_searches(admin_client, data, query, expected):
    response = admin_client.get(reverse("admin:usage_usagerecord_changelist") + "?" + query)
    assert response.status_code == 200
    shown = {row.request_id for row in response.context["cl"].result_list}
    assert shown == expected


def test_the_usage_list_filters_by_tenant(admin_client, data):
    beta = make_tenant("beta")
    record(beta.tenant, beta.key, "req-beta")
    response = admin_client.get(reverse("admin:usage_usagerecord_changelist") + f"?tenant__id__exact={beta.tenant.pk}")
    assert {row.request_id for row in response.context["cl"].result_list} == {"req-beta"}
