"""Chat completions have one path, the raw ASGI one, whatever the settings: tracing and SSL redirects included."""
import pytest
from django.urls import Resolver404, resolve

from .conftest import chat_body, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_django_view_serves_chat_completions():
    with pytest.raises(Resolver404):
        resolve("/v1/chat/completions")


async def test_with_tracing_on_the_answer_comes_from_the_same_path(api, acme, mock_provider, spans):
    response = await post_chat(api, acme, chat_body())
    assert response.status_code == 200
    [server] = [s for s in spans.get_finished_spans() if s.name == "POST /v1/chat/completions"]
    assert server.attributes["gateway.request_id"] == response["x-request-id"]


async def test_plain_http_is_redirected_when_ssl_is_required(api, acme, mock_provider, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = await post_chat(api, acme, chat_body())
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/v1/chat/completions"
    secure = await post_chat(api, acme, chat_body(), headers={"X-Forwarded-Proto": "https"})
    assert secure.status_code in (200, 301)  # 200 where SECURE_PROXY_SSL_HEADER trusts the proxy


async def test_a_wrong_method_is_a_json_405(api, acme):
    response = await api.get("/v1/chat/completions", headers=acme.headers)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"
