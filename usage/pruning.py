"""Drop whole months of the ledger (after exporting them); the rollups keep their sums.

On PostgreSQL each month before the cut is a partition: it is detached and dropped, which
takes no time whatever its size and leaves no dead rows to vacuum. Rows of those months
that wait in the DEFAULT partition (late rows written after their month was pruned, or
rows of months that never had a partition) are exported and deleted with them. Where the
ledger is one table (SQLite), the rows are deleted. Each pruned month is recorded
(PrunedMonth), so `rebuild_rollups` keeps its sums instead of recomputing them from nothing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db import transaction
from django.db.models import Count
from django.db.models.functions import TruncMonth

from . import exports, partitions, reports
from .models import PrunedMonth, UsageRecord


class PruneRefused(ValueError):
    """The cut is not allowed (e.g. it would drop the current month)."""


@dataclass(frozen=True)
class Pruned:
    months: list[date]
    rows: int
    exported_to: str


def parse_month(text: str) -> date:
    """YYYY-MM as the month's first day; ValueError with a plain message otherwise."""
    try:
        year, month = text.split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError
        return date(int(year), int(month), 1)
    except ValueError:
        raise ValueError(f"--before must be a month as YYYY-MM (UTC), not {text!r}.") from None


def months_before(cut: date) -> dict[date, int]:
    """The months before `cut` that hold ledger rows, with their row counts."""
    rows = reports.ledger(end=_day_before(cut)) if cut > date.min else UsageRecord.objects.none()
    counted = rows.annotate(month=TruncMonth("created_at", tzinfo=UTC)).values("month").annotate(n=Count("pk"))
    return {partitions.month_start(row["month"]): row["n"] for row in counted.order_by()}


def prune(cut: date, export: str | None = None, now: datetime | None = None) -> Pruned:
    """Export (when asked) then drop every ledger row before the month `cut`; refuses to touch the current month."""
    current = partitions.month_start(now or datetime.now(UTC))
    if cut > current:
        raise PruneRefused(f"--before {cut:%Y-%m} would drop the current month ({current:%Y-%m}); "
                           f"the latest allowed is --before {current:%Y-%m}.")
    counts = months_before(cut)
    if export:
        _export(cut, export)
    with transaction.atomic():
        if partitions.partitioned():
            for part in partitions.partitions():
                if part.month is not None and part.month < cut:
                    partitions.detach_and_drop(part.month)
        if cut > date.min:
            reports.ledger(end=_day_before(cut)).delete()  # what waits in DEFAULT, or the one table's rows
        for month, n in counts.items():
            recorded, made = PrunedMonth.objects.get_or_create(month=month, defaults={"rows": n, "exported_to": export or ""})
            if not made:
                PrunedMonth.objects.filter(pk=recorded.pk).update(rows=recorded.rows + n, exported_to=export or "")
    return Pruned(sorted(counts), sum(counts.values()), export or "")


def _day_before(month: date) -> date:
    return date.fromordinal(month.toordinal() - 1)


def _export(cut: date, path: str) -> int:
    """The rows to prune as CSV, through a temporary name: a failed export leaves no file and prunes nothing."""
    partial = f"{path}.partial"
    rows = -1  # the header is not a row
    try:
        with open(partial, "w", newline="", encoding="utf-8") as out:
            for rows, line in enumerate(exports.ledger_csv(reports.ledger(end=_day_before(cut)))):
                out.write(line)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return rows
