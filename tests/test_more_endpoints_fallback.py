"""/v1/messages and /v1/responses fall back along the route's chain like chat completions, whole and streamed,
and each request leaves one ledger row with the answering provider's tokens."""
import orjson
import pytest
from asgiref.sync import sync_to_async

from usage import budget, ledger
from usage.models import UsageRecord

from .conftest import add_route

pytestmark = pytest.mark.django_db(transaction=True)

BODIES = {
    "/v1/messages": {"model": "chat", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": "chat", "input": "hi"},
}


@pytest.fixture
def chain(upstream):
    """Route "chat": openai first (priority 0, under /a), anthropic second (priority 1)."""
    add_route(upstream, "openai", "chat", name="first", priority=0, prefix="/a", timeout=0.5)
    add_route(upstream, "anthropic", "chat", name="second", priority=1, timeout=0.5)
    return upstream


async def only_row(response) -> UsageRecord:
    await budget.settled()
    await sync_to_async(ledger.flush)()
    rows = await sync_to_async(list)(UsageRecord.objects.filter(request_id=response["x-request-id"]))
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize("path", BODIES)
@pytest.mark.parametrize("stream", [False, True])
async def test_the_second_route_answers_when_the_first_fails(async_client, acme, chain, path, stream):
    chain.set_mode("500", path="/a")
    body = {**BODIES[path], "stream": stream}
    response = await async_client.post(path, data=orjson.dumps(body), content_type="application/json",
                                       headers=acme.headers)
    assert response.status_code == 200
    assert response["x-gateway-provider"] == "second"
    if stream:
        text = b"".join([part async for part in response.streaming_content])
        assert b"Hello" in text and (b"message_stop" in text or b"response.completed" in text)
    else:
        assert b"Hello from fake-anthropic" in response.content
    assert [r.path for r in chain.requests] == ["/a/v1/chat/completions", "/v1/messages"]
    row = await only_row(response)
    assert (row.status, row.provider, row.streamed) == (200, "second", stream)
    assert (row.prompt_tokens, row.completion_tokens) == (12, 7) and row.cost_usd > 0
