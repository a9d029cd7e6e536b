"""A provider request whose bytes were written is never sent again: a provider that read it, then dropped the
connection without answering, sees it exactly once. Only a pooled connection found closed before the write is
passed over for a new one (nothing was sent on it)."""
from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from providers import http
from providers.http.http1 import Pool, RemoteProtocolError
from providers.types import UpstreamError, UpstreamRequest
from tests.test_http1_transport import OK, Server, fetch, serve
from tests.test_transport import BODY, target


async def read_then_close(server: Server, reader, writer) -> None:
    """Reads one whole request, then closes the connection without a byte of answer."""
    await server.request(reader)


@pytest.fixture
async def pool():
    pool = Pool()
    yield pool
    await pool.aclose()


async def test_a_new_connection_dropped_after_the_request_sees_it_once(pool):
    async with Server(read_then_close) as server:
        with pytest.raises(RemoteProtocolError):
            await fetch(pool, server.url, content=b"bill me once")
    assert (server.connections, len(server.requests)) == (1, 1)


async def test_a_reused_connection_dropped_after_the_request_sees_it_once(pool):
    async with Server(serve(OK)) as server:  # answers the first request, reads the second, closes
        assert (await fetch(pool, server.url, content=b"first"))[1] == b"hello"
        with pytest.raises(RemoteProtocolError):
            await fetch(pool, server.url, content=b"bill me once")
        await asyncio.sleep(0)  # a resend would open a second connection here
    assert (server.connections, len(server.requests)) == (1, 2)


@pytest.mark.parametrize("call", [http.send, http.open_stream])
async def test_through_the_seam_the_provider_sees_one_request_and_routing_an_error(call):
    async with Server(read_then_close) as server:
        with pytest.raises(UpstreamError) as caught:
            await call(target(server.url), UpstreamRequest("POST", server.url, {}, BODY))
    assert caught.value.kind == "connect" and "RemoteProtocolError" in caught.value.message
    assert (server.connections, len(server.requests)) == (1, 1)
    await http.close_all()


class ThreadedServer:
    """A blocking server in a thread: the event loop does not run while it closes a connection."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1/chat"
        self.requests_per_connection: list[int] = []
        self.close_first = threading.Event()
        self.first_closed = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _read_request(self, conn: socket.socket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            piece = conn.recv(65536)
            if not piece:
                return False
            data += piece
        return True  # the tests' requests have no body

    def _run(self) -> None:
        first, _ = self.listener.accept()
        self.requests_per_connection.append(0)
        if self._read_request(first):
            self.requests_per_connection[0] += 1
            first.sendall(OK)
        self.close_first.wait(5)
        first.close()  # the keep-alive connection, idle in the client's pool, is closed by the server
        self.first_closed.set()
        second, _ = self.listener.accept()
        self.requests_per_connection.append(0)
        with second:
            if self._read_request(second):
                self.requests_per_connection[1] += 1
                second.sendall(OK)
            second.recv(1)

    def stop(self) -> None:
        self.listener.close()
        self.thread.join(5)


async def test_a_pooled_connection_closed_while_idle_is_passed_over_before_the_write(pool):
    server = ThreadedServer()
    try:
        assert (await fetch(pool, server.url))[1] == b"hello"
        server.close_first.set()
        assert server.first_closed.wait(5)  # blocking on purpose: the loop has not seen the FIN yet
        conn = next(iter(pool._conns))
        assert not conn.lost  # so only the socket check before the write can tell
        assert (await fetch(pool, server.url))[1] == b"hello"
        assert server.requests_per_connection == [1, 1]  # sent once, on the new connection
    finally:
        await pool.aclose()
        server.stop()
