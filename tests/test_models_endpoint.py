"""GET /v1/models lists only the models the key's tenant may use, from memory."""
import pytest
from asgiref.sync import sync_to_async

from .conftest import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_lists_every_model_for_an_unrestricted_tenant(async_client, acme, mock_provider):
    response = await async_client.get("/v1/models", headers={"X-API-Key": acme.raw})
    body = response.json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["mock-large", "mock-small"]
    assert all(m["object"] == "model" for m in body["data"])


async def test_it_lists_only_allowed_models(async_client, mock_provider):
    narrow = await sync_to_async(make_tenant)("narrow", allowed_models=["mock-small"])
    response = await async_client.get("/v1/models", headers={"X-API-Key": narrow.raw})
    assert [m["id"] for m in response.json()["data"]] == ["mock-small"]


async def test_it_hides_disabled_routes(async_client, acme, mock_provider):
    from providers.models import ModelRoute

    await ModelRoute.objects.filter(public_name="mock-large").aupdate(enabled=False)
    from providers import routes

    routes.invalidate()
    response = await async_client.get("/v1/models", headers={"X-API-Key": acme.raw})
    assert [m["id"] for m in response.json()["data"]] == ["mock-small"]


async def test_it_lists_embeddings_models_too(async_client, acme, mock_provider):
    from providers.models import ModelRoute

    await ModelRoute.objects.acreate(public_name="mock-embed", provider=mock_provider, upstream_model="mock-embed",
                                     mode="embeddings")
    response = await async_client.get("/v1/models", headers={"X-API-Key": acme.raw})
    assert [m["id"] for m in response.json()["data"]] == ["mock-embed", "mock-large", "mock-small"]
