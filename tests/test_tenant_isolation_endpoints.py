"""Tenant A learns nothing about tenant B: not from models, usage, errors, headers, cache, metrics or logs."""
import logging

import orjson
import pytest
from asgiref.sync import sync_to_async

from .conftest import chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pair(mock_provider):
    a = make_tenant("alpha", allowed_models=["mock-small"], rpm_limit=50)
    b = make_tenant("bravo-secret-co", rpm_limit=7)
    return a, b


async def test_models_and_usage_show_only_the_callers_tenant(async_client, pair):
    a, b = pair
    for _ in range(3):
        assert (await post_chat(async_client, b, chat_body("mock-large", text="bravo prompt"))).status_code == 200
    assert (await post_chat(async_client, a, chat_body("mock-small"))).status_code == 200
    from usage import ledger

    await sync_to_async(ledger.flush)()
    models = (await async_client.get("/v1/models", headers=a.headers)).json()
    assert [m["id"] for m in models["data"]] == ["mock-small"]
    usage = await async_client.get("/v1/usage", headers=a.headers)
    assert usage.json()["tenant"] == "alpha" and usage.json()["total"]["requests"] == 1
    csv = await async_client.get("/v1/usage", {"format": "csv", "group_by": "key"}, headers=a.headers)
    text = b"".join([part async for part in csv.streaming_content]).decode()
    assert b.raw[:12] not in text and "bravo" not in text


async def test_a_model_of_another_tenant_is_refused_without_details(async_client, pair):
    a, b = pair
    response = await post_chat(async_client, a, chat_body("mock-large"))
    assert response.status_code == 403
    assert "bravo" not in response.content.decode()


async def test_headers_carry_only_the_callers_own_limits(async_client, pair):
    a, b = pair
    await post_chat(async_client, b, chat_body())
    response = await post_chat(async_client, a, chat_body())
    assert response["x-ratelimit-limit-requests"] == "50"
    headers = "\n".join(f"{k}: {v}" for k, v in response.items())
    assert "bravo" not in headers


async def test_the_same_prompt_is_not_served_from_another_tenants_cache(async_client, pair):
    a, b = pair
    body = chat_body("mock-small", text="shared question", temperature=0)
    b_answer = await post_chat(async_client, b, body)
    a_answer = await post_chat(async_client, a, body)
    assert b_answer["x-cache"] == "MISS" and a_answer["x-cache"] == "MISS"


async def test_a_key_of_one_tenant_used_as_another_only_fails(async_client, pair):
    a, b = pair
    forged = {"X-API-Key": a.raw[:12] + b.raw[12:]}  # A's prefix, B's secret
    response = await post_chat(async_client, None, chat_body(), headers=forged)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid API key."


async def test_metrics_need_the_operator_token_not_a_tenant_key(async_client, pair, settings):
    a, b = pair
    settings.METRICS_TOKEN = "operator-only-token"
    await post_chat(async_client, b, chat_body())
    assert (await async_client.get("/metrics", headers=a.headers)).status_code == 401
    assert (await async_client.get("/metrics", headers={"Authorization": f"Bearer {a.raw}"})).status_code == 401


async def test_a_tenants_request_log_names_only_that_tenant(async_client, pair, caplog):
    a, b = pair
    caplog.set_level(logging.INFO, logger="gateway.requests")
    await post_chat(async_client, b, chat_body(text="bravo private prompt"))
    caplog.clear()
    await post_chat(async_client, a, chat_body())
    lines = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "gateway.requests"]
    assert lines and all(line["tenant"] == "alpha" for line in lines)
    assert "bravo" not in caplog.text
