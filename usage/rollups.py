"""The ledger's rollups, kept exact in the same transaction as each ledger batch.

Three tables sum the ledger rows (usage/models.py): per tenant, key, model and UTC day (UsageDaily),
the same per calendar month (UsageMonthly), and per tenant and day (UsageDayTotal). Reports,
the dashboard, budgets and alerts read them instead of the raw rows (usage/reports.py).

On PostgreSQL the writer's one statement moves the staged batch into the ledger and adds the
rows it really inserted (RETURNING, so a retried request is counted once) to the three tables
with INSERT ... ON CONFLICT DO UPDATE: no extra round trip (usage/ledger_copy.py). Elsewhere,
and on the writer's one-by-one path, the batch is summed in Python and upserted the same way.
Sums are integers and numeric: exact to the last digit; `manage.py rebuild_rollups --check`
compares them with the ledger.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal
from functools import cache

from django.db import connections, transaction

from . import partitions

LEDGER = "usage_usagerecord"
COUNTS = ("requests", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens",
          "reasoning_tokens", "cost_usd", "cached_requests", "errors")
_SUMMED = COUNTS[1:7]  # the columns a rollup sums as they are


@dataclass(frozen=True)
class Table:
    name: str
    keys: tuple[str, ...]  # the unique key, as columns of the rollup


DAILY = Table("usage_usagedaily", ("day", "tenant_id", "key_id", "model"))
MONTHLY = Table("usage_usagemonthly", ("month", "tenant_id", "key_id", "model"))
DAY_TOTAL = Table("usage_usagedaytotal", ("day", "tenant_id"))
TABLES = (DAILY, MONTHLY, DAY_TOTAL)


def _key_sql(vendor: str) -> dict[str, str]:
    """Each key column of a rollup, as an expression over ledger rows."""
    if vendor == "postgresql":
        day, month = "(created_at AT TIME ZONE 'UTC')::date", "date_trunc('month', created_at AT TIME ZONE 'UTC')::date"
    else:  # SQLite keeps datetimes as UTC text
        day, month = "date(created_at)", "strftime('%%Y-%%m-01', created_at)"
    return {"day": day, "month": month, "tenant_id": "tenant_id", "key_id": "COALESCE(api_key_id, 0)", "model": "model"}


_COUNT_SQL = {
    "requests": "count(*)",
    **{c: f"sum({c})" for c in _SUMMED},
    "cached_requests": "sum(CASE WHEN cached THEN 1 ELSE 0 END)",
    "errors": "sum(CASE WHEN status >= 400 THEN 1 ELSE 0 END)",
}
# The ledger columns a rollup needs from each row.
SOURCE_COLUMNS = ("created_at", "tenant_id", "api_key_id", "model", *_SUMMED, "cached", "status")


def _on_conflict(table: Table) -> str:
    adds = ", ".join(f"{c} = {table.name}.{c} + excluded.{c}" for c in COUNTS)
    return f"ON CONFLICT ({', '.join(table.keys)}) DO UPDATE SET {adds}"


def upsert_from(table: Table, source: str, vendor: str, where: str = "") -> str:
    """INSERT the sums of `source`'s ledger rows into the rollup, adding to rows already there.

    Ordered by the key, so two writers upserting overlapping rows lock them in the same order."""
    keys = _key_sql(vendor)
    group = ", ".join(keys[k] for k in table.keys)
    columns = ", ".join((*table.keys, *COUNTS))
    values = ", ".join((*(keys[k] for k in table.keys), *(_COUNT_SQL[c] for c in COUNTS)))
    return (f"INSERT INTO {table.name} ({columns}) SELECT {values} FROM {source} WHERE true {where}"
            f" GROUP BY {group} ORDER BY {group} {_on_conflict(table)}")


@cache
def after_insert_sql() -> str:
    """The tail of the COPY writer's statement: the rows of `moved` added to every rollup (PostgreSQL)."""
    parts = [f"{t.name}_added AS ({upsert_from(t, 'moved', 'postgresql')})" for t in TABLES[:-1]]
    return ", " + ", ".join(parts) + " " + upsert_from(TABLES[-1], "moved", "postgresql")


def _python_key(table: Table, entry) -> tuple:
    day = entry.created_at.astimezone(UTC).date()
    values = {"day": day, "month": day.replace(day=1), "tenant_id": entry.tenant_id,
              "key_id": entry.api_key_id or 0, "model": entry.model}
    return tuple(values[k] for k in table.keys)


def _as_stored(column: str, value):
    """The value as the ledger column stores it (the ORM's path takes a float cost or a string count)."""
    from .models import UsageRecord

    stored = UsageRecord._meta.get_field(column).to_python(value)
    return stored.quantize(Decimal("1e-12")) if isinstance(stored, Decimal) else stored


