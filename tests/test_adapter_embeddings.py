"""Embeddings in the adapters: each kind's URL, headers and body; OpenAI's answer read back; the mock's deterministic vectors."""
from __future__ import annotations

import base64
import struct

import orjson
import pytest

from completions.embeddings import parse_embedding_request
from providers import adapters
from providers.adapters import common, mock
from providers.types import EmbeddingResponse, Target, UpstreamError, UpstreamRequest

KEY = "sk-test-3f9c1a7be2d84c6f9e0a5b7c8d1e2f30"
BASES = {"openai": "https://api.openai.com/v1", "ollama": "http://ollama:11434/v1",
         "azure": "https://contoso.openai.azure.com", "mock": ""}


def target(kind: str = "openai", **changes) -> Target:
    fields = dict(provider=f"{kind}-1", kind=kind, base_url=BASES[kind], api_key=KEY if kind in ("openai", "azure") else "",
                  timeout=30.0, upstream_model="text-embedding-3-small", public_model="embed", mode="embeddings",
                  options={"api_version": "2024-10-21"} if kind == "azure" else {})
    return Target(**{**fields, **changes})


def request(**fields):
    return parse_embedding_request({"model": "embed", "input": ["a", "b"], **fields})


def build(kind: str, **fields) -> UpstreamRequest:
    return adapters.get(kind).build_embeddings_request(request(**fields), target(kind))


def test_openai_posts_the_clients_fields_with_the_upstream_model():
    sent = build("openai", encoding_format="base64", dimensions=256, user="u1", extra_field=True)
    assert (sent.method, sent.url, sent.stream) == ("POST", "https://api.openai.com/v1/embeddings", False)
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert orjson.loads(sent.body) == {"input": ["a", "b"], "encoding_format": "base64", "dimensions": 256, "user": "u1",
                                       "extra_field": True, "model": "text-embedding-3-small"}


def test_azure_posts_to_the_deployment_with_the_api_version_and_no_model():
    sent = build("azure", dimensions=64)
    assert sent.url == ("https://contoso.openai.azure.com/openai/deployments/text-embedding-3-small/embeddings"
                        "?api-version=2024-10-21")
    assert sent.headers["api-key"] == KEY and "Authorization" not in sent.headers
    assert orjson.loads(sent.body) == {"input": ["a", "b"], "dimensions": 64}


def test_ollama_uses_its_openai_compatible_path_without_a_secret():
    sent = build("ollama")
    assert sent.url == "http://ollama:11434/v1/embeddings"
    assert "Authorization" not in sent.headers
    assert orjson.loads(sent.body)["model"] == "text-embedding-3-small"


def test_anthropic_has_no_embeddings():
    assert not hasattr(adapters.get("anthropic"), "build_embeddings_request")


def answer(data: list, usage: dict | None = None) -> bytes:
    body = {"object": "list", "data": data, "model": "text-embedding-3-small"}
    if usage is not None:
        body["usage"] = usage
    return orjson.dumps(body)


@pytest.mark.parametrize("kind", ["openai", "azure", "ollama", "mock"])
def test_an_answer_is_read_in_index_order_under_the_public_name(kind):
    body = answer([{"object": "embedding", "index": 1, "embedding": [0.5]}, {"object": "embedding", "index": 0,
                                                                              "embedding": "AAAAPw=="}],
                  {"prompt_tokens": 9, "total_tokens": 9})
    parsed = adapters.get(kind).parse_embeddings_response(200, body, target(kind))
    assert parsed.model == "embed"
    assert [item["embedding"] for item in parsed.data] == ["AAAAPw==", [0.5]]
    assert (parsed.usage.prompt_tokens, parsed.usage.completion_tokens) == (9, 0)
    assert parsed.to_openai()["usage"] == {"prompt_tokens": 9, "total_tokens": 9}


def test_an_answer_without_usage_has_none():
    parsed = common.embeddings_response(200, answer([{"embedding": [1.0]}]), target())
    assert parsed.usage is None


@pytest.mark.parametrize("body", [b"", b"<html>busy</html>", b"[]", b'{"data": []}', b'{"data": "x"}',
                                  b'{"data": [1]}', b'{"data": [{"index": 0}]}', b'{"data": [{"embedding": 5}]}'])
def test_a_malformed_answer_is_a_retryable_upstream_error(body):
    with pytest.raises(UpstreamError) as failed:
        common.embeddings_response(200, body, target())
    assert failed.value.kind == "malformed" and failed.value.retryable


def test_an_error_status_is_an_http_error_without_the_secret():
    body = orjson.dumps({"error": {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error"}})
    with pytest.raises(UpstreamError) as failed:
        common.embeddings_response(401, body, target())
    assert failed.value.status == 401 and KEY not in failed.value.message


def test_floats_become_openais_base64():
    floats = EmbeddingResponse("embed", ({"object": "embedding", "index": 0, "embedding": [0.5, -1.0]},), None)
    packed = common.as_base64(floats, target())
    assert packed.data[0]["embedding"] == base64.b64encode(struct.pack("<2f", 0.5, -1.0)).decode()
    with pytest.raises(UpstreamError):
        common.as_base64(EmbeddingResponse("embed", ({"index": 0, "embedding": ["x"]},), None), target())


def mock_answer(**fields) -> dict:
    sent = mock.build_embeddings_request(request(**fields), target("mock", upstream_model="mock-embed"))
    status, body = mock.respond(sent)
    assert status == 200, body
    return orjson.loads(body)


def test_the_mock_answers_the_same_unit_vectors_for_the_same_input():
    first, again = mock_answer(), mock_answer()
    assert first["data"] == again["data"]
    a, b = (item["embedding"] for item in first["data"])
    assert a != b and len(a) == mock.DIMENSIONS
    assert sum(v * v for v in a) == pytest.approx(1.0)
    assert first["usage"] == {"prompt_tokens": 2, "total_tokens": 2}


def test_the_mock_honours_dimensions_base64_and_token_arrays():
    floats = mock_answer(dimensions=12, encoding_format="float")["data"][0]["embedding"]
    packed = mock_answer(dimensions=12, encoding_format="base64")["data"][0]["embedding"]
    assert len(floats) == 12
    assert list(struct.unpack("<12f", base64.b64decode(packed))) == pytest.approx(floats, abs=1e-6)
    tokens = mock_answer(input=[[1, 2, 3], [4]])
    assert len(tokens["data"]) == 2 and tokens["usage"]["prompt_tokens"] == 4


def test_the_mock_refuses_more_dimensions_than_its_model_has():
    sent = mock.build_embeddings_request(request(dimensions=5000), target("mock"))
    status, body = mock.respond(sent)
    assert status == 400 and orjson.loads(body)["error"]["param"] == "dimensions"
