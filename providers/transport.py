"""The one HTTP seam to providers: pooled connections, timeouts, typed errors; no provider JSON, no retries.

Requests go straight to the transport (providers/http1.py) as lean Http1Requests, past AsyncClient.send's
auth, redirect and cookie layers: redirects are not followed and cookies are not kept. The pooled client per
provider holds the default headers and timeouts (encoded once, in its pool entry), and owns the transport.
(The transport's one resend, of a request on a kept-alive connection the server had closed unseen, is not
a retry of an answer.)
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
from typing import AsyncIterator

import httpx

from .http1 import Http1Transport
from .http1_request import Http1Request
from .sse import SSEDecoder
from .types import SSEEvent, Target, UpstreamError, UpstreamRequest

MOCK_SCHEME = "mock://"
LIMITS = httpx.Limits(max_connections=512, max_keepalive_connections=128, keepalive_expiry=30)
MAX_CONNECT_TIMEOUT = 10.0


def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(connect=min(seconds, MAX_CONNECT_TIMEOUT), read=seconds, write=seconds, pool=seconds)


class _Entry:
    """One provider's pooled client and transport, with what every request takes from the client, made once."""

    __slots__ = ("client", "connections", "defaults", "timeout")

    def __init__(self, client: httpx.AsyncClient, connections: Http1Transport):
        self.client, self.connections = client, connections
        # (lower-case name, (name, value)): the default headers as the client would send them, unless overridden
        self.defaults = tuple((name.decode().lower(), (name, value)) for name, value in client.headers.raw)
        self.timeout = client.timeout.as_dict()

    def request(self, upstream: UpstreamRequest) -> Http1Request:
        """The lean request: defaults not named by the caller, then the caller's headers in its order and casing."""
        given = upstream.headers
        named = {name.lower() for name in given}
        headers = [pair for lower, pair in self.defaults if lower not in named]
        headers += [(name.encode("ascii"), value.encode("ascii")) for name, value in given.items()]
        return Http1Request(upstream.method, _url(upstream.url), headers, upstream.body, self.timeout)


# Pooled connections belong to the event loop that opened them, so clients are kept per loop:
# one loop (and one client per provider) for a server's life, a fresh set for each test's loop.
_Pool = dict[tuple[str, str, float], _Entry]
_pools: dict[asyncio.AbstractEventLoop, _Pool] = {}


def _abandon(pool: _Pool) -> None:
    for entry in pool.values():
        entry.connections.abandon()


@atexit.register
def _abandon_all() -> None:
    for pool in list(_pools.values()):
        _abandon(pool)


def _pool() -> _Pool:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        for old in [other for other in list(_pools) if other.is_closed()]:
            _abandon(_pools.pop(old))
        pool = _pools[loop] = {}
    return pool


def _pooled(target: Target) -> _Entry:
    """The pool entry for this provider, made on first use."""
    pool = _pool()
    key = (target.provider, target.base_url, target.timeout)
    entry = pool.get(key)
    if entry is None:
        connections = Http1Transport(LIMITS)
        # trust_env=False: the transport reads the proxy variables itself (once), for every request.
        client = httpx.AsyncClient(timeout=_timeout(target.timeout), transport=connections, trust_env=False)
        client._cookies = _NoCookies()  # httpx's setter would copy the jar into a plain Cookies
        entry = pool[key] = _Entry(client, connections)
    return entry


def client_for(target: Target) -> httpx.AsyncClient:
    """The pooled client for this provider: its headers and timeouts; its transport does the I/O."""
    return _pooled(target).client


async def close_all() -> None:
    """Close every client of this loop and drop those of other loops (for shutdown and tests)."""
    loop = asyncio.get_running_loop()
    pools = list(_pools.items())
    _pools.clear()
    for owner, pool in pools:
        if owner is loop:
            for entry in pool.values():
                await entry.client.aclose()
        else:
            _abandon(pool)


def _failure(target: Target, exc: Exception) -> UpstreamError:
    """The UpstreamError for a failure before a response arrived (or while reading a whole body)."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamError("timeout", f"{target.provider} timed out after {target.timeout:g}s ({type(exc).__name__})")
    return UpstreamError("connect", f"{target.provider} could not be reached: {type(exc).__name__}: {exc}")


class _NoCookies(httpx.Cookies):
    """Provider cookies are not kept: one client serves every tenant, and nothing of one answer may ride on another."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


@functools.lru_cache(maxsize=256)
def _url(url: str) -> httpx.URL:
    """A provider's URL, parsed once: the same few URLs serve every request."""
    return httpx.URL(url)


async def _read(response: httpx.Response) -> bytes:
    """The whole body: joined straight from the transport's stream, unless a Content-Encoding must be undone."""
    for name, value in response.headers.raw:
        if name.lower() == b"content-encoding" and value.strip().lower() != b"identity":
            return await response.aread()  # aread applies the Content-Encoding
    return b"".join([chunk async for chunk in response.stream])


async def send(target: Target, upstream: UpstreamRequest) -> tuple[int, bytes]:
    """Send one request and read the whole answer: (status, body) for any status."""
    if upstream.url.startswith(MOCK_SCHEME):
        from .adapters import mock

        return mock.respond(upstream)
    entry = _pooled(target)
    try:
        response = await entry.connections.send(entry.request(upstream))
        try:
            return response.status_code, await _read(response)
        finally:
            await response.aclose()
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise _failure(target, exc) from exc


async def open_stream(target: Target, upstream: UpstreamRequest) -> UpstreamStream | MockStream:
    """Send a request and return once the answer's status and headers have arrived."""
    if upstream.url.startswith(MOCK_SCHEME):
        from .adapters import mock

        return MockStream(mock.simulate_stream(upstream.body), float(target.options.get("delay_ms") or 0) / 1000)
    entry = _pooled(target)
    try:
        response = await entry.connections.send(entry.request(upstream))
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise _failure(target, exc) from exc
    return UpstreamStream(target, response)


class UpstreamStream:
    """An open streamed answer: its status, then either its error body or its events."""

    def __init__(self, target: Target, response: httpx.Response):
        self.target = target
        self.status = response.status_code
        self._response = response

    async def read_body(self) -> bytes:
        """The whole body (for non-2xx answers); the response is closed afterwards."""
        try:
            return await self._response.aread()
        except httpx.HTTPError as exc:
            raise _failure(self.target, exc) from exc
        finally:
            await self.aclose()

    async def events(self) -> AsyncIterator[SSEEvent]:
        """Each event as soon as its last byte has arrived."""
        decoder = SSEDecoder()
        try:
            async for data in self._response.aiter_bytes():
                for event in decoder.feed(data):
                    yield event
        except httpx.TimeoutException as exc:
            raise UpstreamError("timeout", f"{self.target.provider} stream stalled for {self.target.timeout:g}s") from exc
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise UpstreamError(
                "stream", f"{self.target.provider} stream broke: {type(exc).__name__}: {exc}", retryable=False
            ) from exc

    async def aclose(self) -> None:
        """Close the answer now; safe to call again."""
        with contextlib.suppress(httpx.HTTPError, OSError, RuntimeError):  # the connection is being dropped anyway
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
