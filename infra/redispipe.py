"""The wire to Redis for the gateway's pipelined calls (infra/sharedredis.py): one `send(commands, done)`.

RedisPipe is ours: one long-lived, pipelined connection per event loop. It replaces redis-py's
Pipeline for the scripts and commands on the request path: profiled under load (py-spy), redis-py's
Pipeline.execute machinery (the Pipeline object, pool get/release, the Retry wrapper, a task per
batch) was ~15% of the event loop's CPU per request, and redis-py fell from 8.0% of the profile to
0.3% once this served the scripts (bench/README.md, "What changed"). Here a batch is packed by hand
into one transport.write, hiredis parses the replies and a callback per batch receives them in
order: no pool, no task, any number of batches in flight.

What it does not cover, on purpose: RESP3, pub/sub, cluster and sentinel, retries (the callers fall
back instead), and URL options other than user, password, database and TLS (`rediss://` with
redis-py's `ssl_*` query options, read by redis-py's own code so one URL means the same to every
client). A URL with any other option gets RedisPyPipe: redis-py's connection pool behind the same
`send`, a task and a pooled connection per batch, every option redis-py knows.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import Callable
from typing import Any

import hiredis
from redis._parsers import BaseParser
from redis.asyncio.connection import ConnectionPool, SSLConnection, UnixDomainSocketConnection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError, DataError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Receives a batch's replies in order (error replies as exception objects), or why none came.
Done = Callable[[list[Any] | BaseException], None]
_MORE = object()  # hiredis: no complete reply buffered yet (None is a reply: nil)
# The TLS options of redis-py's SSLConnection that a `rediss://` URL may carry in its query.
_TLS_OPTIONS = frozenset({
    "ssl_keyfile", "ssl_certfile", "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_data", "ssl_ca_path", "ssl_check_hostname",
    "ssl_min_version", "ssl_ciphers", "ssl_password", "ssl_include_verify_flags", "ssl_exclude_verify_flags",
})


def _encode(value: object) -> bytes:
    # As redis-py's Encoder: bytes as they are, str as UTF-8, int and float by repr, nothing else.
    kind = type(value)
    if kind is str:
        return value.encode()
    if kind is bytes:
        return value
    if kind is int:
        return b"%d" % value
    if isinstance(value, (bytes, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return str(value).encode()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value).encode()
    raise DataError(f"Invalid input of type {type(value).__name__!r} for a Redis argument")


def command(*parts: object) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = _encode(part)
        out.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


class _Connection(asyncio.Protocol):
    """One socket: batches written in order, replies handed to their callbacks in the same order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float, hello: list[bytes]) -> None:
        self.loop, self.timeout = loop, timeout
        self.closed = False
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task | None = None  # connecting
        # Bytes, ints, lists and None as redis-py returns them; error replies as the exceptions it makes
        # of them (NOSCRIPT: NoScriptError, mostly ResponseError), returned in place, never raised.
        self._reader = hiredis.Reader(notEnoughData=_MORE, replyError=BaseParser.parse_error)
        self._waiting: deque[tuple[int, list, Done]] = deque()
        self._unsent: list[bytes] | None = []  # batches held until connected (and greeted)
        self._last = 0.0  # when a reply last arrived, or the wait began
        self._timer: asyncio.TimerHandle | None = None
        self._hello = hello

    def send(self, commands: list[bytes], done: Done) -> None:
        if not self._waiting:
            self._last = self.loop.time()
        self._waiting.append((len(commands), [], done))
        if self._unsent is not None:
            self._unsent.append(b"".join(commands))
            return
        self.transport.write(b"".join(commands))
        if self._timer is None:
            self._timer = self.loop.call_later(self.timeout, self._check)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if self.closed:
            transport.abort()
            return
        if self._hello:
            # AUTH and SELECT answer before any script is written: a refused one must not let scripts
            # run as someone else or in database 0. One round trip more, once per connection.
            self._waiting.appendleft((len(self._hello), [], self._greeted))
            transport.write(b"".join(self._hello))
        else:
            self._release()
        self._last = self.loop.time()
        if self._waiting and self._timer is None:
            self._timer = self.loop.call_later(self.timeout, self._check)

    def _release(self) -> None:
        held, self._unsent = self._unsent, None
        if held:
            self.transport.write(b"".join(held))

    def _greeted(self, replies: list[Any] | BaseException) -> None:
        if isinstance(replies, BaseException):
            return
        refused = next((r for r in replies if isinstance(r, Exception)), None)
        if refused is not None:
            self.fail(RedisConnectionError(f"Redis refused the connection's setup: {refused}"))
        else:
            self._release()

    def data_received(self, data: bytes) -> None:
        self._last = self.loop.time()
        self._reader.feed(data)
        waiting = self._waiting
        try:
            while not self.closed and (reply := self._reader.gets()) is not _MORE:
                count, replies, done = waiting[0]
                replies.append(reply)
                if len(replies) == count:
                    waiting.popleft()
                    done(replies)
        except (hiredis.ProtocolError, IndexError) as exc:  # garbage, or a reply nobody asked for
            self.fail(RedisConnectionError(f"Redis protocol error: {exc!r}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"Connection to Redis lost: {exc or 'closed by server'}"))

    def _check(self) -> None:
        self._timer = None
        if self._waiting and not self.closed:
            idle = self.loop.time() - self._last
            if idle >= self.timeout:
                self.fail(RedisTimeoutError(f"No reply from Redis in {self.timeout}s"))
            else:
                self._timer = self.loop.call_later(self.timeout - idle, self._check)

    def fail(self, exc: BaseException) -> None:
        """Close; every batch waiting gets `exc`. Safe to call again, and once the loop is closed."""
        if self.closed:
            return
        self.closed = True
        if self.loop.is_closed():  # nothing can run on it: abandon, the socket closes when collected
            if self.transport is not None:
                with contextlib.suppress(Exception):
                    self.transport.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
            return
        if self._timer is not None:
            self._timer.cancel()
        if self.task is not None:
            self.task.cancel()  # no-op once connected
        if self.transport is not None:
            self.transport.abort()
        waiting, self._waiting = self._waiting, deque()
        for _, _, done in waiting:
            done(exc)


class RedisPipe:
    """The Redis at one URL for one event loop: connects on first use, and again after a failure."""

    pack = staticmethod(command)  # a command as `send` takes it: RESP bytes

    def __init__(self, loop: asyncio.AbstractEventLoop, address: dict[str, Any], hello: list[bytes],
                 connect_timeout: float, timeout: float, tls: Any = None) -> None:
        self._loop, self._address, self._hello, self._tls = loop, address, hello, tls
        self._connect_timeout, self._timeout = connect_timeout, timeout
        self._conn: _Connection | None = None

    @classmethod
    def from_url(cls, url: str, loop: asyncio.AbstractEventLoop, connect_timeout: float,
                 timeout: float) -> RedisPipe | None:
        """None for a URL this does not handle (options in its query other than TLS ones): redis-py serves those."""
        options = parse_url(url)
        kind = options.pop("connection_class", None)
        user, password, db = options.pop("username", None), options.pop("password", None), options.pop("db", 0)
        hello = [command(b"AUTH", *([user] if user else []), password)] if password else []
        if db:
            hello.append(command(b"SELECT", db))
        address: dict[str, Any] = {}
        tls = None
        if kind is UnixDomainSocketConnection:
            address["path"] = options.pop("path")
        elif kind in (None, SSLConnection):
            address["host"], address["port"] = options.pop("host", "localhost"), options.pop("port", 6379)
            if kind is SSLConnection:
                # redis-py's own defaults and reading of the ssl_* options (certificate required, host
                # name checked); its context is built on connecting, so a bad CA file fails like a refused connection.
                tls = SSLConnection(**{name: options.pop(name) for name in _TLS_OPTIONS & options.keys()}).ssl_context
        if options or not address:
            return None
        return cls(loop, address, hello, connect_timeout, timeout, tls)

    def send(self, commands: list[bytes], done: Done) -> None:
        """Write the commands at once; `done` gets their replies (or an exception) from the loop."""
        conn = self._conn
        if conn is None or conn.closed:
            conn = self._conn = _Connection(self._loop, self._timeout, self._hello)
            conn.task = self._loop.create_task(self._connect(conn))
        conn.send(commands, done)

    async def _connect(self, conn: _Connection) -> None:
        try:
            async with asyncio.timeout(self._connect_timeout):
                if "path" in self._address:
                    await self._loop.create_unix_connection(lambda: conn, self._address["path"])
                elif self._tls is not None:
                    await self._loop.create_connection(lambda: conn, **self._address, ssl=self._tls.get())
                else:
                    await self._loop.create_connection(lambda: conn, **self._address)
            return
        except TimeoutError:
            error: Exception = RedisTimeoutError(f"Timeout connecting to Redis in {self._connect_timeout}s")
        except Exception as exc:  # noqa: BLE001 - OSError mostly; whatever it is, the callers must hear
            error = RedisConnectionError(f"Error connecting to Redis: {exc}")
        finally:
            conn.task = None
        conn.fail(error)

    def close(self) -> None:
        """Drop the connection; batches waiting on it fail (unless its loop is closed: then nothing runs)."""
        if self._conn is not None:
            self._conn.fail(RedisConnectionError("Redis connection closed"))
            self._conn = None


class RedisPyPipe:
    """redis-py's connection pool behind RedisPipe's `send`, for URLs with options RedisPipe does not take."""

    pack = staticmethod(command)

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop, connect_timeout: float, timeout: float) -> None:
        self._loop = loop
        # No retries here: a slow Redis must not slow requests; the callers fall back instead.
        self._pool = ConnectionPool.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=connect_timeout, retry=Retry(NoBackoff(), 0)
        )
        self._tasks: set[asyncio.Task] = set()  # batches in flight, referenced until done

    def send(self, commands: list[bytes], done: Done) -> None:
        """Write the commands at once on a pooled connection; `done` gets their replies (or an exception)."""
        task = self._loop.create_task(self._exchange(b"".join(commands), len(commands), done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _exchange(self, packed: bytes, count: int, done: Done) -> None:
        conn = None
        try:
            conn = await self._pool.get_connection()
            await conn.send_packed_command(packed)
            replies: list[Any] = []
            for _ in range(count):
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:  # an error reply, in its place, as RedisPipe gives it
                    replies.append(exc)
        except asyncio.CancelledError:
            done(RedisConnectionError("Redis connection closed"))
            raise
        except Exception as exc:  # noqa: BLE001 - whatever it is, the callers must hear
            # An outage leaves the pool's idle connections dead too: drop them, not the next batches.
            with contextlib.suppress(Exception):
                await self._pool.disconnect(inuse_connections=False)
            done(exc if isinstance(exc, RedisError) else RedisConnectionError(f"Error talking to Redis: {exc!r}"))
        else:
            done(replies)
        finally:
            if conn is not None:
                await self._pool.release(conn)

    def close(self) -> None:
        """Fail the batches in flight and drop the pool's connections (unless its loop is closed: then nothing runs)."""
        close_tasks(self._loop, self._tasks, self._pool.disconnect)


def close_tasks(loop: asyncio.AbstractEventLoop, tasks: set[asyncio.Task], closing: Callable[[], Any]) -> None:
    """Cancel a pipe's batches in flight and run `closing()` (a coroutine) on its loop; nothing once the loop is closed."""
    if loop.is_closed():
        return
    for task in list(tasks):
        task.cancel()
    if asyncio._get_running_loop() is loop:
        task = loop.create_task(closing())
        tasks.add(task)
        task.add_done_callback(tasks.discard)


Pipe = RedisPipe | RedisPyPipe


def pipe_for(url: str, loop: asyncio.AbstractEventLoop, connect_timeout: float, timeout: float) -> Pipe:
    """Ours for the URLs it takes, redis-py's pool behind the same `send` for the rest."""
    return RedisPipe.from_url(url, loop, connect_timeout, timeout) or RedisPyPipe(url, loop, connect_timeout, timeout)
