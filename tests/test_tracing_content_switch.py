"""GATEWAY_TRACE_CONTENT lets an operator record prompts and completions on attempt spans; off, they are absent."""
import json

import pytest
from asgiref.sync import sync_to_async
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from .conftest import add_route, chat_body, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


def attempt(exporter: InMemorySpanExporter):
    [span] = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT]
    return span


async def test_it_leaves_content_out_by_default(async_client, acme, upstream, spans):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    await post_chat(async_client, acme, chat_body("chat", text="secret plans"))
    assert not {"gen_ai.input.messages", "gen_ai.output.messages"} & set(attempt(spans).attributes)


@pytest.mark.parametrize("stream", [False, True])
async def test_it_records_messages_when_switched_on(async_client, acme, upstream, spans, settings, stream):
    settings.TRACE_CONTENT = True
    await sync_to_async(add_route)(upstream, "openai", "chat")
    response = await post_chat(async_client, acme, chat_body("chat", text="secret plans", stream=stream))
    if stream:
        b"".join([part async for part in response.streaming_content])
    attributes = attempt(spans).attributes
    assert json.loads(attributes["gen_ai.input.messages"]) == [{"role": "user", "content": "secret plans"}]
    [output] = json.loads(attributes["gen_ai.output.messages"])
    assert output["role"] == "assistant" and output["content"]
