"""The built-in mock provider answers /v1/messages and /v1/responses, whole and streamed (what `make run` demos)."""
import orjson
import pytest

pytestmark = pytest.mark.django_db(transaction=True)

BODIES = {
    "/v1/messages": {"model": "mock-small", "max_tokens": 30, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": "mock-small", "input": "hi", "max_output_tokens": 30},
}


@pytest.mark.parametrize("path", BODIES)
async def test_the_mock_answers_each_endpoint(async_client, acme, mock_provider, path):
    whole = await async_client.post(path, data=orjson.dumps(BODIES[path]), content_type="application/json",
                                    headers=acme.headers)
    assert whole.status_code == 200 and whole["x-gateway-provider"] == "mock"
    data = whole.json()
    if path == "/v1/messages":
        assert data["content"][0]["text"] and data["usage"]["output_tokens"] > 0
    else:
        assert data["output"][0]["content"][0]["text"] and data["usage"]["output_tokens"] > 0
    streamed = await async_client.post(path, data=orjson.dumps({**BODIES[path], "stream": True}),
                                       content_type="application/json", headers=acme.headers)
    events = b"".join([part async for part in streamed.streaming_content]).split(b"\n\n")
    names = [e.split(b"\n")[0].removeprefix(b"event: ").decode() for e in events if e]
    if path == "/v1/messages":
        assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    else:
        assert names[:2] == ["response.created", "response.in_progress"] and names[-1] == "response.completed"
