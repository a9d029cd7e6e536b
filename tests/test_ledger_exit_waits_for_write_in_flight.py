"""The exit flush waits for a batch the writer thread has taken but not yet committed.

Found by the fleet's rolling restart (tests/test_fleet_rolling_restart.py): a Granian worker that
exited while its writer thread was mid-COPY lost that batch, because the exit flush saw an empty
queue and returned at once. Here the batch is held mid-write by a real table lock in PostgreSQL.
"""
from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
from django.db import connections

from usage import ledger
from usage.models import UsageRecord

from .conftest import requires_postgres
from .live import database_url

pytestmark = [pytest.mark.django_db(transaction=True), requires_postgres]


def entry(owner) -> ledger.LedgerEntry:
    return ledger.LedgerEntry(
        request_id=f"req_{uuid.uuid4().hex}", tenant_id=owner.tenant.pk, api_key_id=owner.key.pk, model="mock-small",
        provider="mock", upstream_model="mock-small", prompt_tokens=1, completion_tokens=1, tokens_estimated=False,
        input_price_per_mtok=Decimal(0), output_price_per_mtok=Decimal(0), cost_usd=Decimal(0), status=200,
        error_type="", cached=False, streamed=False, client_disconnected=False, latency_ms=1, ttft_ms=None,
        created_at=datetime.now(UTC),
    )


def in_thread(fn) -> threading.Thread:
    def run():
        try:
            fn()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_the_exit_flush_returns_only_once_the_batch_in_flight_is_written(acme):
    queued = entry(acme)
    ledger.record(queued)
    with psycopg.connect(database_url()) as blocker:
        blocker.execute(f'LOCK TABLE "{UsageRecord._meta.db_table}" IN EXCLUSIVE MODE')  # until rollback
        writer = in_thread(ledger.flush)  # the writer thread's turn: takes the batch, then waits on the lock
        while ledger.pending():
            writer.join(0.01)
        exiting = in_thread(ledger._flush_at_exit)  # the process is ending
        exiting.join(1.0)
        returned_early = not exiting.is_alive()
        blocker.rollback()
    exiting.join(30)
    written = set(UsageRecord.objects.values_list("request_id", flat=True))
    writer.join(30)
    assert not returned_early
    assert written == {queued.request_id}
