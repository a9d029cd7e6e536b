"""A provider that keeps failing is skipped for a cool-down, then tried again."""
import pytest

from providers import breaker

from .conftest import add_route, chat_body, post_chat

pytestmark = pytest.mark.django_db(transaction=True)

GATEWAY = {"BREAKER_THRESHOLD": 3, "BREAKER_COOLDOWN": 60.0}


@pytest.fixture
def chain(upstream, settings):
    settings.GATEWAY = {**settings.GATEWAY, **GATEWAY}
    add_route(upstream, "openai", "chat", name="flaky", priority=0, prefix="/a")
    add_route(upstream, "openai", "chat", name="steady", priority=1, prefix="/b")
    upstream.set_mode("500", path="/a")
    return upstream


async def test_it_skips_a_provider_after_repeated_failures(async_client, acme, chain):
    for _ in range(3):
        assert (await post_chat(async_client, acme, chat_body("chat"))).status_code == 200
    assert breaker.state("flaky") == "open"
    before = sum(r.path.startswith("/a") for r in chain.requests)
    for _ in range(5):
        response = await post_chat(async_client, acme, chat_body("chat"))
        assert response["x-gateway-provider"] == "steady"
    assert sum(r.path.startswith("/a") for r in chain.requests) == before


async def test_it_tries_the_provider_again_after_the_cool_down(async_client, acme, chain, settings):
    for _ in range(3):
        await post_chat(async_client, acme, chat_body("chat"))
    settings.GATEWAY = {**settings.GATEWAY, "BREAKER_COOLDOWN": 0.0}
    breaker.failure("flaky")  # re-arm with the zero cool-down
    chain.set_mode("ok", path="/a")
    response = await post_chat(async_client, acme, chat_body("chat"))
    assert response["x-gateway-provider"] == "flaky"
    assert breaker.state("flaky") == "closed"
