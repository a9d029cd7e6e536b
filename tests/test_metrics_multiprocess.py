"""With PROMETHEUS_MULTIPROC_DIR, a scrape of any gateway process adds up the requests of all of them."""
import httpx
import pytest

from .conftest import chat_body
from .live import GatewayServer
from .promtext import value

pytestmark = pytest.mark.django_db(transaction=True)

LABELS = {"tenant": "acme", "model": "mock-small", "provider": "mock", "status_class": "2xx"}


def test_each_process_sees_the_requests_of_both(acme, mock_provider, tmp_path):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    with GatewayServer(env=env) as first, GatewayServer(env=env) as second, httpx.Client(timeout=10) as http:
        statuses = [
            http.post(f"{server.url}/v1/chat/completions", json=chat_body(), headers=acme.headers).status_code
            for server in (first, first, second, second, second)
        ]
        scrapes = [http.get(f"{server.url}/metrics").text for server in (first, second)]
    logs = "\n".join(s.logs()[-2000:] for s in (first, second))
    assert statuses == [200] * 5, logs
    for text in scrapes:
        assert value(text, "gateway_requests_total", **LABELS) == 5
        assert value(text, "gateway_request_duration_seconds_count", model="mock-small") == 5
        assert value(text, "gateway_open_streams") == 0
