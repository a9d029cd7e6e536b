"""A route's mode is edited in the admin, with add_model's rules: a kind that serves embeddings, one mode per public name."""
import pytest
from django.urls import reverse

from providers.models import ModelRoute, Provider

pytestmark = pytest.mark.django_db


def route_form(provider: Provider, public_name: str, mode: str) -> dict:
    return {
        "public_name": public_name, "provider": provider.pk, "upstream_model": "m", "mode": mode, "priority": "0",
        "weight": "1", "enabled": "on", "input_price_per_mtok": "0.02", "output_price_per_mtok": "0",
    }


def test_an_embeddings_route_is_added_and_listed_with_its_mode(admin_client):
    openai = Provider.objects.create(name="openai", kind="openai", base_url="https://api.openai.com/v1")
    response = admin_client.post(reverse("admin:providers_modelroute_add"), route_form(openai, "embed", "embeddings"))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ModelRoute.objects.get().mode == "embeddings"
    page = admin_client.get(reverse("admin:providers_modelroute_changelist") + "?mode__exact=embeddings").content.decode()
    assert "embed" in page and "Embeddings" in page


def test_the_form_refuses_embeddings_on_an_anthropic_provider(admin_client):
    claude = Provider.objects.create(name="claude", kind="anthropic", base_url="https://api.anthropic.com")
    response = admin_client.post(reverse("admin:providers_modelroute_add"), route_form(claude, "embed", "embeddings"))
    assert response.status_code == 200
    assert "anthropic providers serve no embeddings" in response.content.decode()
    assert not ModelRoute.objects.exists()


def test_the_form_refuses_a_second_mode_under_one_public_name(admin_client):
    openai = Provider.objects.create(name="openai", kind="openai", base_url="https://api.openai.com/v1")
    other = Provider.objects.create(name="other", kind="openai", base_url="https://example.com/v1")
    ModelRoute.objects.create(public_name="embed", provider=openai, upstream_model="m", mode="embeddings")
    response = admin_client.post(reverse("admin:providers_modelroute_add"), route_form(other, "embed", "chat"))
    assert response.status_code == 200
    assert "one public name has one mode" in response.content.decode()
