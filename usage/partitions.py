"""The ledger's monthly partitions on PostgreSQL: made ahead of time, listed, detached and dropped.

The ledger table (usage_usagerecord) is partitioned by range on created_at, one partition per
UTC calendar month (usage_usagerecord_y2026m12), plus a DEFAULT partition that takes any row
whose month has no partition: nothing is ever refused for a missing partition. The ledger
writer makes the current and the next month's partitions before it writes a batch (once per
process and month), and `manage.py ensure_partitions` does the same from cron. A month made
after rows for it landed in DEFAULT takes those rows over (they are moved in the same
transaction). SQLite keeps one table: every function here is a no-op there.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db import connection, transaction
from django.db.utils import DatabaseError

log = logging.getLogger("gateway.ledger")

TABLE = "usage_usagerecord"
DEFAULT = f"{TABLE}_default"
_NAME = re.compile(rf"^{TABLE}_y(\d{{4}})m(\d{{2}})$")
_made: set[date] = set()  # months this process knows have a partition


def month_start(moment: datetime | date) -> date:
    """The first day of the moment's UTC calendar month."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date()
    return moment.replace(day=1)


def add_months(month: date, n: int) -> date:
    """The first day of the month n months after `month` (n may be negative)."""
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def bounds(month: date) -> tuple[datetime, datetime]:
    """The month as a half-open UTC range [start, end); the end of 9999-12 is datetime.max."""
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    if (month.year, month.month) == (9999, 12):
        return start, datetime.max.replace(tzinfo=UTC)
    end = add_months(month, 1)
    return start, datetime(end.year, end.month, 1, tzinfo=UTC)


def partition_name(month: date) -> str:
    return f"{TABLE}_y{month.year:04d}m{month.month:02d}"


def partitioned() -> bool:
    """True where the ledger is a partitioned table (PostgreSQL after migration usage/0004)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [TABLE])
        return cursor.fetchone() is not None


@dataclass(frozen=True)
class Partition:
    name: str
    month: date | None  # None: the DEFAULT partition


def partitions() -> list[Partition]:
    """The ledger's partitions, months in order, DEFAULT last."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass", [TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    months = []
    for name in names:
        found = _NAME.match(name)
        if found:
            months.append(Partition(name, date(int(found[1]), int(found[2]), 1)))
    months.sort(key=lambda p: p.month)
    return months + [Partition(name, None) for name in names if name == DEFAULT]


def ensure(months) -> list[date]:
    """Make a partition for each month that has none; returns the months made. Safe to race other processes."""
    if connection.vendor != "postgresql":
        return []
    wanted = sorted({month_start(m) for m in months} - _made)
    if not wanted:
        return []
    existing = {p.month for p in partitions() if p.month is not None}
    made = []
    for month in wanted:
        if month not in existing:
            try:
                _make(month)
                made.append(month)
            except DatabaseError:
                # Another process made it between our look and our CREATE: as good as made here.
                if month not in {p.month for p in partitions()}:
                    raise
        _made.add(month)
    return made


def ahead(now: datetime | None = None, months: int = 2) -> list[date]:
    """This month and the next months-1 (UTC)."""
    first = month_start(now or datetime.now(UTC))
    return [add_months(first, n) for n in range(months)]


def ensure_ahead(now: datetime | None = None, months: int = 2) -> list[date]:
    """The ledger writer's call before each batch: a set lookup unless a month begins.

    Never raises: a role that may not create tables (or any other failure) leaves the rows to
    DEFAULT, with a warning, until `ensure_partitions` runs with a role that may."""
    wanted = ahead(now, months)
    if all(m in _made for m in wanted):
        return []
    try:
        return ensure(wanted)
    except DatabaseError:
        log.warning("ledger: could not make the partitions of %s; rows go to %s until ensure_partitions runs",
                    ", ".join(f"{m:%Y-%m}" for m in wanted), DEFAULT, exc_info=True)
        _made.update(wanted)  # not retried by every batch of this process
        return []


def forget() -> None:
    """Forget which partitions exist (tests that drop them)."""
    _made.clear()


def _make(month: date) -> None:
    """CREATE the month's partition; rows of that month already in DEFAULT move into it in the same transaction."""
    q = connection.ops.quote_name
    start, end = bounds(month)
    name = partition_name(month)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {q(DEFAULT)} WHERE created_at >= %s AND created_at < %s LIMIT 1", [start, end])
        if cursor.fetchone() is None:
            cursor.execute(
                f"CREATE TABLE {q(name)} PARTITION OF {q(TABLE)} FOR VALUES FROM (%s) TO (%s)", [start, end]
            )
            log.info("ledger: made partition %s", name)
            return
        # Late rows wait in DEFAULT: a new partition over them would be refused, so they move first.
        cursor.execute(f"CREATE TABLE {q(name)} (LIKE {q(TABLE)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {q(DEFAULT)} WHERE created_at >= %s AND created_at < %s RETURNING *)"
            f" INSERT INTO {q(name)} SELECT * FROM moved", [start, end],
        )
        cursor.execute(f"ALTER TABLE {q(TABLE)} ATTACH PARTITION {q(name)} FOR VALUES FROM (%s) TO (%s)", [start, end])
        log.info("ledger: made partition %s, moving its rows out of %s", name, DEFAULT)


def detach_and_drop(month: date) -> None:
    """Drop a month's partition (its rows are gone for good; the caller exported them)."""
    q = connection.ops.quote_name
    name = partition_name(month)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {q(TABLE)} DETACH PARTITION {q(name)}")
        cursor.execute(f"DROP TABLE {q(name)}")
    _made.discard(month)
