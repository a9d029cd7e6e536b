"""A route nobody priced is visible: the admin marks it, a counter counts its $0 requests; editing a price marks it hand-set."""
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from providers.models import ModelRoute, Provider

from .conftest import chat_body, post_chat
from .promtext import value

pytestmark = pytest.mark.django_db(transaction=True)


def unpriced_route() -> ModelRoute:
    provider = Provider.objects.create(name="local", kind="mock")
    return ModelRoute.objects.create(public_name="free-lunch", provider=provider, upstream_model="mock-small")


async def scrape(client) -> str:
    return (await client.get("/metrics")).content.decode()


async def test_requests_on_an_unpriced_route_are_counted(async_client, acme, mock_provider):
    await sync_to_async(unpriced_route)()
    before = await scrape(async_client)
    for _ in range(2):
        assert (await post_chat(async_client, acme, chat_body("free-lunch"))).status_code == 200
    assert (await post_chat(async_client, acme, chat_body("mock-small"))).status_code == 200  # priced: not counted
    after = await scrape(async_client)
    moved = value(after, "gateway_unpriced_requests_total", model="free-lunch") - value(
        before, "gateway_unpriced_requests_total", model="free-lunch")
    assert moved == 2
    assert value(after, "gateway_unpriced_requests_total", model="mock-small") == value(
        before, "gateway_unpriced_requests_total", model="mock-small")


def test_the_route_list_marks_a_route_without_prices(admin_client, mock_provider):
    unpriced_route()
    page = admin_client.get(reverse("admin:providers_modelroute_changelist")).content.decode()
    assert page.count("NOT SET: billed $0") == 2  # free-lunch, and the fixture's mock-large


def test_a_price_edited_in_the_admin_is_hand_set(admin_client):
    route = unpriced_route()
    url = reverse("admin:providers_modelroute_change", args=[route.pk])
    form = {
        "public_name": "free-lunch", "provider": route.provider_id, "upstream_model": "mock-small", "mode": "chat", "priority": 0,
        "weight": 1, "enabled": "on", "input_price_per_mtok": "0.5", "output_price_per_mtok": "1.5",
        "cached_input_price_per_mtok": "0.05", "cache_write_price_per_mtok": "",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    route.refresh_from_db()
    assert (route.input_price_per_mtok, route.cached_input_price_per_mtok, route.cache_write_price_per_mtok) == (
        Decimal("0.5"), Decimal("0.05"), None)
    assert route.price_source == "manual" and route.priced
