"""rediss:// with REDIS_SENTINELS: the sentinels, the master and the replica speak TLS only; every Redis user works."""
import asyncio
from urllib.parse import urlencode

import httpx
import pytest

from tenants import ratelimit

from .conftest import chat_body, make_tenant
from .live import GatewayServer
from .redisnodes import MASTER, PASSWORD, SENTINEL_PASSWORD, running, sentinel_group
from .test_redis_sentinel_failover import group_message_arrives
from .test_redis_tls import _write_certificates

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tls_sentinels(tmp_path):
    files = _write_certificates(tmp_path)
    with running(lambda top: sentinel_group(top, sentinels=1, tls=files), "redis-server", "redis-sentinel") as nodes:
        yield (*nodes, files)


def test_limits_cache_and_the_live_feed_work_through_tls_sentinels(mock_provider, tls_sentinels):
    primary, replica, nodes, files = tls_sentinels
    query = urlencode({"ssl_ca_certs": str(files["ca"]), "ssl_cert_reqs": "required"})
    env = {
        "REDIS_SENTINELS": ",".join(f"127.0.0.1:{node.port}" for node in nodes),
        "REDIS_SENTINEL_MASTER": MASTER,
        "REDIS_SENTINEL_PASSWORD": SENTINEL_PASSWORD,
        "REDIS_URL": f"rediss://:{PASSWORD}@{MASTER}/0?{query}",
        "CACHE_TTL": "300",
    }
    tenant = make_tenant("acme", rpm_limit=100)
    rpm = ratelimit.PREFIX + ratelimit.limit_key(tenant.tenant.pk) + ":rpm"
    cached = chat_body(temperature=0, text="over TLS")
    with GatewayServer(env=env) as server, httpx.Client(base_url=server.url, headers=tenant.headers, timeout=10) as client:
        assert [client.post("/v1/chat/completions", json=cached).headers["x-cache"] for _ in range(2)] == ["MISS", "HIT"]
        assert primary.client().zcard(rpm) == 2
        health = client.get("/health").json()
        assert (health["redis"]["mode"], health["redis"]["status"], health["redis"]["fallback"]) == ("sentinel", "ok", False)
        assert "Redis unreachable" not in server.logs()
    assert primary.client().keys("gw:1:key:*")  # the key cache (django-redis) is on the master
    assert asyncio.run(group_message_arrives(env, primary)) == {"type": "ledger.batch", "n": 1}
