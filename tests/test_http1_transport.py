"""The engine under providers/http (providers/http/http1.py) against raw servers on 127.0.0.1: framing,
keep-alive, limits, faults, TLS. What a call may never do twice: tests/test_provider_http_never_resends.py."""
from __future__ import annotations

import asyncio
import datetime
import gc
import ipaddress
import os
import re
import ssl
import time
import warnings

import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from providers.http.http1 import (HIGH_WATER, ConnectError, LocalProtocolError, Pool, PoolTimeout, ReadTimeout,
                                  RemoteProtocolError, Request, Response)
from tests.fakes.upstream import closed_port

LIMITS = {"max_connections": 8, "max_idle": 8, "keepalive_expiry": 30}
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


class Server:
    """A raw HTTP/1.1 server in the test's loop; `answer(server, reader, writer)` serves one connection."""

    def __init__(self, answer, tls: ssl.SSLContext | None = None):
        self.answer, self.tls = answer, tls
        self.connections = 0
        self.requests: list[bytes] = []
        self.eof = asyncio.Event()  # a client closed a connection while the server waited for a request
        self.gate = asyncio.Event()  # opened by the test when a handler should go on
        self._tasks: set[asyncio.Task] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        """Stop, ending each handler by closing its connection (a cancelled handler makes asyncio log an error)."""
        self._server.close()
        self.gate.set()
        for writer in self._writers:
            writer.transport.abort()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/v1/chat"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._tasks.add(asyncio.current_task())
        self._writers.append(writer)
        try:
            await self.answer(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def request(self, reader: asyncio.StreamReader) -> bytes | None:
        """One whole request, or None when the client closed the connection."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.eof.set()
            return None
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        request = head + (await reader.readexactly(int(length[1])) if length else b"")
        self.requests.append(request)
        return request


async def keep_alive(server: Server, reader, writer) -> None:
    while await server.request(reader) is not None:
        writer.write(OK)


def serve(*answers: bytes, close: bool = False):
    """A handler that sends these answers, one per request, then keeps reading (or closes after each)."""
    async def handler(server: Server, reader, writer) -> None:
        for answer in answers:
            if await server.request(reader) is None:
                return
            writer.write(answer)
            if close:
                await writer.drain()
                return
        await server.request(reader)
    return handler


@pytest.fixture
async def pool():
    pool = Pool(**LIMITS)
    yield pool
    await pool.aclose()


def request(url: str, *, timeout: float = 2.0, method: str | None = None, content: bytes = b"",
            headers: dict[str, str] | None = None) -> Request:
    pairs = [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    return Request(method or ("POST" if content else "GET"), url, pairs, content, timeout, timeout)


async def fetch(pool: Pool, url: str, **kw) -> tuple[Response, bytes]:
    response = await pool.send(request(url, **kw))
    try:
        return response, await response.read()
    finally:
        await response.aclose()


async def test_sequential_requests_share_one_kept_alive_connection(pool):
    async with Server(keep_alive) as server:
        for _ in range(5):
            response, body = await fetch(pool, server.url)
            assert (response.status, body) == (200, b"hello")
        assert (server.connections, len(server.requests)) == (1, 5)


async def test_the_request_is_one_head_with_host_and_content_length(pool):
    async with Server(keep_alive) as server:
        await fetch(pool, server.url + "?q=1", content=b"abc", headers={"Authorization": "Bearer k", "X-A": "1"})
        await fetch(pool, server.url, headers={"Host": "provider.test"})
    posted, got = server.requests
    assert posted.startswith(b"POST /v1/chat?q=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % server.port)
    assert b"\r\nAuthorization: Bearer k\r\nX-A: 1\r\n" in posted and posted.endswith(b"Content-Length: 3\r\n\r\nabc")
    assert got.lower().count(b"host:") == 1 and b"\r\nHost: provider.test\r\n" in got
    assert b"content-length" not in got.lower()


async def test_a_header_with_a_line_break_is_refused_unsent(pool):
    async with Server(keep_alive) as server:
        with pytest.raises(LocalProtocolError):
            await fetch(pool, server.url, headers={"X-A": "1\r\nEvil: yes"})
        assert server.requests == []


async def test_a_lean_request_is_sent_as_given(pool):
    async with Server(keep_alive) as server:
        response = await pool.send(Request("POST", server.url, [(b"X-B", b"2"), (b"x-a", b"1")], b"abc", 2.0, 2.0))
        assert (response.status, await response.read()) == (200, b"hello")
        await response.aclose()
        with pytest.raises(LocalProtocolError):
            await pool.send(Request("GET", server.url, [(b"X-A", b"1\nEvil: yes")], b"", 2.0, 2.0))
    assert server.requests == [b"POST /v1/chat HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-B: 2\r\nx-a: 1\r\n"
                               b"Content-Length: 3\r\n\r\nabc" % server.port]


async def test_the_connection_limit_queues_then_times_out_the_pool_wait():
    transport = Pool(max_connections=2, max_idle=2)

    async def held(server: Server, reader, writer) -> None:
        while await server.request(reader) is not None:
            await server.gate.wait()
            writer.write(OK)

    async with Server(held) as server:
        first = [asyncio.create_task(fetch(transport, server.url)) for _ in range(2)]
        await asyncio.sleep(0.1)
        started = time.monotonic()
        with pytest.raises(PoolTimeout):
            await fetch(transport, server.url, timeout=0.2)
        assert 0.15 < time.monotonic() - started < 1.0
        waiting = asyncio.create_task(fetch(transport, server.url, timeout=2.0))
        await asyncio.sleep(0.1)
        assert not waiting.done() and server.connections == 2
        server.gate.set()
        for task in [*first, waiting]:
            assert (await task)[1] == b"hello"
        assert server.connections == 2  # the waiter took a connection that went back to the pool
    await transport.aclose()


@pytest.mark.parametrize("framing, answer, reused", [
    ("content-length", b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world", True),
    ("chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", True),
    ("until-close", b"HTTP/1.1 200 OK\r\n\r\nhello world", False),
])
async def test_bodies_of_every_framing_are_read_whole(pool, framing, answer, reused):
    async with Server(serve(answer, answer, close=not reused)) as server:
        for _ in range(2):
            response, body = await fetch(pool, server.url)
            assert (response.status, body) == (200, b"hello world")
        assert server.connections == (1 if reused else 2)


async def test_stream_chunks_arrive_as_they_are_sent(pool):
    async def sse(server: Server, reader, writer) -> None:
        await server.request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\ndata: 1\n\n\r\n")
        await server.gate.wait()  # the rest only once the client has the first event
        writer.write(b"9\r\ndata: 2\n\n\r\n0\r\n\r\n")
        await server.request(reader)

    async with Server(sse) as server:
        response = await pool.send(request(server.url))
        chunks = response.chunks()
        assert await asyncio.wait_for(chunks.__anext__(), 1.0) == b"data: 1\n\n"
        server.gate.set()
        assert [chunk async for chunk in chunks] == [b"data: 2\n\n"]
        await response.aclose()


async def test_connection_close_is_honoured(pool):
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello"
    async with Server(serve(closing, OK, OK)) as server:  # the server would go on: the client must not
        for _ in range(2):
            assert (await fetch(pool, server.url))[1] == b"hello"
        assert server.connections == 2


@pytest.mark.parametrize("pause", [0, 0.05])
async def test_a_connection_closed_after_its_answer_is_not_reused(pool, pause):
    async with Server(serve(OK, close=True)) as server:
        assert (await fetch(pool, server.url))[1] == b"hello"
        await asyncio.sleep(pause)
        if pause:
            assert pool._idle_count == 0  # seen closed while idle: out of the pool already
        assert (await fetch(pool, server.url))[1] == b"hello"
        assert (server.connections, len(server.requests)) == (2, 2)


async def test_no_retry_once_answer_bytes_arrived(pool):
    async def half_answer(server: Server, reader, writer) -> None:
        await server.request(reader)
        writer.write(OK)
        await server.request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")  # and the connection closes

    async with Server(half_answer) as server:
        await fetch(pool, server.url)
        with pytest.raises(RemoteProtocolError, match="complete"):
            await fetch(pool, server.url)
        assert (server.connections, len(server.requests)) == (1, 2)


async def test_the_read_timeout_applies_mid_body_and_closes_the_connection(pool):
    async with Server(serve(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")) as server:
        response = await pool.send(request(server.url, timeout=0.3))
        started = time.monotonic()
        with pytest.raises(ReadTimeout):
            await response.read()
        assert 0.25 < time.monotonic() - started < 1.0
        await response.aclose()
        await asyncio.wait_for(server.eof.wait(), 1.0)


async def test_a_head_answer_has_no_body_whatever_its_length(pool):
    async with Server(serve(OK.removesuffix(b"hello"))) as server:
        response, body = await fetch(pool, server.url, method="HEAD", timeout=1.0)
        assert (response.status, response.headers, body) == (200, [(b"Content-Length", b"5")], b"")


async def test_a_request_cancelled_before_its_answer_closes_the_connection(pool):
    async def silent(server: Server, reader, writer) -> None:
        while await server.request(reader) is not None:
            pass

    async with Server(silent) as server:
        task = asyncio.create_task(fetch(pool, server.url))
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.wait_for(server.eof.wait(), 1.0)
        assert not pool._conns


async def test_a_closed_port_is_a_connect_error(pool):
    with pytest.raises(ConnectError):
        await fetch(pool, f"http://127.0.0.1:{closed_port()}/v1")
    assert not pool._conns and pool._opening == 0


@pytest.mark.parametrize("answer", [b"HTTP/1.1 abc\r\n\r\n", b"garbage\r\n\r\n"])
async def test_a_malformed_answer_is_a_protocol_error(pool, answer):
    async with Server(serve(answer)) as server:
        with pytest.raises(RemoteProtocolError, match="malformed"):
            await fetch(pool, server.url)
        assert not pool._conns


async def test_aclose_mid_stream_closes_the_socket(pool):
    async with Server(serve(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n")) as server:
        response = await pool.send(request(server.url))
        assert await response.chunks().__anext__() == b"hi"
        await response.aclose()
        await asyncio.wait_for(server.eof.wait(), 1.0)
        assert not pool._conns


async def test_a_large_body_round_trips(pool):
    async def echo(server: Server, reader, writer) -> None:
        while (got := await server.request(reader)) is not None:
            body = got.split(b"\r\n\r\n", 1)[1]
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    sent = os.urandom(2 * 1024 * 1024)
    async with Server(echo) as server:
        assert (await fetch(pool, server.url, content=sent))[1] == sent
        assert (await fetch(pool, server.url, content=b"x"))[1] == b"x"
        assert server.connections == 1


async def test_a_slow_reader_pauses_the_socket_instead_of_buffering(pool):
    size, piece = 4 * 1024 * 1024, bytes(range(256)) * 256

    async def flood(server: Server, reader, writer) -> None:
        await server.request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(size // len(piece)):
            writer.write(piece)
            await writer.drain()
        await server.request(reader)

    async with Server(flood) as server:
        response = await pool.send(request(server.url))
        await asyncio.sleep(0.3)
        conn = response._conn
        assert not conn.transport.is_reading()
        assert conn.buffered <= HIGH_WATER + 256 * 1024  # the high-water mark plus at most one read
        assert await response.read() == piece * (size // len(piece))


def _tls_pair(tmp_path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and a client context trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))


async def test_https_to_a_local_tls_server(tmp_path):
    server_tls, client_tls = _tls_pair(tmp_path)
    trusting, default = Pool(**LIMITS, tls=client_tls), Pool(**LIMITS)
    async with Server(keep_alive, tls=server_tls) as server:
        for _ in range(2):
            assert (await fetch(trusting, server.url))[1] == b"hello"
        assert server.connections == 1
        with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await fetch(default, server.url)  # the default context does not trust a self-signed certificate
    await trusting.aclose()
    await default.aclose()


def test_https_connections_are_kept_alive_on_uvloop(tmp_path):
    """Production serves on uvloop, whose TLS layer reports writes differently from asyncio's."""
    server_tls, client_tls = _tls_pair(tmp_path)

    async def run() -> int:
        pool = Pool(**LIMITS, tls=client_tls)
        async with Server(keep_alive, tls=server_tls) as server:
            for content in (b"", b"x" * (1024 * 1024), b"y"):
                assert (await fetch(pool, server.url, content=content))[1] == b"hello"
        await pool.aclose()
        return server.connections

    assert uvloop.run(run()) == 1


@pytest.mark.parametrize("limits", [{"keepalive_expiry": 0.1}, {"max_idle": 0}])
async def test_expired_or_surplus_idle_connections_are_closed(limits):
    transport = Pool(**limits)
    async with Server(keep_alive) as server:
        await fetch(transport, server.url)
        await asyncio.sleep(0.2)
        await fetch(transport, server.url)
        assert server.connections == 2
        await asyncio.wait_for(server.eof.wait(), 1.0)  # the first one was closed, not left open
    await transport.aclose()


def test_abandon_after_the_loop_closed_does_not_raise(upstream):
    transport = Pool(**LIMITS)
    loop = asyncio.new_event_loop()
    response, _ = loop.run_until_complete(fetch(transport, f"{upstream.url}/v1/models"))
    assert response.status == 404 and transport._idle_count == 1
    loop.close()
    transport.abandon()
    assert not transport._conns and transport._idle_count == 0
    with warnings.catch_warnings():  # as with aiohttp, a dead loop's sockets are closed when collected
        warnings.simplefilter("ignore", ResourceWarning)
        del response
        gc.collect()
