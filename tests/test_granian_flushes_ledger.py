"""Under Granian (the production command), a worker stopped by SIGTERM still writes its queued usage.

Granian's workers are forked by multiprocessing and end with os._exit(), which skips atexit;
the ledger registers its exit flush with multiprocessing too (infra/exiting.py).
"""
import httpx
import pytest

from usage.models import UsageRecord

from .conftest import chat_body, make_tenant
from .live import GatewayServer

pytestmark = pytest.mark.django_db(transaction=True)


def test_sigterm_flushes_the_ledger_of_a_granian_worker(mock_provider):
    tenant = make_tenant("acme")
    server = GatewayServer(env={"LEDGER_FLUSH_INTERVAL": "600"}, module="granian").start()
    try:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": tenant.raw}, timeout=10) as client:
            for i in range(5):
                assert client.post("/v1/chat/completions", json=chat_body(text=f"hi {i}")).status_code == 200
        assert UsageRecord.objects.count() == 0  # still queued: the writer waits ten minutes
    finally:
        code = server.stop()
    assert code == 0, server.logs()[-2000:]
    assert UsageRecord.objects.filter(tenant=tenant.tenant).count() == 5
