"""The process's Redis client for limits, budgets and the cache: fails over to local state, and pipelines scripts.

Scripts called in the same turn of the event loop, by one request or by many, go to Redis in one
pipeline: one write and one read for all of them, instead of a round trip (and a pooled
connection's bookkeeping) each. Under load that is most of the per-request cost of Redis. They go
over redispipe's one connection per loop; redis-py's pipeline only serves URLs it cannot handle.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time

from django.conf import settings
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from . import metrics, redispipe
from .hotsettings import hot

log = logging.getLogger("gateway.redis")

REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)

_Call = tuple[str, list, list, bytes | None, asyncio.Future]  # lua, keys, args, EVALSHA packed for the pipe
LATER_SECONDS = 0.02


@functools.cache
def _sha(lua: str) -> str:
    return hashlib.sha1(lua.encode()).hexdigest()


class SharedRedis:
    """One redis.asyncio client (and one connection for scripts) per process and event loop; skips Redis
    for a while after a failure."""

    def __init__(self) -> None:
        self._client: Redis | None = None
        self._pipe: redispipe.RedisPipe | None = None  # None: redis-py pipelines the scripts
        self._owner: tuple[asyncio.AbstractEventLoop, str] | None = None
        self._pending: list[_Call] = []
        self._later: list[_Call] = []
        self._posted: set[asyncio.Future] = set()  # `later` scripts not answered yet
        self._sending: set[asyncio.Task] = set()  # pipelines in flight, referenced until done
        self._retry_at = 0.0
        self._down = False

    def client(self) -> Redis | None:
        """The client, or None without REDIS_URL or while Redis is considered down."""
        url = hot.REDIS_URL
        if not url or time.monotonic() < self._retry_at:
            return None
        owner = (asyncio.get_running_loop(), url)
        if self._client is None or self._owner != owner:
            timeout, connect_timeout = settings.GATEWAY["REDIS_SOCKET_TIMEOUT"], settings.GATEWAY["REDIS_CONNECT_TIMEOUT"]
            # No retries here: a slow Redis must not slow requests; we fall back instead.
            self._client = Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=connect_timeout, retry=Retry(NoBackoff(), 0)
            )
            if self._pipe is not None:
                self._pipe.close()
            self._pipe = redispipe.RedisPipe.from_url(url, owner[0], connect_timeout, timeout)
            self._owner = owner
            self._pending, self._later, self._posted = [], [], set()
        return self._client

    def submit(self, client: Redis, lua: str, keys: list, args: list, later: bool = False) -> asyncio.Future:
        """Queue a script for the next pipeline to Redis; its future gets the result or what Redis raised.

        `later`: bookkeeping no answer waits for (settlements) goes in a pipeline sent LATER_SECONDS
        after the first such call, with every other one made meanwhile, out of the way of the next requests.
        Such a future needs no task to wait on it: `posted()` waits for them all."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        queue = self._later if later else self._pending
        # Packed here, so an argument Redis cannot take raises to its caller.
        packed = redispipe.command(b"EVALSHA", _sha(lua), len(keys), *keys, *args) if self._pipe else None
        queue.append((lua, keys, args, packed, future))
        if later:
            self._posted.add(future)
            future.add_done_callback(self._posted.discard)
        if len(queue) == 1:
            if later:
                loop.call_later(LATER_SECONDS, self._send, client, True)
            else:
                # Runs after the callbacks already ready in this turn, so their calls join the same pipeline.
                loop.call_soon(self._send, client, False)
        return future

    async def run(self, client: Redis, lua: str, keys: list, args: list, later: bool = False) -> object:
        """Run a script in the next pipeline to Redis (see submit); raises what Redis or the connection raised."""
        return await self.submit(client, lua, keys, args, later)

    async def posted(self) -> None:
        """Wait until the `later` scripts queued or in flight are done (tests, shutdown)."""
        while self._posted:
            await asyncio.gather(*list(self._posted), return_exceptions=True)

    def _send(self, client: Redis, later: bool) -> None:
        if later:
            batch, self._later = self._later, []
        else:
            batch, self._pending = self._pending, []
        if not batch:
            return
        pipe = self._pipe
        if pipe is not None and batch[0][3] is not None:
            pipe.send([call[3] for call in batch], functools.partial(_answered, pipe, batch))
            return
        task = asyncio.get_running_loop().create_task(self._flush(client, batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _flush(self, client: Redis, batch: list[_Call]) -> None:
        try:
            results = await _execute(client, batch)
        except asyncio.CancelledError:
            for *_, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - every caller gets the failure to handle as it does
            results = [exc] * len(batch)
        _deliver(batch, results)

    def forget(self) -> None:
        """Start over: no client, no connection, Redis not considered down (tests)."""
        if self._pipe is not None:
            self._pipe.close()
        self.__init__()
        metrics.REDIS_FALLBACK.set(0)

    def failed(self, exc: BaseException, what: str) -> None:
        """Note a failure: log once per outage, try Redis again after REDIS_RETRY_SECONDS."""
        self._retry_at = time.monotonic() + settings.GATEWAY["REDIS_RETRY_SECONDS"]
        if self._client is not None and self._owner[0] is asyncio._get_running_loop():
            # An outage leaves the pool's idle connections dead. Scripts no longer use (and so clean) the pool:
            # drop them now, not at the first cache call after Redis returns (which would fail and mark it down).
            task = self._owner[0].create_task(_quietly(self._client.connection_pool.disconnect(inuse_connections=False)))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        if not self._down:
            self._down = True
            metrics.REDIS_FALLBACK.set(1)
            log.warning("Redis unreachable (%s): %s until it answers", exc, what)

    def succeeded(self) -> None:
        if self._down:
            self._down = False
            metrics.REDIS_FALLBACK.set(0)
            log.warning("Redis reachable again: shared state resumes")

    @property
    def down(self) -> bool:
        return self._down


async def _quietly(coro) -> None:
    try:
        await coro
    except Exception:  # noqa: BLE001 - closing what is already broken
        pass


def _deliver(batch: list[_Call], results: list) -> None:
    for (*_, future), result in zip(batch, results):
        if future.done():  # its caller was cancelled
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def _answered(pipe: redispipe.RedisPipe, batch: list[_Call], results: list | BaseException) -> None:
    """A batch's replies from the pipe; scripts Redis does not know yet are loaded and run once more."""
    if isinstance(results, BaseException):
        results = [results] * len(batch)
    missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    if not missing:
        _deliver(batch, results)
        return
    scripts = list(dict.fromkeys(batch[i][0] for i in missing))

    def rerun(answers: list | BaseException) -> None:
        if isinstance(answers, BaseException):
            answers = [answers] * (len(scripts) + len(missing))
        loaded = dict(zip(scripts, answers))  # SCRIPT LOAD's answer: a compile error is the caller's
        for i, answer in zip(missing, answers[len(scripts):]):
            results[i] = loaded[batch[i][0]] if isinstance(loaded[batch[i][0]], Exception) else answer
        _deliver(batch, results)

    pipe.send([redispipe.command(b"SCRIPT", b"LOAD", lua) for lua in scripts] + [batch[i][3] for i in missing], rerun)


async def _execute(client: Redis, batch: list[_Call]) -> list:
    """EVALSHA each call in one pipeline; scripts Redis does not know yet are loaded and run once more."""
    results = await _pipeline(client, batch)
    missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    if missing:
        for lua in {batch[i][0] for i in missing}:
            await client.script_load(lua)
        for i, result in zip(missing, await _pipeline(client, [batch[i] for i in missing])):
            results[i] = result
    return results


async def _pipeline(client: Redis, batch: list[_Call]) -> list:
    async with client.pipeline(transaction=False) as pipe:
        for lua, keys, args, *_ in batch:
            pipe.evalsha(_sha(lua), len(keys), *keys, *args)
        return await pipe.execute(raise_on_error=False)


shared_redis = SharedRedis()
