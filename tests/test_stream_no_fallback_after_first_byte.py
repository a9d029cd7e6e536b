"""Once a stream has sent a byte, a failure ends it with an error event; no other provider is tried."""
import orjson
import pytest

from .conftest import add_route, chat_body, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chain(upstream):
    add_route(upstream, "openai", "chat", name="first", priority=0, prefix="/a")
    add_route(upstream, "openai", "chat", name="second", priority=1, prefix="/b")
    return upstream


async def read_events(response) -> list[bytes]:
    body = b"".join([part async for part in response.streaming_content])
    return [e for e in body.split(b"\n\n") if e]


@pytest.mark.parametrize("mode", ["cut", "error_event"])
async def test_a_broken_stream_ends_with_an_error_event(async_client, acme, chain, mode):
    chain.set_mode(mode, path="/a")
    response = await post_chat(async_client, acme, chat_body("chat", stream=True))
    assert response.status_code == 200
    events = await read_events(response)
    assert events[0].startswith(b"data: {")
    last = orjson.loads(events[-1].removeprefix(b"data: "))
    assert last["error"]["type"] == "upstream_error"
    assert b"data: [DONE]" not in events
    assert [r.path for r in chain.requests] == ["/a/v1/chat/completions"]
    assert response["x-gateway-provider"] == "first"
