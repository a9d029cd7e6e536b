"""Hostile HTTP under each serving command: odd content types, huge headers and bodies, deep nesting, malformed
requests, slow bodies. Never a 5xx; the gateway's JSON error wherever the application (or, under
`python -m gateway_project.serve`, the HTTP layer) answers; the server keeps serving."""
import socket
import time

import httpx
import orjson
import pytest

from .conftest import chat_body, make_tenant
from .live import GRACEFUL, SERVING_COMMANDS, GatewayServer
from .rawhttp import Answer, exchange, request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module", params=SERVING_COMMANDS)
def server(request, django_db_setup, django_db_blocker):
    """One gateway process per serving command, for the whole module.

    It writes no usage while the module runs: a row written as a test's tables are emptied would deadlock the
    emptying. (What is queued is refused at exit, its tenants gone.)"""
    env = {"REQUEST_IDLE_SECONDS": "1", "MAX_REQUEST_BYTES": "100000", "LEDGER_WRITER": "0"}
    with django_db_blocker.unblock(), GatewayServer(env=env, module=request.param) as server:
        yield server


@pytest.fixture
def client(server, mock_provider):
    tenant = make_tenant("acme")
    with httpx.Client(base_url=server.url, headers=tenant.headers, timeout=10) as client:
        yield client


def assert_json_answer(response: httpx.Response, allowed: set[int]) -> None:
    assert response.status_code in allowed, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    if response.status_code >= 400:
        assert set(response.json()["error"]) >= {"message", "type", "code"}


def assert_no_5xx(answer: Answer) -> None:
    """An answer under 500 or a closed connection; the JSON error shape whenever the answer is JSON."""
    assert answer.status is None or answer.status < 500, answer
    if answer.json and answer.status >= 400:
        assert set(answer.error()) >= {"message", "type", "code"}


def test_hostile_requests_get_json_answers_and_the_server_keeps_serving(server, client):
    body = orjson.dumps(chat_body())
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        assert_json_answer(client.post("/v1/chat/completions", content=body, headers={"content-type": content_type}),
                           {200, 400, 415})
    broken = client.post("/v1/chat/completions", content=body, headers={"content-type": "multipart/form-data; boundary=x"})
    if server.module == GRACEFUL:  # Twisted parses multipart bodies itself and refuses a broken one; serve words it
        assert_json_answer(broken, {400})
        assert broken.json()["error"]["code"] == "malformed_http_request"
    elif server.module == "daphne":  # the same refusal, bare
        assert broken.status_code == 400
    else:  # Granian hands the body to the application as it is
        assert_json_answer(broken, {200, 400, 415})
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
def test_oversized_headers_get_no_5xx_and_a_json_431_from_serve(server, client, headers):
    body = orjson.dumps(chat_body())
    sent = {"Host": "127.0.0.1", "Content-Type": "application/json", "Content-Length": str(len(body)),
            "Connection": "close", **client.headers, **headers}
    answer = exchange(server.url, request("/v1/chat/completions", sent, body))
    assert_no_5xx(answer)
    if server.module == GRACEFUL:
        assert answer.status == 431 and answer.error()["code"] == "request_header_fields_too_large"
    assert_json_answer(client.post("/v1/chat/completions", json=chat_body()), {200})


def test_a_malformed_request_gets_no_5xx_and_a_json_400_from_serve(server, client):
    for data in (b"NONSENSE\r\n\r\n", b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
                 b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"):
        answer = exchange(server.url, data)
        assert answer.status == 400, answer  # from the HTTP layer under every command
        if server.module == GRACEFUL:
            assert answer.json and answer.error()["code"] == "malformed_http_request"
    long_line = exchange(server.url, b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert_no_5xx(long_line)
    if server.module == GRACEFUL:
        assert long_line.status == 431
    assert_json_answer(client.post("/v1/chat/completions", json=chat_body()), {200})


def test_a_slow_body_does_not_hold_the_server_and_serve_drops_it(server, client):
    host, port = server.url.removeprefix("http://").split(":")
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as slow:
        slow.sendall(head + b'{"model": ')
        assert_json_answer(client.post("/v1/chat/completions", json=chat_body()), {200})
        if server.module != GRACEFUL:
            return  # Daphne and Granian have no body timeout: the connection stays open until the client goes
        started = time.monotonic()
        answer = b""
        try:
            while part := slow.recv(65536):
                answer += part
        except ConnectionResetError:
            pass
        assert time.monotonic() - started < 5  # the idle timeout (1 s here) closed it
        assert b"200 OK" not in answer
