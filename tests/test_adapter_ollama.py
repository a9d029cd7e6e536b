"""The Ollama adapter: its OpenAI-compatible endpoint, no secret."""
from __future__ import annotations

import orjson
import pytest

from providers import adapters
from providers.adapters import ollama
from providers.types import ChatRequest, Message, SSEEvent, Target, UpstreamError


def target(**changes) -> Target:
    fields = dict(provider="ollama-local", kind="ollama", base_url="http://127.0.0.1:11434/v1", api_key="",
                  timeout=120.0, upstream_model="llama3.2:3b", public_model="llama-small")
    return Target(**{**fields, **changes})


def request(**raw_changes) -> ChatRequest:
    raw = {"model": "llama-small", "messages": [{"role": "user", "content": "Why is the sky blue?"}], **raw_changes}
    return ChatRequest(model="llama-small", messages=(Message("user", "Why is the sky blue?"),), raw=raw)


def test_it_is_the_adapter_for_the_ollama_kind():
    assert adapters.get("ollama") is ollama


def test_it_posts_to_the_openai_compatible_endpoint_without_a_secret():
    upstream = ollama.build_request(request(), target(api_key="ignored-secret"), stream=False)
    assert upstream.url == "http://127.0.0.1:11434/v1/chat/completions"
    assert upstream.headers == {"Content-Type": "application/json", "Accept": "application/json"}


def test_it_names_the_upstream_model_and_passes_options_through():
    body = orjson.loads(ollama.build_request(request(seed=7, keep_alive="5m"), target(), stream=True).body)
    assert body["model"] == "llama3.2:3b"
    assert (body["seed"], body["keep_alive"]) == (7, "5m")
    assert body["stream_options"] == {"include_usage": True}


def test_it_parses_an_ollama_completion():
    body = orjson.dumps({
        "id": "chatcmpl-512", "object": "chat.completion", "created": 1741570100, "model": "llama3.2:3b",
        "system_fingerprint": "fp_ollama",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Rayleigh scattering."},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 31, "completion_tokens": 5, "total_tokens": 36},
    })
    response = ollama.parse_response(200, body, target())
    assert (response.id, response.model) == ("chatcmpl-512", "llama-small")
    assert response.choices[0].message["content"] == "Rayleigh scattering."
    assert response.usage.completion_tokens == 5


def test_it_treats_an_unpulled_model_as_final():
    body = b'{"error":{"message":"model \\"llama3.2:3b\\" not found, try pulling it first","type":"api_error","param":null,"code":null}}'
    with pytest.raises(UpstreamError) as caught:
        ollama.parse_response(404, body, target())
    assert caught.value.retryable is False
    assert caught.value.body == {
        "message": 'model "llama3.2:3b" not found, try pulling it first', "type": "api_error", "code": None,
    }


def test_it_parses_an_ollama_stream():
    events = [
        '{"id":"chatcmpl-77","object":"chat.completion.chunk","created":1741570100,"model":"llama3.2:3b",'
        '"system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":"Ray"},'
        '"finish_reason":null}]}',
        '{"id":"chatcmpl-77","object":"chat.completion.chunk","created":1741570100,"model":"llama3.2:3b",'
        '"system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":"leigh."},'
        '"finish_reason":null}]}',
        '{"id":"chatcmpl-77","object":"chat.completion.chunk","created":1741570100,"model":"llama3.2:3b",'
        '"system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":""},'
        '"finish_reason":"stop"}]}',
        '{"id":"chatcmpl-77","object":"chat.completion.chunk","created":1741570100,"model":"llama3.2:3b",'
        '"system_fingerprint":"fp_ollama","choices":[],"usage":{"prompt_tokens":31,"completion_tokens":3,'
        '"total_tokens":34}}',
        "[DONE]",
    ]
    parser = ollama.StreamParser(target())
    chunks = [c for data in events for c in parser.feed(SSEEvent(data))]
    assert "".join(c.choices[0].delta["content"] for c in chunks if c.choices) == "Rayleigh."
    assert chunks[2].choices[0].finish_reason == "stop"
    assert parser.done and parser.usage.total_tokens == 34
    assert {c.model for c in chunks} == {"llama-small"}
