"""A gateway stopped with SIGTERM or SIGINT writes every queued ledger entry before it exits."""
import signal

import httpx
import pytest

from usage.models import UsageRecord

from .conftest import chat_body, make_tenant
from .live import GatewayServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_daphne_flushes_the_queue(mock_provider, sig):
    tenant = make_tenant("acme")
    # The writer would wait a minute: only the shutdown flush can write these rows.
    with GatewayServer(env={"LEDGER_FLUSH_INTERVAL": "60"}) as server:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": tenant.raw}, timeout=10) as client:
            ids = {client.post("/v1/chat/completions", json=chat_body()).headers["x-request-id"] for _ in range(25)}
            stream = client.post("/v1/chat/completions", json=chat_body(stream=True))
            ids.add(stream.headers["x-request-id"])
        assert UsageRecord.objects.count() == 0
        server.proc.send_signal(sig)
        server.proc.wait(30)
        log = server.logs()[-3000:]
    assert set(UsageRecord.objects.values_list("request_id", flat=True)) == ids, log
