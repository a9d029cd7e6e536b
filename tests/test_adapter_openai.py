"""The OpenAI adapter: request building, response and stream parsing, error classification."""
from __future__ import annotations

import orjson
import pytest

from providers import adapters
from providers.adapters import openai
from providers.types import ChatRequest, Message, SSEEvent, Target, UpstreamError

KEY = "sk-proj-Zq3xT9vLw2Rk8sPq4mNb7Yc1Hd6Fj0Ag"


def target(**changes) -> Target:
    fields = dict(provider="openai-main", kind="openai", base_url="https://api.openai.com/v1", api_key=KEY,
                  timeout=30.0, upstream_model="gpt-4o-mini-2024-07-18", public_model="gpt-4o-mini")
    return Target(**{**fields, **changes})


def request(**raw_changes) -> ChatRequest:
    raw = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], **raw_changes}
    return ChatRequest(model=raw["model"], messages=(Message("user", "Hi"),), raw=raw)


def test_it_is_the_adapter_for_the_openai_kind():
    assert adapters.get("openai") is openai


def test_it_posts_to_chat_completions_with_the_provider_key():
    upstream = openai.build_request(request(), target(), stream=False)
    assert upstream.method == "POST"
    assert upstream.url == "https://api.openai.com/v1/chat/completions"
    assert upstream.headers == {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Authorization": f"Bearer {KEY}",
    }


def test_it_sends_no_authorization_without_a_key():
    upstream = openai.build_request(request(), target(api_key=""), stream=False)
    assert "Authorization" not in upstream.headers


def test_it_passes_unknown_fields_through_with_the_upstream_model():
    upstream = openai.build_request(request(logit_bias={"50256": -100}, temperature=0.2), target(), stream=False)
    body = orjson.loads(upstream.body)
    assert body["model"] == "gpt-4o-mini-2024-07-18"
    assert body["logit_bias"] == {"50256": -100}
    assert body["temperature"] == 0.2
    assert "stream" not in body


def test_it_always_asks_for_usage_when_streaming():
    upstream = openai.build_request(request(stream=True), target(), stream=True)
    body = orjson.loads(upstream.body)
    assert upstream.stream is True
    assert upstream.headers["Accept"] == "text/event-stream"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_it_drops_stream_options_from_a_non_streamed_call():
    raw = request(stream=True, stream_options={"include_usage": True})
    body = orjson.loads(openai.build_request(raw, target(), stream=False).body)
    assert "stream" not in body and "stream_options" not in body


RESPONSE = {
    "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    "object": "chat.completion",
    "created": 1741569952,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{
        "index": 0,
        "message": {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_12345xyz", "type": "function",
                            "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris, France\"}"}}],
            "refusal": None,
            "annotations": [],
        },
        "logprobs": None,
        "finish_reason": "tool_calls",
    }],
    "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99,
              "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0}},
    "service_tier": "default",
    "system_fingerprint": "fp_06737a9306",
}


def test_it_parses_a_completion_under_the_public_model_name():
    response = openai.parse_response(200, orjson.dumps(RESPONSE), target())
    assert response.id == "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    assert response.model == "gpt-4o-mini"
    assert response.created == 1741569952
    assert response.choices[0].finish_reason == "tool_calls"
    assert response.choices[0].message["tool_calls"][0]["function"]["name"] == "get_weather"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (82, 17)
    assert response.system_fingerprint == "fp_06737a9306"


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 529])
def test_it_marks_overload_and_server_errors_retryable(status):
    body = b'{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}'
    with pytest.raises(UpstreamError) as caught:
        openai.parse_response(status, body, target())
    assert (caught.value.kind, caught.value.status, caught.value.retryable) == ("http", status, True)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_it_marks_other_client_errors_final(status):
    with pytest.raises(UpstreamError) as caught:
        openai.parse_response(status, b'{"error": {"message": "nope"}}', target())
    assert caught.value.retryable is False


def test_it_strips_credentials_from_the_error_body():
    error = {"error": {
        "message": f"Incorrect API key provided: {KEY}. You can find your API key at "
                   "https://platform.openai.com/account/api-keys?token=abc123secret&sig=xyz.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
        "headers": {"authorization": f"Bearer {KEY}"},
    }}
    with pytest.raises(UpstreamError) as caught:
        openai.parse_response(401, orjson.dumps(error), target())
    body = caught.value.body
    assert set(body) == {"message", "type", "code"}
    assert (body["type"], body["code"]) == ("invalid_request_error", "invalid_api_key")
    assert KEY not in body["message"] and "abc123secret" not in body["message"]
    assert body["message"].endswith("at https://platform.openai.com/account/api-keys")
    assert KEY not in caught.value.message


