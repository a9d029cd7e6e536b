"""A Redis Cluster made by the test: limits exact across two gateways, cache, budgets and the live feed working;
a master lost mid-traffic is replaced and shared state resumes on its replica."""
import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
import redis

from infra import redisconfig
from usage import budget

from tenants import ratelimit

from .conftest import chat_body, make_tenant
from .live import GatewayServer
from .redisnodes import cluster, running, wait_for
from .test_redis_sentinel_failover import Traffic

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def three_masters():
    with running(cluster, "redis-server", "redis-cli") as nodes:
        yield nodes


def gateway_env(nodes) -> dict[str, str]:
    return {"REDIS_CLUSTER": "1", "REDIS_URL": f"redis://127.0.0.1:{nodes[1].port}/0", "CACHE_TTL": "300"}


def test_limits_are_exact_across_two_gateways_and_cache_and_budget_work(mock_provider, three_masters):
    # Tenant and key limits: the check script touches four keys, in one slot by the tenant's hash tag.
    tenant = make_tenant("acme", rpm_limit=10, monthly_budget_usd=Decimal("100"))
    tenant.key.rpm_limit = 50
    tenant.key.save()
    env = gateway_env(three_masters)
    with GatewayServer(env=env) as first, GatewayServer(env=env) as second, httpx.Client(timeout=10) as http:
        for server in (first, second):  # warm up: tokenizer loaded, pools open, as in steady state
            assert http.post(server.url + "/v1/chat/completions", json=chat_body(),
                             headers=make_tenant(f"warm{server.port}").headers).status_code == 200
        urls = [(first if i % 2 else second).url + "/v1/chat/completions" for i in range(24)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda url: http.post(url, json=chat_body(), headers=tenant.headers).status_code, urls))
        assert statuses.count(200) == 10 and statuses.count(429) == 14, statuses

        other = make_tenant("cached")
        cached = chat_body(temperature=0, text="same answer for every replica")
        answers = [http.post(server.url + "/v1/chat/completions", json=cached, headers=other.headers)
                   for server in (first, second)]
        assert [a.headers["x-cache"] for a in answers] == ["MISS", "HIT"]
        health = http.get(first.url + "/health").json()
        assert health["redis"]["mode"] == "cluster" and health["cache"]["status"] == "ok"

    store = redis.RedisCluster(host="127.0.0.1", port=three_masters[0].port)
    month = datetime.now(UTC).date().replace(day=1)
    counter = store.hgetall(budget._key(tenant.tenant.pk, month))
    assert int(counter[b"u"]) > 0 or int(counter[b"p"]) > 0  # the budget counter lives in the cluster
    # KEYS goes to one random node unless told: the entry's slot is on one of the three.
    assert store.keys("gw:cache:*", target_nodes=redis.RedisCluster.PRIMARIES), "the cache entry lives in the cluster"
    store.close()


def test_the_live_feed_reaches_replicas_through_the_cluster(three_masters):
    asyncio.run(_group_message_arrives(redisconfig.topology(gateway_env(three_masters)["REDIS_URL"], cluster=True)))


async def _group_message_arrives(redis: redisconfig.Topology) -> None:
    from channels_redis.pubsub import RedisPubSubChannelLayer

    config = redisconfig.channel_layer(redis)["CONFIG"]
    sender, receiver = RedisPubSubChannelLayer(**config), RedisPubSubChannelLayer(**config)
    channel = await receiver.new_channel()
    await receiver.group_add("admin-live", channel)
    await sender.group_send("admin-live", {"type": "ledger.batch", "n": 1})
    assert await asyncio.wait_for(receiver.receive(channel), 10) == {"type": "ledger.batch", "n": 1}
    await sender.flush()
    await receiver.flush()


@pytest.fixture
def masters_with_replicas():
    with running(lambda top: cluster(top, masters=3, replicas=1), "redis-server", "redis-cli") as nodes:
        yield nodes


def test_a_master_lost_mid_traffic_is_replaced_and_limits_and_cache_resume(mock_provider, masters_with_replicas):
    nodes = masters_with_replicas
    tenant = make_tenant("acme", rpm_limit=100_000)
    rpm = ratelimit.PREFIX + ratelimit.limit_key(tenant.tenant.pk) + ":rpm"
    before = redis.RedisCluster(host="127.0.0.1", port=nodes[0].port)
    owner = before.get_node_from_key(rpm)
    victim = next(node for node in nodes if node.port == owner.port)
    survivor = next(node for node in nodes if node is not victim and node.port != nodes[1].port)
    before.close()
    with GatewayServer(env={**gateway_env(nodes), "REDIS_RETRY_SECONDS": "0.2"}) as server:
        traffic = Traffic(server.url, tenant.headers)
        traffic.start()
        wait_for("traffic counted in the cluster", lambda: victim.client().zcard(rpm) > 5)
        victim.kill()

        def promoted() -> redis.RedisCluster | None:
            store = redis.RedisCluster(host="127.0.0.1", port=survivor.port, socket_timeout=1)
            if store.get_node_from_key(rpm).port != victim.port and store.cluster_info()["cluster_state"] == "ok":
                return store
            store.close()
            return None

        store = wait_for("a replica to take the lost master's slots", promoted, timeout=60, every=0.2)
        counted = store.zcard(rpm)
        wait_for("the traffic counted on the new master", lambda: store.zcard(rpm) > counted + 5, timeout=30)
        traffic.stopping.set()
        traffic.join(30)
        with httpx.Client(base_url=server.url, headers=tenant.headers, timeout=10) as client:
            fresh = chat_body(temperature=0, text="after the cluster failover")
            assert [client.post("/v1/chat/completions", json=fresh).headers["x-cache"] for _ in range(2)] == ["MISS", "HIT"]
        store.close()
    assert traffic.statuses and set(traffic.statuses) == {200}, traffic.statuses
