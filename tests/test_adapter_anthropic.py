"""The Anthropic adapter: OpenAI chat ⇄ Messages API, both ways, streaming included."""
from __future__ import annotations

import orjson
import pytest

from providers import adapters
from providers.adapters import anthropic
from providers.types import ChatRequest, Message, SSEEvent, Target, UpstreamError

KEY = "sk-ant-api03-R2d2C3poXwingTieFighter0123456789abcdef"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def target(**changes) -> Target:
    fields = dict(provider="anthropic", kind="anthropic", base_url="https://api.anthropic.com", api_key=KEY,
                  timeout=60.0, upstream_model="claude-sonnet-4-5-20250929", public_model="claude-sonnet")
    return Target(**{**fields, **changes})


WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}}
CALL = {"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"location\": \"Paris\"}"}}


def request(*messages: Message, **fields) -> ChatRequest:
    return ChatRequest(model="claude-sonnet", messages=messages or (Message("user", "Hi"),), **fields)


def body_of(req: ChatRequest, stream: bool = False) -> dict:
    return orjson.loads(anthropic.build_request(req, target(), stream=stream).body)


def test_it_is_the_adapter_for_the_anthropic_kind():
    assert adapters.get("anthropic") is anthropic


def test_it_posts_to_the_messages_api_with_its_own_headers():
    upstream = anthropic.build_request(request(), target(), stream=True)
    assert upstream.url == "https://api.anthropic.com/v1/messages"
    assert upstream.headers == {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        "x-api-key": KEY,
        "anthropic-version": "2023-06-01",
    }


def test_it_takes_the_api_version_from_the_provider_options():
    upstream = anthropic.build_request(request(), target(options={"anthropic_version": "2024-01-01"}), stream=False)
    assert upstream.headers["anthropic-version"] == "2024-01-01"


def test_it_translates_sampling_parameters():
    body = body_of(request(max_tokens=300, temperature=0.3, top_p=0.9, stop=("END",), user="u-42"), stream=True)
    assert body["model"] == "claude-sonnet-4-5-20250929"
    assert body["max_tokens"] == 300
    assert (body["temperature"], body["top_p"]) == (0.3, 0.9)
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u-42"}
    assert body["stream"] is True


def test_it_defaults_max_tokens_and_caps_temperature():
    body = body_of(request(temperature=1.7))
    assert body["max_tokens"] == 4096
    assert body["temperature"] == 1.0
    assert "stream" not in body


def test_it_lifts_system_and_developer_messages_to_the_top():
    body = body_of(request(
        Message("system", "Be brief."),
        Message("developer", [{"type": "text", "text": "Answer in French."}]),
        Message("user", "Hello"),
    ))
    assert body["system"] == "Be brief.\n\nAnswer in French."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]


def test_it_converts_images_to_base64_and_url_sources():
    body = body_of(request(Message("user", [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://upload.wikimedia.org/cat.jpg", "detail": "high"}},
    ])))
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is in these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://upload.wikimedia.org/cat.jpg"}},
    ]


def test_it_turns_tool_calls_and_results_into_alternating_blocks():
    body = body_of(request(
        Message("user", "Weather in Paris and Rome?"),
        Message("assistant", "Let me check.", tool_calls=(CALL, {**CALL, "id": "toolu_2", "function": {
            "name": "get_weather", "arguments": "{\"location\": \"Rome\"}"}})),
        Message("tool", "18°C, sunny", tool_call_id="toolu_01A09q90qw90lq917835lq9"),
        Message("tool", [{"type": "text", "text": "22°C"}], tool_call_id="toolu_2"),
        Message("user", "Thanks, and tomorrow?"),
    ))
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
         "input": {"location": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"location": "Rome"}},
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "18°C, sunny"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "22°C"}]},
        {"type": "text", "text": "Thanks, and tomorrow?"},
    ]


def test_it_merges_consecutive_user_messages():
    body = body_of(request(Message("user", "One."), Message("user", "Two.")))
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "One."},
                                                             {"type": "text", "text": "Two."}]}]


