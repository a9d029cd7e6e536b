"""On PostgreSQL the ledger writes batches with COPY through a staging table: exact, once, and in one go."""
from dataclasses import fields, replace
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import QuerySet, Sum
from django.test.utils import CaptureQueriesContext

from usage import ledger, ledger_copy
from usage.models import UsageRecord

from .conftest import make_tenant, requires_postgres
from .dbrole import table_role
from .test_alerts_fire_once import spend

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tenant():
    return make_tenant("acme")


@pytest.fixture
def ledger_bulk_creates(monkeypatch):
    """Counts bulk_create calls for ledger rows (the ORM path) while the test runs."""
    calls = []
    original = QuerySet.bulk_create

    def spy(self, objs, *args, **kwargs):
        if self.model is UsageRecord:
            calls.append(len(objs))
        return original(self, objs, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "bulk_create", spy)
    return calls


def write(*entries) -> None:
    for entry in entries:
        ledger.record(entry)
    ledger.flush()


def test_other_databases_keep_bulk_create(tenant, ledger_bulk_creates):
    write(spend(tenant, "0.1"), spend(tenant, "0.2"))
    assert ledger_bulk_creates == ([] if connection.vendor == "postgresql" else [2])
    assert UsageRecord.objects.count() == 2


@requires_postgres
def test_a_batch_goes_through_copy_not_bulk_create(tenant, ledger_bulk_creates):
    entries = [spend(tenant, "0.25") for _ in range(50)]
    with CaptureQueriesContext(connection) as queries:
        write(*entries)
    sql = [q["sql"] for q in queries.captured_queries]
    assert ledger_bulk_creates == []
    assert any(s.startswith("CREATE TEMP TABLE IF NOT EXISTS pg_temp.") for s in sql)
    assert any("INSERT INTO \"usage_usagerecord\"" in s and "FROM staged" in s for s in sql)
    assert not any("UNNEST" in s for s in sql)
    assert UsageRecord.objects.count() == 50


@requires_postgres
def test_a_retried_batch_with_duplicates_counts_each_request_once(tenant):
    first = [spend(tenant, "0.1") for _ in range(5)]
    write(*first, first[0], first[1])  # the same request twice in one batch
    later = [spend(tenant, "0.2") for _ in range(3)]
    write(*first, *later)  # as if the first write's answer got lost and the batch came round again
    assert UsageRecord.objects.count() == 8
    assert UsageRecord.objects.aggregate(total=Sum("cost_usd"))["total"] == Decimal("1.1")


@requires_postgres
def test_rows_round_trip_exactly(tenant):
    full = replace(
        spend(tenant, "0.000123456789"),
        model="gpt-4o-mini \u00e9\u00e8 \"quoted\"\tand\\slash", provider="openai", upstream_model="gpt-4o-mini-2024-07-18",
        prompt_tokens=123_456, completion_tokens=7, tokens_estimated=True,
        input_price_per_mtok=Decimal("0.150001"), output_price_per_mtok=Decimal("12345678.654321"),
        cost_usd=Decimal("123456789012.123456789012"), status=499, error_type="client_disconnected",
        cached=True, streamed=True, client_disconnected=True, latency_ms=2_000_000_000, ttft_ms=0,
        created_at=datetime(2026, 2, 28, 23, 59, 59, 999_999, tzinfo=timezone.utc),
    )
    empty = replace(
        spend(tenant, "0"), api_key_id=None, ttft_ms=None, error_type="", upstream_model="", provider="",
        prompt_tokens=0, completion_tokens=0, created_at=datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc),
    )
    write(full, empty)
    names = [f.name for f in fields(ledger.LedgerEntry)]
    for entry in (full, empty):
        row = UsageRecord.objects.values(*names).get(request_id=entry.request_id)
        assert row == {name: getattr(entry, name) for name in names}
    assert UsageRecord.objects.get(request_id=full.request_id).cost_usd.as_tuple().exponent == -12


@requires_postgres
def test_staging_leaves_nothing_behind_inside_an_outer_transaction(tenant):
    a, b = spend(tenant, "0.1"), spend(tenant, "0.2")
    with transaction.atomic():
        write(a)
        UsageRecord.objects.filter(request_id=a.request_id).delete()
        write(b)  # a staged row left over from a's write would come back here
        assert list(UsageRecord.objects.values_list("request_id", flat=True)) == [b.request_id]


@requires_postgres
def test_values_copy_cannot_take_are_left_to_the_orm_one_by_one(tenant):
    good = spend(tenant, "0.1")
    float_cost = replace(spend(tenant, "0"), cost_usd=0.25)  # the ORM takes a float; COPY's dumper does not
    str_tokens = replace(spend(tenant, "0"), prompt_tokens="5")
    write(good, float_cost, str_tokens)
    assert ledger.pending() == 0
    rows = dict(UsageRecord.objects.values_list("request_id", "cost_usd"))
    assert rows == {good.request_id: Decimal("0.1"), float_cost.request_id: Decimal("0.25"), str_tokens.request_id: 0}
    assert UsageRecord.objects.get(request_id=str_tokens.request_id).prompt_tokens == 5


@requires_postgres
def test_a_number_too_large_for_its_column_is_refused_not_wrapped(tenant):
    good = spend(tenant, "0.1")
    too_large = [replace(spend(tenant, "0"), status=70_000), replace(spend(tenant, "0"), latency_ms=2**40)]
    write(good, *too_large)  # binary COPY would store 4464 and 0; the ORM refuses both, as the text COPY does
    assert ledger.pending() == 0
    assert list(UsageRecord.objects.values_list("request_id", "status", "latency_ms")) == [(good.request_id, 200, 1)]


@requires_postgres
def test_a_nan_cost_is_refused_as_the_orm_refuses_it(tenant):
    entry = replace(spend(tenant, "0"), cost_usd=Decimal("NaN"))
    ledger.record(entry)
    with pytest.raises(Exception, match="decimal number"):
        ledger.flush()
    assert ledger.pending() == 1 and UsageRecord.objects.count() == 0


@requires_postgres
def test_a_role_without_temporary_tables_falls_back_to_bulk_create(tenant, monkeypatch, ledger_bulk_creates):
    monkeypatch.setattr(ledger_copy, "_refused", False)
    database = connection.ops.quote_name(connection.settings_dict["NAME"])
    role = table_role("ledger_no_temp")
    with connection.cursor() as cursor:
        cursor.execute(f"REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC")
    try:
        connection.close()  # the temporary schema is checked once per session: start a fresh one
        with connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {role}")
        entries = [spend(tenant, "0.1") for _ in range(3)]
        write(*entries)
        write(spend(tenant, "0.1"))
    finally:
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute(f"GRANT TEMPORARY ON DATABASE {database} TO PUBLIC")
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")
    assert ledger_copy._refused and ledger_bulk_creates == [3, 1]
    assert UsageRecord.objects.count() == 4
