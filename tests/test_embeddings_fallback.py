"""An embeddings request falls back along its chain as chat does: a failing provider hands it to the next route."""
import openai
import pytest
from asgiref.sync import sync_to_async

from providers import breaker

from .conftest import add_route, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def chain(upstream, db):
    """Route "embed": openai first (priority 0, under /a), azure second (priority 1)."""
    await sync_to_async(add_route)(upstream, "openai", "embed", name="first", prefix="/a", timeout=0.5, mode="embeddings")
    await sync_to_async(add_route)(upstream, "azure", "embed", name="second", priority=1, timeout=0.5, mode="embeddings")
    return upstream


@pytest.fixture
async def sdk(openai_sdk, db):
    return openai_sdk(await sync_to_async(make_tenant)("acme"))


@pytest.mark.parametrize("mode", ["500", "429", "garbage", "cut", "hang"])
async def test_it_falls_back_when_the_first_provider_fails(sdk, chain, mode):
    chain.set_mode(mode, path="/a")
    raw = await sdk.embeddings.with_raw_response.create(model="embed", input=["a", "b"])
    assert raw.headers["x-gateway-provider"] == "second"
    assert len(raw.parse().data) == 2
    assert [r.path for r in chain.requests] == ["/a/v1/embeddings", "/openai/deployments/azure-model/embeddings"]


async def test_it_answers_502_when_every_provider_fails(sdk, chain):
    chain.set_mode("500")
    with pytest.raises(openai.InternalServerError) as failed:
        await sdk.embeddings.create(model="embed", input="a")
    assert failed.value.status_code == 502
    assert failed.value.body["type"] == "upstream_error"
    assert chain.calls == 2


async def test_a_callers_4xx_is_passed_back_without_fallback(sdk, chain):
    chain.set_mode("400", path="/a")
    with pytest.raises(openai.BadRequestError):
        await sdk.embeddings.create(model="embed", input="a")
    assert chain.calls == 1


async def test_failures_open_the_providers_breaker(sdk, chain, settings):
    chain.set_mode("500", path="/a")
    for i in range(settings.GATEWAY["BREAKER_THRESHOLD"]):
        await sdk.embeddings.create(model="embed", input=f"text {i}")  # each a new text: no cache hit
    assert breaker.state("first") == "open"
    chain.reset()
    raw = await sdk.embeddings.with_raw_response.create(model="embed", input="another text")
    assert raw.headers["x-gateway-provider"] == "second"
    assert [r.path for r in chain.requests] == ["/openai/deployments/azure-model/embeddings"]
