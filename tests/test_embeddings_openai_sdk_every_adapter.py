"""The official OpenAI SDK gets embeddings, as floats and as base64, from a gateway process through every kind that has them."""
import base64
import struct

import pytest
from openai import OpenAI
from openai.types import CreateEmbeddingResponse

from providers.models import ModelRoute, Provider

from .conftest import add_route, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

KINDS = ["openai", "azure", "ollama", "mock"]
UPSTREAM_PATHS = {
    "openai": "/v1/embeddings",
    "ollama": "/v1/embeddings",
    "azure": "/openai/deployments/azure-model/embeddings",
}


def floats(text: str) -> list[float]:
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


@pytest.mark.parametrize("kind", KINDS)
def test_sdk_gets_embeddings_through(kind, gateway, upstream):
    if kind == "mock":
        provider = Provider.objects.create(name="mock", kind="mock", timeout_seconds=5)
        ModelRoute.objects.create(public_name="embed", provider=provider, upstream_model="mock-embed", mode="embeddings")
    else:
        add_route(upstream, kind, "embed", mode="embeddings")
    acme = make_tenant("acme")
    client = OpenAI(base_url=f"{gateway.url}/v1", api_key=acme.raw, max_retries=0)
    texts = ["The food was delicious.", "The waiter was friendly."]

    raw = client.embeddings.with_raw_response.create(model="embed", input=texts, encoding_format="float")
    reply = raw.parse()
    assert CreateEmbeddingResponse.model_validate(reply.model_dump())
    assert reply.object == "list" and reply.model == "embed"
    assert [item.index for item in reply.data] == [0, 1]
    assert all(len(item.embedding) > 0 and isinstance(item.embedding[0], float) for item in reply.data)
    assert reply.data[0].embedding != reply.data[1].embedding
    assert reply.usage.prompt_tokens == reply.usage.total_tokens > 0
    assert raw.headers["x-gateway-provider"] == ("mock" if kind == "mock" else f"{kind}-0")
    assert raw.headers["x-request-id"].startswith("req_") and raw.headers["x-cache"] == "MISS"

    # The SDK's default asks for base64 and decodes it: the same vectors, to float32 precision.
    decoded = client.embeddings.create(model="embed", input=texts)
    for plain, packed in zip(reply.data, decoded.data):
        assert packed.embedding == pytest.approx(plain.embedding, abs=1e-6)

    asked = client.embeddings.create(model="embed", input="The food was delicious.", encoding_format="base64",
                                     dimensions=16)
    assert isinstance(asked.data[0].embedding, str)
    assert len(floats(asked.data[0].embedding)) == 16

    if kind != "mock":
        sent = upstream.last
        assert sent.path == UPSTREAM_PATHS[kind]
        assert sent.body["input"] == "The food was delicious."
        assert sent.body["encoding_format"] == "base64" and sent.body["dimensions"] == 16
        if kind == "azure":
            assert "model" not in sent.body and sent.query["api-version"] == "2024-10-21"
        else:
            assert sent.body["model"] == f"{kind}-model"
        assert acme.raw not in str(sent.headers)


def test_sdk_sends_token_arrays(gateway, upstream):
    add_route(upstream, "openai", "embed", mode="embeddings")
    client = OpenAI(base_url=f"{gateway.url}/v1", api_key=make_tenant("acme").raw, max_retries=0)

    one = client.embeddings.create(model="embed", input=[1, 2, 3], encoding_format="float")
    assert len(one.data) == 1
    assert upstream.last.body["input"] == [1, 2, 3]

    many = client.embeddings.create(model="embed", input=[[1, 2], [3]], encoding_format="float")
    assert len(many.data) == 2
    assert upstream.last.body["input"] == [[1, 2], [3]]
