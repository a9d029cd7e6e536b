"""MAX_REQUEST_BYTES holds on every path, before the body is read: 413 JSON while the client is still sending.

The server answers after a fraction of the declared body, so it neither read nor spooled the rest
(a temporary file would not show in a directory listing: Linux unlinks it at once). Plain Daphne is
not among the commands: Twisted reads every body before the application sees it (README, Serving).
"""
import socket

import pytest

from .live import GatewayServer

LIMIT = 100_000


@pytest.fixture(scope="module", params=["gateway_project.serve", "granian"])
def served(request, django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        with GatewayServer(module=request.param, env={"MAX_REQUEST_BYTES": str(LIMIT)}) as server:
            yield server


def exchange(port: int, head: bytes, part: bytes, timeout: float = 30.0) -> bytes:
    """Send a request head and part of its body, then wait for an answer without sending the rest."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        try:
            sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed without reading the rest
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
                if b"\r\n\r\n" in answer and b"}}" in answer:
                    break
        except (ConnectionResetError, TimeoutError):
            pass
        return answer


def assert_413_json(answer: bytes) -> None:
    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 413 " in status_line, answer[:300]
    assert b"application/json" in rest.lower()
    assert b'"request_too_large"' in rest


@pytest.mark.parametrize("path", ["/health", "/v1/models", "/admin/login/", "/v1/no-such-path"])
def test_a_20_mb_body_is_refused_by_its_length_before_it_is_sent(served, path):
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {20 * 1024 * 1024}\r\n\r\n").encode()
    assert_413_json(exchange(served.port, head, b"x" * 65536))


def test_a_chunked_body_is_refused_once_it_passes_the_limit(served):
    head = b"POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * 65536
    part = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3))  # 192 KB, no last chunk
    assert_413_json(exchange(served.port, head, part))
