"""The one seam to providers over HTTP: every provider call is `send()` or `open_stream()` here.

Adapters (providers/adapters/) only translate: they build an UpstreamRequest and parse the answer;
providers/routing.py calls this seam between the two. Here: one connection pool per provider and event loop,
the default headers and timeouts, and the engine's failures as UpstreamError (timeout | connect | stream).
No provider JSON, no retries, no redirects, no cookies. A request whose bytes were written is never sent
again, whatever happens next (a provider that processed it would bill it twice); only a pooled connection
found closed before the write is passed over for another.

The engine is providers/http/http1.py, a lean HTTP/1.1 client on httptools (why, what it does not cover,
and the measurement: its docstring); calls through a forward proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, read
once per pool) go through aiohttp in providers/http/proxied.py. The built-in mock provider (mock://) is
answered in-process.
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import urllib.request
from typing import TYPE_CHECKING, AsyncIterator

from infra.env import envint

from ..sse import SSEDecoder
from ..types import SSEEvent, Target, UpstreamError, UpstreamRequest
from .http1 import Pool, Response
from .wire import HttpError, LocalProtocolError, Origin, Request, Timeout, encode, origin, ssl_context

if TYPE_CHECKING:  # aiohttp (~12 MB a process) is imported only when a proxy is in use
    from .proxied import Proxied, ProxiedResponse

MOCK_SCHEME = "mock://"
# Per provider and process: one connection per open stream, so the limit must exceed the streams a worker holds
# (at 512, stream 513 waited for a free connection and its time to first token grew by the others' length).
MAX_CONNECTIONS = envint("UPSTREAM_MAX_CONNECTIONS", 10_000)
MAX_IDLE, KEEPALIVE_EXPIRY = 128, 30.0
MAX_CONNECT_TIMEOUT = 10.0
# (lower-case name, (name, value)): sent unless the adapter names them. gzip is the encoding the engine decodes.
_DEFAULTS = (
    ("accept", (b"Accept", b"*/*")),
    ("accept-encoding", (b"Accept-Encoding", b"gzip")),
    ("user-agent", (b"User-Agent", b"ai-gateway")),
)

# Pooled connections belong to the event loop that opened them, so pools are kept per loop:
# one loop (and one pool per provider) for a server's life, a fresh set for each test's loop.
_pools: dict[asyncio.AbstractEventLoop, dict[str, Upstream]] = {}


class Upstream:
    """One provider's connections in one loop: the engine's pool, and aiohttp's for the URLs a forward proxy
    (HTTPS_PROXY, HTTP_PROXY, NO_PROXY: read once, when the provider is first called in this loop) must carry."""

    __slots__ = ("pool", "_proxies", "_proxy_for", "_proxied")

    def __init__(self) -> None:
        self.pool = Pool(MAX_CONNECTIONS, MAX_IDLE, KEEPALIVE_EXPIRY)
        self._proxies = urllib.request.getproxies()
        self._proxy_for: dict[tuple[str, str], str | None] = {}
        self._proxied: Proxied | None = None

    async def send(self, request: Request) -> Response | ProxiedResponse:
        """Send the request, through its proxy if one applies; return at its status and headers."""
        if self._proxies:
            where = origin(request.url)
            proxy = self._proxy(where)
            if proxy is not None:
                encode(request, where)  # refuses a bad header on this path too, before anything is sent
                if self._proxied is None:
                    from .proxied import Proxied

                    self._proxied = Proxied(MAX_CONNECTIONS, KEEPALIVE_EXPIRY, ssl_context())
                return await self._proxied.send(request, proxy)
        return await self.pool.send(request)

    def _proxy(self, where: Origin) -> str | None:
        key = (where.scheme, where.host)
        if key not in self._proxy_for:
            proxy = self._proxies.get(where.scheme)
            if proxy and urllib.request.proxy_bypass_environment(where.host, self._proxies):
                proxy = None
            self._proxy_for[key] = proxy
        return self._proxy_for[key]

    async def aclose(self) -> None:
        await self.pool.aclose()
        if self._proxied is not None:
            await self._proxied.aclose()

    def abandon(self) -> None:
        self.pool.abandon()
        if self._proxied is not None:
            self._proxied.abandon()


@atexit.register
def _abandon_all() -> None:
    for pools in list(_pools.values()):
        for pool in pools.values():
            pool.abandon()


def _pool(target: Target) -> Upstream:
    loop = asyncio.get_running_loop()
    pools = _pools.get(loop)
    if pools is None:
        for old in [other for other in list(_pools) if other.is_closed()]:
            for pool in _pools.pop(old).values():
                pool.abandon()
        pools = _pools[loop] = {}
    pool = pools.get(target.provider)
    if pool is None:
        pool = pools[target.provider] = Upstream()
    return pool


async def close_all() -> None:
    """Close every pooled connection of this loop and drop those of other loops (at shutdown)."""
    loop = asyncio.get_running_loop()
    everything = list(_pools.items())
    _pools.clear()
    for owner, pools in everything:
        for pool in pools.values():
            if owner is loop:
                await pool.aclose()
            else:
                pool.abandon()


def _request(target: Target, upstream: UpstreamRequest) -> Request:
    """The engine's request: the defaults not named by the adapter, then its headers in its order and casing."""
    given = upstream.headers
    named = {name.lower() for name in given}
    headers = [pair for lower, pair in _DEFAULTS if lower not in named]
    try:
        headers += [(name.encode("ascii"), value.encode("ascii")) for name, value in given.items()]
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"a header is not ASCII: {exc}") from None
    return Request(upstream.method, upstream.url, headers, upstream.body, target.timeout,
                   min(target.timeout, MAX_CONNECT_TIMEOUT))


