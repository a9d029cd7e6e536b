"""Each provider attempt is a GenAI client span under the server span, and its context goes upstream."""
import pytest
from asgiref.sync import sync_to_async
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from .conftest import add_route, chat_body, post_chat

pytestmark = pytest.mark.django_db(transaction=True)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def by_kind(exporter: InMemorySpanExporter, kind: SpanKind) -> list:
    return [s for s in exporter.get_finished_spans() if s.kind == kind]


async def test_an_attempt_span_carries_the_genai_attributes_and_nests_under_the_server_span(async_client, acme, upstream, spans):
    await sync_to_async(add_route)(upstream, "openai", "chat", name="oa", upstream_model="gpt-4o-mini")
    body = chat_body("chat", max_tokens=50, temperature=0.5)
    response = await post_chat(async_client, acme, body, headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200

    [server] = by_kind(spans, SpanKind.SERVER)
    [attempt] = by_kind(spans, SpanKind.CLIENT)
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert attempt.parent.span_id == server.context.span_id
    assert attempt.context.trace_id == server.context.trace_id
    assert attempt.name == "chat gpt-4o-mini"
    assert {k: attempt.attributes[k] for k in (
        "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model",
        "gen_ai.request.max_tokens", "gen_ai.request.temperature", "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens", "gateway.route", "gateway.provider", "gateway.cache", "gateway.fallback_index",
    )} == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini", "gen_ai.request.max_tokens": 50, "gen_ai.request.temperature": 0.5,
        "gen_ai.usage.input_tokens": upstream.prompt_tokens, "gen_ai.usage.output_tokens": upstream.completion_tokens,
        "gateway.route": "chat", "gateway.provider": "oa", "gateway.cache": "miss", "gateway.fallback_index": 0,
    }
    assert attempt.attributes["gen_ai.response.model"]
    assert list(attempt.attributes["gen_ai.response.finish_reasons"]) == ["stop"]
    assert server.attributes["gateway.request_id"] == response["x-request-id"]
    assert server.attributes["gateway.tenant"] == "acme"
    assert server.attributes["gateway.cache"] == "miss"


async def test_the_provider_sees_the_attempt_spans_context_in_the_callers_trace(async_client, acme, upstream, spans):
    await sync_to_async(add_route)(upstream, "anthropic", "chat")
    await post_chat(async_client, acme, chat_body("chat"), headers={"traceparent": TRACEPARENT})
    [attempt] = by_kind(spans, SpanKind.CLIENT)
    _, trace_id, span_id, _ = upstream.last.headers["traceparent"].split("-")
    assert trace_id == TRACE_ID
    assert span_id == format(attempt.context.span_id, "016x")
    assert attempt.attributes["gen_ai.provider.name"] == "anthropic"


async def test_a_fallback_is_a_second_attempt_span_with_its_index(async_client, acme, upstream, spans):
    await sync_to_async(add_route)(upstream, "openai", "chat", name="first", priority=0, prefix="/a")
    await sync_to_async(add_route)(upstream, "azure", "chat", name="second", priority=1)
    upstream.set_mode("500", path="/a")
    assert (await post_chat(async_client, acme, chat_body("chat")))["x-gateway-provider"] == "second"
    failed, answered = sorted(by_kind(spans, SpanKind.CLIENT), key=lambda s: s.start_time)
    assert (failed.attributes["gateway.provider"], failed.attributes["gateway.fallback_index"]) == ("first", 0)
    assert failed.attributes["error.type"] == "500"
    assert not failed.status.is_ok
    assert (answered.attributes["gateway.provider"], answered.attributes["gateway.fallback_index"]) == ("second", 1)
    assert answered.attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert answered.parent.span_id == failed.parent.span_id


async def test_a_stream_span_covers_the_stream_and_records_the_first_token(async_client, acme, upstream, spans):
    await sync_to_async(add_route)(upstream, "openai", "chat", name="oa")
    upstream.set_mode("slow")
    response = await post_chat(async_client, acme, chat_body("chat", stream=True), headers={"traceparent": TRACEPARENT})
    body = b"".join([part async for part in response.streaming_content])
    assert body.endswith(b"data: [DONE]\n\n")

    [attempt] = by_kind(spans, SpanKind.CLIENT)
    [first_token] = [e for e in attempt.events if e.name == "gen_ai.first_token"]
    assert attempt.start_time < first_token.timestamp < attempt.end_time
    # The slow fake pauses between events, so the span lasts well past the first token.
    assert attempt.end_time - first_token.timestamp > upstream.delay * 1e9
    assert attempt.attributes["gateway.ttft_ms"] >= 0
    assert attempt.attributes["gen_ai.usage.output_tokens"] > 0
    assert list(attempt.attributes["gen_ai.response.finish_reasons"]) == ["stop"]
    assert attempt.attributes["gateway.tenant"] == "acme"
    assert format(attempt.context.trace_id, "032x") == TRACE_ID
