"""Two gateway processes on one Redis share the cache: one upstream call for a burst across both."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from providers.models import ModelRoute, Provider
from tests.conftest import chat_body, make_tenant, requires_redis
from tests.fakes.upstream import FakeUpstream
from tests.live import GatewayServer

pytestmark = [pytest.mark.django_db(transaction=True), requires_redis]


def warm_up(http: httpx.Client, servers: tuple[GatewayServer, ...], raw_key: str) -> None:
    """One uncached request per process first: loads the tokenizer and opens pools, as in steady state."""
    for server in servers:
        response = http.post(server.url + "/v1/chat/completions", json=chat_body(), headers={"X-API-Key": raw_key})
        assert response.status_code == 200


def test_identical_misses_on_two_gateways_make_one_upstream_call(mock_provider):
    tenant = make_tenant("acme", cache_ttl_seconds=60)
    with FakeUpstream() as upstream:
        provider = Provider.objects.create(name="fake", kind="openai", base_url=upstream.base_url("openai"), timeout_seconds=5)
        ModelRoute.objects.create(public_name="gpt-test", provider=provider, upstream_model="gpt-4o-mini")
        upstream.set_mode("slow", delay=0.5)
        with GatewayServer() as first, GatewayServer() as second, httpx.Client(timeout=10) as http:
            warm_up(http, (first, second), tenant.raw)
            urls = [(first if i % 2 else second).url + "/v1/chat/completions" for i in range(10)]

            def send(url: str) -> httpx.Response:
                return http.post(url, json=chat_body("gpt-test", temperature=0), headers={"X-API-Key": tenant.raw})

            with ThreadPoolExecutor(max_workers=10) as pool:
                responses = list(pool.map(send, urls))
            later = send(urls[0])
        assert [r.status_code for r in responses] == [200] * 10
        assert upstream.calls == 1
        assert sorted(r.headers["x-cache"] for r in responses) == ["HIT"] * 9 + ["MISS"]
        assert later.headers["x-cache"] == "HIT"
