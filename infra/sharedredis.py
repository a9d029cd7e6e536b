"""The one way the gateway talks to Redis for limits, budgets, settlements and the response cache.

Three jobs, each done here once:
- Pipelining: calls made in the same turn of the event loop, by one request or by many, go to
  Redis in one write and one read, instead of a round trip (and a pooled connection's
  bookkeeping) each; under load that is most of the per-request cost of Redis. The wire is
  redispipe's `send(commands, done)`: its own connection, or redis-py's pool for URLs with
  options it does not take; under Sentinel or Cluster, redis-py's clients behind the same `send`
  (infra/redisclients.py).
- Scripts: sent as EVALSHA; those Redis lost (a restart, SCRIPT FLUSH, a failover to a replica that
  never ran them) are loaded and run once more, here only.
- Falling back: `script()` and `command()` never raise what Redis or the connection raised. Their
  futures answer NO_REDIS instead, once the failure is noted (logged once per outage, Redis
  skipped for REDIS_RETRY_SECONDS), and the caller serves without Redis. `submit()` and `run()`
  raise instead (tests).
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time

from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError, NoScriptError, RedisError

from . import metrics, redisclients
from .hotsettings import hot

log = logging.getLogger("gateway.redis")

class _NoRedis:
    def __repr__(self) -> str:
        return "NO_REDIS"


NO_REDIS = _NoRedis()  # the answer of a call Redis did not serve: no REDIS_URL, Redis down, or it failed the call

# The packed command (as its pipe packs it), its future, its script (None: a plain command), and what the caller does
# without Redis (None: the future raises what Redis raised).
_Call = tuple[bytes, asyncio.Future, str | None, str | None]
LATER_SECONDS = 0.02


@functools.cache
def _sha(lua: str) -> str:
    return hashlib.sha1(lua.encode()).hexdigest()


class SharedRedis:
    """One pipe to Redis per process and event loop; skips Redis for a while after a failure."""

    def __init__(self) -> None:
        self._pipe: redisclients.Pipe | None = None
        self._owner: tuple | None = None  # (loop, REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER) the pipe was made for
        self._pending: list[_Call] = []
        self._later: list[_Call] = []
        self._posted: set[asyncio.Future] = set()  # `later` calls not answered yet
        self._retry_at = 0.0
        self._down = False

    def pipe(self) -> redisclients.Pipe | None:
        """The pipe for this loop, or None without REDIS_URL or while Redis is considered down."""
        url = hot.REDIS_URL
        if not url or time.monotonic() < self._retry_at:
            return None
        owner = (asyncio.get_running_loop(), url, hot.REDIS_SENTINELS, hot.REDIS_CLUSTER)
        if self._pipe is None or self._owner != owner:
            if self._pipe is not None:
                self._pipe.close()
            gateway = settings.GATEWAY
            self._pipe = redisclients.pipe_for(
                redisclients.current(), owner[0], gateway["REDIS_CONNECT_TIMEOUT"], gateway["REDIS_SOCKET_TIMEOUT"])
            self._owner = owner
            self._pending, self._later, self._posted = [], [], set()
        return self._pipe

    def script(self, lua: str, keys: list, args: list, *, fallback: str, later: bool = False) -> asyncio.Future:
        """Queue a script for the next pipeline; its future gets the reply, or NO_REDIS (`fallback`: what the
        caller does then, for the log).

        `later`: bookkeeping no answer waits for (settlements) goes in a pipeline sent LATER_SECONDS
        after the first such call, with every other one made meanwhile, out of the way of the next requests.
        Such a future needs no task to wait on it: `posted()` waits for them all."""
        pipe = self.pipe()
        if pipe is None:
            return _no_redis()
        try:
            packed = pipe.pack(b"EVALSHA", _sha(lua), len(keys), *keys, *args)
        except RedisError as exc:  # an argument Redis cannot take
            self.failed(exc, fallback)
            return _no_redis()
        return self._queue(packed, lua, fallback, later)

    def command(self, *parts: object, fallback: str) -> asyncio.Future:
        """Queue a plain command (GET, SET, ...) for the next pipeline; its future gets the reply or NO_REDIS."""
        pipe = self.pipe()
        if pipe is None:
            return _no_redis()
        try:
            packed = pipe.pack(*parts)
        except RedisError as exc:
            self.failed(exc, fallback)
            return _no_redis()
        return self._queue(packed, None, fallback, False)

    def submit(self, lua: str, keys: list, args: list, later: bool = False) -> asyncio.Future:
        """As script(), but the future raises what Redis or the connection raised; so does this without Redis."""
        pipe = self.pipe()
        if pipe is None:
            raise RedisConnectionError("Redis is not configured, or considered down")
        return self._queue(pipe.pack(b"EVALSHA", _sha(lua), len(keys), *keys, *args), lua, None, later)

    async def run(self, lua: str, keys: list, args: list, later: bool = False) -> object:
        """Run a script in the next pipeline to Redis (see submit); raises what Redis or the connection raised."""
        return await self.submit(lua, keys, args, later)

    async def posted(self) -> None:
        """Wait until the `later` calls queued or in flight are done (tests, shutdown)."""
        while self._posted:
            await asyncio.gather(*list(self._posted), return_exceptions=True)

    def _queue(self, packed: bytes, lua: str | None, fallback: str | None, later: bool) -> asyncio.Future:
        loop = self._owner[0]
        future = loop.create_future()
        queue = self._later if later else self._pending
        queue.append((packed, future, lua, fallback))
        if later:
            self._posted.add(future)
            future.add_done_callback(self._posted.discard)
        if len(queue) == 1:
            if later:
                loop.call_later(LATER_SECONDS, self._send, True)
            else:
                # Runs after the callbacks already ready in this turn, so their calls join the same pipeline.
                loop.call_soon(self._send, False)
        return future

    def _send(self, later: bool) -> None:
        if later:
            batch, self._later = self._later, []
        else:
            batch, self._pending = self._pending, []
        if batch:
            pipe = self._pipe
            pipe.send([call[0] for call in batch], functools.partial(self._answered, pipe, batch))

    def _answered(self, pipe: redisclients.Pipe, batch: list[_Call], results: list | BaseException) -> None:
        """A batch's replies; scripts Redis does not know yet are loaded and run once more."""
        if isinstance(results, BaseException):
            results = [results] * len(batch)
        missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if not missing:
            self._deliver(batch, results)
            return
        scripts = list(dict.fromkeys(batch[i][2] for i in missing))

        def rerun(answers: list | BaseException) -> None:
            if isinstance(answers, BaseException):
                answers = [answers] * (len(scripts) + len(missing))
            loaded = dict(zip(scripts, answers))  # SCRIPT LOAD's answer: a compile error is the caller's
            for i, answer in zip(missing, answers[len(scripts):]):
                results[i] = loaded[batch[i][2]] if isinstance(loaded[batch[i][2]], Exception) else answer
            self._deliver(batch, results)

        pipe.send([pipe.pack(b"SCRIPT", b"LOAD", lua) for lua in scripts] + [batch[i][0] for i in missing], rerun)

    def _deliver(self, batch: list[_Call], results: list) -> None:
        failure: tuple[BaseException, str] | None = None
        answered = False
        for (_, future, _, fallback), result in zip(batch, results):
            if not isinstance(result, BaseException):
                answered = True
                if not future.done():  # else its caller was cancelled
                    future.set_result(result)
            elif fallback is not None:
                failure = failure or (result, fallback)
                if not future.done():
                    future.set_result(NO_REDIS)
            elif not future.done():
                future.set_exception(result)
        if failure is not None:
            self.failed(*failure)
        elif answered and self._down:
            self.succeeded()

    def forget(self) -> None:
        """Start over: no connection, Redis not considered down (tests)."""
        if self._pipe is not None:
            self._pipe.close()
        self.__init__()
        metrics.REDIS_FALLBACK.set(0)

    def failed(self, exc: BaseException, what: str) -> None:
        """Note a failure: log once per outage, try Redis again after REDIS_RETRY_SECONDS."""
        self._retry_at = time.monotonic() + settings.GATEWAY["REDIS_RETRY_SECONDS"]
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


def _no_redis() -> asyncio.Future:
    future = asyncio.get_running_loop().create_future()
    future.set_result(NO_REDIS)
    return future


shared_redis = SharedRedis()
