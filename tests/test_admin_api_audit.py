"""Changes through the management API are audited as the admin token's user, via "api", never with a key or secret."""
import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import User

from providers.models import ModelRoute, Provider
from tenants.models import ApiKey, Tenant

from .audit_entries import entries_for, whole_trail
from .conftest import admin_client

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_change_names_the_tokens_user(admin_gateway):
    with admin_client(admin_gateway, "ops") as admin:
        admin.post("/v1/admin/tenants", json={"slug": "acme", "monthly_budget_usd": "10"})
        admin.patch("/v1/admin/tenants/acme", json={"monthly_budget_usd": "20"})
        made = admin.post("/v1/admin/tenants/acme/keys", json={"name": "ci"}).json()
        rotated = admin.post(f"/v1/admin/keys/{made['prefix']}/rotate", json={"grace_minutes": 5}).json()["new"]
        admin.post(f"/v1/admin/keys/{rotated['prefix']}/revoke")
        admin.post("/v1/admin/providers", json={"name": "up", "kind": "mock"})
        admin.post("/v1/admin/routes", json={"public_name": "m", "provider": "up", "input_price_per_mtok": "1.5"})
    ops = User.objects.get(username="ops")
    tenant = Tenant.objects.get(slug="acme")
    rows = [tenant, *ApiKey.objects.filter(tenant=tenant), Provider.objects.get(name="up"), ModelRoute.objects.get(public_name="m")]
    entries = [entry for obj in rows for entry in entries_for(obj)]
    assert len(entries) >= 7
    assert all(e.actor == ops and e.additional_data["via"] == "api" and e.remote_addr == "127.0.0.1" for e in entries)
    budget = [e.changes["monthly_budget_usd"] for e in entries_for(tenant) if "monthly_budget_usd" in e.changes]
    assert budget == [[None, "10.000000"], ["10.000000", "20.000000"]]
    assert LogEntry.objects.get_for_object(ModelRoute.objects.get(public_name="m")).get().action == LogEntry.Action.CREATE
    trail = whole_trail()
    assert made["key"] not in trail and rotated["key"] not in trail
    assert not any(digest in trail for digest in ApiKey.objects.values_list("digest", flat=True))
