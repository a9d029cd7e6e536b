"""Redis stopped mid-test: requests still succeed (limits in process, logged once); Redis back: shared again."""
from __future__ import annotations

import logging
import shutil
import subprocess
import time

import pytest
import redis
from asgiref.sync import sync_to_async

from infra import metrics
from tenants import ratelimit
from tests.live import free_port

from .conftest import chat_body, make_tenant, post_chat

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server installed"),
]


class RedisServer:
    """A throwaway redis-server on its own port, never the shared one."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_timeout=0.2)
        for _ in range(50):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("throwaway redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def count(self, key: str) -> int:
        return redis.Redis.from_url(self.url).zcard(ratelimit.PREFIX + key)


@pytest.fixture
def throwaway(settings):
    server = RedisServer()
    server.start()
    settings.REDIS_URL = server.url
    settings.GATEWAY = {**settings.GATEWAY, "REDIS_RETRY_SECONDS": 0.2, "CACHE_TTL": 0}
    yield server
    server.stop()


async def test_it_keeps_serving_without_redis_and_shares_limits_again_when_it_returns(
    async_client, mock_provider, throwaway, caplog
):
    tenant = await sync_to_async(make_tenant)("acme", rpm_limit=100)
    key = f"{{t:{tenant.tenant.pk}}}:rpm"
    for _ in range(2):
        assert (await post_chat(async_client, tenant, chat_body())).status_code == 200
    assert throwaway.count(key) == 2

    throwaway.stop()
    caplog.set_level(logging.WARNING, logger="gateway.redis")
    for _ in range(3):
        started = time.monotonic()
        response = await post_chat(async_client, tenant, chat_body())
        assert response.status_code == 200
        assert response["x-ratelimit-limit-requests"] == "100"
        assert time.monotonic() - started < 2
        time.sleep(0.25)  # past REDIS_RETRY_SECONDS: each request tries Redis again
    assert ratelimit.shared_redis.down
    assert metrics.REDIS_FALLBACK._value.get() == 1
    assert sum("unreachable" in r.getMessage() for r in caplog.records) == 1

    throwaway.start()
    time.sleep(0.25)
    assert (await post_chat(async_client, tenant, chat_body())).status_code == 200
    assert not ratelimit.shared_redis.down
    assert metrics.REDIS_FALLBACK._value.get() == 0
    assert throwaway.count(key) == 1  # counted in Redis again, shared by every replica


async def test_limits_still_hold_in_process_while_redis_is_down(async_client, mock_provider, throwaway):
    tenant = await sync_to_async(make_tenant)("acme", rpm_limit=2)
    throwaway.stop()
    statuses = [(await post_chat(async_client, tenant, chat_body())).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    throwaway.start()
