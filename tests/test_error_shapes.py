"""Every error is ../shared/INTERFACE.md JSON: right status, type and code, never HTML."""
import pytest
from django.test import override_settings

from .conftest import chat_body, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


def assert_error(response, status: int, type_: str, code: str | None = None):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["type"] == type_
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


async def test_it_names_malformed_json(async_client, acme, mock_provider):
    assert_error(await post_chat(async_client, acme, b"{not json"), 400, "invalid_request_error")


async def test_it_rejects_a_non_object_body(async_client, acme, mock_provider):
    assert_error(await post_chat(async_client, acme, b"[1, 2]"), 400, "invalid_request_error")


async def test_it_names_a_missing_model(async_client, acme, mock_provider):
    error = assert_error(await post_chat(async_client, acme, {"messages": [{"role": "user", "content": "x"}]}), 400,
                         "invalid_request_error")
    assert "model" in error["message"]


async def test_it_names_missing_messages(async_client, acme, mock_provider):
    error = assert_error(await post_chat(async_client, acme, {"model": "mock-small"}), 400, "invalid_request_error")
    assert "messages" in error["message"]


@pytest.mark.parametrize(
    "field,value",
    [("temperature", "hot"), ("max_tokens", 1.5), ("stream", "yes"), ("n", 0), ("stop", 3), ("top_p", 7), ("tools", {})],
)
async def test_it_names_a_field_of_the_wrong_type(async_client, acme, mock_provider, field, value):
    error = assert_error(await post_chat(async_client, acme, chat_body(**{field: value})), 400, "invalid_request_error")
    assert field in error["message"]
    assert error["param"] == field


async def test_it_names_a_bad_message(async_client, acme, mock_provider):
    body = {"model": "mock-small", "messages": [{"role": "robot", "content": "x"}]}
    error = assert_error(await post_chat(async_client, acme, body), 400, "invalid_request_error")
    assert "messages[0].role" in error["message"]


async def test_it_refuses_an_oversized_body_with_413(async_client, acme, mock_provider):
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        response = await post_chat(async_client, acme, chat_body(text="x" * 5000))
    assert_error(response, 413, "invalid_request_error")


async def test_it_answers_wrong_method_with_405(async_client, acme):
    response = await async_client.get("/v1/chat/completions", headers={"X-API-Key": acme.raw})
    assert_error(response, 405, "invalid_request_error")


async def test_it_answers_unknown_urls_with_json_404(async_client, db):
    assert_error(await async_client.get("/v1/nope"), 404, "not_found_error")


async def test_it_answers_an_unknown_model_with_404(async_client, acme, mock_provider):
    assert_error(await post_chat(async_client, acme, chat_body(model="gpt-99")), 404, "not_found_error", "model_not_found")


async def test_it_answers_a_forbidden_model_with_403(async_client, mock_provider):
    from asgiref.sync import sync_to_async

    from .conftest import make_tenant

    narrow = await sync_to_async(make_tenant)("narrow", allowed_models=["mock-large"])
    assert_error(await post_chat(async_client, narrow, chat_body()), 403, "permission_error", "model_not_allowed")


async def test_errors_carry_a_request_id(async_client, acme, mock_provider):
    response = await post_chat(async_client, acme, chat_body(model="gpt-99"))
    assert response["x-request-id"].startswith("req_")
