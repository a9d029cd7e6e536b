"""The official OpenAI SDK gets valid answers, plain and streamed, through every adapter kind."""
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from .conftest import add_route, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

KINDS = ["openai", "azure", "anthropic", "ollama", "mock"]


@pytest.mark.parametrize("kind", KINDS)
def test_sdk_gets_valid_answers_through(kind, gateway, upstream):
    if kind == "mock":
        from providers.models import ModelRoute, Provider

        provider = Provider.objects.create(name="mock", kind="mock", timeout_seconds=5)
        ModelRoute.objects.create(public_name="chat", provider=provider, upstream_model="mock-small")
    else:
        add_route(upstream, kind, "chat")
    acme = make_tenant("acme")
    client = OpenAI(base_url=f"{gateway.url}/v1", api_key=acme.raw, max_retries=0)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]

    raw = client.chat.completions.with_raw_response.create(model="chat", messages=messages)
    reply = raw.parse()
    assert ChatCompletion.model_validate(reply.model_dump())
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0
    assert raw.headers["x-gateway-provider"] == ("mock" if kind == "mock" else f"{kind}-0")
    assert raw.headers["x-request-id"].startswith("req_")

    chunks = list(client.chat.completions.create(
        model="chat", messages=messages, stream=True, stream_options={"include_usage": True}
    ))
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk.model_dump())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == reply.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)

    plain = list(client.chat.completions.create(model="chat", messages=messages, stream=True))
    assert all(c.usage is None for c in plain)
    if kind != "mock":
        assert upstream.last.body.get("stream") is True or upstream.last.path.endswith("/messages")
        assert acme.raw not in str(upstream.last.headers)
