"""The ledger's monthly partitions: made ahead, late rows kept, whole months pruned with their rollups left whole."""
from __future__ import annotations

import csv
from datetime import datetime, timezone
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Sum

from usage import ledger, partitions, rollups
from usage.models import PrunedMonth, UsageDayTotal, UsageRecord

from .conftest import requires_postgres
from .dbrole import table_role
from .test_usage_rollups_exact import entry, write

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.now(timezone.utc)
THIS_MONTH = partitions.month_start(NOW)


def month(n: int):
    return partitions.add_months(THIS_MONTH, n)


def at(month_first, day: int = 10) -> datetime:
    return datetime(month_first.year, month_first.month, day, 12, tzinfo=timezone.utc)


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def names() -> set[str]:
    return {p.name for p in partitions.partitions()}


@requires_postgres
def test_the_writer_makes_this_and_next_months_partitions_and_no_insert_fails(acme):
    partitions.forget()
    write(entry(acme))
    assert {partitions.partition_name(THIS_MONTH), partitions.partition_name(month(1)), partitions.DEFAULT} <= names()
    write(entry(acme, created_at=at(month(-30))))  # a month without a partition: DEFAULT takes it
    assert UsageRecord.objects.count() == 2 and ledger.pending() == 0


@requires_postgres
def test_ensure_partitions_makes_months_ahead_and_takes_late_rows_out_of_default(acme):
    far = month(5)
    write(entry(acme, created_at=at(far)))  # lands in DEFAULT: no partition for that month yet
    assert "Made" in run("ensure_partitions", "--months", "7")
    assert partitions.partition_name(far) in names()
    assert run("ensure_partitions", "--months", "7").startswith("The next 7 months' partitions exist already")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {partitions.partition_name(far)}")
        assert cursor.fetchone()[0] == 1
        cursor.execute(f"SELECT count(*) FROM {partitions.DEFAULT}")
        assert cursor.fetchone()[0] == 0
    with pytest.raises(CommandError, match="between 1 and 120"):
        run("ensure_partitions", "--months", "0")


@requires_postgres
def test_prune_exports_then_drops_whole_months_and_the_rollups_stay(acme, tmp_path):
    old, older = month(-2), month(-3)
    partitions.ensure([old, older])
    entries = [entry(acme, created_at=at(old), cost_usd=Decimal("0.000000000007")), entry(acme, created_at=at(older)),
               entry(acme, created_at=at(month(-40))), entry(acme)]  # month(-40): DEFAULT
    write(*entries)
    spent_before = UsageDayTotal.objects.aggregate(total=Sum("cost_usd"))["total"]
    target = tmp_path / "old.csv"
    out = run("prune_usage", "--before", f"{month(-1):%Y-%m}", "--export", str(target))
    assert "Pruned 3 ledger rows" in out
    exported = list(csv.DictReader(target.open(newline="")))
    assert sorted(r["request_id"] for r in exported) == sorted(e.request_id for e in entries[:3])
    assert partitions.partition_name(old) not in names() and partitions.partition_name(older) not in names()
    assert list(UsageRecord.objects.values_list("request_id", flat=True)) == [entries[3].request_id]
    assert UsageDayTotal.objects.aggregate(total=Sum("cost_usd"))["total"] == spent_before  # rollups stay
    assert set(PrunedMonth.objects.values_list("month", flat=True)) == {old, older, month(-40)}
    assert run("rebuild_rollups", "--check").startswith("Rollups agree")
    run("rebuild_rollups")  # pruned months keep their sums
    assert UsageDayTotal.objects.aggregate(total=Sum("cost_usd"))["total"] == spent_before
    # A late row for a pruned month lands in DEFAULT, counts in the rollups, and goes with the next prune.
    write(entry(acme, created_at=at(old, 11)))
    assert "Pruned 1 ledger rows" in run("prune_usage", "--before", f"{month(-1):%Y-%m}")
    assert PrunedMonth.objects.get(month=old).rows == 2


def test_prune_refuses_the_current_month_and_bad_input(acme, tmp_path):
    write(entry(acme))
    for bad, message in [("2026-13", "YYYY-MM"), ("26-01", "YYYY-MM"), ("soon", "YYYY-MM"),
                         (f"{month(1):%Y-%m}", "current month")]:
        with pytest.raises(CommandError, match=message):
            run("prune_usage", "--before", bad)
    with pytest.raises(CommandError, match="Cannot write"):
        run("prune_usage", "--before", f"{THIS_MONTH:%Y-%m}", "--export", str(tmp_path / "no" / "such.csv"))
    assert UsageRecord.objects.count() == 1  # nothing pruned when the export failed
    assert run("prune_usage", "--before", f"{THIS_MONTH:%Y-%m}").startswith("No ledger rows before")


def test_rebuild_rollups_check_fails_on_a_difference(acme):
    write(entry(acme))
    assert run("rebuild_rollups", "--check").startswith("Rollups agree")
    UsageDayTotal.objects.update(requests=5)
    with pytest.raises(CommandError, match="differ"):
        run("rebuild_rollups", "--check")
    run("rebuild_rollups")
    assert rollups.differences() == []


@requires_postgres
def test_a_role_that_may_not_create_partitions_still_writes_every_row(acme):
    """The gateway's role has its tables but not CREATE on the schema: rows of a month without a partition go to
    DEFAULT, the writer carries on, and ensure_partitions (run by the owner) moves them into their month."""
    far = month(11)
    role = table_role("ledger_no_create")
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {role}")
    try:
        partitions.forget()
        assert partitions.ensure_ahead(at(far), months=1) == []  # refused, logged, not raised
        write(entry(acme, created_at=at(far)), entry(acme))
        assert UsageRecord.objects.count() == 2 and ledger.pending() == 0
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")
        partitions.forget()
    assert partitions.partition_name(far) not in names()
    partitions.ensure([far])
    assert partitions.partition_name(far) in names() and UsageRecord.objects.count() == 2
