"""Usage totals from the ledger: one GROUP BY query per table, computed by the database."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate

from .cost import exact
from .models import UsageRecord

GROUPS = {
    "model": F("model"),
    "day": TruncDate("created_at", tzinfo=UTC),
    "key": F("api_key__prefix"),
    "tenant": F("tenant__slug"),
}

_MONEY = DecimalField(max_digits=30, decimal_places=12)
METRICS = {
    "requests": Count("pk"),
    "prompt_tokens": Coalesce(Sum("prompt_tokens"), 0),
    "completion_tokens": Coalesce(Sum("completion_tokens"), 0),
    "cached_tokens": Coalesce(Sum("cached_tokens"), 0),
    "cache_write_tokens": Coalesce(Sum("cache_write_tokens"), 0),
    "reasoning_tokens": Coalesce(Sum("reasoning_tokens"), 0),
    "cost_usd": Coalesce(Sum("cost_usd"), Value(Decimal(0)), output_field=_MONEY),
    "cached_requests": Count("pk", filter=Q(cached=True)),
    "errors": Count("pk", filter=Q(status__gte=400)),
}


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


def ledger(start: date | None = None, end: date | None = None, tenant_id: int | None = None) -> QuerySet:
    """Ledger rows from the start of `start` to the end of `end` (UTC); None leaves that side open."""
    rows = UsageRecord.objects.all()
    if start is not None:
        rows = rows.filter(created_at__gte=datetime.combine(start, time.min, UTC))
    if end is not None and end < date.max:  # the last day has no next day: its end is open
        rows = rows.filter(created_at__lt=datetime.combine(end + timedelta(days=1), time.min, UTC))
    if tenant_id is not None:
        rows = rows.filter(tenant_id=tenant_id)
    return rows


def grouped(rows: QuerySet, by: str) -> list[Group]:
    """Totals per group, ordered by the group's value (one query)."""
    aggregated = rows.values(bucket=GROUPS[by]).annotate(**METRICS).order_by("bucket")
    return [Group(row.pop("bucket"), Totals(**row)) for row in aggregated]


def totals(rows: QuerySet) -> Totals:
    """Totals over all the rows (one query)."""
    return Totals(**rows.aggregate(**METRICS))
