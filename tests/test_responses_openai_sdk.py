"""The official `openai` SDK speaks /v1/responses through the gateway: text and a function call round trip,
whole and streamed, to an OpenAI-compatible provider and an Anthropic one."""
import time

import pytest
from openai import OpenAI

from usage.models import UsageRecord

from .conftest import add_route, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

KINDS = ["openai", "anthropic"]
WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def rows(count: int, timeout: float = 10.0) -> list[UsageRecord]:
    deadline = time.monotonic() + timeout
    while UsageRecord.objects.count() < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(UsageRecord.objects.order_by("created_at"))


@pytest.mark.parametrize("kind", KINDS)
def test_text_whole_and_streamed(kind, gateway, upstream):
    add_route(upstream, kind, "chat", upstream_model=f"{kind}-upstream")
    client = OpenAI(base_url=f"{gateway.url}/v1", api_key=make_tenant("acme").raw, max_retries=0)

    raw = client.responses.with_raw_response.create(model="chat", instructions="Be brief.", input="Say hello",
                                                    max_output_tokens=64, temperature=0.5, store=True)
    response = raw.parse()
    assert response.object == "response" and response.status == "completed" and response.id.startswith("resp_")
    assert response.output_text == f"Hello from fake-{kind}"
    assert response.output[0].type == "message" and response.output[0].content[0].type == "output_text"
    assert response.usage.input_tokens == 12 and response.usage.output_tokens == 7
    assert response.usage.input_tokens_details.cached_tokens == 0
    assert response.usage.output_tokens_details.reasoning_tokens == 0
    assert raw.headers["x-gateway-provider"] == f"{kind}-0"
    sent = upstream.last.body
    if kind == "openai":
        assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
        assert sent["max_completion_tokens"] == 64 and sent["temperature"] == 0.5 and "store" not in sent
    else:
        assert sent["system"] == "Be brief." and sent["max_tokens"] == 64

    with client.responses.stream(model="chat", input=[{"role": "user", "content": [
            {"type": "input_text", "text": "Say hello"},
            {"type": "input_image", "image_url": "https://example.com/cat.png"}]}]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert final.output_text == f"Hello from fake-{kind}" and final.usage.output_tokens == 7
    kinds = [e.type for e in events]
    assert kinds[:5] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added", "response.output_text.delta"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == final.output_text

    records = rows(2)
    assert [(r.status, r.streamed, r.prompt_tokens, r.completion_tokens) for r in records] == [
        (200, False, 12, 7), (200, True, 12, 7)]
    assert all(r.model == "chat" and r.cost_usd > 0 for r in records)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("streamed", [False, True])
def test_a_function_call_round_trip(kind, streamed, gateway, upstream):
    add_route(upstream, kind, "chat")
    upstream.tool_arguments = {"city": "Paris"}
    client = OpenAI(base_url=f"{gateway.url}/v1", api_key=make_tenant("acme").raw, max_retries=0)
    question = [{"role": "user", "content": "Weather in Paris?"}]

    if streamed:
        with client.responses.stream(model="chat", input=question, tools=[WEATHER], tool_choice="auto") as stream:
            kinds = [e.type for e in stream]
            first = stream.get_final_response()
        assert "response.function_call_arguments.delta" in kinds and kinds[-1] == "response.completed"
    else:
        first = client.responses.create(model="chat", input=question, tools=[WEATHER], tool_choice="auto")
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and call.call_id and call.arguments.replace(" ", "") == '{"city":"Paris"}'
    sent = upstream.last.body
    if kind == "openai":
        assert sent["tools"] == [{"type": "function", "function": {
            "name": "get_weather", "description": WEATHER["description"], "parameters": WEATHER["parameters"]}}]
        assert sent["tool_choice"] == "auto"
    else:
        assert sent["tools"][0]["name"] == "get_weather"
        assert first.output[0].type == "message" and first.output_text == "Let me look that up."

    answer = client.responses.create(model="chat", tools=[WEATHER], input=question + [
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 21C"}])
    assert answer.output_text == f"Hello from fake-{kind}"
    sent = upstream.last.body["messages"]
    if kind == "openai":
        assert sent[-2]["tool_calls"][0]["id"] == call.call_id
        assert sent[-1] == {"role": "tool", "tool_call_id": call.call_id, "content": "Sunny, 21C"}
    else:
        assert sent[-1]["content"] == [{"type": "tool_result", "tool_use_id": call.call_id, "content": "Sunny, 21C"}]
