"""A lean HTTP/1.1 keep-alive client for provider calls, behind httpx's transport interface.

Why: py-spy put the upstream client at the top of the gateway's CPU per request, aiohttp 16 % and
httpx 10.5 % self time (bench/README.md): aiohttp's ClientSession.request machinery (ClientRequest,
yarl, timers, tracing) and httpx's AsyncClient.send layers. Here each connection is an asyncio
Protocol parsed by httptools (C, llhttp); idle connections wait per origin and are checked out in
O(1); a request is one write; the body is handed over as it arrives, with back-pressure. send() takes
the lean Http1Request (providers/http1_request.py); handle_async_request, httpx's interface, converts to it.
Proxied URLs (HTTP(S)_PROXY, NO_PROXY) go to the AiohttpTransport instead.
"""
from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from collections import deque
from typing import TYPE_CHECKING, AsyncIterator

import httptools
import httpx

from .http1_request import Http1Request, encode
from .proxies import Proxies

if TYPE_CHECKING:  # aiohttp (~12 MB a process) is imported only when a proxy is in use
    from .aio_transport import AiohttpTransport

HIGH_WATER = 256 * 1024  # bytes buffered for a slow reader before the socket stops being read
_PORTS = {"http": 80, "https": 443}
_Key = tuple[str, str, int]


class _Stale(Exception):
    """A reused connection closed before any byte of the answer: the server dropped it while idle."""


def _expire(waiter: asyncio.Future, request: Http1Request) -> None:
    if not waiter.done():
        waiter.set_exception(httpx.ReadTimeout("timed out waiting for the upstream", request=request))


class _Conn(asyncio.Protocol):
    """One connection and the exchange on it; httptools' callbacks fill in the answer."""

    def __init__(self, pool: Http1Transport, key: _Key, loop: asyncio.AbstractEventLoop):
        self.pool, self.key, self.loop = pool, key, loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.lost = self.idle = self.active = False
        self.idle_since = 0.0
        self.used = 0  # exchanges begun on this connection
        self.chunks: deque[bytes] = deque()
        self.waiter: asyncio.Future | None = None
        self._reset(None)

    # One exchange

    def _reset(self, request: Http1Request | None) -> None:
        self.request, self.status, self.reason, self.headers = request, 0, b"", []
        self.head_done = self.done = self.interim = self.reusable = self.paused = False
        self.received = self.buffered = 0
        self.error: Exception | None = None

    async def exchange(self, request: Http1Request, data: bytes, timeout: float | None) -> None:
        """Write the request and wait for the answer's status and headers."""
        self.used += 1
        self._reset(request)
        self.active = True
        self.transport.write(data)
        if self.lost:
            self._broken()
        while not self.head_done:
            if self.error is not None:
                raise self.error
            await self._wait(timeout)
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
            await self._wait(timeout)
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if self.paused:
            self.paused = False
            self.transport.resume_reading()
        return data

    async def _wait(self, timeout: float | None) -> None:
        waiter = self.waiter = self.loop.create_future()
        timer = None if timeout is None else self.loop.call_later(timeout, _expire, waiter, self.request)
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
        if reason is None and self.received == 0 and self.used > 1:
            self.error = _Stale()
        else:
            if reason is None:
                reason = ("Server disconnected without sending a response." if self.received == 0
                          else "peer closed connection without sending complete message body")
            self.error = httpx.RemoteProtocolError(reason, request=self.request)
        self._wake()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

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

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # an interim answer (100 Continue); the real one follows
            self.interim, self.reason, self.headers = True, b"", []
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


class _Body(httpx.AsyncByteStream):
    """The answer's body as it arrives; the connection goes back to the pool once the body has been read."""

    def __init__(self, conn: _Conn, timeout: float | None):
        self._conn: _Conn | None = conn
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        while chunk := await conn.read(self._timeout):
            yield chunk
        self._conn = None
        conn.pool._release(conn)

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.pool._discard(conn)  # not read to its end: the server must see the connection go


