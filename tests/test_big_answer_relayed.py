"""A big chat answer goes through the gateway with its big strings relayed as received (providers/bigstrings.py):
the client, the cache, the ledger's estimate and traced content all see the provider's text."""
from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from openai import OpenAI
from opentelemetry.trace import SpanKind

from providers import routes, routing, tokens
from usage import ledger
from usage.models import UsageRecord

from .conftest import add_route, chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)

BIG = ("A \"quoted\" line,\nthen caf\u00e9 \U0001F600 and a back\\slash. " * 8000)  # ~400 KB of text


async def test_the_client_gets_the_providers_big_text(async_client, upstream):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    acme = await sync_to_async(make_tenant)("acme")
    upstream.reply = BIG
    response = await post_chat(async_client, acme, chat_body("chat"))
    assert response.status_code == 200
    answer = response.json()
    assert answer["choices"][0]["message"]["content"] == BIG
    assert answer["model"] == "chat" and answer["usage"]["completion_tokens"] == upstream.completion_tokens
    await sync_to_async(ledger.flush)()
    row = await UsageRecord.objects.aget(request_id=response["x-request-id"])
    assert (row.completion_tokens, row.tokens_estimated) == (upstream.completion_tokens, False)


async def test_the_chat_call_leaves_the_big_text_as_received(upstream):
    """The path above is the spliced one: were the cut to stop working, the response would carry no Hollow."""
    await sync_to_async(add_route)(upstream, "openai", "chat")
    upstream.reply = BIG
    from completions.validation import parse_chat_request

    req = parse_chat_request(chat_body("chat"))
    answer = await routing.complete(req, await routes.targets_for("chat"), hollow=True)
    assert answer.response.hollow is not None
    assert BIG not in json.dumps(answer.response.to_openai())  # a marker stands in for it
    assert answer.response.filled().choices[0].message["content"] == BIG


async def test_an_answer_without_usage_is_estimated_on_the_real_text(async_client, upstream):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    acme = await sync_to_async(make_tenant)("acme")
    upstream.reply, upstream.send_usage = BIG, False
    response = await post_chat(async_client, acme, chat_body("chat"))
    assert response.json()["usage"]["completion_tokens"] == tokens.count_text(BIG)


@pytest.mark.usefixtures("cached_route")
async def test_the_cache_stores_and_serves_the_big_text(async_client, upstream):
    acme = await sync_to_async(make_tenant)("acme")
    upstream.reply = BIG
    body = chat_body("gpt-test", temperature=0)
    miss = await post_chat(async_client, acme, body)
    hit = await post_chat(async_client, acme, body)
    assert (miss["x-cache"], hit["x-cache"]) == ("MISS", "HIT")
    assert hit.json()["choices"][0]["message"]["content"] == BIG == miss.json()["choices"][0]["message"]["content"]


async def test_traced_content_is_the_real_text(async_client, upstream, spans, settings):
    settings.TRACE_CONTENT = True
    await sync_to_async(add_route)(upstream, "openai", "chat")
    acme = await sync_to_async(make_tenant)("acme")
    upstream.reply = BIG
    await post_chat(async_client, acme, chat_body("chat"))
    [span] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert json.loads(span.attributes["gen_ai.output.messages"])[0]["content"] == BIG


@pytest.mark.parametrize("kind", ["openai", "azure", "anthropic", "ollama"])
def test_the_openai_sdk_reads_a_big_answer_through_every_adapter(kind, gateway, upstream):
    add_route(upstream, kind, "chat")
    acme = make_tenant("acme")
    upstream.reply = BIG
    client = OpenAI(base_url=f"{gateway.url}/v1", api_key=acme.raw, max_retries=0)
    reply = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Say a lot"}])
    assert reply.choices[0].message.content == BIG
    assert reply.model == "chat"
