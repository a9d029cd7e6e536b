"""A three-master Redis Cluster made by the test: limits exact across two gateways, cache and budgets working."""
import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
import redis

from infra import redisconfig
from usage import budget

from .conftest import chat_body, make_tenant
from .live import GatewayServer
from .redisnodes import cluster, running

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
    assert store.keys("gw:cache:*"), "the cache entry lives in the cluster"
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
