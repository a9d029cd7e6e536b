"""The engine under providers/http: a lean HTTP/1.1 keep-alive client on asyncio Protocols, parsed by httptools.

What it replaced, and why (bench/README.md, "The provider HTTP client as one seam"): httpx over httpcore
(a poll() per pooled connection per request), then aiohttp; client CPU per provider call 17.7-19.2 us here
against 24.8-26.9 us (httpx shapes) and 59.5-67.1 us (aiohttp). Each connection is an asyncio Protocol fed
to httptools (C, llhttp); idle connections wait per origin, checked out in O(1); a request is one write;
the body is handed over as it arrives, with back-pressure.

Delivery: a request is written at most once. A pooled connection is checked before the write (the loop
saw it close, or its socket has something to read: the server's FIN or stray bytes); a stale one is
dropped and another taken, so nothing was sent on it. Once bytes are written, any failure is the caller's
error, never a resend: a provider that processed the call and then dropped the connection would bill it
twice. Writes have their own timeout (the request drained into the socket within it).

Corners it does not cover: over TLS the request goes into the TLS layer's own buffers (asyncio's and
uvloop's alike), which the write timeout cannot watch, so a provider that stops reading shows as a read
timeout there: the same outcome (kind "timeout", within the provider's timeout, nothing resent).
HTTP/1.1 only (no HTTP/2, no 100-continue wait: the body goes with the head),
no redirects, no cookies, no authentication from the URL, Content-Encoding gzip only (the only one asked
for; any other is passed through as is), Linux/Unix (the stale check polls the socket), no Expect or
Upgrade handling. Proxied URLs (HTTP(S)_PROXY, NO_PROXY) never come here: the seam sends them through
providers/http/proxied.py (aiohttp). The request, its bytes and the errors are providers/http/wire.py's.
"""
from __future__ import annotations

import asyncio
import contextlib
import select
import ssl
from collections import deque
from typing import AsyncIterator

import httptools

from .wire import (ConnectError, ConnectTimeout, HttpError, Key, LocalProtocolError, PoolTimeout, ReadTimeout,
                   RemoteProtocolError, Request, Timeout, WriteTimeout, encode, gunzip_for, inflate, origin, ssl_context)

__all__ = ["HIGH_WATER", "ConnectError", "ConnectTimeout", "HttpError", "LocalProtocolError", "Pool", "PoolTimeout",
           "ReadTimeout", "RemoteProtocolError", "Request", "Response", "Timeout", "WriteTimeout"]

HIGH_WATER = 256 * 1024  # bytes buffered for a slow reader before the socket stops being read


def _expire(waiter: asyncio.Future, error: type[Timeout], message: str) -> None:
    if not waiter.done():
        waiter.set_exception(error(message))


