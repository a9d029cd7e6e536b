"""Which Redis the gateway uses, read once from the environment: none, one node, Sentinel's master, or a Cluster.

Settings build every Redis user's configuration from one Topology (the Django cache, the channel
layer); infra/redisclients.py builds the hot path's pipe from the same settings. Bad values fail at
start with ImproperlyConfigured naming the variable, never at the first request.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.sentinel import SentinelManagedSSLConnection as AsyncSentinelManagedSSLConnection
from redis.connection import parse_url
from redis.sentinel import SentinelManagedSSLConnection

from .env import envbool, envstr

SINGLE, SENTINEL, CLUSTER = "single", "sentinel", "cluster"
_MASTER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")  # a URL's host in django-redis: lower case


@dataclass(frozen=True, slots=True)
class Topology:
    """Where Redis is: `url` carries password, database and TLS; Sentinel names the master's address."""

    mode: str  # "" (no Redis) | SINGLE | SENTINEL | CLUSTER
    url: str
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""
    sentinel_password: str = ""


def parse_sentinels(raw: str) -> tuple[tuple[str, int], ...]:
    """`host:port,host:port` ([v6]:port too) as address pairs; anything else is a configuration error."""
    out = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ImproperlyConfigured(f"REDIS_SENTINELS must be host:port[,host:port...], got {item!r} in {raw!r}")
        out.append((host, int(port)))
    if not out:
        raise ImproperlyConfigured(f"REDIS_SENTINELS names no sentinel: {raw!r}")
    return tuple(out)


def topology(url: str, sentinels: str = "", master: str = "", sentinel_password: str = "",
             cluster: bool = False) -> Topology:
    """The Topology these values describe, or ImproperlyConfigured saying which one is wrong."""
    if master and not sentinels:
        raise ImproperlyConfigured("REDIS_SENTINEL_MASTER is set but REDIS_SENTINELS is not: name the sentinels")
    if sentinels:
        return _sentinel(url, parse_sentinels(sentinels), master, sentinel_password, cluster)
    if cluster:
        return _cluster(url)
    return Topology(SINGLE if url else "", url)


def _sentinel(url: str, sentinels: tuple[tuple[str, int], ...], master: str, password: str, cluster: bool) -> Topology:
    if cluster:
        raise ImproperlyConfigured("REDIS_CLUSTER and REDIS_SENTINELS are both set: a Redis is one or the other")
    if not master:
        raise ImproperlyConfigured("REDIS_SENTINELS is set but REDIS_SENTINEL_MASTER is not: name the master Sentinel watches")
    if not _MASTER_NAME.match(master):
        raise ImproperlyConfigured(
            f"REDIS_SENTINEL_MASTER must be lower-case letters, digits, '.', '_' or '-', got {master!r}")
    parts = urlsplit(url or f"redis://{master}/0")
    if parts.scheme not in ("redis", "rediss"):
        raise ImproperlyConfigured(
            f"With REDIS_SENTINELS, REDIS_URL must be redis[s]://[:password@]{master}/db, got scheme {parts.scheme!r}")
    if not parts.path.strip("/").isdigit() and parts.path.strip("/"):
        raise ImproperlyConfigured(f"REDIS_URL's database must be a number, got {parts.path!r}")
    credentials = parts.netloc.rpartition("@")[0]
    # The host is the master's name, as django-redis reads it; the address comes from Sentinel.
    named = urlunsplit((parts.scheme, f"{credentials}@{master}" if credentials else master, parts.path or "/0",
                        parts.query, ""))
    return Topology(SENTINEL, named, sentinels, master, password)


def _cluster(url: str) -> Topology:
    if not url:
        raise ImproperlyConfigured("REDIS_CLUSTER is set but REDIS_URL is not: name any node of the cluster")
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ImproperlyConfigured(f"With REDIS_CLUSTER, REDIS_URL must be redis:// or rediss://, got {url.split(':')[0]!r}")
    if parts.path.strip("/") not in ("", "0"):
        raise ImproperlyConfigured(f"A Redis Cluster has database 0 only; REDIS_URL names {parts.path!r}")
    return Topology(CLUSTER, url)