class Http1Transport(httpx.AsyncBaseTransport):
    """Per-origin keep-alive pools with one connection limit, for one event loop."""

    def __init__(self, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None):
        self._limits = limits
        self._max = limits.max_connections or sys.maxsize
        self._max_idle = sys.maxsize if limits.max_keepalive_connections is None else limits.max_keepalive_connections
        self._expiry = limits.keepalive_expiry
        self._ssl = ssl_context or httpx.create_ssl_context()
        self._idle: dict[_Key, deque[_Conn]] = {}
        self._idle_count = 0
        self._conns: set[_Conn] = set()  # every open connection, idle or busy
        self._opening = 0
        self._waiters: deque[asyncio.Future] = deque()
        self._proxies = Proxies()
        self._proxied: AiohttpTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """httpx's transport interface: the request is converted once, then sent as send() sends it."""
        proxied = self._proxied_for(request.url)
        if proxied is not None:
            return await proxied.handle_async_request(request)
        response = await self._send(await Http1Request.of(request))
        response.request = request
        return response

    async def send(self, request: Http1Request) -> httpx.Response:
        """Send a lean request: straight to its origin, or as an httpx.Request through its forward proxy."""
        proxied = self._proxied_for(request.url)
        if proxied is not None:
            return await proxied.handle_async_request(request.to_httpx())
        return await self._send(request)

    def _proxied_for(self, url: httpx.URL) -> AiohttpTransport | None:
        """The proxy transport when this URL goes through a forward proxy (made on first use), else None."""
        if not (self._proxies and self._proxies.for_url(url)):
            return None
        if self._proxied is None:
            from .aio_transport import AiohttpTransport

            self._proxied = AiohttpTransport(self._limits, self._ssl)
        return self._proxied

    async def _send(self, request: Http1Request) -> httpx.Response:
        url = request.url
        port = url.port or _PORTS.get(url.scheme)
        if port is None:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}", request=request)
        timeout = request.timeout
        data = encode(request)
        key = (url.scheme, url.host, port)
        for fresh in (False, True):  # a reused connection the server had dropped is retried once, on a new one
            conn = await self._checkout(key, request, timeout, fresh)
            try:
                await conn.exchange(request, data, timeout.get("read"))
                break
            except _Stale:
                self._discard(conn)
            except BaseException:
                self._discard(conn)
                raise
        return httpx.Response(conn.status, headers=conn.headers, stream=_Body(conn, timeout.get("read")),
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": conn.reason})

    # The pool

    async def _checkout(self, key: _Key, request: Http1Request, timeout: dict, fresh: bool) -> _Conn:
        loop = asyncio.get_running_loop()
        deadline = None
        while True:
            conn = None if fresh else self._take_idle(key, loop.time())
            if conn is not None:
                return conn
            if len(self._conns) + self._opening < self._max or self._drop_oldest_idle():
                return await self._connect(key, request, timeout.get("connect"), loop)
            if deadline is None and timeout.get("pool") is not None:
                deadline = loop.time() + timeout["pool"]
            await self._wait_for_slot(loop, deadline, request)

    def _take_idle(self, key: _Key, now: float) -> _Conn | None:
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
            if not conn.lost and not conn.transport.is_closing():
                return conn
            self._discard(conn)
        return None

    def _drop_oldest_idle(self) -> bool:
        """Close an idle connection of another origin to make room under the limit."""
        for idle in self._idle.values():
            if idle:
                self._discard(idle[0])
                return True
        return False

    async def _wait_for_slot(self, loop: asyncio.AbstractEventLoop, deadline: float | None,
                             request: Http1Request) -> None:
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
                raise httpx.PoolTimeout("no upstream connection became free in time", request=request) from None
            raise

    def _wake_one(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _connect(self, key: _Key, request: Http1Request, timeout: float | None,
                       loop: asyncio.AbstractEventLoop) -> _Conn:
        scheme, host, port = key
        conn = _Conn(self, key, loop)
        tls = self._ssl if scheme == "https" else None
        self._opening += 1
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(lambda: conn, host, port, ssl=tls, server_hostname=host if tls else None)
        except BaseException as exc:
            self._opening -= 1
            self._wake_one()
            if isinstance(exc, TimeoutError):
                raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out", request=request) from None
            if isinstance(exc, OSError):
                raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
            raise
        self._opening -= 1
        self._conns.add(conn)
        return conn

    def _release(self, conn: _Conn) -> None:
        """A connection whose answer was read to its end: keep it idle if it may be reused."""
        conn.active = False
        if not conn.reusable or conn.lost or conn.transport.is_closing() or self._idle_count >= self._max_idle:
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
        """Close every connection (and the proxy transport's)."""
        for conn in list(self._conns):
            self._discard(conn)
        await asyncio.sleep(0)  # let the transports finish closing their sockets
        if self._proxied is not None:
            await self._proxied.aclose()

    def abandon(self) -> None:
        """Drop every connection without awaiting: their event loop is gone."""
        conns, self._conns, self._idle, self._idle_count = self._conns, set(), {}, 0
        for conn in conns:
            with contextlib.suppress(RuntimeError):  # "Event loop is closed" from a transport's close
                conn.close()
        if self._proxied is not None:
            self._proxied.abandon()