class _Conn(asyncio.Protocol):
    """One connection and the exchange on it; httptools' callbacks fill in the answer."""

    def __init__(self, pool: Pool, key: Key, loop: asyncio.AbstractEventLoop):
        self.pool, self.key, self.loop = pool, key, loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.poller: select.poll | None = None
        self.lost = self.idle = self.active = self.write_paused = False
        self.idle_since = 0.0
        self.chunks: deque[bytes] = deque()
        self.waiter: asyncio.Future | None = None
        self._reset(None)

    # One exchange

    def _reset(self, request: Request | None) -> None:
        self.request, self.status, self.headers = request, 0, []
        self.head_done = self.done = self.interim = self.reusable = self.paused = False
        self.received = self.buffered = 0
        self.error: Exception | None = None

    def stale(self) -> bool:
        """Unusable before anything is written: seen closed, closing, or with bytes (or a FIN) nobody asked for."""
        if self.lost or self.transport.is_closing():
            return True
        return self.poller is not None and bool(self.poller.poll(0))

    async def exchange(self, request: Request, data: bytes) -> None:
        """Write the request (once: never again on any failure) and wait for the answer's status and headers."""
        self._reset(request)
        self.active = True
        self.transport.write(data)
        if self.write_paused:  # not all in the socket yet: wait for it to drain (or for an early answer)
            while self.write_paused and not self.head_done and self.error is None:
                await self._wait(request.timeout, WriteTimeout, "the request was not sent in time")
        while not self.head_done:
            if self.error is not None:
                raise self.error
            await self._wait(request.timeout, ReadTimeout, "timed out waiting for the upstream")
        if request.method == "HEAD":  # no body follows, whatever Content-Length says (llhttp cannot be told)
            self.done, self.reusable = True, False

    async def read(self, timeout: float | None) -> bytes:
        """The body bytes buffered so far, waiting for some; b"" at the end of the body."""
        chunks = self.chunks
        while not chunks:
            if self.done:
                return b""
            if self.error is not None:
                raise self.error
            await self._wait(timeout, ReadTimeout, "timed out waiting for the upstream")
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if self.paused:
            self.paused = False
            self.transport.resume_reading()
        return data

    async def _wait(self, timeout: float | None, error: type[Timeout], message: str) -> None:
        waiter = self.waiter = self.loop.create_future()
        timer = None if timeout is None else self.loop.call_later(timeout, _expire, waiter, error, message)
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _broken(self, reason: str | None = None) -> None:
        """The connection ended or broke before the answer was complete."""
        if reason is None:
            reason = ("Server disconnected without sending a response." if self.received == 0
                      else "peer closed connection without sending complete message body")
        self.error = RemoteProtocolError(reason)
        self._wake()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        if self.key[0] == "http":  # told of every byte left unsent, and of the moment all are out
            transport.set_write_buffer_limits(high=0)
        # Not over TLS: its layer takes writes into its own buffers, and uvloop's would report a small
        # request as unsent until the next write (the connection would never be reused).
        sock = transport.get_extra_info("socket")
        if sock is not None and hasattr(select, "poll"):
            self.poller = select.poll()
            self.poller.register(sock.fileno(), select.POLLIN)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake()

    def data_received(self, data: bytes) -> None:
        if not self.active or self.done:  # bytes nobody asked for: this connection cannot be trusted again
            self.reusable = False
            self.close()
            return
        self.received += len(data)
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if not self.done:
                self._broken(f"malformed HTTP response: {type(exc).__name__}: {exc}")
            self.reusable = False
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.active and not self.done and self.error is None:
            if self.head_done and self._until_close():
                self.done = True
                self._wake()
            else:
                self._broken()
        self.pool._discard(self)

    def _until_close(self) -> bool:
        names = {name.lower() for name, _ in self.headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self.done:  # a second answer to one request: feed_data stops, and the connection is dropped
            raise ValueError("bytes after the end of the answer")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # an interim answer (100 Continue); the real one follows
            self.interim, self.headers = True, []
            return
        self.status, self.head_done = status, True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        self.done = True
        self.reusable = self.parser.should_keep_alive() and self.parser.get_http_version() == "1.1"
        self._wake()


class Response:
    """An answer whose status and headers have arrived; its body is read as it arrives, then the connection
    goes back to the pool. Closing it before the end drops the connection, so the server sees it go."""

    __slots__ = ("status", "headers", "_conn", "_timeout")

    def __init__(self, conn: _Conn, timeout: float | None):
        self.status, self.headers = conn.status, conn.headers
        self._conn: _Conn | None = conn
        self._timeout = timeout

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, decoded, in pieces as they arrive."""
        gunzip = gunzip_for(self.headers)
        while (conn := self._conn) is not None:
            chunk = await conn.read(self._timeout)
            if not chunk:
                self._conn = None
                conn.pool._release(conn)
                break
            if gunzip is not None:
                chunk = inflate(gunzip, chunk)
            if chunk:
                yield chunk
        if gunzip is not None and (tail := inflate(gunzip, None)):
            yield tail

    async def read(self) -> bytes:
        """The whole body, decoded."""
        return b"".join([chunk async for chunk in self.chunks()])

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.pool._discard(conn)


class Pool:
    """Per-origin keep-alive connections under one connection limit, for one event loop."""

    def __init__(self, max_connections: int = 512, max_idle: int = 128, keepalive_expiry: float | None = 30.0,
                 tls: ssl.SSLContext | None = None):
        self._max, self._max_idle, self._expiry = max_connections, max_idle, keepalive_expiry
        self._ssl = tls
        self._idle: dict[Key, deque[_Conn]] = {}
        self._idle_count = 0
        self._conns: set[_Conn] = set()  # every open connection, idle or busy
        self._opening = 0
        self._waiters: deque[asyncio.Future] = deque()

    async def send(self, request: Request) -> Response:
        """Send the request straight to its origin; return at its status and headers."""
        where = origin(request.url)
        data = encode(request, where)
        for _ in range(2):  # a pooled connection is checked before use (_Conn.stale()); a new one may close early
            conn = await self._checkout(where.key, request)
            if not (conn.lost or conn.transport.is_closing()):
                break
            self._discard(conn)  # closed before any byte was sent on it: one more, no resend
        else:
            raise RemoteProtocolError("the server closed the connection before the request was sent")
        try:
            await conn.exchange(request, data)
        except BaseException:
            self._discard(conn)
            raise
        return Response(conn, request.timeout)

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl_context()
        return self._ssl

    # The pool

    async def _checkout(self, key: Key, request: Request) -> _Conn:
        loop = asyncio.get_running_loop()
        deadline = None
        while True:
            conn = self._take_idle(key, loop.time())
            if conn is not None:
                return conn
            if len(self._conns) + self._opening < self._max or self._drop_oldest_idle():
                return await self._connect(key, request.connect_timeout, loop)
            if deadline is None and request.timeout is not None:
                deadline = loop.time() + request.timeout
            await self._wait_for_slot(loop, deadline)

    def _take_idle(self, key: Key, now: float) -> _Conn | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        if self._expiry is not None:
            while idle and now - idle[0].idle_since > self._expiry:  # oldest first
                self._discard(idle[0])
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to have been closed by the server
            self._idle_count -= 1
            conn.idle = False
            if not conn.stale():
                return conn
            self._discard(conn)  # nothing was written on it: taking another is not a resend
        return None

    def _drop_oldest_idle(self) -> bool:
        """Close an idle connection of another origin to make room under the limit."""
        for idle in self._idle.values():
            if idle:
                self._discard(idle[0])
                return True
        return False

    async def _wait_for_slot(self, loop: asyncio.AbstractEventLoop, deadline: float | None) -> None:
        waiter = loop.create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._wake_one()  # pass on a wake-up this request can no longer use
            waiter.cancel()
            if isinstance(exc, TimeoutError):
                raise PoolTimeout("no upstream connection became free in time") from None
            raise

    def _wake_one(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _connect(self, key: Key, timeout: float | None, loop: asyncio.AbstractEventLoop) -> _Conn:
        scheme, host, port = key
        conn = _Conn(self, key, loop)
        tls = self._tls() if scheme == "https" else None
        self._opening += 1
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(lambda: conn, host, port, ssl=tls, server_hostname=host if tls else None)
        except BaseException as exc:
            self._opening -= 1
            self._wake_one()
            if isinstance(exc, TimeoutError):
                raise ConnectTimeout(f"connecting to {host}:{port} timed out") from None
            if isinstance(exc, OSError):
                raise ConnectError(str(exc) or type(exc).__name__) from exc
            raise
        self._opening -= 1
        self._conns.add(conn)
        return conn

    def _release(self, conn: _Conn) -> None:
        """A connection whose answer was read to its end: keep it idle if it may be reused."""
        conn.active = False
        if (not conn.reusable or conn.lost or conn.write_paused or conn.transport.is_closing()
                or self._idle_count >= self._max_idle):
            self._discard(conn)
            return
        conn.idle, conn.idle_since, conn.request = True, conn.loop.time(), None
        self._idle.setdefault(conn.key, deque()).append(conn)
        self._idle_count += 1
        self._wake_one()

    def _discard(self, conn: _Conn) -> None:
        """Close a connection and free its place; safe to call again."""
        if conn.idle:
            conn.idle = False
            self._idle[conn.key].remove(conn)
            self._idle_count -= 1
        if conn in self._conns:
            self._conns.discard(conn)
            self._wake_one()
        conn.close()

    async def aclose(self) -> None:
        """Close every connection."""
        for conn in list(self._conns):
            self._discard(conn)
        await asyncio.sleep(0)  # let the transports finish closing their sockets

    def abandon(self) -> None:
        """Drop every connection without awaiting: their event loop is gone."""
        conns, self._conns, self._idle, self._idle_count = self._conns, set(), {}, 0
        for conn in conns:
            with contextlib.suppress(RuntimeError):  # "Event loop is closed" from a transport's close
                conn.close()

