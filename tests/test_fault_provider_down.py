"""A real gateway process against a failing provider: fallback, then 502/504 JSON when all fail; usage recorded."""
import time

import httpx
import pytest

from usage.models import UsageRecord

from .conftest import add_route, chat_body, make_tenant
from .fakes.upstream import closed_port
from .live import GatewayServer

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for_rows(n: int, timeout: float = 5.0) -> list[UsageRecord]:
    deadline = time.monotonic() + timeout
    while UsageRecord.objects.count() < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(UsageRecord.objects.order_by("id"))


@pytest.fixture(scope="module")
def served(django_db_setup, django_db_blocker):
    """One gateway process for the module; it reads routes and keys afresh, and no breaker opens."""
    with django_db_blocker.unblock(), GatewayServer(env={"BREAKER_THRESHOLD": "1000"}) as server:
        yield server


@pytest.fixture
def client(served, upstream):
    tenant = make_tenant("acme")
    with httpx.Client(base_url=served.url, headers=tenant.headers, timeout=15) as http:
        yield http


@pytest.mark.parametrize("mode", ["500", "429", "garbage", "refused"])
def test_a_failing_provider_falls_back_and_bills_the_answer(client, upstream, mode):
    if mode == "refused":
        add_route(upstream, "openai", "chat", name="first", base_url=f"http://127.0.0.1:{closed_port()}/v1")
    else:
        add_route(upstream, "openai", "chat", name="first", prefix="/a")
        upstream.set_mode(mode, path="/a")
    add_route(upstream, "anthropic", "chat", name="second", priority=1)
    response = client.post("/v1/chat/completions", json=chat_body("chat"))
    assert response.status_code == 200, response.text
    assert response.headers["x-gateway-provider"] == "second"
    [row] = wait_for_rows(1)
    assert (row.status, row.provider, row.completion_tokens) == (200, "second", upstream.completion_tokens)


def test_every_provider_failing_is_a_502_in_json_and_recorded(client, upstream):
    add_route(upstream, "openai", "chat", name="first", prefix="/a")
    add_route(upstream, "anthropic", "chat", name="second", priority=1)
    upstream.set_mode("500")
    response = client.post("/v1/chat/completions", json=chat_body("chat"))
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["type"] == "upstream_error"
    [row] = wait_for_rows(1)
    assert row.status == 502 and row.error_type


def test_a_hanging_provider_times_out_then_falls_back_and_all_hanging_is_a_504(client, upstream):
    add_route(upstream, "openai", "chat", name="first", prefix="/a", timeout=0.5)
    add_route(upstream, "anthropic", "chat", name="second", priority=1, timeout=0.5)
    upstream.set_mode("hang", path="/a")
    assert client.post("/v1/chat/completions", json=chat_body("chat")).headers["x-gateway-provider"] == "second"
    upstream.set_mode("hang")
    started = time.monotonic()
    response = client.post("/v1/chat/completions", json=chat_body("chat"))
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout_error"
    assert time.monotonic() - started < 3  # two timeouts of 0.5 s, not the client's 15 s
    assert [row.status for row in wait_for_rows(2)] == [200, 504]
