"""An httpx transport whose connections are aiohttp's, for provider calls through a forward proxy.

Direct calls go through providers/http1.py. httpcore (httpx's own transport) scans every pooled
connection with a poll() syscall per request, three quarters of the gateway's CPU at 64 concurrent
requests (bench/README.md); aiohttp's connector hands out idle connections in O(1), speaks to
HTTP(S) proxies (CONNECT included), and parses HTTP in C.
"""
from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import AsyncIterator, Iterator

import aiohttp
import httpx

from .proxies import Proxies

# Most specific first: the first class that matches decides.
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (asyncio.TimeoutError, httpx.PoolTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientOSError, httpx.ReadError),
    (aiohttp.ClientError, httpx.TransportError),
)


@contextlib.contextmanager
def _as_httpx(request: httpx.Request) -> Iterator[None]:
    """Raise aiohttp's errors as the httpx errors a caller of httpx expects."""
    try:
        yield
    except aiohttp.InvalidURL as exc:
        raise httpx.InvalidURL(str(exc)) from exc
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        mapped = next(to for kind, to in _ERRORS if isinstance(exc, kind))
        raise mapped(str(exc) or type(exc).__name__, request=request) from exc


class _Body(httpx.AsyncByteStream):
    """The answer's body as it arrives; closing it returns the connection to the pool, or drops it if unread."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request):
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx(self._request):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (one keep-alive pool) for one httpx.AsyncClient, made on first use in its loop."""

    def __init__(self, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None):
        self._limits = limits
        self._ssl = ssl_context or httpx.create_ssl_context()
        self._session: aiohttp.ClientSession | None = None
        self._proxies = Proxies()

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=self._limits.keepalive_expiry or 15.0,
            ssl=self._ssl,
        )
        # httpx handles cookies, redirects and content decoding above the transport. No trust_env: aiohttp
        # would read the environment and ~/.netrc on every request; the proxies are read once instead.
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                     auto_decompress=False, skip_auto_headers=("Content-Type",))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session
        if session is None or session.closed:
            session = self._session = self._open()
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()
        with _as_httpx(request):
            response = await session.request(
                request.method, str(request.url), headers=request.headers.multi_items(), data=body or None,
                allow_redirects=False, compress=None, chunked=None, read_until_eof=True,
                proxy=self._proxies.for_url(request.url),
                timeout=aiohttp.ClientTimeout(total=None, connect=timeout.get("pool"),
                                              sock_connect=timeout.get("connect"), sock_read=timeout.get("read")),
            )
        extensions = {"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode("latin-1")}
        return httpx.Response(response.status, headers=list(response.raw_headers), stream=_Body(response, request),
                              request=request, extensions=extensions)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def abandon(self) -> None:
        """Drop every connection without awaiting (its event loop is gone); quiets aiohttp's unclosed warnings."""
        session, self._session = self._session, None
        if session is not None and session.connector is not None:
            with contextlib.suppress(RuntimeError):  # "Event loop is closed" from a transport's close
                session.connector._close()