def add_entries(entries, using: str = "default") -> None:
    """Add written ledger entries (or rows) to every rollup: summed in Python, one upsert per table."""
    if not entries:
        return
    conn = connections[using]
    with transaction.atomic(using=using), conn.cursor() as cursor:
        for table in TABLES:
            sums: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, 0, 0, 0, Decimal(0), 0, 0])
            for e in entries:
                row = sums[_python_key(table, e)]
                row[0] += 1
                for n, column in enumerate(_SUMMED, start=1):
                    row[n] += _as_stored(column, getattr(e, column))
                row[7] += 1 if e.cached else 0
                row[8] += 1 if e.status >= 400 else 0
            columns = (*table.keys, *COUNTS)
            sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
                   f" {_on_conflict(table)}")
            cursor.executemany(sql, [(*key, *row) for key, row in sorted(sums.items())])


def _pruned(using: str) -> list[date]:
    from .models import PrunedMonth

    return list(PrunedMonth.objects.using(using).values_list("month", flat=True))


def _kept_months_sql(table: Table, pruned: list[date], vendor: str, on_ledger: bool) -> tuple[str, list]:
    """A WHERE tail leaving out pruned months: their rollups outlive their rows."""
    if not pruned:
        return "", []
    if on_ledger:
        column = _key_sql(vendor)["month"]
    else:
        column = "month" if "month" in table.keys else ("date_trunc('month', day)::date" if vendor == "postgresql"
                                                         else "strftime('%%Y-%%m-01', day)")
    return f" AND {column} NOT IN ({', '.join(['%s'] * len(pruned))})", list(pruned)


def rebuild(using: str = "default") -> None:
    """Recompute every rollup from the ledger, pruned months excepted (their rows are gone; their sums stay)."""
    conn = connections[using]
    pruned = _pruned(using)
    with transaction.atomic(using=using), conn.cursor() as cursor:
        for table in TABLES:
            where, params = _kept_months_sql(table, pruned, conn.vendor, on_ledger=False)
            cursor.execute(f"DELETE FROM {table.name} WHERE true {where}", params)
            where, params = _kept_months_sql(table, pruned, conn.vendor, on_ledger=True)
            cursor.execute(upsert_from(table, LEDGER, conn.vendor, where), params)


@dataclass(frozen=True)
class Difference:
    table: str
    key: tuple
    rollup: tuple | None  # the counts the rollup holds (None: no row)
    ledger: tuple | None  # the counts the ledger sums to (None: no rows)


def differences(using: str = "default", limit: int = 100) -> list[Difference]:
    """Where a rollup and the ledger disagree (pruned months left out); empty when they agree to the last digit."""
    conn = connections[using]
    pruned = _pruned(using)
    found: list[Difference] = []
    keys = _key_sql(conn.vendor)
    with conn.cursor() as cursor:
        for table in TABLES:
            where, params = _kept_months_sql(table, pruned, conn.vendor, on_ledger=True)
            group = ", ".join(keys[k] for k in table.keys)
            counts = ", ".join(_COUNT_SQL[c] for c in COUNTS)
            cursor.execute(f"SELECT {group}, {counts} FROM {LEDGER} WHERE true {where} GROUP BY {group}", params)
            ledger = {_norm(row[:len(table.keys)]): tuple(row[len(table.keys):]) for row in cursor.fetchall()}
            where, params = _kept_months_sql(table, pruned, conn.vendor, on_ledger=False)
            cursor.execute(f"SELECT {', '.join(table.keys)}, {', '.join(COUNTS)} FROM {table.name} WHERE true {where}",
                           params)
            rolled = {_norm(row[:len(table.keys)]): tuple(row[len(table.keys):]) for row in cursor.fetchall()}
            for key in sorted(ledger.keys() | rolled.keys(), key=str):
                if _norm(ledger.get(key)) != _norm(rolled.get(key)):
                    found.append(Difference(table.name, key, rolled.get(key), ledger.get(key)))
                    if len(found) >= limit:
                        return found
    return found


def _norm(values):
    """Keys and counts as comparable values: dates as dates, numbers as Decimal (SQLite hands back text and floats)."""
    if values is None:
        return None
    out = []
    for v in values:
        if isinstance(v, str) and len(v) == 10 and v[4] == "-":
            v = date.fromisoformat(v)
        elif isinstance(v, float):  # SQLite keeps decimals as doubles: exact to the ledger's 12 places at best
            v = Decimal(repr(round(v, 12))).normalize()
        elif isinstance(v, (int, Decimal)) and not isinstance(v, bool):
            v = Decimal(v).normalize()
        out.append(v)
    return tuple(out)


def month_spend(tenant_id: int, month: date) -> Decimal:
    """A tenant's spend in a calendar month, from the day totals (at most 31 rows)."""
    from django.db.models import Sum

    from .models import UsageDayTotal

    start, end = month, partitions.add_months(month, 1) if month < date(9999, 12, 1) else date.max
    rows = UsageDayTotal.objects.filter(tenant_id=tenant_id, day__gte=start)
    if end != date.max:
        rows = rows.filter(day__lt=end)
    return rows.aggregate(total=Sum("cost_usd"))["total"] or Decimal(0)
