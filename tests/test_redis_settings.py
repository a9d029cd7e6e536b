"""REDIS_SENTINELS, REDIS_SENTINEL_MASTER, REDIS_SENTINEL_PASSWORD and REDIS_CLUSTER: read once, bad values stop the start."""
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from infra import redisconfig
from infra.redisconfig import topology

from .conftest import requires_redis
from .live import ROOT


def test_sentinels_and_master_make_a_sentinel_topology_named_by_the_master():
    redis = topology("redis://:s3cret@ignored:1/2", "127.0.0.1:26379, [::1]:26380", "mymaster", "sentpass")
    assert redis.mode == "sentinel"
    assert redis.sentinels == (("127.0.0.1", 26379), ("::1", 26380))
    assert redis.url == "redis://:s3cret@mymaster/2"  # the address comes from Sentinel
    assert redis.sentinel_password == "sentpass"


def test_sentinel_without_redis_url_uses_database_0_of_the_master():
    assert topology("", "10.0.0.1:26379", "cache").url == "redis://cache/0"


def test_cluster_and_single_and_none():
    assert topology("redis://10.0.0.5:7000", cluster=True).mode == "cluster"
    assert topology("redis://10.0.0.5:6379/3").mode == "single"
    assert topology("").mode == ""


@pytest.mark.parametrize("args, names", [
    (("", "127.0.0.1", "m"), "REDIS_SENTINELS"),
    (("", "127.0.0.1:notaport", "m"), "REDIS_SENTINELS"),
    (("", "127.0.0.1:70000", "m"), "REDIS_SENTINELS"),
    (("", " , ", "m"), "REDIS_SENTINELS"),
    (("", "127.0.0.1:26379", ""), "REDIS_SENTINEL_MASTER"),
    (("", "", "mymaster"), "REDIS_SENTINELS"),
    (("", "127.0.0.1:26379", "My Master"), "REDIS_SENTINEL_MASTER"),
    (("http://mymaster/0", "127.0.0.1:26379", "mymaster"), "REDIS_URL"),
    (("redis://mymaster/cache", "127.0.0.1:26379", "mymaster"), "REDIS_URL"),
])
def test_bad_sentinel_settings_name_the_variable(args, names):
    with pytest.raises(ImproperlyConfigured, match=names):
        topology(*args)


@pytest.mark.parametrize("url, names", [
    ("", "REDIS_URL"),
    ("redis://10.0.0.5:7000/3", "database 0"),
    ("unix:///run/redis.sock", "REDIS_URL"),
])
def test_bad_cluster_settings_name_the_variable(url, names):
    with pytest.raises(ImproperlyConfigured, match=names):
        topology(url, cluster=True)


def test_cluster_and_sentinel_together_are_refused():
    with pytest.raises(ImproperlyConfigured, match="REDIS_CLUSTER and REDIS_SENTINELS"):
        topology("", "127.0.0.1:26379", "mymaster", cluster=True)


def test_every_redis_user_follows_the_sentinels():
    redis = topology("redis://:pw@mymaster/1", "127.0.0.1:26379", "mymaster", "sp")
    cache = redisconfig.django_cache(redis, "gw")
    assert cache["LOCATION"] == "redis://:pw@mymaster/1"
    assert cache["OPTIONS"]["CONNECTION_FACTORY"] == "django_redis.pool.SentinelConnectionFactory"
    assert cache["OPTIONS"]["SENTINELS"] == [("127.0.0.1", 26379)]
    assert cache["OPTIONS"]["SENTINEL_KWARGS"]["password"] == "sp"
    [host] = redisconfig.channel_layer(redis)["CONFIG"]["hosts"]
    assert host["master_name"] == "mymaster" and host["password"] == "pw" and host["db"] == 1


def test_under_cluster_the_live_feed_uses_pubsub_and_the_cache_a_cluster_client():
    redis = topology("redis://127.0.0.1:7000", cluster=True)
    assert redisconfig.django_cache(redis, "gw")["OPTIONS"]["CONNECTION_FACTORY"] == "infra.redisclients.ClusterConnectionFactory"
    assert redisconfig.channel_layer(redis)["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"


@pytest.mark.parametrize("env, says", [
    ({"REDIS_SENTINELS": "127.0.0.1:26379"}, "REDIS_SENTINEL_MASTER"),
    ({"REDIS_CLUSTER": "yes please"}, "REDIS_CLUSTER must be a boolean"),
    ({"REDIS_CLUSTER": "1", "REDIS_URL": ""}, "REDIS_URL"),
])
def test_the_gateway_does_not_start_with_bad_redis_settings(env, says):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and says in done.stderr


async def test_health_reports_the_redis_mode(async_client, db, settings):
    settings.REDIS_URL = ""
    body = (await async_client.get("/health")).json()
    assert body["redis"] == {"mode": "none"}


@requires_redis
async def test_health_reports_a_single_redis_reachable(async_client, db, settings):
    settings.REDIS_URL = os.environ["REDIS_URL"]
    body = (await async_client.get("/health")).json()
    assert body["redis"]["mode"] == "single" and body["redis"]["status"] == "ok"


def test_rediss_with_sentinels_reaches_sentinels_and_master_over_tls():
    redis = topology("rediss://:pw@x/0?ssl_ca_certs=/ca.pem", "127.0.0.1:26379", "mymaster")
    assert redis.url == "rediss://:pw@mymaster/0?ssl_ca_certs=/ca.pem"
    cache = redisconfig.django_cache(redis, "gw")
    assert cache["LOCATION"] == "redis://:pw@mymaster/0"  # TLS by the connection class: the address is Sentinel's
    assert cache["OPTIONS"]["CONNECTION_POOL_KWARGS"]["ssl_ca_certs"] == "/ca.pem"
    assert cache["OPTIONS"]["SENTINEL_KWARGS"]["ssl"] is True
    [host] = redisconfig.channel_layer(redis)["CONFIG"]["hosts"]
    assert host["ssl_ca_certs"] == "/ca.pem" and host["sentinel_kwargs"]["ssl"] is True
