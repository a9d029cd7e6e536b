"""Provider calls through a forward proxy (HTTP(S)_PROXY, NO_PROXY): aiohttp's connections, the engine's shapes.

The seam (providers/http/__init__.py) sends direct calls through providers/http/wire.py and proxied ones here: aiohttp speaks to HTTP(S)
proxies (CONNECT included). What comes back has the engine's Response interface (status, headers, chunks,
read, aclose) and aiohttp's errors are raised as the engine's, so the seam cannot tell the two apart.
aiohttp resends a request on a dropped reused connection only for idempotent methods; that is switched off
here too, so a proxied request is written at most once, as a direct one. There is no separate write
timeout on this path: a body that is not sent produces no answer, and the read timeout ends the call.
"""
from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import AsyncIterator

import aiohttp

from . import wire
from .wire import Request

# Most specific first: the first class that matches decides.
_ERRORS: tuple[tuple[type[BaseException], type[wire.HttpError]], ...] = (
    (aiohttp.ConnectionTimeoutError, wire.ConnectTimeout),
    (aiohttp.SocketTimeoutError, wire.ReadTimeout),
    (aiohttp.ServerTimeoutError, wire.ReadTimeout),
    (asyncio.TimeoutError, wire.PoolTimeout),
    (aiohttp.InvalidURL, wire.LocalProtocolError),
    (aiohttp.ClientConnectorError, wire.ConnectError),
    (aiohttp.ClientPayloadError, wire.RemoteProtocolError),
    (aiohttp.ClientResponseError, wire.RemoteProtocolError),
    (aiohttp.ServerDisconnectedError, wire.RemoteProtocolError),
    (aiohttp.ClientError, wire.ConnectError),
)


@contextlib.contextmanager
def _as_engine_errors():
    try:
        yield
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        mapped = next(to for kind, to in _ERRORS if isinstance(exc, kind))
        raise mapped(str(exc) or type(exc).__name__) from exc


class ProxiedResponse:
    """An aiohttp answer with the engine's Response interface; closing it unread drops the connection."""

    __slots__ = ("status", "headers", "_response")

    def __init__(self, response: aiohttp.ClientResponse):
        self.status = response.status
        self.headers = list(response.raw_headers)
        self._response = response

    async def chunks(self) -> AsyncIterator[bytes]:
        with _as_engine_errors():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    async def aclose(self) -> None:
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class Proxied:
    """One aiohttp session (one keep-alive pool) for one engine Pool, made on first use in its loop."""

    def __init__(self, max_connections: int, keepalive_expiry: float | None, tls: ssl.SSLContext):
        self._max, self._expiry, self._ssl = max_connections, keepalive_expiry, tls
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._max, limit_per_host=0, keepalive_timeout=self._expiry or 15.0,
                                         ssl=self._ssl)
        # No trust_env: aiohttp would read the environment and ~/.netrc on every request; the pool read the
        # proxies once. auto_decompress: the answer comes out decoded, as the engine's does.
        session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                        skip_auto_headers=("Content-Type", "User-Agent", "Accept", "Accept-Encoding"))
        session._retry_connection = False  # never resend a written request (aiohttp would, for idempotent methods)
        return session

    async def send(self, request: Request, proxy: str) -> ProxiedResponse:
        session = self._session
        if session is None or session.closed:
            session = self._session = self._open()
        timeout = aiohttp.ClientTimeout(total=None, connect=request.timeout, sock_connect=request.connect_timeout,
                                        sock_read=request.timeout)
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers]
        with _as_engine_errors():
            response = await session.request(
                request.method, request.url, headers=headers, data=request.body or None,
                allow_redirects=False, compress=None, chunked=None, read_until_eof=True, proxy=proxy, timeout=timeout)
        return ProxiedResponse(response)

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
