"""A provider stream cut in the middle: an OpenAI-style error event, the stream closed, the tokens so far billed."""
import time

import httpx
import orjson
import pytest

from usage.models import UsageRecord

from .conftest import add_route, chat_body, make_tenant
from .live import GatewayServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), GatewayServer(env={"BREAKER_THRESHOLD": "1000"}) as server:
        yield server


@pytest.mark.parametrize("mode", ["cut", "error_event"])
def test_a_cut_stream_ends_with_an_error_event_and_bills_what_was_sent(served, upstream, mode):
    add_route(upstream, "openai", "chat")
    tenant = make_tenant("acme")
    upstream.set_mode(mode)
    with httpx.Client(base_url=served.url, headers=tenant.headers, timeout=10) as client:
        response = client.post("/v1/chat/completions", json=chat_body("chat", stream=True))
    assert response.status_code == 200  # headers were sent before the cut
    events = [orjson.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]
    assert events[0]["choices"][0]["delta"].get("content") is not None or len(events) > 1
    error = events[-1]["error"]
    assert set(error) >= {"message", "type", "code"}
    deadline = time.monotonic() + 5
    while not UsageRecord.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    record = UsageRecord.objects.get()
    assert served.records(response.headers["x-request-id"]) == 1  # recorded once, not merely one row left
    assert record.streamed and record.error_type
    assert record.prompt_tokens > 0 and record.completion_tokens > 0
