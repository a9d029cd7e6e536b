"""A provider stream that fails midway ends each endpoint's stream with its own error events, and is recorded."""
import orjson
import pytest
from asgiref.sync import sync_to_async

from usage import budget, ledger
from usage.models import UsageRecord

from .conftest import add_route

pytestmark = pytest.mark.django_db(transaction=True)

BODIES = {
    "/v1/messages": {"model": "chat", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": "chat", "input": "hi", "stream": True},
}


def events(raw: bytes) -> list[tuple[str, dict]]:
    out = []
    for frame in raw.split(b"\n\n"):
        if frame:
            name, data = frame.split(b"\n", 1)
            out.append((name.removeprefix(b"event: ").decode(), orjson.loads(data.removeprefix(b"data: "))))
    return out


@pytest.mark.parametrize("path", BODIES)
async def test_a_stream_cut_by_the_provider_ends_in_the_endpoints_error_events(async_client, acme, upstream, path):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    upstream.set_mode("error_event")
    response = await async_client.post(path, data=orjson.dumps(BODIES[path]), content_type="application/json",
                                       headers=acme.headers)
    sent = events(b"".join([part async for part in response.streaming_content]))
    if path == "/v1/messages":
        assert sent[0][0] == "message_start"
        assert sent[-1] == ("error", {"type": "error", "error": {"type": "api_error", "message": sent[-1][1]["error"]["message"]}})
    else:
        assert [name for name, _ in sent[:2]] == ["response.created", "response.in_progress"]
        (error, failed) = sent[-2:]
        assert error[0] == "error" and error[1]["code"] == "stream_interrupted"
        assert failed[0] == "response.failed" and failed[1]["response"]["status"] == "failed"
        assert failed[1]["response"]["id"] == sent[0][1]["response"]["id"]
        assert [data["sequence_number"] for _, data in sent] == list(range(len(sent)))
    await budget.settled()
    await sync_to_async(ledger.flush)()
    row = await UsageRecord.objects.aget(request_id=response["x-request-id"])
    assert row.streamed and row.error_type == "upstream_stream"