def from_environment() -> Topology:
    """REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_MASTER, REDIS_SENTINEL_PASSWORD and REDIS_CLUSTER, checked."""
    return topology(envstr("REDIS_URL"), envstr("REDIS_SENTINELS").strip(), envstr("REDIS_SENTINEL_MASTER").strip(),
                    envstr("REDIS_SENTINEL_PASSWORD"), envbool("REDIS_CLUSTER"))


def django_cache(redis: Topology, key_prefix: str) -> dict:
    """The default Django cache (key cache, brute-force counters, /health's probe) on this Redis."""
    location = redis.url
    options = {
        "CLIENT_CLASS": "django_redis.client.DefaultClient",
        "SOCKET_CONNECT_TIMEOUT": 0.5,
        "SOCKET_TIMEOUT": 0.5,
        # The gateway keeps serving when Redis is down; callers fall back.
        "IGNORE_EXCEPTIONS": False,
    }
    if redis.mode == SENTINEL:
        # DefaultClient, not SentinelClient: reads from the master too, so a revoked key is not read back
        # from a replica that lags behind.
        options["CONNECTION_FACTORY"] = "django_redis.pool.SentinelConnectionFactory"
        options["SENTINELS"] = list(redis.sentinels)
        options["SENTINEL_KWARGS"] = sentinel_kwargs(redis, 0.5)
        tls = tls_options(redis.url)
        if tls:  # a rediss:// LOCATION would make redis-py connect to the master's name, not Sentinel's answer
            options["CONNECTION_POOL_KWARGS"] = {"connection_class": SentinelManagedSSLConnection, **tls}
            location = plain_url(redis.url)
    elif redis.mode == CLUSTER:
        options["CONNECTION_FACTORY"] = "infra.redisclients.ClusterConnectionFactory"
    return {
        "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
        "LOCATION": location,
        "OPTIONS": options,
        "KEY_PREFIX": key_prefix,
    }


def channel_layer(redis: Topology) -> dict:
    """The live feed's channel layer on this Redis.

    Under Cluster, channels_redis has no cluster client: its pub/sub layer talks to the node REDIS_URL
    names, and classic pub/sub reaches every node's subscribers, so replicas still hear each other;
    while that node is down the live feed pauses (README, "Redis: Sentinel and Cluster")."""
    if redis.mode == SENTINEL:
        host = {"sentinels": list(redis.sentinels), "master_name": redis.master,
                "sentinel_kwargs": sentinel_kwargs(redis, 1.0), **credentials(redis.url)}
        tls = tls_options(redis.url)
        if tls:
            host |= {"connection_class": AsyncSentinelManagedSSLConnection, **tls}
        return {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [host]}}
    if redis.mode == CLUSTER:
        return {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [redis.url]}}
    return {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [redis.url]}}


def sentinel_kwargs(redis: Topology, timeout: float) -> dict:
    """How to talk to the sentinels themselves: with a timeout (redis-py sets none once this is given)."""
    out: dict = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if redis.sentinel_password:
        out["password"] = redis.sentinel_password
    tls = tls_options(redis.url)
    if tls:  # rediss://: the sentinels are reached over TLS too, with the same options
        out |= {"ssl": True, **tls}
    return out


def tls_options(url: str) -> dict:
    """The ssl_* options of a rediss:// URL as redis-py reads them (its defaults: certificate required,
    host name checked); {} for redis://."""
    if not url.startswith("rediss://"):
        return {}
    return {name: value for name, value in parse_url(url).items() if name.startswith("ssl_")}


def plain_url(url: str) -> str:
    """The URL as redis://, without its query (its TLS options go to the connection class instead)."""
    parts = urlsplit(url)
    return urlunsplit(("redis", parts.netloc, parts.path, "", ""))


def credentials(url: str) -> dict:
    """Username, password and database of a redis:// URL, as connection keyword arguments."""
    parts = urlsplit(url)
    out: dict = {"db": int(parts.path.strip("/") or 0)}
    if parts.username:
        out["username"] = unquote(parts.username)
    if parts.password:
        out["password"] = unquote(parts.password)
    return out
