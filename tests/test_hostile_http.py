"""Hostile HTTP against `python -m gateway_project.serve`: odd content types, huge headers and bodies, deep nesting,
malformed requests, slow bodies; every refusal is the gateway's JSON error."""
import socket
import time

import httpx
import orjson
import pytest

from .conftest import chat_body, make_tenant
from .test_fault_sigterm_drains import DrainingGateway

pytestmark = pytest.mark.django_db(transaction=True)


def assert_json_answer(response: httpx.Response, allowed: set[int]) -> None:
    assert response.status_code in allowed, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    if response.status_code >= 400:
        assert set(response.json()["error"]) >= {"message", "type", "code"}


def raw_exchange(url: str, data: bytes, wait: float = 5.0) -> bytes:
    """Send bytes on a fresh connection; return what comes back before the server closes it."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(data)
        received = b""
        try:
            while part := sock.recv(65536):
                received += part
        except (TimeoutError, ConnectionResetError):
            pass
        return received


@pytest.fixture
def served(mock_provider):
    tenant = make_tenant("acme")
    with DrainingGateway(env={"REQUEST_IDLE_SECONDS": "1", "MAX_REQUEST_BYTES": "100000"}) as server:
        with httpx.Client(base_url=server.url, headers=tenant.headers, timeout=10) as client:
            yield server, client


def test_hostile_requests_get_json_answers_and_the_server_keeps_serving(served):
    server, client = served
    body = orjson.dumps(chat_body())
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        assert_json_answer(client.post("/v1/chat/completions", content=body, headers={"content-type": content_type}),
                           {200, 400, 415})
    # Twisted parses multipart bodies itself and refuses a broken one; the gateway words the refusal.
    broken = client.post("/v1/chat/completions", content=body, headers={"content-type": "multipart/form-data; boundary=x"})
    assert_json_answer(broken, {400})
    assert broken.json()["error"]["code"] == "malformed_http_request"
    assert_json_answer(client.post("/v1/chat/completions", content=b"[" * 200_000), {400, 413})
    assert_json_answer(client.post("/v1/chat/completions", content=b"[" * 50_000 + b"]" * 50_000), {400})
    assert_json_answer(client.post("/v1/chat/completions", content=b'{"model": "\xff", "messages": []}'), {400})
    assert_json_answer(client.post("/v1/chat/completions", content=b"x" * 200_000), {413})
    assert_json_answer(client.post("/v1/chat/completions", json=chat_body()), {200})


@pytest.mark.parametrize("headers", [
    {"x-junk": "a" * 40_000},  # one header line over Twisted's line limit
    {f"x-junk-{i}": "a" * 100 for i in range(200)},  # 16 KB of headers in all
    {f"x-junk-{i}": "a" for i in range(600)},  # over 500 header fields
], ids=["one-long-line", "large-total", "too-many"])
def test_oversized_headers_get_a_json_431(served, headers):
    server, client = served
    response = client.post("/v1/chat/completions", json=chat_body(), headers=headers)
    assert_json_answer(response, {431})
    assert response.json()["error"]["code"] == "request_header_fields_too_large"
    assert_json_answer(client.post("/v1/chat/completions", json=chat_body()), {200})


def test_a_malformed_request_gets_a_json_400(served):
    server, client = served
    for request in (b"NONSENSE\r\n\r\n", b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
                    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"):
        head, _, body = raw_exchange(server.url, request).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 ") and b"Content-Type: application/json" in head, head
        assert orjson.loads(body)["error"]["code"] == "malformed_http_request"
    long_line = raw_exchange(server.url, b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert long_line.startswith(b"HTTP/1.1 431 ")
    assert_json_answer(client.post("/v1/chat/completions", json=chat_body()), {200})


def test_a_slow_body_is_dropped_and_does_not_hold_the_server(served):
    server, client = served
    started = time.monotonic()
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
    answer = raw_exchange(server.url, head + b'{"model": ', wait=10)
    assert time.monotonic() - started < 5  # the idle timeout (1 s here) closed it
    assert b"200 OK" not in answer
    assert_json_answer(client.post("/v1/chat/completions", json=chat_body()), {200})
