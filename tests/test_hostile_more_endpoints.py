"""Hostile input on /v1/messages and /v1/responses (wrong types, huge arrays, missing fields) gets a clean 400
in the endpoint's own error shape, never a 500; odd provider answers render without raising."""
import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from completions import messages, responses
from infra.errors import GatewayError
from providers.types import ChatChunk, ChatRequest, ChunkChoice, Usage

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
BLOCK_TYPES = st.sampled_from(["text", "image", "document", "tool_use", "tool_result", "thinking", "input_text",
                               "input_image", "input_file", "output_text", "function_call", "function_call_output",
                               "message", "reasoning", "item_reference", "x"])
blocks = st.lists(st.fixed_dictionaries({"type": BLOCK_TYPES}, optional={
    k: json_values for k in ("text", "source", "id", "name", "input", "tool_use_id", "content", "image_url",
                             "file_data", "call_id", "arguments", "output", "role")}) | json_values, max_size=4)
turns = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "tool", ""])},
                                       optional={"content": st.text(max_size=5) | blocks}) | json_values, max_size=3)
MESSAGE_FIELDS = ["system", "max_tokens", "temperature", "top_p", "top_k", "stop_sequences", "stream", "tools",
                  "tool_choice", "metadata", "thinking"]
RESPONSE_FIELDS = ["instructions", "max_output_tokens", "temperature", "top_p", "stream", "tools", "tool_choice",
                   "parallel_tool_calls", "user", "text", "reasoning", "store", "previous_response_id", "background"]
near_messages = st.fixed_dictionaries({"model": st.text(max_size=8) | json_values, "messages": turns},
                                      optional={name: json_values for name in MESSAGE_FIELDS})
near_responses = st.fixed_dictionaries({"model": st.text(max_size=8) | json_values, "input": st.text() | turns | blocks},
                                       optional={name: json_values for name in RESPONSE_FIELDS})


def assert_clean(parse, value) -> None:
    try:
        result = parse(json.dumps(value).encode(), {})
    except GatewayError as err:
        assert err.status == 400 and err.type == "invalid_request_error" and err.message
        return
    assert isinstance(result, ChatRequest) and result.raw["messages"] is not None


@FAST
@given(json_values)
def test_any_json_to_messages_is_a_request_or_a_400(value):
    assert_clean(messages.parse, value)


@FAST
@given(near_messages)
def test_any_near_valid_messages_body_is_a_request_or_a_400(value):
    assert_clean(messages.parse, value)


@FAST
@given(json_values)
def test_any_json_to_responses_is_a_request_or_a_400(value):
    assert_clean(responses.parse, value)


@FAST
@given(near_responses)
def test_any_near_valid_responses_body_is_a_request_or_a_400(value):
    assert_clean(responses.parse, value)


@FAST
@given(st.dictionaries(st.sampled_from(["choices", "usage", "id", "model", "created"]), json_values)
       | st.fixed_dictionaries({"choices": st.lists(st.fixed_dictionaries({}, optional={
           "message": st.fixed_dictionaries({}, optional={"content": json_values, "tool_calls": json_values,
                                                          "refusal": json_values, "thinking_blocks": json_values})
           | json_values,
           "finish_reason": json_values}), max_size=2)}))
def test_odd_chat_answers_still_render(payload):
    assert orjson.loads(messages.render(payload))["type"] == "message"
    assert orjson.loads(responses.render(payload))["object"] == "response"


@FAST
@given(st.lists(st.fixed_dictionaries({}, optional={"content": json_values, "tool_calls": json_values,
                                                    "refusal": json_values, "thinking_blocks": json_values}),
                max_size=5))
def test_odd_stream_deltas_still_render(deltas):
    req = ChatRequest(model="chat", messages=(), stream=True)
    for renderer in (messages.MessagesStream(req), responses.ResponsesStream(req)):
        for delta in deltas:
            renderer.chunk(ChatChunk("c1", "chat", 1, (ChunkChoice(0, delta),)))
        assert renderer.usage(ChatChunk("c1", "chat", 1, (), Usage(3, 4)))


HOSTILE = [
    b"", b"not json", b"[]", b'{"model": 5}', b'{"model": "chat"}',
    orjson.dumps({"model": "chat", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text"}]}] * 3}),
    orjson.dumps({"model": "chat", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}] * 100_000}),
    orjson.dumps({"model": "chat", "input": [{"role": "user", "content": "x"}] * 100_000}),
    orjson.dumps({"model": "chat", "max_tokens": "many", "input": 7, "messages": {"role": "user"}}),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("body", HOSTILE)
async def test_hostile_bodies_get_the_endpoints_json_error(async_client, acme, mock_provider, body):
    sent = await async_client.post("/v1/messages", data=body, content_type="application/json", headers=acme.headers)
    assert sent.status_code == 400
    assert sent.json()["type"] == "error" and sent.json()["error"]["type"] == "invalid_request_error"
    sent = await async_client.post("/v1/responses", data=body, content_type="application/json", headers=acme.headers)
    assert sent.status_code == 400
    assert sent.json()["error"]["type"] == "invalid_request_error" and sent.json()["error"]["message"]


@pytest.mark.django_db(transaction=True)
async def test_errors_before_the_body_is_read_take_the_endpoints_shape(async_client, acme):
    unknown = await async_client.post("/v1/messages", data=b"{}", content_type="application/json",
                                      headers={"x-api-key": "gw-nope"})
    assert unknown.status_code == 401 and unknown.json()["error"]["type"] == "authentication_error"
    assert unknown.json()["type"] == "error"
    wrong_method = await async_client.get("/v1/messages", headers=acme.headers)
    assert wrong_method.status_code == 405 and wrong_method.json()["type"] == "error"
    wrong_method = await async_client.get("/v1/responses", headers=acme.headers)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["type"] == "invalid_request_error"
