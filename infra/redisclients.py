"""The hot path's wire to Redis for each topology, and the Django cache's Cluster client.

One node: infra/redispipe.py, our own pipelined connection (measured faster, bench/README.md).
Sentinel and Cluster: redis-py's own clients, which follow a failover (Sentinel's pool asks the
sentinels for the master on every new connection, and drops its connections when the answer
changes; the cluster client follows MOVED, and reloads its slot map once ClientPipe closed it
after a node failed). ClientPipe puts them behind the same
`pack(*parts)` and `send(commands, done)` as redispipe's pipes, so infra/sharedredis.py batches,
reloads scripts (NOSCRIPT) and falls back in one place, whatever the topology.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from django_redis.pool import ConnectionFactory
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelManagedSSLConnection
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster as SyncRedisCluster
from redis.exceptions import ClusterDownError, ConnectionError as RedisConnectionError, RedisError, SlotNotCoveredError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry as SyncRetry

from . import redisconfig, redispipe
from .hotsettings import hot
from .redisconfig import CLUSTER, SENTINEL, Topology

# What says a cluster's slot map may be out of date: a node gone, or the cluster mid-failover.
_NODE_LOST = (RedisConnectionError, RedisTimeoutError, ClusterDownError, SlotNotCoveredError)


def current() -> Topology:
    """The topology the settings name now (tests change them in place; settings checked them at start)."""
    url = hot.REDIS_URL
    if not url:
        return Topology("", "")
    if hot.REDIS_SENTINELS:
        return Topology(SENTINEL, url, tuple(hot.REDIS_SENTINELS), hot.REDIS_SENTINEL_MASTER, hot.REDIS_SENTINEL_PASSWORD)
    return Topology(CLUSTER if hot.REDIS_CLUSTER else redisconfig.SINGLE, url)


def mode() -> str:
    """single, sentinel or cluster; "none" without Redis (for /health)."""
    return current().mode or "none"


class ClientPipe:
    """A redis-py client (Sentinel's master, or a cluster) behind redispipe's `send`: a task and a pipeline per
    batch, replies (error replies in place) in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: Any, cluster: bool = False) -> None:
        self._loop, self._client, self._cluster = loop, client, cluster
        self._tasks: set[asyncio.Task] = set()

    @staticmethod
    def pack(*parts: object) -> tuple:
        """A command as the client takes it: its parts, the name as str, as redis-py's cluster client needs to
        route it; "SCRIPT LOAD" as one name, as redis-py's own script_load sends it (to every primary)."""
        name = parts[0].decode() if isinstance(parts[0], bytes) else str(parts[0])
        if name.upper() == "SCRIPT":
            sub = parts[1].decode() if isinstance(parts[1], bytes) else str(parts[1])
            return (f"SCRIPT {sub.upper()}", *parts[2:])
        return (name, *parts[1:])

    def send(self, commands: list[Sequence], done: redispipe.Done) -> None:
        task = self._loop.create_task(self._exchange(commands, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _exchange(self, commands: list[Sequence], done: redispipe.Done) -> None:
        try:
            replies = await self._batch(commands)
        except asyncio.CancelledError:
            done(RedisConnectionError("Redis connection closed"))
            raise
        except Exception as exc:  # noqa: BLE001 - whatever it is, the callers must hear
            done(exc if isinstance(exc, RedisError) else RedisConnectionError(f"Error talking to Redis: {exc!r}"))
            await self._lost(exc)
        else:
            done(replies)
            lost = next((r for r in replies if isinstance(r, _NODE_LOST)), None)
            if lost is not None:
                await self._lost(lost)

    async def _lost(self, exc: BaseException) -> None:
        """A cluster node failed: drop the slot map, so the next batch asks the cluster for the new one.

        redis-py's cluster pipeline, retrying nothing (as asked: no script may run twice), does not mark
        its slot map stale itself; without this, calls kept going to a dead master after its replica took
        over. aclose() also closes the other nodes' connections: their calls in flight fall back too."""
        if self._cluster and isinstance(exc, _NODE_LOST):
            with contextlib.suppress(Exception):
                await self._client.aclose()

    async def _batch(self, commands: list[Sequence]) -> list:
        """One pipeline (the cluster client's splits it by node); SCRIPT LOADs on their own and first.

        A cluster pipeline refuses SCRIPT LOAD, which goes to every primary; the calls after it in a batch
        are the scripts it loads (infra/sharedredis.py's reload after NOSCRIPT). Not each command on its
        own either: redis-py 8.1's cluster client, given error replies (NOSCRIPT) to concurrent single
        commands, broke connections in use ("Connection closed by server")."""
        loads = [i for i, parts in enumerate(commands) if parts[0] == "SCRIPT LOAD"]
        replies: list = [None] * len(commands)
        for i in loads:
            try:
                replies[i] = await self._client.execute_command(*commands[i])
            except RedisError as exc:  # a compile error: the caller's (sharedredis hands it on)
                replies[i] = exc
        rest = [i for i in range(len(commands)) if i not in loads]
        if rest:
            pipe = self._client.pipeline(transaction=False)
            for i in rest:
                pipe.execute_command(*commands[i])
            for i, reply in zip(rest, await pipe.execute(raise_on_error=False)):
                replies[i] = reply
        return replies

    def close(self) -> None:
        """Fail the batches in flight and close the client (unless its loop is closed: then nothing runs)."""
        redispipe.close_tasks(self._loop, self._tasks, self._client.aclose)


Pipe = redispipe.Pipe | ClientPipe


def pipe_for(redis: Topology, loop: asyncio.AbstractEventLoop, connect_timeout: float, timeout: float) -> Pipe:
    """redispipe's own pipe for one node; redis-py's clients, which follow failovers, for Sentinel and Cluster."""
    if redis.mode == SENTINEL:
        return ClientPipe(loop, sentinel_master(redis, connect_timeout, timeout))
    if redis.mode == CLUSTER:
        # No retries: a timed-out script may have run, and running it again would count a request twice
        # (MOVED and ASK are followed all the same). A dead node's slots wait for the cluster's own
        # failover; the callers fall back meanwhile.
        client = RedisCluster.from_url(redis.url, socket_timeout=timeout, socket_connect_timeout=connect_timeout,
                                       retry=Retry(NoBackoff(), 0))
        return ClientPipe(loop, client, cluster=True)
    return redispipe.pipe_for(redis.url, loop, connect_timeout, timeout)


def sentinel_master(redis: Topology, connect_timeout: float, timeout: float) -> Any:
    """An asyncio client of the master Sentinel names now, and after every failover."""
    sentinel = Sentinel(
        list(redis.sentinels),
        sentinel_kwargs=redisconfig.sentinel_kwargs(redis, connect_timeout),
        socket_timeout=timeout,
        socket_connect_timeout=connect_timeout,
        retry=Retry(NoBackoff(), 0),  # no retries here: a slow Redis must not slow requests; callers fall back
        **redisconfig.credentials(redis.url),
    )
    tls = redisconfig.tls_options(redis.url)
    if tls:
        return sentinel.master_for(redis.master, connection_class=SentinelManagedSSLConnection, **tls)
    return sentinel.master_for(redis.master)


class ClusterConnectionFactory(ConnectionFactory):
    """django-redis's connection factory for a Redis Cluster (it has none): redis-py's RedisCluster client."""

    def connect(self, url: str) -> SyncRedisCluster:
        params = self.make_connection_params(url)
        return SyncRedisCluster.from_url(url, socket_timeout=params.get("socket_timeout"),
                                         socket_connect_timeout=params.get("socket_connect_timeout"),
                                         retry=SyncRetry(NoBackoff(), 0))  # callers fall back to the database

    def disconnect(self, connection: SyncRedisCluster) -> None:
        with contextlib.suppress(RedisError):
            connection.close()
