"""The ledger queues entries in memory and writes them in batches: nothing lost, nothing twice."""
import time
from dataclasses import replace

import pytest

from usage import ledger
from usage.models import UsageRecord

from .conftest import make_tenant
from .test_alerts_fire_once import spend

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tenant():
    return make_tenant("acme")


def test_entries_wait_in_memory_until_a_flush_writes_them_all(settings, tenant):
    settings.GATEWAY = {**settings.GATEWAY, "LEDGER_WRITER": False}
    entries = [spend(tenant, "0.000001") for _ in range(2500)]
    for entry in entries:
        ledger.record(entry)
    assert ledger.pending() == 2500 and UsageRecord.objects.count() == 0
    assert ledger.flush() == 2500
    assert ledger.pending() == 0
    assert set(UsageRecord.objects.values_list("request_id", flat=True)) == {e.request_id for e in entries}


def test_a_retried_batch_writes_nothing_twice(settings, tenant):
    settings.GATEWAY = {**settings.GATEWAY, "LEDGER_WRITER": False}
    entries = [spend(tenant, "0.5") for _ in range(10)]
    for entry in entries + entries[:5]:
        ledger.record(entry)
    ledger.flush()
    for entry in entries:  # as if the database had written the batch but the answer got lost
        ledger.record(entry)
    ledger.flush()
    assert UsageRecord.objects.count() == 10


def test_an_entry_the_database_refuses_does_not_hold_up_the_others(settings, tenant):
    settings.GATEWAY = {**settings.GATEWAY, "LEDGER_WRITER": False}
    good = [spend(tenant, "0.1") for _ in range(3)]
    orphan = replace(spend(tenant, "0.1"), tenant_id=999_999, api_key_id=None)
    for entry in (good[0], orphan, *good[1:]):
        ledger.record(entry)
    ledger.flush()
    assert ledger.pending() == 0
    assert set(UsageRecord.objects.values_list("request_id", flat=True)) == {e.request_id for e in good}


def test_the_writer_thread_writes_within_moments(settings, tenant):
    settings.GATEWAY = {**settings.GATEWAY, "LEDGER_WRITER": True, "LEDGER_FLUSH_INTERVAL": 0.05}
    entries = [spend(tenant, "0.1") for _ in range(20)]
    for entry in entries:
        ledger.record(entry)
    deadline = time.monotonic() + 5
    while UsageRecord.objects.count() < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert UsageRecord.objects.count() == 20 and ledger.pending() == 0


def test_entries_queued_while_a_flush_writes_wait_for_the_next_one(settings, tenant):
    """A flush takes what was queued when it began: chasing newcomers would write one-row batches back to back."""
    settings.GATEWAY = {**settings.GATEWAY, "LEDGER_WRITER": False}
    late = spend(tenant, "0.000001")

    def arrive_meanwhile(batch):
        if late not in batch and ledger.pending() == 0:
            ledger.record(late)  # a request finishing while the batch is written

    for _ in range(3):
        ledger.record(spend(tenant, "0.000001"))
    ledger.publishers.append(arrive_meanwhile)
    try:
        assert ledger.flush() == 3
        assert ledger.pending() == 1
        assert ledger.flush() == 1
    finally:
        ledger.publishers.remove(arrive_meanwhile)
    assert UsageRecord.objects.count() == 4
