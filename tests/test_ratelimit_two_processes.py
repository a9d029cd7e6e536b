"""Two gateway processes on one Redis share one RPM limit exactly."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import chat_body, make_tenant, requires_redis
from tests.live import GatewayServer

pytestmark = [pytest.mark.django_db(transaction=True), requires_redis]


def warm_up(http: httpx.Client, servers: tuple[GatewayServer, ...]) -> None:
    """One unlimited request per process first: loads the tokenizer and opens pools, as in steady state."""
    other = make_tenant("warm")
    for server in servers:
        response = http.post(server.url + "/v1/chat/completions", json=chat_body(), headers={"X-API-Key": other.raw})
        assert response.status_code == 200


def test_two_gateways_share_one_rpm_limit_exactly(mock_provider):
    tenant = make_tenant("acme", rpm_limit=10)
    with GatewayServer() as first, GatewayServer() as second, httpx.Client(timeout=10) as http:
        warm_up(http, (first, second))
        urls = [(first if i % 2 else second).url + "/v1/chat/completions" for i in range(30)]

        def send(url: str) -> int:
            return http.post(url, json=chat_body(), headers={"X-API-Key": tenant.raw}).status_code

        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = list(pool.map(send, urls))
    assert statuses.count(200) == 10
    assert statuses.count(429) == 20
