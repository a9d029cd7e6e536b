"""The API's lean ASGI paths answer as the full Django stack did: JSON errors, headers, streams, metrics."""
import httpx
import orjson
import pytest

from .conftest import chat_body, make_tenant
from .live import GatewayServer
from .test_metrics_after_requests import value

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def served(mock_provider):
    tenant = make_tenant("acme")
    with GatewayServer(env={"MAX_REQUEST_BYTES": "5000"}) as server:
        with httpx.Client(base_url=server.url, headers=tenant.headers, timeout=10) as client:
            yield client


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == code


def test_a_completion_comes_back_with_the_gateways_headers(served):
    response = served.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"].startswith("req_")
    assert response.headers["x-gateway-provider"] == "mock"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.json()["object"] == "chat.completion"


def test_a_stream_arrives_as_server_sent_events(served):
    with served.stream("POST", "/v1/chat/completions", json=chat_body(stream=True)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        text = b"".join(response.iter_bytes()).decode()
    assert text.startswith("data: {") and text.endswith("data: [DONE]\n\n")


def test_errors_stay_json(served):
    assert_error(served.post("/v1/chat/completions", content=b"x" * 6000), 413, "request_too_large")
    assert_error(served.get("/v1/chat/completions"), 405, "method_not_allowed")
    assert_error(served.get("/v1/nothing-here"), 404, "unknown_url")
    assert_error(served.post("/v1/chat/completions", json=chat_body(), headers={"X-API-Key": "sk-wrong"}), 401,
                 "invalid_api_key")
    response = served.post("/v1/chat/completions", content=b"{not json")
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"


def test_the_api_paths_still_move_the_django_request_metrics(served):
    before = served.get("/metrics").text
    served.post("/v1/chat/completions", json=chat_body())
    served.get("/v1/models")
    after = served.get("/metrics").text

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("django_http_requests_total_by_method_total", method="POST") == 1
    assert moved("django_http_responses_total_by_status_total", status="200") >= 2
    assert moved("gateway_requests_total", tenant="acme", status_class="2xx") == 1


def test_the_admin_is_still_served_by_the_full_stack(served):
    response = served.get("/admin/login/")
    assert response.status_code == 200
    assert "csrftoken" in response.cookies
    assert response.headers["x-frame-options"] == "DENY"


def test_a_models_list_comes_from_the_lean_stack(served):
    response = served.get("/v1/models")
    assert response.status_code == 200
    assert {m["id"] for m in orjson.loads(response.content)["data"]} == {"mock-small", "mock-large"}
