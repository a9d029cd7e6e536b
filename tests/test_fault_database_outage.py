"""The database unreachable for a while: known keys keep working, /health says degraded, no usage record is lost."""
import time

import httpx
import pytest

from usage.models import UsageRecord

from .conftest import chat_body, make_tenant, requires_postgres
from .dbrole import lock_out, sql
from .live import GatewayServer, database_url

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 30  # as the issue states it; longer than every cache TTL and ledger backoff step here


def test_known_keys_keep_working_and_usage_is_written_after(mock_provider, gateway_role):
    tenant = make_tenant("acme")
    url = database_url().replace("postgres://postgres@", f"postgres://{gateway_role}@", 1)
    ids: list[str] = []
    with GatewayServer(env={"DATABASE_URL": url}) as server:
        with httpx.Client(base_url=server.url, headers=tenant.headers, timeout=10) as client:

            def send(stream: bool = False) -> None:
                response = client.post("/v1/chat/completions", json=chat_body(stream=stream))
                assert response.status_code == 200, response.text
                ids.append(response.headers["x-request-id"])

            send()
            lock_out(gateway_role)
            ended = time.monotonic() + OUTAGE_SECONDS
            health = client.get("/health")
            while time.monotonic() < ended:
                send()
                send(stream=True)
                time.sleep(0.5)
            sql(f"ALTER ROLE {gateway_role} LOGIN")
            send()
            deadline = time.monotonic() + 30
            while UsageRecord.objects.count() < len(ids) and time.monotonic() < deadline:
                time.sleep(0.2)
    assert sorted(UsageRecord.objects.values_list("request_id", flat=True)) == sorted(ids)
    assert health.json()["database"]["status"] == "down"
    assert health.status_code == 200 and health.json()["status"] == "degraded"  # still serving
