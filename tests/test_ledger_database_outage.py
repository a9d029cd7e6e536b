"""The database refusing the gateway for a while loses no ledger entry and duplicates none."""
import time

import httpx
import pytest

from usage.models import UsageRecord

from .conftest import chat_body, make_tenant, requires_postgres
from .dbrole import lock_out, sql
from .live import GatewayServer, database_url

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def test_no_entry_is_lost_while_the_database_is_unreachable(mock_provider, gateway_role):
    tenant = make_tenant("acme")
    url = database_url().replace("postgres://postgres@", f"postgres://{gateway_role}@", 1)
    ids: list[str] = []
    with GatewayServer(env={"DATABASE_URL": url}) as server:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": tenant.raw}, timeout=10) as client:

            def send(n: int, stream: bool = False) -> None:
                for _ in range(n):
                    response = client.post("/v1/chat/completions", json=chat_body(stream=stream))
                    assert response.status_code == 200, response.text
                    ids.append(response.headers["x-request-id"])

            send(10)
            lock_out(gateway_role)
            send(20)
            send(5, stream=True)
            time.sleep(1.0)
            during = UsageRecord.objects.filter(request_id__in=ids).count()
            sql(f"ALTER ROLE {gateway_role} LOGIN")
            send(10)
            deadline = time.monotonic() + 30
            while UsageRecord.objects.count() < len(ids) and time.monotonic() < deadline:
                time.sleep(0.2)
    assert during <= 10
    assert sorted(UsageRecord.objects.values_list("request_id", flat=True)) == sorted(ids)
