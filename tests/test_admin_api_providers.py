"""The management API adds and lists providers and routes with prices, as add_provider and add_model do."""
from decimal import Decimal

import pytest

from providers.models import ModelRoute, Provider

from .conftest import admin_client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin(admin_gateway):
    with admin_client(admin_gateway) as client:
        yield client


def test_it_adds_a_provider_then_updates_it_by_name(admin):
    body = {"name": "openai", "kind": "openai", "base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY"}
    made = admin.post("/v1/admin/providers", json=body)
    assert made.status_code == 201, made.text
    assert {k: made.json()[k] for k in body} == body
    updated = admin.post("/v1/admin/providers", json={"name": "openai", "kind": "openai", "timeout_seconds": 12.5})
    assert updated.status_code == 200, updated.text
    provider = Provider.objects.get(name="openai")
    assert (provider.timeout_seconds, provider.api_key_env) == (12.5, "OPENAI_API_KEY")
    assert [p["name"] for p in admin.get("/v1/admin/providers").json()] == ["openai"]


def test_an_azure_provider_keeps_its_api_version(admin):
    body = {"name": "az", "kind": "azure", "base_url": "https://x.openai.azure.com", "api_version": "2024-10-21"}
    response = admin.post("/v1/admin/providers", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["api_version"] == "2024-10-21"
    assert Provider.objects.get(name="az").options == {"api_version": "2024-10-21"}


def test_bad_provider_input_names_the_field(admin):
    for body, param in (({"name": "p", "kind": "nope"}, "kind"), ({"name": "p", "kind": "mock", "timeout_seconds": 0},
                        "timeout_seconds"), ({"name": "p p", "kind": "mock"}, "name"), ({"kind": "mock"}, "name")):
        response = admin.post("/v1/admin/providers", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param
    assert not Provider.objects.exists()


def test_a_provider_the_service_refuses_gets_a_400(admin):
    response = admin.post("/v1/admin/providers", json={"name": "p", "kind": "openai", "base_url": "ftp://x"})
    assert response.status_code == 400, response.text
    assert "URL" in response.json()["error"]["message"]


def test_it_adds_routes_with_decimal_prices_and_lists_them(admin, mock_provider):
    body = {"public_name": "gpt-x", "provider": "mock", "upstream_model": "mock-small", "priority": 1, "weight": 3,
            "input_price_per_mtok": "0.15", "output_price_per_mtok": "0.6"}
    response = admin.post("/v1/admin/routes", json=body)
    assert response.status_code == 201, response.text
    made = response.json()
    assert (made["input_price_per_mtok"], made["output_price_per_mtok"]) == ("0.150000", "0.600000")
    route = ModelRoute.objects.get(public_name="gpt-x")
    assert (route.input_price_per_mtok, route.weight, route.priority) == (Decimal("0.15"), 3, 1)
    again = admin.post("/v1/admin/routes", json={"public_name": "gpt-x", "provider": "mock", "output_price_per_mtok": "1"})
    assert again.status_code == 200
    assert ModelRoute.objects.get(public_name="gpt-x").output_price_per_mtok == Decimal("1")
    names = [(r["public_name"], r["provider"]) for r in admin.get("/v1/admin/routes").json()]
    assert ("gpt-x", "mock") in names and ("mock-small", "mock") in names


BAD_ROUTES = [
    ({"public_name": "m", "provider": "mock", "input_price_per_mtok": "-1"}, "input_price_per_mtok"),
    ({"public_name": "m", "provider": "mock", "input_price_per_mtok": 0.1}, "input_price_per_mtok"),
    ({"public_name": "m", "provider": "mock", "weight": 0}, "weight"),
    ({"provider": "mock"}, "public_name"),
]


def test_bad_route_input_names_the_field(admin, mock_provider):
    for body, param in BAD_ROUTES:
        response = admin.post("/v1/admin/routes", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param
    assert not ModelRoute.objects.filter(public_name="m").exists()


def test_a_route_to_an_unknown_provider_is_refused(admin, mock_provider):
    response = admin.post("/v1/admin/routes", json={"public_name": "m", "provider": "ghost"})
    assert response.status_code == 400
    assert "ghost" in response.json()["error"]["message"]
