"""The built-in mock provider: deterministic answers with real token counts, no network."""
from __future__ import annotations

import orjson

from providers import adapters, tokens
from providers.adapters import mock, openai
from providers.types import ChatRequest, Message, SSEEvent, Target

QUESTION = "Explain in one paragraph why the sky is blue and sunsets are red, for a curious ten-year-old."


def target() -> Target:
    return Target(provider="mock", kind="mock", base_url="", api_key="", timeout=10.0,
                  upstream_model="mock-small", public_model="mock-small")


def body(**fields) -> bytes:
    data = {"model": "mock-small", "messages": [{"role": "system", "content": "Be kind."},
                                                {"role": "user", "content": QUESTION}], **fields}
    return orjson.dumps(data)


def messages() -> tuple[Message, ...]:
    return (Message("system", "Be kind."), Message("user", QUESTION))


def test_it_is_the_adapter_for_the_mock_kind_and_reuses_openai_parsing():
    assert adapters.get("mock") is mock
    assert mock.parse_response is openai.parse_response
    assert mock.StreamParser is openai.StreamParser


def test_it_builds_an_openai_request_to_the_pseudo_url():
    raw = orjson.loads(body(stream=True))
    req = ChatRequest(model="mock-small", messages=messages(), stream=True, raw=raw)
    upstream = mock.build_request(req, target(), stream=True)
    assert upstream.url == "mock://local/chat/completions"
    assert "Authorization" not in upstream.headers
    sent = orjson.loads(upstream.body)
    assert sent["model"] == "mock-small" and sent["stream_options"] == {"include_usage": True}


def test_it_answers_the_same_request_with_the_same_completion():
    first, second = mock.simulate(body()), mock.simulate(body())
    a, b = orjson.loads(first[1]), orjson.loads(second[1])
    assert first[0] == 200
    assert (a["id"], a["choices"], a["usage"]) == (b["id"], b["choices"], b["usage"])


def test_it_derives_the_text_from_the_last_user_message():
    data = orjson.loads(mock.simulate(body())[1])
    content = data["choices"][0]["message"]["content"]
    assert content.startswith(f"Mock response to: {QUESTION[:60]}")
    assert data["choices"][0]["finish_reason"] == "stop"
    assert 20 <= data["usage"]["completion_tokens"] <= 60


def test_it_counts_tokens_with_the_real_tokenizer():
    data = orjson.loads(mock.simulate(body())[1])
    content = data["choices"][0]["message"]["content"]
    assert data["usage"] == {
        "prompt_tokens": tokens.count_messages(messages()),
        "completion_tokens": tokens.count_text(content),
        "total_tokens": tokens.count_messages(messages()) + tokens.count_text(content),
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def test_it_stops_at_max_tokens_with_finish_reason_length():
    data = orjson.loads(mock.simulate(body(max_tokens=8))[1])
    content = data["choices"][0]["message"]["content"]
    assert data["choices"][0]["finish_reason"] == "length"
    assert 0 < data["usage"]["completion_tokens"] == tokens.count_text(content) <= 8
    full = orjson.loads(mock.simulate(body())[1])["choices"][0]["message"]["content"]
    assert full.startswith(content)


def test_it_parses_as_an_openai_completion():
    status, raw = mock.simulate(body())
    response = mock.parse_response(status, raw, target())
    assert response.model == "mock-small"
    assert response.usage.prompt_tokens == tokens.count_messages(messages())


def stream_chunks(events: list[bytes]):
    parser = mock.StreamParser(target())
    chunks = [c for e in events for c in parser.feed(SSEEvent(e.decode()))]
    return parser, chunks


def test_it_streams_the_same_answer_in_small_pieces():
    events = mock.simulate_stream(body(stream=True))
    assert events[-1] == b"[DONE]"
    parser, chunks = stream_chunks(events)
    assert chunks[0].choices[0].delta["role"] == "assistant"
    pieces = [c.choices[0].delta["content"] for c in chunks[1:] if c.choices and c.choices[0].delta.get("content")]
    assert len(pieces) >= 10 and all(1 <= len(p.split()) <= 2 for p in pieces)
    complete = orjson.loads(mock.simulate(body())[1])["choices"][0]["message"]["content"]
    assert "".join(pieces) == complete
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert parser.done is True


def test_it_streams_usage_only_when_asked():
    assert all(b'"usage"' not in e for e in mock.simulate_stream(body(stream=True)))
    events = mock.simulate_stream(body(stream=True, stream_options={"include_usage": True}))
    parser, chunks = stream_chunks(events)
    assert chunks[-1].choices == ()
    assert parser.usage == chunks[-1].usage
    assert parser.usage.prompt_tokens == tokens.count_messages(messages())


def test_it_streams_up_to_max_tokens():
    events = mock.simulate_stream(body(stream=True, max_tokens=5, stream_options={"include_usage": True}))
    parser, chunks = stream_chunks(events)
    text = "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert parser.usage.completion_tokens == tokens.count_text(text) <= 5
