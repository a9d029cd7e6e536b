"""One long-lived, pipelined Redis connection per event loop for the scripts SharedRedis runs.

Why: profiled under load (py-spy), redis-py's Pipeline.execute machinery (the Pipeline object,
pool get/release, the Retry wrapper, a task per batch) was ~15% of the event loop's CPU per
request. Here a batch is packed by hand into one transport.write, hiredis parses the replies and
a callback per batch receives them in order: no pool, no task, any number of batches in flight.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections import deque
from collections.abc import Callable
from typing import Any

import hiredis
from redis._parsers import BaseParser
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError, DataError, TimeoutError as RedisTimeoutError

# Receives a batch's replies in order (error replies as exception objects), or why none came.
Done = Callable[[list[Any] | BaseException], None]
_MORE = object()  # hiredis: no complete reply buffered yet (None is a reply: nil)


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

    def __init__(self, loop: asyncio.AbstractEventLoop, address: dict[str, Any], hello: list[bytes],
                 connect_timeout: float, timeout: float) -> None:
        self._loop, self._address, self._hello = loop, address, hello
        self._connect_timeout, self._timeout = connect_timeout, timeout
        self._conn: _Connection | None = None

    @classmethod
    def from_url(cls, url: str, loop: asyncio.AbstractEventLoop, connect_timeout: float,
                 timeout: float) -> RedisPipe | None:
        """None for a URL this does not handle (options in its query): redis-py serves those."""
        options = parse_url(url)
        kind = options.pop("connection_class", None)
        user, password, db = options.pop("username", None), options.pop("password", None), options.pop("db", 0)
        hello = [command(b"AUTH", *([user] if user else []), password)] if password else []
        if db:
            hello.append(command(b"SELECT", db))
        address: dict[str, Any] = {}
        if kind is UnixDomainSocketConnection:
            address["path"] = options.pop("path")
        elif kind in (None, SSLConnection):
            address["host"], address["port"] = options.pop("host", "localhost"), options.pop("port", 6379)
            if kind is SSLConnection:
                address["ssl"] = ssl.create_default_context()
        if options or not address:
            return None
        return cls(loop, address, hello, connect_timeout, timeout)

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