def _failure(target: Target, exc: HttpError) -> UpstreamError:
    """The UpstreamError for a failure before an answer arrived (or while reading a whole body)."""
    if isinstance(exc, Timeout):
        return UpstreamError("timeout", f"{target.provider} timed out after {target.timeout:g}s ({type(exc).__name__})")
    return UpstreamError("connect", f"{target.provider} failed before answering: {type(exc).__name__}: {exc}")


async def send(target: Target, upstream: UpstreamRequest) -> tuple[int, bytes]:
    """Send one request and read the whole answer: (status, body) for any status."""
    if upstream.url.startswith(MOCK_SCHEME):
        from ..adapters import mock

        return mock.respond(upstream)
    try:
        response = await _pool(target).send(_request(target, upstream))
        try:
            return response.status, await response.read()
        finally:
            await response.aclose()
    except HttpError as exc:
        raise _failure(target, exc) from exc


async def open_stream(target: Target, upstream: UpstreamRequest) -> UpstreamStream | MockStream:
    """Send a request and return once the answer's status and headers have arrived."""
    if upstream.url.startswith(MOCK_SCHEME):
        from ..adapters import mock

        return MockStream(mock.simulate_stream(upstream.body), float(target.options.get("delay_ms") or 0) / 1000)
    try:
        response = await _pool(target).send(_request(target, upstream))
    except HttpError as exc:
        raise _failure(target, exc) from exc
    return UpstreamStream(target, response)


class UpstreamStream:
    """An open streamed answer: its status, then either its error body or its events."""

    def __init__(self, target: Target, response):
        self.target = target
        self.status = response.status
        self._response = response  # http1.Response, or proxied.ProxiedResponse

    async def read_body(self) -> bytes:
        """The whole body (for non-2xx answers); the response is closed afterwards."""
        try:
            return await self._response.read()
        except HttpError as exc:
            raise _failure(self.target, exc) from exc
        finally:
            await self.aclose()

    async def events(self) -> AsyncIterator[SSEEvent]:
        """Each event as soon as its last byte has arrived."""
        decoder = SSEDecoder()
        try:
            async for data in self._response.chunks():
                for event in decoder.feed(data):
                    yield event
        except Timeout as exc:
            stalled = f"{self.target.provider} stream stalled for {self.target.timeout:g}s"
            raise UpstreamError("timeout", stalled) from exc
        except HttpError as exc:
            raise UpstreamError(
                "stream", f"{self.target.provider} stream broke: {type(exc).__name__}: {exc}", retryable=False
            ) from exc

    async def aclose(self) -> None:
        """Close the answer now; safe to call again."""
        with contextlib.suppress(HttpError, OSError, RuntimeError):  # the connection is being dropped anyway
            await self._response.aclose()


class MockStream:
    """The built-in mock provider's stream: prepared payloads, paced like a network stream."""

    status = 200

    def __init__(self, payloads: list[bytes], delay: float):
        self._payloads = payloads
        self._delay = delay
        self._closed = False

    async def read_body(self) -> bytes:
        return b""

    async def events(self) -> AsyncIterator[SSEEvent]:
        for i, payload in enumerate(self._payloads):
            if i and self._delay:
                await asyncio.sleep(self._delay)
            if self._closed:
                return
            yield SSEEvent(data=payload.decode())

    async def aclose(self) -> None:
        self._closed = True
