"""Usage totals from the rollups (usage/rollups.py): exact sums of the ledger, without scanning its rows.

Totals, days and tenants come from the day totals (one row per tenant and day); models and keys
from the monthly rollup for the whole months of a period and the daily rollup for the rest: a
month mostly covered is its monthly row minus the days left out, so month-to-date reads the
monthly rows and the few (normally no) rows dated after today. `ledger()` still gives the raw
rows, for exports and the dashboard's recent errors.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from .cost import exact
from .models import UsageDaily, UsageDayTotal, UsageMonthly, UsageRecord
from .partitions import add_months
from .rollups import COUNTS

_MONEY = DecimalField(max_digits=30, decimal_places=12)
METRICS = {c: Coalesce(Sum(c), 0) for c in COUNTS}
METRICS["cost_usd"] = Coalesce(Sum("cost_usd"), Value(Decimal(0)), output_field=_MONEY)


def report_money(amount: Decimal) -> str:
    """A report amount exactly as the ledger sums it: never rounded, trailing zeros dropped (../shared/INTERFACE.md)."""
    return exact(amount)


@dataclass(frozen=True)
class Period:
    """Calendar days in UTC, both ends inclusive."""

    start: date
    end: date

    @classmethod
    def month_to_date(cls, today: date | None = None) -> Period:
        today = today or datetime.now(UTC).date()
        return cls(today.replace(day=1), today)

    def __len__(self) -> int:
        """Days in the period."""
        return (self.end - self.start).days + 1

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


@dataclass(frozen=True)
class Totals:
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal  # exact sum of the ledger
    cached_requests: int
    errors: int
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost(self) -> str:
        return report_money(self.cost_usd)

    def as_json(self) -> dict:
        return {
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "cached_tokens": self.cached_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost_usd": self.cost,
            "cached_requests": self.cached_requests,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class Group:
    """One row of a grouped report: the group's value (model, day, key prefix or tenant slug)."""

    value: str | date | None
    totals: Totals

    @property
    def label(self) -> str:
        return self.value.isoformat() if isinstance(self.value, date) else (self.value or "")


@dataclass(frozen=True)
class Selection:
    """What a report covers: UTC days from `start` to `end` (inclusive; None leaves that side open), one tenant or all."""

    start: date | None = None
    end: date | None = None
    tenant_id: int | None = None

    @property
    def first(self) -> date:
        return self.start or date.min

    @property
    def last(self) -> date:
        return self.end or date.max

    def days(self, rows: QuerySet, field: str = "day") -> QuerySet:
        """Rollup rows of the selection's tenant whose `field` (a day or a month) lies within the selection."""
        rows = rows.filter(**{f"{field}__gte": self.first, f"{field}__lte": self.last})
        return rows if self.tenant_id is None else rows.filter(tenant_id=self.tenant_id)

    def within(self, lo: date, hi: date) -> Selection:
        return Selection(max(lo, self.first), min(hi, self.last), self.tenant_id)


def ledger(start: date | None = None, end: date | None = None, tenant_id: int | None = None) -> QuerySet:
    """Raw ledger rows from the start of `start` to the end of `end` (UTC); None leaves that side open."""
    rows = UsageRecord.objects.all()
    if start is not None:
        rows = rows.filter(created_at__gte=datetime.combine(start, time.min, UTC))
    if end is not None and end < date.max:  # the last day has no next day: its end is open
        rows = rows.filter(created_at__lt=datetime.combine(end + timedelta(days=1), time.min, UTC))
    if tenant_id is not None:
        rows = rows.filter(tenant_id=tenant_id)
    return rows


def totals(selection: Selection) -> Totals:
    """Totals over the selection (one query on the day totals)."""
    return Totals(**selection.days(UsageDayTotal.objects.all()).aggregate(**METRICS))


