"""The management API makes, lists, reads and changes tenants over HTTP, with the contract's errors."""
from decimal import Decimal

import pytest

from tenants.models import Tenant

from .conftest import admin_client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin(admin_gateway):
    with admin_client(admin_gateway) as client:
        yield client


def test_it_creates_a_tenant_with_limits_budget_and_models(admin):
    body = {"slug": "acme", "name": "Acme", "rpm_limit": 60, "tpm_limit": 10000, "monthly_budget_usd": "25.50",
            "budget_is_hard": False, "allowed_models": ["mock-small"]}
    response = admin.post("/v1/admin/tenants", json=body)
    assert response.status_code == 201, response.text
    made = response.json()
    assert {k: made[k] for k in body} == {**body, "monthly_budget_usd": "25.500000"}
    tenant = Tenant.objects.get(slug="acme")
    assert (tenant.rpm_limit, tenant.monthly_budget_usd, tenant.budget_is_hard) == (60, Decimal("25.5"), False)
    assert tenant.allowed_models == ["mock-small"]


def test_it_lists_and_reads_tenants(admin):
    admin.post("/v1/admin/tenants", json={"slug": "acme"})
    admin.post("/v1/admin/tenants", json={"slug": "globex"})
    assert [t["slug"] for t in admin.get("/v1/admin/tenants").json()] == ["acme", "globex"]
    one = admin.get("/v1/admin/tenants/globex").json()
    assert (one["slug"], one["name"], one["active"], one["allowed_models"]) == ("globex", "globex", True, [])


def test_it_changes_only_the_fields_sent(admin):
    admin.post("/v1/admin/tenants", json={"slug": "acme", "rpm_limit": 60})
    response = admin.patch("/v1/admin/tenants/acme", json={"monthly_budget_usd": "10", "active": False})
    assert response.status_code == 200, response.text
    assert (response.json()["rpm_limit"], response.json()["monthly_budget_usd"]) == (60, "10.000000")
    tenant = Tenant.objects.get(slug="acme")
    assert (tenant.active, tenant.monthly_budget_usd, tenant.rpm_limit) == (False, Decimal("10"), 60)


BAD_INPUT = [
    ({"slug": "not a slug"}, "slug"),
    ({}, "slug"),
    ({"slug": "acme2", "rpm_limit": 0}, "rpm_limit"),
    ({"slug": "acme2", "rpm_limit": "60"}, "rpm_limit"),
    ({"slug": "acme2", "monthly_budget_usd": "-1"}, "monthly_budget_usd"),
    ({"slug": "acme2", "monthly_budget_usd": 5.5}, "monthly_budget_usd"),
    ({"slug": "acme2", "allowed_models": ["two words"]}, "allowed_models.0"),
    ({"slug": "acme2", "budget_is_hard": "yes"}, "budget_is_hard"),
    ({"slug": "acme"}, "slug"),
]


def test_it_refuses_bad_input_naming_the_field(admin):
    admin.post("/v1/admin/tenants", json={"slug": "acme"})
    for body, param in BAD_INPUT:
        response = admin.post("/v1/admin/tenants", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.headers["content-type"] == "application/json"
        error = response.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", param)
        assert param in error["message"]
    assert not Tenant.objects.filter(slug="acme2").exists()


def test_it_refuses_malformed_json_and_a_slug_change(admin):
    admin.post("/v1/admin/tenants", json={"slug": "acme"})
    broken = admin.post("/v1/admin/tenants", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "invalid_request_error"
    renamed = admin.patch("/v1/admin/tenants/acme", json={"slug": "other"})
    assert renamed.status_code == 400 and renamed.json()["error"]["param"] == "slug"


def test_it_answers_404_for_an_unknown_slug(admin):
    for slug in ("nobody", "a%00b", "%C3%A9t%C3%A9", "x" * 300):
        for response in (admin.get(f"/v1/admin/tenants/{slug}"), admin.patch(f"/v1/admin/tenants/{slug}", json={"name": "x"}),
                         admin.get(f"/v1/admin/tenants/{slug}/keys"), admin.post(f"/v1/admin/tenants/{slug}/keys", json={})):
            assert response.status_code == 404, (slug, response.text)
            assert response.json()["error"]["type"] == "not_found_error"


def test_it_answers_405_in_the_error_shape(admin):
    response = admin.delete("/v1/admin/tenants")
    assert response.status_code == 405
    assert response.json()["error"] == {"message": "Method DELETE is not allowed here.", "type": "invalid_request_error",
                                        "code": "method_not_allowed"}
