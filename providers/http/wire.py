"""What both ways of calling a provider share: the request, its URL taken apart, its bytes, TLS, the errors.

providers/http/http1.py (direct calls) and providers/http/proxied.py (through a forward proxy, on aiohttp)
both take a Request and raise these errors, so the seam (providers/http/__init__.py), which chooses between
them, cannot tell the two apart. Nothing here opens a connection.
"""
from __future__ import annotations

import functools
import os
import ssl
import urllib.parse
import zlib
from dataclasses import dataclass

import certifi

_PORTS = {"http": 80, "https": 443}
_FRAMING = (b"content-length", b"transfer-encoding", b"host")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
Key = tuple[str, str, int]  # scheme, host, port: one pool of keep-alive connections each


class HttpError(Exception):
    """A call failed before its answer was complete."""


class ConnectError(HttpError):
    """The connection could not be opened (refused, unreachable, TLS)."""


class LocalProtocolError(HttpError):
    """The request cannot be sent as given (a CR or LF in a header, an unsupported URL); nothing was sent."""


class RemoteProtocolError(HttpError):
    """The server closed the connection early or answered something that is not HTTP/1.1."""


class Timeout(HttpError):
    """A deadline passed."""


class ConnectTimeout(Timeout):
    pass


class WriteTimeout(Timeout):
    pass


class ReadTimeout(Timeout):
    pass


class PoolTimeout(Timeout):
    pass


@dataclass(frozen=True, slots=True)
class Origin:
    """A URL taken apart once: where to connect, and what the request line and Host header say."""

    scheme: str
    host: str
    port: int
    target: bytes  # path and query, as sent on the request line
    netloc: bytes  # the Host header unless the caller gives one

    @property
    def key(self) -> Key:
        return self.scheme, self.host, self.port


@functools.lru_cache(maxsize=256)
def origin(url: str) -> Origin:
    """A provider URL, parsed once (the same few URLs serve every request)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or _PORTS.get(parts.scheme)
        host = parts.hostname
    except ValueError as exc:
        raise LocalProtocolError(f"invalid URL {url!r}: {exc}") from None
    if port is None:
        raise LocalProtocolError(f"unsupported URL scheme {parts.scheme!r}")
    if not host:
        raise LocalProtocolError(f"no host in URL {url!r}")
    target = urllib.parse.quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        target += "?" + urllib.parse.quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
    netloc = parts.netloc.rpartition("@")[2]
    return Origin(parts.scheme, host, port, target.encode("ascii"), netloc.encode("idna"))


@dataclass(slots=True)
class Request:
    """What the engine sends: headers in the caller's order and casing (Host and framing are the engine's)."""

    method: str
    url: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    timeout: float | None  # read (between bytes of the answer), write and pool wait, seconds
    connect_timeout: float | None


def encode(request: Request, where: Origin) -> bytes:
    """The request line, the headers as given with Host and Content-Length, and the body; CR or LF in a header
    is refused."""
    body = request.body
    lines = [b"%s %s HTTP/1.1" % (request.method.encode(), where.target)]
    host = None
    for name, value in request.headers:
        lower = name.lower()
        if lower in _FRAMING:
            if lower == b"host" and host is None:
                host = name + b": " + value
            continue
        lines.append(name + b": " + value)
    lines.insert(1, host or b"Host: " + where.netloc)
    if body or request.method in _BODY_METHODS:
        lines.append(b"Content-Length: %d" % len(body))
    head = b"\r\n".join(lines)
    if head.count(b"\n") != len(lines) - 1 or head.count(b"\r") != len(lines) - 1:
        raise LocalProtocolError("a header contains CR or LF")
    return head + b"\r\n\r\n" + body


def ssl_context() -> ssl.SSLContext:
    """Verified TLS for HTTP/1.1: certifi's roots unless SSL_CERT_FILE / SSL_CERT_DIR name others."""
    context = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or certifi.where(),
                                         capath=os.environ.get("SSL_CERT_DIR"))
    context.set_alpn_protocols(["http/1.1"])
    return context


def gunzip_for(headers: list[tuple[bytes, bytes]]):
    """A gzip decoder when the answer is gzip-encoded (the only encoding the seam asks for), else None."""
    for name, value in headers:
        if name.lower() == b"content-encoding" and value.strip().lower() in (b"gzip", b"x-gzip"):
            return zlib.decompressobj(zlib.MAX_WBITS | 16)
    return None


def inflate(decoder, data: bytes | None) -> bytes:
    try:
        return decoder.decompress(data) if data is not None else decoder.flush()
    except zlib.error as exc:
        raise RemoteProtocolError(f"the gzip body does not decode: {exc}") from None
