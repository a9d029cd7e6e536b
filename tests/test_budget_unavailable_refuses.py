"""With neither Redis nor the database able to confirm spend, a hard budget refuses; a soft one keeps serving."""
from decimal import Decimal

import httpx
import pytest

from .conftest import chat_body, make_tenant, requires_postgres
from .dbrole import lock_out, sql
from .live import GatewayServer, database_url, free_port

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def test_a_hard_budget_refuses_while_its_spend_cannot_be_checked(mock_provider, gateway_role):
    hard = make_tenant("hard", monthly_budget_usd=Decimal("5"), budget_is_hard=True)
    soft = make_tenant("soft", monthly_budget_usd=Decimal("5"), budget_is_hard=False)
    url = database_url().replace("postgres://postgres@", f"postgres://{gateway_role}@", 1)
    # Redis at a port nobody listens on: budgets count in the database, then in nothing.
    env = {"DATABASE_URL": url, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "BUDGET_RESYNC_SECONDS": "0"}
    with GatewayServer(env=env) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/v1/chat/completions", json=chat_body(), headers=hard.headers).status_code == 200
        assert client.post("/v1/chat/completions", json=chat_body(), headers=soft.headers).status_code == 200
        lock_out(gateway_role)
        refused = client.post("/v1/chat/completions", json=chat_body(), headers=hard.headers)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"] == {
            "message": refused.json()["error"]["message"], "type": "budget_exceeded", "code": "budget_unavailable",
        }
        assert refused.headers["Retry-After"]
        assert client.post("/v1/chat/completions", json=chat_body(), headers=soft.headers).status_code == 200
        sql(f"ALTER ROLE {gateway_role} LOGIN")
