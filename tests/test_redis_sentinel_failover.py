"""Sentinel fails the primary over mid-traffic: requests keep being answered, limits and cache resume on the new primary."""
import asyncio
import threading

import httpx
import pytest

from infra import redisconfig
from tenants import ratelimit

from .conftest import chat_body, make_tenant
from .live import GatewayServer
from .redisnodes import MASTER, PASSWORD, SENTINEL_PASSWORD, master_port, running, sentinel_group, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sentinels():
    with running(lambda top: sentinel_group(top, sentinels=3), "redis-server", "redis-sentinel") as nodes:
        yield nodes


def gateway_env(nodes) -> dict[str, str]:
    return {
        "REDIS_SENTINELS": ",".join(f"127.0.0.1:{node.port}" for node in nodes),
        "REDIS_SENTINEL_MASTER": MASTER,
        "REDIS_SENTINEL_PASSWORD": SENTINEL_PASSWORD,
        "REDIS_URL": f"redis://:{PASSWORD}@{MASTER}/0",
        "REDIS_RETRY_SECONDS": "0.2",
        "CACHE_TTL": "300",
    }


class Traffic(threading.Thread):
    """Requests one after another until stopped; every status is kept."""

    def __init__(self, url: str, headers: dict):
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.statuses: list[int] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=10) as client:
            i = 0
            while not self.stopping.is_set():
                i += 1
                self.statuses.append(client.post("/v1/chat/completions", json=chat_body(text=f"traffic {i}")).status_code)


def test_failover_mid_traffic_keeps_answering_and_shared_state_resumes_on_the_new_primary(mock_provider, sentinels):
    primary, replica, nodes = sentinels
    tenant = make_tenant("acme", rpm_limit=100_000)
    rpm = ratelimit.PREFIX + ratelimit.limit_key(tenant.tenant.pk) + ":rpm"
    cached = chat_body(temperature=0, text="cache me")
    with GatewayServer(env=gateway_env(nodes)) as server, \
            httpx.Client(base_url=server.url, headers=tenant.headers, timeout=10) as client:
        assert client.post("/v1/chat/completions", json=cached).headers["x-cache"] == "MISS"
        assert client.post("/v1/chat/completions", json=cached).headers["x-cache"] == "HIT"
        assert primary.client().zcard(rpm) == 2
        health = client.get("/health").json()["redis"]
        assert (health["mode"], health["status"]) == ("sentinel", "ok")

        traffic = Traffic(server.url, tenant.headers)
        traffic.start()
        wait_for("traffic counted on the primary", lambda: primary.client().zcard(rpm) > 5)
        primary.kill()
        wait_for("Sentinel to promote the replica", lambda: all(master_port(n) == replica.port for n in nodes), timeout=60)
        # Limits resume on the new primary by themselves: the traffic is counted there again.
        counted = replica.client().zcard(rpm)
        wait_for("the traffic counted on the new primary", lambda: replica.client().zcard(rpm) > counted + 5, timeout=30)
        traffic.stopping.set()
        traffic.join(30)

        # The cache too: the new primary holds what it stores (the replica had the old entry already).
        fresh = chat_body(temperature=0, text="after the failover")
        assert client.post("/v1/chat/completions", json=fresh).headers["x-cache"] == "MISS"
        assert client.post("/v1/chat/completions", json=fresh).headers["x-cache"] == "HIT"
        health = client.get("/health").json()["redis"]
        assert (health["mode"], health["status"]) == ("sentinel", "ok")

    assert traffic.statuses and set(traffic.statuses) == {200}, traffic.statuses
    assert len(traffic.statuses) > 10
    # The live feed's channel layer, as settings build it, reaches a group on the new primary.
    assert asyncio.run(group_message_arrives(gateway_env(nodes), replica)) == {"type": "ledger.batch", "n": 1}


async def group_message_arrives(env: dict[str, str], new_primary) -> dict:
    """What one replica's layer sends to a group, another replica's layer receives."""
    from channels_redis.core import RedisChannelLayer

    redis = redisconfig.topology(env["REDIS_URL"], env["REDIS_SENTINELS"], env["REDIS_SENTINEL_MASTER"],
                                 env["REDIS_SENTINEL_PASSWORD"])
    config = redisconfig.channel_layer(redis)["CONFIG"]
    sender, receiver = RedisChannelLayer(**config), RedisChannelLayer(**config)
    channel = await receiver.new_channel()
    await receiver.group_add("admin-live", channel)
    assert new_primary.client().keys("asgi:group:*")  # the group lives on the new primary
    await sender.group_send("admin-live", {"type": "ledger.batch", "n": 1})
    message = await asyncio.wait_for(receiver.receive(channel), 10)
    await sender.close_pools()
    await receiver.close_pools()
    return message