def test_it_translates_function_tools():
    body = body_of(request(tools=(WEATHER_TOOL,)))
    assert body["tools"] == [{
        "name": "get_weather",
        "description": "Current weather for a city.",
        "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    }]
    assert "tool_choice" not in body


@pytest.mark.parametrize("choice, expected", [
    ("auto", {"type": "auto"}),
    ("none", {"type": "none"}),
    ("required", {"type": "any"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
])
def test_it_translates_tool_choice(choice, expected):
    assert body_of(request(tools=(WEATHER_TOOL,), tool_choice=choice))["tool_choice"] == expected


def test_it_disables_parallel_tool_use_when_asked():
    body = body_of(request(tools=(WEATHER_TOOL,), extra={"parallel_tool_calls": False}))
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_it_refuses_content_it_cannot_translate():
    audio = Message("user", [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}])
    with pytest.raises(UpstreamError) as caught:
        anthropic.build_request(request(audio), target(), stream=False)
    assert (caught.value.kind, caught.value.status, caught.value.retryable) == ("http", 400, False)
    assert caught.value.body["type"] == "invalid_request_error"


RESPONSE = {
    "id": "msg_01Aq9w938a90dw8q",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "text", "text": "I'll check "},
        {"type": "text", "text": "the weather."},
        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
         "input": {"location": "San Francisco, CA"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 2095, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 5,
              "output_tokens": 503, "service_tier": "standard"},
}


def test_it_answers_in_openai_shape():
    response = anthropic.parse_response(200, orjson.dumps(RESPONSE), target())
    assert (response.id, response.model) == ("msg_01Aq9w938a90dw8q", "claude-sonnet")
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message["role"] == "assistant"
    assert choice.message["content"] == "I'll check the weather."
    call = choice.message["tool_calls"][0]
    assert (call["id"], call["type"], call["function"]["name"]) == ("toolu_01A09q90qw90lq917835lq9", "function", "get_weather")
    assert orjson.loads(call["function"]["arguments"]) == {"location": "San Francisco, CA"}
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (2200, 503)


@pytest.mark.parametrize("stop_reason, finish_reason", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
])
def test_it_maps_stop_reasons(stop_reason, finish_reason):
    body = {**RESPONSE, "content": [{"type": "text", "text": "ok"}], "stop_reason": stop_reason}
    assert anthropic.parse_response(200, orjson.dumps(body), target()).choices[0].finish_reason == finish_reason


def test_it_retries_an_overloaded_anthropic():
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CSHoEeqs5"}'
    with pytest.raises(UpstreamError) as caught:
        anthropic.parse_response(529, body, target())
    assert (caught.value.kind, caught.value.retryable) == ("http", True)
    assert caught.value.body == {"message": "Overloaded", "type": "overloaded_error", "code": None}


def test_it_passes_back_an_invalid_request_without_secrets():
    error = {"type": "error", "error": {"type": "authentication_error", "message": f"invalid x-api-key: {KEY}"}}
    with pytest.raises(UpstreamError) as caught:
        anthropic.parse_response(401, orjson.dumps(error), target())
    assert caught.value.retryable is False
    assert caught.value.body["type"] == "authentication_error"
    assert KEY not in caught.value.body["message"] and KEY not in caught.value.message


def test_it_reports_a_success_without_content_as_malformed():
    with pytest.raises(UpstreamError) as caught:
        anthropic.parse_response(200, b'{"type": "message", "id": "msg_1"}', target())
    assert (caught.value.kind, caught.value.retryable) == ("malformed", True)


# A recorded stream: text, then a tool_use block whose input arrives in JSON fragments.
STREAM = [
    ("message_start", '{"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message",'
                      '"role":"assistant","model":"claude-sonnet-4-5-20250929","stop_sequence":null,'
                      '"usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,'
                      '"output_tokens":2},"content":[],"stop_reason":null}}'),
    ("content_block_start", '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'),
    ("ping", '{"type": "ping"}'),
    ("content_block_delta", '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay"}}'),
    ("content_block_delta", '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
                            '"text":", let\'s check the weather for San Francisco, CA:"}}'),
    ("content_block_stop", '{"type":"content_block_stop","index":0}'),
    ("content_block_start", '{"type":"content_block_start","index":1,"content_block":{"type":"tool_use",'
                            '"id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}'),
    ("content_block_delta", '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta",'
                            '"partial_json":""}}'),
    ("content_block_delta", '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta",'
                            '"partial_json":"{\\"location\\":"}}'),
    ("content_block_delta", '{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta",'
                            '"partial_json":" \\"San Francisco, CA\\", \\"unit\\": \\"fahrenheit\\"}"}}'),
    ("content_block_stop", '{"type":"content_block_stop","index":1}'),
    ("message_delta", '{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},'
                      '"usage":{"output_tokens":89}}'),
    ("message_stop", '{"type":"message_stop"}'),
]


def replay(parser: anthropic.StreamParser, events=STREAM) -> list:
    return [c for name, data in events for c in parser.feed(SSEEvent(data, name))] + parser.finish()


def test_it_streams_openai_chunks_from_a_recorded_message():
    parser = anthropic.StreamParser(target())
    chunks = replay(parser)
    assert {c.id for c in chunks} == {"msg_014p7gG3wDgGV9EUtLvnow3U"}
    assert {c.model for c in chunks} == {"claude-sonnet"}
    assert chunks[0].choices[0].delta == {"role": "assistant", "content": ""}
    text = "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices)
    assert text == "Okay, let's check the weather for San Francisco, CA:"
    calls = [call for c in chunks if c.choices for call in c.choices[0].delta.get("tool_calls") or ()]
    assert calls[0] == {"index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function",
                        "function": {"name": "get_weather", "arguments": ""}}
    arguments = "".join(call["function"]["arguments"] for call in calls)
    assert orjson.loads(arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_it_ends_the_stream_with_a_usage_chunk():
    parser = anthropic.StreamParser(target())
    chunks = replay(parser)
    assert chunks[-1].choices == ()
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (472, 89)
    assert parser.done is True
    assert (parser.usage.prompt_tokens, parser.usage.completion_tokens) == (472, 89)


def test_it_is_not_done_before_message_stop():
    parser = anthropic.StreamParser(target())
    replay(parser, STREAM[:-1])
    assert parser.done is False


def test_it_raises_a_final_stream_error_on_an_error_event():
    parser = anthropic.StreamParser(target())
    replay(parser, STREAM[:4])
    error = '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
    with pytest.raises(UpstreamError) as caught:
        parser.feed(SSEEvent(error, "error"))
    assert (caught.value.kind, caught.value.retryable) == ("stream", False)
    assert caught.value.body["type"] == "overloaded_error"


def test_it_splits_the_prompt_into_cache_reads_and_writes():
    usage = anthropic.parse_response(200, orjson.dumps(RESPONSE), target()).usage
    # prompt = input_tokens + cache reads + cache writes, as OpenAI counts prompt_tokens.
    assert (usage.prompt_tokens, usage.cached_tokens, usage.cache_write_tokens, usage.uncached_tokens) == (2200, 5, 100, 2095)
    assert (usage.completion_tokens, usage.reasoning_tokens, usage.estimated) == (503, 0, False)
    assert usage.to_openai()["prompt_tokens_details"] == {"cached_tokens": 5, "cache_write_tokens": 100}


def test_a_stream_keeps_the_cache_counts_of_its_message_start():
    parser = anthropic.StreamParser(target())
    start = {"type": "message_start", "message": {"id": "msg_1", "usage": {
        "input_tokens": 10, "cache_creation_input_tokens": 2000, "cache_read_input_tokens": 30000, "output_tokens": 1}}}
    parser.feed(SSEEvent(orjson.dumps(start).decode(), "message_start"))
    parser.feed(SSEEvent('{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":89}}',
                         "message_delta"))
    [chunk] = parser.feed(SSEEvent('{"type":"message_stop"}', "message_stop"))
    assert (chunk.usage.prompt_tokens, chunk.usage.cached_tokens, chunk.usage.cache_write_tokens) == (32010, 30000, 2000)
    assert chunk.usage.completion_tokens == 89


def test_a_stream_without_usage_ends_without_a_usage_chunk():
    parser = anthropic.StreamParser(target())
    parser.feed(SSEEvent('{"type":"message_start","message":{"id":"msg_1"}}', "message_start"))
    assert parser.feed(SSEEvent('{"type":"message_stop"}', "message_stop")) == []
    assert parser.usage is None  # the gateway counts the tokens itself


def test_a_count_no_ledger_column_holds_is_malformed():
    body = {**RESPONSE, "usage": {"input_tokens": 2**31, "output_tokens": 1}}
    with pytest.raises(UpstreamError) as caught:
        anthropic.parse_response(200, orjson.dumps(body), target())
    assert (caught.value.kind, caught.value.retryable) == ("malformed", True)