def summed(groups: list[Group]) -> Totals:
    """The totals of a grouped report, added up here: every ledger row is in exactly one group, so this is
    totals() of the same selection, exactly, without another query."""
    counts = dict.fromkeys(COUNTS, 0)
    for group in groups:
        for name in COUNTS:
            counts[name] += getattr(group.totals, name)
    counts["cost_usd"] = Decimal(counts["cost_usd"])
    return Totals(**counts)


def grouped(selection: Selection, by: str) -> list[Group]:
    """Totals per model, day, key prefix or tenant slug, ordered by the group's value (None last)."""
    if by == "day":
        rows = selection.days(UsageDayTotal.objects.all()).values("day").annotate(**METRICS).order_by("day")
        return [Group(row.pop("day"), Totals(**row)) for row in rows]
    if by == "tenant":  # monthly rows hold tenants too, and the day totals are the smaller daily table for them
        sums = _by_months(selection, "tenant__slug", daily=UsageDayTotal)  # the slug joined in, not looked up
        return _named(sums, {slug: slug for slug in sums})
    column = "model" if by == "model" else "key_id"
    sums = _by_months(selection, column)
    return _named(sums, _prefixes(sums) if by == "key" else {m: m for m in sums})


def _named(sums: dict, names: dict) -> list[Group]:
    groups = [Group(names.get(key), Totals(**row)) for key, row in sums.items() if row["requests"]]
    return sorted(groups, key=lambda g: (g.value is None, g.value or ""))


def _prefixes(sums: dict) -> dict:
    from tenants.models import ApiKey

    return dict(ApiKey.objects.filter(pk__in=[k for k in sums if k]).values_list("pk", "prefix"))


def _month_end(month: date) -> date:
    return date.max if month.year == 9999 and month.month == 12 else add_months(month, 1) - timedelta(days=1)


def _shifted(month: date, n: int) -> date | None:
    """add_months, or None past the calendar's ends."""
    try:
        return add_months(month, n)
    except ValueError:
        return None


def _by_months(selection: Selection, column: str, daily=UsageDaily) -> dict:
    """Sums per `column` over the selection: whole months from UsageMonthly, the partial ends from `daily` as
    _partial says."""
    first, last = selection.first, selection.last
    head, tail = first.replace(day=1), last.replace(day=1)
    full_from = head if first == head else _shifted(head, 1)
    full_to = tail if last == _month_end(tail) else _shifted(tail, -1)
    parts: list[tuple[int, QuerySet]] = []
    if full_from is not None and full_to is not None and full_from <= full_to:
        parts.append((1, Selection(full_from, full_to, selection.tenant_id).days(UsageMonthly.objects.all(), "month")))
    for month in sorted({head, tail}):
        if not (first <= month and last >= _month_end(month)):
            parts += _partial(selection, month, daily)
    sums: dict = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for sign, rows in parts:
        for row in rows.values(column).annotate(**METRICS).order_by():
            total = sums[row.pop(column)]
            for name, value in row.items():
                total[name] += sign * value
    return sums


def _partial(selection: Selection, month: date, daily) -> list[tuple[int, QuerySet]]:
    """A month the selection covers in part: its covered days from the daily rollup, or, when fewer days with
    traffic are left out than covered, the monthly rows minus the days left out. Days after today hold no
    traffic (but a clock's skew), so month-to-date is the month's rows minus, normally, nothing."""
    end = _month_end(month)
    inside = selection.within(month, end)
    today = datetime.now(UTC).date()
    covered = (min(inside.last, today) - inside.first).days + 1
    missed = (inside.first - month).days + max((min(end, today) - inside.last).days, 0)
    if covered <= missed:
        return [(1, inside.days(daily.objects.all()))]
    whole = Selection(month, month, selection.tenant_id).days(UsageMonthly.objects.all(), "month")
    left_out = Selection(month, end, selection.tenant_id).days(daily.objects.all())
    left_out = left_out.filter(Q(day__lt=inside.first) | Q(day__gt=inside.last))
    return [(1, whole), (-1, left_out)]
