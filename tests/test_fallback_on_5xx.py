"""A failing provider hands the request to the next route; a caller's 4xx does not."""
import pytest
from asgiref.sync import sync_to_async

from .conftest import add_route, chat_body, post_chat
from .fakes.upstream import closed_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chain(upstream):
    """Route "chat": openai first (priority 0, under /a), anthropic second (priority 1)."""
    add_route(upstream, "openai", "chat", name="first", priority=0, prefix="/a", timeout=0.5)
    add_route(upstream, "anthropic", "chat", name="second", priority=1, timeout=0.5)
    return upstream


@pytest.mark.parametrize("mode", ["500", "429", "garbage", "hang"])
async def test_it_falls_back_when_the_first_provider_fails(async_client, acme, chain, mode):
    chain.set_mode(mode, path="/a")
    response = await post_chat(async_client, acme, chat_body("chat"))
    assert response.status_code == 200, response.content
    assert response["x-gateway-provider"] == "second"
    assert [r.path for r in chain.requests] == ["/a/v1/chat/completions", "/v1/messages"]


async def test_it_falls_back_when_the_first_provider_refuses_connections(async_client, acme, upstream):
    await sync_to_async(add_route)(upstream, "openai", "chat", name="gone", base_url=f"http://127.0.0.1:{closed_port()}/v1")
    await sync_to_async(add_route)(upstream, "openai", "chat", name="alive", priority=1)
    response = await post_chat(async_client, acme, chat_body("chat"))
    assert response.status_code == 200
    assert response["x-gateway-provider"] == "alive"


async def test_it_answers_502_when_every_provider_fails(async_client, acme, chain):
    chain.set_mode("500")
    response = await post_chat(async_client, acme, chat_body("chat"))
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "upstream_error"
    assert chain.calls == 2


async def test_it_answers_504_when_every_provider_times_out(async_client, acme, chain):
    chain.set_mode("hang")
    response = await post_chat(async_client, acme, chat_body("chat"))
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout_error"


async def test_it_passes_a_callers_4xx_back_without_fallback(async_client, acme, chain):
    chain.set_mode("400", path="/a")
    response = await post_chat(async_client, acme, chat_body("chat"))
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert chain.calls == 1


async def test_it_streams_from_the_next_provider_when_the_first_fails_before_any_byte(async_client, acme, chain):
    chain.set_mode("500", path="/a")
    response = await post_chat(async_client, acme, chat_body("chat", stream=True))
    body = b"".join([part async for part in response.streaming_content])
    assert response["x-gateway-provider"] == "second"
    assert body.endswith(b"data: [DONE]\n\n")
