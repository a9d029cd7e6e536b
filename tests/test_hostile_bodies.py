"""Requests that lie about their body (chunk sizes, a Content-Length longer than what is sent) get a 400 or a
closed connection under each serving command, never a 5xx; where the gateway answers, in the JSON error shape."""
import httpx
import orjson
import pytest

from .conftest import chat_body
from .live import GRACEFUL, SERVING_COMMANDS, GatewayServer
from .promtext import value
from .rawhttp import Answer, exchange, request

BODY = orjson.dumps(chat_body())
CHUNKED = {"Transfer-Encoding": "chunked"}
LIES = {
    "chunk-larger-than-sent": (CHUNKED, b"100\r\n" + BODY + b"\r\n0\r\n\r\n"),
    "chunk-smaller-than-sent": (CHUNKED, b"5\r\n" + BODY + b"\r\n0\r\n\r\n"),
    "chunk-size-not-hex": (CHUNKED, b"zz\r\n" + BODY + b"\r\n0\r\n\r\n"),
    "chunk-size-overflows": (CHUNKED, b"ffffffffffffffff\r\n" + BODY + b"\r\n0\r\n\r\n"),
    "no-last-chunk": (CHUNKED, b"%x\r\n" % len(BODY) + BODY + b"\r\n"),
    "content-length-longer": ({"Content-Length": "500"}, BODY),
}
PATHS = ["/v1/chat/completions", "/v1/models", "/v1/usage", "/health", "/admin/login/"]


@pytest.fixture(scope="module", params=SERVING_COMMANDS)
def server(request, django_db_setup, django_db_blocker):
    """One gateway process per serving command, for the whole module."""
    with django_db_blocker.unblock(), GatewayServer(module=request.param) as server:
        yield server


def lie_bytes(path: str, lie: str) -> bytes:
    # No key: were the body read, /v1/ would answer 401, so a 400 can only be the refusal of the body.
    headers, body = LIES[lie]
    return request(path, {"Host": "127.0.0.1", "Content-Type": "application/json", **headers}, body)


def send_lie(server: GatewayServer, path: str, lie: str) -> Answer:
    """The lying request, after which the client shuts its side, as a client that has sent all it will."""
    return exchange(server.url, lie_bytes(path, lie), half_close=True)


def assert_refused(server: GatewayServer, answer: Answer) -> None:
    """A 400 or a closed connection; the gateway's JSON wherever it answers (plain Daphne's Twisted answers bare)."""
    assert answer.status in (None, 400), answer
    if server.module == "granian":  # Granian hands the broken body to the application, which answers
        assert answer.status == 400 and answer.json, answer
    if answer.status is not None and server.module != "daphne":
        assert answer.error() == {"message": "The HTTP request is malformed.", "type": "invalid_request_error",
                                  "code": "malformed_http_request"}


@pytest.mark.parametrize("lie", LIES)
@pytest.mark.parametrize("path", PATHS)
def test_a_lying_body_is_refused_with_a_400_or_a_closed_connection(server, path, lie):
    assert_refused(server, send_lie(server, path, lie))


def five_hundreds(metrics: str) -> float:
    """Every 5xx the gateway's own metrics counted: Django's responses by status, and chat outcomes."""
    statuses = [f"5{rest:02d}" for rest in range(12)]
    return (sum(value(metrics, "django_http_responses_total_by_status_total", status=s) for s in statuses)
            + value(metrics, "gateway_requests_total", status_class="5xx"))


def test_lying_bodies_count_no_5xx_and_the_gateway_keeps_serving(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        before = client.get("/metrics").text
        for path in PATHS:
            for lie in LIES:
                send_lie(server, path, lie)
        assert five_hundreds(client.get("/metrics").text) == five_hundreds(before)
        assert client.get("/health").status_code == 200
    assert "Traceback" not in server.logs()


@pytest.mark.parametrize("lie", ["chunk-smaller-than-sent", "chunk-size-not-hex"])
def test_a_broken_chunk_is_refused_while_the_client_still_listens(server, lie):
    """No half-close: the server refuses on what it read, and closes the connection itself."""
    answer = exchange(server.url, lie_bytes("/v1/chat/completions", lie), wait=10)
    assert_refused(server, answer)
    if server.module == GRACEFUL:
        assert answer.status == 400
