"""The database refusing the gateway for a while loses no ledger entry and duplicates none."""
import time
import uuid

import httpx
import pytest
from django.db import connection

from usage.models import UsageRecord

from .conftest import chat_body, make_tenant, requires_postgres
from .live import GatewayServer, database_url

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def sql(statement: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement)


@pytest.fixture
def gateway_role():
    """A login role for the gateway alone, so the test can lock it out without touching anyone else."""
    role = f"gw_outage_{uuid.uuid4().hex[:8]}"
    sql(f"CREATE ROLE {role} LOGIN")
    sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
    sql(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
    yield role
    sql(f"ALTER ROLE {role} NOLOGIN")
    sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
    sql(f"DROP OWNED BY {role}")
    sql(f"DROP ROLE {role}")


def lock_out(role: str) -> None:
    sql(f"ALTER ROLE {role} NOLOGIN")
    sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")


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
