"""Embeddings requests move the same metrics as chat and leave GenAI attempt spans named for embeddings."""
import orjson
import pytest
from asgiref.sync import sync_to_async
from opentelemetry.trace import SpanKind

from .conftest import add_route
from .promtext import value

pytestmark = pytest.mark.django_db(transaction=True)


async def embed(client, tenant, text: str):
    body = orjson.dumps({"model": "embed", "input": text, "dimensions": 8})
    response = await client.post("/v1/embeddings", data=body, content_type="application/json", headers=tenant.headers)
    assert response.status_code == 200, response.content
    return response


async def scrape(client) -> str:
    return (await client.get("/metrics")).content.decode()


async def test_requests_tokens_cost_and_cache_results_are_counted(async_client, acme, upstream):
    await sync_to_async(add_route)(upstream, "openai", "embed", name="oa", mode="embeddings")
    who = {"tenant": "acme", "model": "embed", "provider": "oa"}
    before = await scrape(async_client)
    await embed(async_client, acme, "count me")
    await embed(async_client, acme, "count me")  # from the cache
    after = await scrape(async_client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("gateway_requests_total", **who, status_class="2xx", cache="miss") == 1
    assert moved("gateway_requests_total", **who, status_class="2xx", cache="hit") == 1
    assert moved("gateway_tokens_total", **who, type="prompt") == upstream.prompt_tokens
    assert moved("gateway_tokens_total", **who, type="completion") == 0
    assert moved("gateway_cost_usd_total", **who) == pytest.approx(upstream.prompt_tokens / 1e6)  # $1 per 1M in
    assert moved("gateway_upstream_attempt_duration_seconds_count", provider="oa", outcome="ok") == 1
    assert moved("gateway_cache_requests_total", tenant="acme", model="embed", result="hit") == 1


async def test_each_attempt_is_an_embeddings_span(async_client, acme, upstream, spans):
    await sync_to_async(add_route)(upstream, "openai", "embed", name="first", prefix="/a", mode="embeddings",
                                   upstream_model="text-embedding-3-small")
    await sync_to_async(add_route)(upstream, "azure", "embed", name="second", priority=1, mode="embeddings")
    upstream.set_mode("500", path="/a")
    await embed(async_client, acme, "trace me")

    attempts = sorted((s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT),
                      key=lambda s: s.attributes["gateway.fallback_index"])
    assert [s.name for s in attempts] == ["embeddings text-embedding-3-small", "embeddings azure-model"]
    failed, answered = attempts
    assert failed.attributes["error.type"] == "500"
    assert {k: answered.attributes[k] for k in (
        "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.encoding_formats",
        "gen_ai.embeddings.dimension.count", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
        "gateway.route", "gateway.provider",
    )} == {
        "gen_ai.operation.name": "embeddings", "gen_ai.provider.name": "azure.ai.openai",
        "gen_ai.request.encoding_formats": ("float",), "gen_ai.embeddings.dimension.count": 8,
        "gen_ai.usage.input_tokens": upstream.prompt_tokens, "gen_ai.usage.output_tokens": 0,
        "gateway.route": "embed", "gateway.provider": "second",
    }
    [server] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert server.name == "POST /v1/embeddings"
    assert answered.parent.span_id == server.context.span_id
