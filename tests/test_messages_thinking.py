"""Extended thinking through /v1/messages to an anthropic provider: the thinking block, with its signature, comes
back whole and streamed, and goes back to the provider in a tool round trip (Anthropic requires it there)."""
import pytest
from anthropic import Anthropic

from .conftest import add_route, make_tenant
from .fakes.wire import SIGNATURE, THOUGHT

pytestmark = pytest.mark.django_db(transaction=True)

THINKING = {"type": "enabled", "budget_tokens": 1024}
WEATHER = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
QUESTION = {"role": "user", "content": "Weather in Paris?"}


def test_thinking_blocks_come_back_and_go_back(gateway, upstream):
    add_route(upstream, "anthropic", "claude")
    upstream.tool_arguments = {"city": "Paris"}
    client = Anthropic(base_url=gateway.url, api_key=make_tenant("acme").raw, max_retries=0)

    whole = client.messages.create(model="claude", max_tokens=2048, thinking=THINKING,
                                   messages=[{"role": "user", "content": "hi"}])
    assert [b.type for b in whole.content] == ["thinking", "text"]
    assert (whole.content[0].thinking, whole.content[0].signature) == (THOUGHT, SIGNATURE)
    assert upstream.last.body["thinking"] == THINKING

    with client.messages.stream(model="claude", max_tokens=2048, thinking=THINKING, tools=[WEATHER],
                                messages=[QUESTION]) as stream:
        kinds = [(e.type, getattr(getattr(e, "delta", None), "type", None)) for e in stream]
        first = stream.get_final_message()
    assert ("content_block_delta", "thinking_delta") in kinds and ("content_block_delta", "signature_delta") in kinds
    assert [b.type for b in first.content] == ["thinking", "text", "tool_use"]
    assert (first.content[0].thinking, first.content[0].signature) == (THOUGHT, SIGNATURE)
    use = first.content[2]

    answer = client.messages.create(
        model="claude", max_tokens=2048, thinking=THINKING, tools=[WEATHER],
        messages=[QUESTION, {"role": "assistant", "content": first.content},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "Sunny"}]}])
    assert answer.content[-1].text == "Hello from fake-anthropic"
    sent_back = upstream.last.body["messages"][1]["content"][0]
    assert sent_back == {"type": "thinking", "thinking": THOUGHT, "signature": SIGNATURE}
