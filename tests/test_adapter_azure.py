"""The Azure OpenAI adapter: deployment URL, api-key header, Azure's error and stream quirks."""
from __future__ import annotations

import orjson
import pytest

from providers import adapters
from providers.adapters import azure
from providers.types import ChatRequest, Message, SSEEvent, Target, UpstreamError

KEY = "3f9c1a7be2d84c6f9e0a5b7c8d1e2f30"


def target(**changes) -> Target:
    fields = dict(provider="azure-eu", kind="azure", base_url="https://contoso.openai.azure.com", api_key=KEY,
                  timeout=30.0, upstream_model="gpt4o-prod", public_model="gpt-4o",
                  options={"api_version": "2024-10-21"})
    return Target(**{**fields, **changes})


def request(**raw_changes) -> ChatRequest:
    raw = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], **raw_changes}
    return ChatRequest(model="gpt-4o", messages=(Message("user", "Hi"),), raw=raw)


def test_it_is_the_adapter_for_the_azure_kind():
    assert adapters.get("azure") is azure


def test_it_posts_to_the_deployment_with_the_api_version():
    upstream = azure.build_request(request(), target(), stream=False)
    assert upstream.url == (
        "https://contoso.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    )


def test_it_authenticates_with_the_api_key_header_only():
    headers = azure.build_request(request(), target(), stream=False).headers
    assert headers["api-key"] == KEY
    assert "Authorization" not in headers


def test_it_falls_back_to_a_ga_api_version():
    upstream = azure.build_request(request(), target(options={}), stream=False)
    assert upstream.url.endswith(f"?api-version={azure.DEFAULT_API_VERSION}")


def test_it_sends_the_body_without_a_model_and_asks_for_usage_when_streaming():
    body = orjson.loads(azure.build_request(request(user="u-1"), target(), stream=True).body)
    assert "model" not in body
    assert body["user"] == "u-1"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


RESPONSE = {
    "choices": [{
        "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}},
        "finish_reason": "stop",
        "index": 0,
        "logprobs": None,
        "message": {"content": "Hello! How can I help?", "refusal": None, "role": "assistant"},
    }],
    "created": 1741570000,
    "id": "chatcmpl-AzUre123",
    "model": "gpt-4o-2024-08-06",
    "object": "chat.completion",
    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
    "system_fingerprint": "fp_65792305e4",
    "usage": {"completion_tokens": 7, "prompt_tokens": 8, "total_tokens": 15},
}


def test_it_parses_an_azure_completion():
    response = azure.parse_response(200, orjson.dumps(RESPONSE), target())
    assert (response.id, response.model) == ("chatcmpl-AzUre123", "gpt-4o")
    assert response.choices[0].message["content"] == "Hello! How can I help?"
    assert response.usage.total_tokens == 15


def test_it_treats_a_missing_deployment_as_final_with_azures_code():
    body = b'{"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist."}}'
    with pytest.raises(UpstreamError) as caught:
        azure.parse_response(404, body, target())
    assert caught.value.retryable is False
    assert caught.value.body == {
        "message": "The API deployment for this resource does not exist.",
        "type": "not_found_error",
        "code": "DeploymentNotFound",
    }


def test_it_retries_an_azure_rate_limit():
    body = (b'{"error": {"code": "429", "message": "Requests to the ChatCompletions_Create Operation under Azure '
            b'OpenAI API version 2024-10-21 have exceeded token rate limit. Please retry after 6 seconds."}}')
    with pytest.raises(UpstreamError) as caught:
        azure.parse_response(429, body, target())
    assert caught.value.retryable is True
    assert caught.value.body["type"] == "rate_limit_error"


STREAM = [
    '{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,'
    '"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]}',
    '{"choices":[{"content_filter_results":{},"delta":{"content":"","refusal":null,"role":"assistant"},'
    '"finish_reason":null,"index":0,"logprobs":null}],"created":1741570000,"id":"chatcmpl-AzS","model":"gpt-4o-2024-08-06",'
    '"object":"chat.completion.chunk","system_fingerprint":"fp_65792305e4","usage":null}',
    '{"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}},"delta":{"content":"Hi"},'
    '"finish_reason":null,"index":0,"logprobs":null}],"created":1741570000,"id":"chatcmpl-AzS",'
    '"model":"gpt-4o-2024-08-06","object":"chat.completion.chunk","system_fingerprint":"fp_65792305e4","usage":null}',
    '{"choices":[{"content_filter_results":{},"delta":{},"finish_reason":"stop","index":0,"logprobs":null}],'
    '"created":1741570000,"id":"chatcmpl-AzS","model":"gpt-4o-2024-08-06","object":"chat.completion.chunk",'
    '"system_fingerprint":"fp_65792305e4","usage":null}',
    '{"choices":[],"created":1741570000,"id":"chatcmpl-AzS","model":"gpt-4o-2024-08-06",'
    '"object":"chat.completion.chunk","system_fingerprint":"fp_65792305e4",'
    '"usage":{"completion_tokens":1,"prompt_tokens":8,"total_tokens":9}}',
    "[DONE]",
]


def test_it_skips_the_leading_prompt_filter_chunk_of_a_stream():
    parser = azure.StreamParser(target())
    assert parser.feed(SSEEvent(STREAM[0])) == []
    chunks = [c for data in STREAM[1:] for c in parser.feed(SSEEvent(data))]
    assert chunks[0].choices[0].delta["role"] == "assistant"
    assert chunks[1].choices[0].delta["content"] == "Hi"
    assert chunks[2].choices[0].finish_reason == "stop"
    assert chunks[3].usage.total_tokens == 9 and chunks[3].choices == ()
    assert parser.done and parser.usage.prompt_tokens == 8
