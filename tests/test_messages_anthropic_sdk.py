"""The official `anthropic` SDK speaks /v1/messages through the gateway: text, an image and a tool call round
trip, whole and streamed, to an anthropic provider (the body passed through) and an OpenAI one (translated)."""
import base64

import pytest
from anthropic import Anthropic

from usage.models import UsageRecord

from .conftest import add_route, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

KINDS = ["anthropic", "openai"]
PIXEL = base64.b64encode(b"\x89PNG\r\n\x1a\n not really a picture").decode()
WEATHER = {"name": "get_weather", "description": "The weather in a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def client_for(gateway, key: str) -> Anthropic:
    return Anthropic(base_url=gateway.url, api_key=key, max_retries=0)


def rows(count: int, timeout: float = 10.0) -> list[UsageRecord]:
    import time

    deadline = time.monotonic() + timeout
    while UsageRecord.objects.count() < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(UsageRecord.objects.order_by("created_at"))


@pytest.mark.parametrize("kind", KINDS)
def test_text_whole_and_streamed(kind, gateway, upstream):
    add_route(upstream, kind, "claude-like", upstream_model=f"{kind}-upstream")
    acme = make_tenant("acme")
    client = client_for(gateway, acme.raw)

    raw = client.messages.with_raw_response.create(
        model="claude-like", max_tokens=100, system="Be brief.",
        messages=[{"role": "user", "content": "Say hello"}], extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"},
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text" and message.content[0].text == f"Hello from fake-{kind}"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 12 and message.usage.output_tokens == 7
    assert message.usage.cache_read_input_tokens == 0 and message.usage.cache_creation_input_tokens == 0
    assert raw.headers["x-gateway-provider"] == f"{kind}-0"
    sent = upstream.last
    if kind == "anthropic":  # the body as the client sent it, with the route's model; anthropic-beta passed on
        assert sent.path == "/v1/messages"
        assert sent.body == {"model": "anthropic-upstream", "max_tokens": 100, "system": "Be brief.",
                             "messages": [{"role": "user", "content": "Say hello"}]}
        assert sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
        assert acme.raw not in str(sent.headers)
    else:
        assert sent.body["messages"] == [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "Say hello"}]
        assert sent.body["max_completion_tokens"] == 100 and sent.body["model"] == "openai-upstream"
        assert "anthropic-beta" not in sent.headers

    with client.messages.stream(model="claude-like", max_tokens=100,
                                messages=[{"role": "user", "content": "Say hello"}]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert final.content[0].text == f"Hello from fake-{kind}"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 7 and final.usage.input_tokens == 12
    order = [k for k in kinds if k in ("message_start", "content_block_start", "content_block_stop",
                                       "message_delta", "message_stop")]
    assert order == ["message_start", "content_block_start", "content_block_stop", "message_delta", "message_stop"]
    assert "text" in kinds  # the SDK's own event for each text_delta

    records = rows(2)
    assert [(r.status, r.streamed, r.prompt_tokens, r.completion_tokens) for r in records] == [
        (200, False, 12, 7), (200, True, 12, 7)]
    assert all(r.model == "claude-like" and r.provider == f"{kind}-0" and r.cost_usd > 0 for r in records)


@pytest.mark.parametrize("kind", KINDS)
def test_an_image_reaches_the_provider(kind, gateway, upstream):
    add_route(upstream, kind, "claude-like")
    client = client_for(gateway, make_tenant("acme").raw)
    content = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
               {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
               {"type": "text", "text": "What is this?"}]
    message = client.messages.create(model="claude-like", max_tokens=50,
                                     messages=[{"role": "user", "content": content}])
    assert message.content[0].text == f"Hello from fake-{kind}"
    sent = upstream.last.body["messages"][-1]["content"]
    if kind == "anthropic":
        assert sent == content
    else:
        assert sent == [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                        {"type": "text", "text": "What is this?"}]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("streamed", [False, True])
def test_a_tool_call_round_trip(kind, streamed, gateway, upstream):
    add_route(upstream, kind, "claude-like")
    upstream.tool_arguments = {"city": "Paris"}
    client = client_for(gateway, make_tenant("acme").raw)
    question = {"role": "user", "content": "Weather in Paris?"}

    if streamed:
        with client.messages.stream(model="claude-like", max_tokens=100, tools=[WEATHER],
                                    messages=[question]) as stream:
            kinds = [(event.type, getattr(getattr(event, "delta", None), "type", None)) for event in stream]
            first = stream.get_final_message()
        assert ("content_block_delta", "input_json_delta") in kinds
    else:
        first = client.messages.create(model="claude-like", max_tokens=100, tools=[WEATHER], messages=[question])
    assert first.stop_reason == "tool_use"
    use = next(block for block in first.content if block.type == "tool_use")
    assert use.name == "get_weather" and use.input == {"city": "Paris"} and use.id
    if kind == "anthropic":
        assert first.content[0].text == "Let me look that up."
    else:
        assert upstream.last.body["tools"] == [{"type": "function", "function": {
            "name": "get_weather", "parameters": WEATHER["input_schema"], "description": WEATHER["description"]}}]

    answer = client.messages.create(
        model="claude-like", max_tokens=100, tools=[WEATHER],
        messages=[question, {"role": "assistant", "content": first.content},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "Sunny, 21C"}]}],
    )
    assert answer.stop_reason == "end_turn" and answer.content[0].text == f"Hello from fake-{kind}"
    sent = upstream.last.body["messages"]
    if kind == "openai":
        assert sent[-2]["tool_calls"] == [{"id": use.id, "type": "function",
                                           "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]
        assert sent[-1] == {"role": "tool", "content": "Sunny, 21C", "tool_call_id": use.id}
    else:
        assert sent[-1]["content"] == [{"type": "tool_result", "tool_use_id": use.id, "content": "Sunny, 21C"}]
