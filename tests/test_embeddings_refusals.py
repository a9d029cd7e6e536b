"""Embeddings requests the gateway refuses: a model of the other mode, more than 2,048 inputs, hostile bodies; always JSON, never a 500."""
import openai
import orjson
import pytest
from asgiref.sync import sync_to_async

from providers import services

from .conftest import add_route, chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def acme(db):
    await sync_to_async(services.ensure_mock_provider)()  # mock-small, mock-large (chat), mock-embed (embeddings)
    return await sync_to_async(make_tenant)("acme")


async def test_a_chat_model_sent_to_embeddings_is_refused_naming_its_mode(openai_sdk, acme):
    with pytest.raises(openai.BadRequestError) as refused:
        await openai_sdk(acme).embeddings.create(model="mock-small", input="hi")
    error = refused.value.body
    assert error["type"] == "invalid_request_error" and error["code"] == "model_mode_mismatch"
    assert "mock-small" in error["message"] and "chat" in error["message"]


async def test_an_embeddings_model_sent_to_chat_is_refused_naming_its_mode(openai_sdk, acme):
    with pytest.raises(openai.BadRequestError) as refused:
        await openai_sdk(acme).chat.completions.create(model="mock-embed", messages=[{"role": "user", "content": "hi"}])
    error = refused.value.body
    assert error["type"] == "invalid_request_error" and "embeddings" in error["message"]


async def test_more_than_2048_inputs_are_refused(openai_sdk, acme, upstream):
    await sync_to_async(add_route)(upstream, "openai", "embed", mode="embeddings")
    sdk = openai_sdk(acme)
    with pytest.raises(openai.BadRequestError) as refused:
        await sdk.embeddings.create(model="embed", input=["x"] * 2049)
    assert refused.value.body["param"] == "input" and "2048" in refused.value.body["message"]
    assert upstream.calls == 0
    answered = await sdk.embeddings.create(model="embed", input=["x"] * 2048)
    assert len(answered.data) == 2048


HOSTILE = [
    {"input": "hi"},  # no model
    {"model": "mock-embed"},  # no input
    {"model": "mock-embed", "input": None},
    {"model": "mock-embed", "input": ""},
    {"model": "mock-embed", "input": []},
    {"model": "mock-embed", "input": [[]]},
    {"model": "mock-embed", "input": 42},
    {"model": "mock-embed", "input": {"text": "hi"}},
    {"model": "mock-embed", "input": ["a", 1]},
    {"model": "mock-embed", "input": ["a", ""]},
    {"model": "mock-embed", "input": ["a", None]},
    {"model": "mock-embed", "input": ["a", [1, 2]]},
    {"model": "mock-embed", "input": [1, "a"]},
    {"model": "mock-embed", "input": [1, -1]},
    {"model": "mock-embed", "input": [1, 2**40]},
    {"model": "mock-embed", "input": [1, 2.5]},
    {"model": "mock-embed", "input": [True, False]},
    {"model": "mock-embed", "input": [[1], [2, "x"]]},
    {"model": "mock-embed", "input": [[1], [[2]]]},
    {"model": "mock-embed", "input": [{"a": 1}] * 3},
    {"model": "mock-embed", "input": ["a"] * 100_000},
    {"model": "mock-embed", "input": [[1]] * 100_000},
    {"model": "mock-embed", "input": "hi", "encoding_format": "int8"},
    {"model": "mock-embed", "input": "hi", "encoding_format": 1},
    {"model": "mock-embed", "input": "hi", "dimensions": "16"},
    {"model": "mock-embed", "input": "hi", "dimensions": 0},
    {"model": "mock-embed", "input": "hi", "dimensions": True},
    {"model": "mock-embed", "input": "hi", "dimensions": 1.5},
    {"model": "mock-embed", "input": "hi", "user": 7},
    {"model": 7, "input": "hi"},
    {"model": "", "input": "hi"},
    {"model": ["mock-embed"], "input": "hi"},
]


@pytest.mark.parametrize("body", HOSTILE, ids=lambda b: orjson.dumps(b)[:60].decode())
async def test_hostile_bodies_get_a_json_400(api, acme, body):
    response = await api.post("/v1/embeddings", data=orjson.dumps(body), content_type="application/json",
                              headers=acme.headers)
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]


@pytest.mark.parametrize("data", [b"", b"not json", b"[]", b'"text"', b"{", b"\xff\xfe", b'{"model": "mock-embed", "input": '])
async def test_unreadable_bodies_get_a_json_400(api, acme, data):
    response = await api.post("/v1/embeddings", data=data, content_type="application/json", headers=acme.headers)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


async def test_a_provider_limit_is_the_providers_answer_not_a_500(api, acme):
    body = {"model": "mock-embed", "input": "hi", "dimensions": 60000}  # over the mock model's 3072
    response = await api.post("/v1/embeddings", data=orjson.dumps(body), content_type="application/json",
                              headers=acme.headers)
    assert response.status_code == 400
    assert "dimensions" in response.json()["error"]["message"]


async def test_a_get_is_a_json_405(api, acme):
    response = await api.get("/v1/embeddings", headers=acme.headers)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


async def test_a_missing_key_is_a_json_401(api, acme):
    response = await api.post("/v1/embeddings", data=b'{"model": "mock-embed", "input": "hi"}',
                              content_type="application/json")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


async def test_chat_still_answers_beside_it(api, acme):
    assert (await post_chat(api, acme, chat_body("mock-small"))).status_code == 200
