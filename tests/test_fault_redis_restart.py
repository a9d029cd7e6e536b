"""Redis stopped under a live gateway, then started: requests keep flowing; limits and cache resume by themselves."""
import shutil
import time

import httpx
import pytest

from .conftest import chat_body, make_tenant
from .live import GatewayServer
from .test_ratelimit_redis_outage import RedisServer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server installed"),
]


@pytest.fixture
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def test_requests_flow_without_redis_and_limits_and_cache_come_back(mock_provider, redis_server):
    tenant = make_tenant("acme", rpm_limit=1000)
    rpm_key = f"{{t:{tenant.tenant.pk}}}:rpm"
    cached = chat_body(temperature=0)
    env = {"REDIS_URL": redis_server.url, "REDIS_RETRY_SECONDS": "0.2", "CACHE_TTL": "300"}
    with GatewayServer(env=env) as server, httpx.Client(base_url=server.url, headers=tenant.headers, timeout=10) as client:
        assert client.post("/v1/chat/completions", json=cached).headers["x-cache"] == "MISS"
        assert client.post("/v1/chat/completions", json=cached).headers["x-cache"] == "HIT"
        assert redis_server.count(rpm_key) == 2

        redis_server.stop()
        for i in range(5):
            started = time.monotonic()
            response = client.post("/v1/chat/completions", json=chat_body(text=f"down {i}"))
            assert response.status_code == 200, response.text
            assert time.monotonic() - started < 2
        assert client.get("/health").json()["cache"]["status"] == "down"

        redis_server.start()  # empty: nothing survived
        time.sleep(0.5)  # past REDIS_RETRY_SECONDS
        statuses = [client.post("/v1/chat/completions", json=cached) for _ in range(2)]
        assert [r.status_code for r in statuses] == [200, 200]
        assert [r.headers["x-cache"] for r in statuses] == ["MISS", "HIT"]
        assert redis_server.count(rpm_key) == 2  # counted in Redis again
        assert client.get("/health").json()["cache"]["status"] == "ok"