def test_it_redacts_key_like_strings_it_cannot_know():
    other = "sk-ant-api03-AbCdEfGh1234567890IjKlMnOp"
    message = f"key {other} rejected; Authorization: Bearer eyJhbGciOi.payload.sig; api_key=hunter2x"
    with pytest.raises(UpstreamError) as caught:
        openai.parse_response(400, orjson.dumps({"error": {"message": message}}), target(api_key=""))
    cleaned = caught.value.body["message"]
    assert other not in cleaned and "eyJhbGciOi" not in cleaned and "hunter2x" not in cleaned
    assert caught.value.body["type"] == "invalid_request_error"


def test_it_answers_an_html_error_page_with_a_plain_message():
    with pytest.raises(UpstreamError) as caught:
        openai.parse_response(502, b"<html><body>Bad Gateway</body></html>", target())
    assert caught.value.retryable is True
    assert caught.value.body == {"message": "The provider answered HTTP 502.", "type": "upstream_error", "code": None}


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"id": "x", "choices": []}', b'{"object": "chat.completion"}'])
def test_it_reports_a_garbled_success_as_malformed(body):
    with pytest.raises(UpstreamError) as caught:
        openai.parse_response(200, body, target())
    assert (caught.value.kind, caught.value.retryable) == ("malformed", True)


STREAM = [
    '{"id":"chatcmpl-9xY","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18",'
    '"system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"role":"assistant","content":"",'
    '"refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}',
    '{"id":"chatcmpl-9xY","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18",'
    '"system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,'
    '"finish_reason":null}],"usage":null}',
    '{"id":"chatcmpl-9xY","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18",'
    '"system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" there!"},"logprobs":null,'
    '"finish_reason":null}],"usage":null}',
    '{"id":"chatcmpl-9xY","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18",'
    '"system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],'
    '"usage":null}',
    '{"id":"chatcmpl-9xY","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18",'
    '"system_fingerprint":"fp_06737a9306","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,'
    '"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}',
    "[DONE]",
]


def test_it_parses_a_recorded_stream_with_its_usage_chunk():
    parser = openai.StreamParser(target())
    chunks = [c for data in STREAM for c in parser.feed(SSEEvent(data))] + parser.finish()
    assert [c.model for c in chunks] == ["gpt-4o-mini"] * 5
    assert chunks[0].choices[0].delta["role"] == "assistant"
    assert "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices) == "Hello there!"
    assert chunks[3].choices[0].finish_reason == "stop"
    assert chunks[4].choices == () and chunks[4].usage.total_tokens == 12
    assert parser.done is True
    assert (parser.usage.prompt_tokens, parser.usage.completion_tokens) == (9, 3)


def test_it_is_not_done_before_the_done_marker():
    parser = openai.StreamParser(target())
    parser.feed(SSEEvent(STREAM[0]))
    assert parser.done is False and parser.usage is None


def test_it_raises_a_final_stream_error_on_an_error_event():
    parser = openai.StreamParser(target())
    data = '{"error": {"message": "The server had an error while processing your request.", "type": "server_error"}}'
    with pytest.raises(UpstreamError) as caught:
        parser.feed(SSEEvent(data))
    assert (caught.value.kind, caught.value.retryable) == ("stream", False)
    assert caught.value.body["type"] == "server_error"


def test_it_reports_a_garbled_stream_event_as_malformed():
    with pytest.raises(UpstreamError) as caught:
        openai.StreamParser(target()).feed(SSEEvent("{not json"))
    assert caught.value.kind == "malformed"


def test_it_reads_cached_and_reasoning_tokens_from_the_details():
    usage_in = {"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
                "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
    usage = openai.parse_response(200, orjson.dumps({**RESPONSE, "usage": usage_in}), target()).usage
    assert (usage.prompt_tokens, usage.cached_tokens, usage.cache_write_tokens, usage.uncached_tokens) == (2006, 1920, 0, 86)
    assert (usage.completion_tokens, usage.reasoning_tokens) == (300, 192)
    assert usage.to_openai() == {
        "prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920}, "completion_tokens_details": {"reasoning_tokens": 192},
    }


@pytest.mark.parametrize("details, cached, reasoning", [
    ({"prompt_tokens_details": None, "completion_tokens_details": "x"}, 0, 0),
    ({"prompt_tokens_details": {"cached_tokens": -5}}, 0, 0),
    ({"prompt_tokens_details": {"cached_tokens": 10**6}, "completion_tokens_details": {"reasoning_tokens": 10**6}}, 82, 17),
])
def test_odd_details_never_bill_a_part_beyond_its_whole(details, cached, reasoning):
    usage_in = {"prompt_tokens": 82, "completion_tokens": 17, **details}
    usage = openai.parse_response(200, orjson.dumps({**RESPONSE, "usage": usage_in}), target()).usage
    assert (usage.cached_tokens, usage.reasoning_tokens, usage.uncached_tokens) == (cached, reasoning, 82 - cached)


def test_a_count_no_ledger_column_holds_is_malformed():
    body = {**RESPONSE, "usage": {"prompt_tokens": 1, "completion_tokens": 2**31}}
    with pytest.raises(UpstreamError) as caught:
        openai.parse_response(200, orjson.dumps(body), target())
    assert (caught.value.kind, caught.value.retryable) == ("malformed", True)
