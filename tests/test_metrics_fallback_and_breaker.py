"""Failed attempts, fallbacks and an opening circuit breaker show on GET /metrics."""
import pytest

from .conftest import add_route, chat_body, post_chat
from .promtext import value

pytestmark = pytest.mark.django_db(transaction=True)


async def scrape(client) -> str:
    return (await client.get("/metrics")).content.decode()


@pytest.fixture
def chain(upstream, settings):
    settings.GATEWAY = {**settings.GATEWAY, "BREAKER_THRESHOLD": 2, "BREAKER_COOLDOWN": 60.0}
    add_route(upstream, "openai", "chat", name="flaky", priority=0, prefix="/a")
    add_route(upstream, "openai", "chat", name="steady", priority=1, prefix="/b")
    upstream.set_mode("500", path="/a")
    return upstream


async def test_a_fallback_counts_the_failed_attempt_and_the_provider_that_took_over(async_client, acme, chain):
    before = await scrape(async_client)
    response = await post_chat(async_client, acme, chat_body("chat"))
    assert response["x-gateway-provider"] == "steady"
    after = await scrape(async_client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("gateway_upstream_attempt_duration_seconds_count", provider="flaky", outcome="http") == 1
    assert moved("gateway_upstream_attempt_duration_seconds_count", provider="steady", outcome="ok") == 1
    assert moved("gateway_fallbacks_total", model="chat", provider="steady") == 1
    assert moved("gateway_requests_total", tenant="acme", model="chat", provider="steady", status_class="2xx") == 1


async def test_the_breaker_gauge_shows_an_open_circuit_and_its_closing(async_client, acme, chain, settings):
    for _ in range(2):
        await post_chat(async_client, acme, chat_body("chat"))
    text = await scrape(async_client)
    assert value(text, "gateway_breaker_state", provider="flaky") == 2
    assert value(text, "gateway_breaker_state", provider="steady") == 0

    settings.GATEWAY = {**settings.GATEWAY, "BREAKER_COOLDOWN": 0.0}
    from providers import breaker

    breaker.failure("flaky")  # re-armed with no cool-down: half-open from now on
    assert value(await scrape(async_client), "gateway_breaker_state", provider="flaky") == 1
    chain.set_mode("ok", path="/a")
    await post_chat(async_client, acme, chat_body("chat"))
    assert value(await scrape(async_client), "gateway_breaker_state", provider="flaky") == 0
