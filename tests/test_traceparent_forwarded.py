"""The caller's W3C traceparent reaches the provider."""
import pytest

from .conftest import add_route, chat_body, post_chat

pytestmark = pytest.mark.django_db(transaction=True)

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_the_provider_sees_the_callers_traceparent(async_client, acme, upstream):
    from asgiref.sync import sync_to_async

    await sync_to_async(add_route)(upstream, "anthropic", "chat")
    response = await post_chat(async_client, acme, chat_body("chat"), headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200
    assert upstream.last.headers["traceparent"].split("-")[1] == TRACEPARENT.split("-")[1]
