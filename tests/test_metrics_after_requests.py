"""Requests through a real provider move the gateway's counters and histograms on GET /metrics."""
import pytest
from asgiref.sync import sync_to_async

from .conftest import add_route, chat_body, post_chat
from .promtext import value

pytestmark = pytest.mark.django_db(transaction=True)


async def scrape(client) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


async def test_a_completion_counts_request_tokens_cost_duration_and_attempt(async_client, acme, upstream):
    await sync_to_async(add_route)(upstream, "openai", "chat", name="oa")
    who = {"tenant": "acme", "model": "chat", "provider": "oa"}
    before = await scrape(async_client)

    response = await post_chat(async_client, acme, chat_body("chat"))
    assert response.status_code == 200
    after = await scrape(async_client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("gateway_requests_total", **who, status_class="2xx", cache="miss") == 1
    assert moved("gateway_tokens_total", **who, type="prompt") == upstream.prompt_tokens
    assert moved("gateway_tokens_total", **who, type="completion") == upstream.completion_tokens
    # 12 prompt tokens at $1/M plus 7 completion tokens at $2/M (add_route's prices).
    assert moved("gateway_cost_usd_total", **who) == pytest.approx(0.000026)
    assert moved("gateway_request_duration_seconds_count", model="chat", provider="oa", cache="miss") == 1
    assert moved("gateway_upstream_attempt_duration_seconds_count", provider="oa", outcome="ok") == 1
    assert moved("gateway_cache_requests_total", tenant="acme", model="chat", result="miss") == 1
    assert moved("gateway_fallbacks_total") == 0


async def test_an_unknown_model_adds_no_series_named_after_it(async_client, acme, upstream):
    response = await post_chat(async_client, acme, chat_body("made-up-model-xyz"))
    assert response.status_code == 404
    text = await scrape(async_client)
    assert "made-up-model-xyz" not in text
    assert value(text, "gateway_requests_total", tenant="acme", model="", status_class="4xx") >= 1


async def test_django_metrics_are_exposed_too(async_client):
    text = await scrape(async_client)
    assert value(text, "django_http_requests_total_by_method_total", method="GET") >= 1
