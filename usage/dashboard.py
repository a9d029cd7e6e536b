"""Aggregates for the admin dashboard and a tenant's month at a glance: one database query per figure table."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.contrib import admin
from django.db.models import Count, DecimalField, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from providers import breaker
from providers.models import Provider
from tenants.models import Tenant

from . import reports
from .models import BudgetAlert, UsageDayTotal, UsageRecord

HEALTH_WINDOW = timedelta(minutes=15)
BUSIEST_TENANTS = 5
TOP_MODELS = 5
RECENT_ROWS = 20
RECENT_ERRORS = 10
LIVE_PATH = "ws/admin/live/"  # the dashboard's WebSocket (gateway_project/routing.py)

_MONEY = DecimalField(max_digits=30, decimal_places=12)
_ERROR = Q(status__gte=400)
_UPSTREAM_ERROR = Q(status__gte=500)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


@dataclass(frozen=True)
class Figures:
    """Requests, errors (status 400 and above) and spend over a span of time."""

    requests: int
    errors: int
    cost_usd: Decimal

    def __add__(self, other: Figures) -> Figures:
        return Figures(self.requests + other.requests, self.errors + other.errors, self.cost_usd + other.cost_usd)

    @property
    def cost(self) -> str:
        return reports.report_money(self.cost_usd)

    @property
    def error_rate(self) -> float | None:
        """Errors as a percentage of requests; None with no requests."""
        return 100 * self.errors / self.requests if self.requests else None


NO_TRAFFIC = Figures(0, 0, Decimal(0))


@dataclass(frozen=True)
class TenantFigures:
    tenant_id: int
    slug: str
    today: Figures
    month: Figures


def _figures(span: Q | None) -> dict:
    """Aggregates of requests, errors and spend over the day totals matching `span` (None: all)."""
    return {
        "requests": Coalesce(Sum("requests", filter=span), 0),
        "errors": Coalesce(Sum("errors", filter=span), 0),
        "cost": Coalesce(Sum("cost_usd", filter=span), Value(Decimal(0)), output_field=_MONEY),
    }


def tenants_month(now: datetime) -> list[TenantFigures]:
    """Each tenant's figures today and this month (UTC), busiest first: one pass over the month's day totals."""
    day = now.astimezone(UTC).date()
    aggregates = {f"month_{name}": value for name, value in _figures(None).items()}
    aggregates |= {f"today_{name}": value for name, value in _figures(Q(day=day)).items()}
    # The slug comes from a subquery on each group, not a join, so grouping needs no second column.
    slug = Subquery(Tenant.objects.filter(pk=OuterRef("tenant_id")).values("slug")[:1])
    rows = (
        UsageDayTotal.objects.filter(day__gte=day.replace(day=1)).values("tenant_id").annotate(**aggregates)
        .annotate(slug=slug).order_by("-month_requests", "tenant_id")
    )
    return [
        TenantFigures(
            row["tenant_id"], row["slug"],
            Figures(row["today_requests"], row["today_errors"], row["today_cost"]),
            Figures(row["month_requests"], row["month_errors"], row["month_cost"]),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class Summary:
    day: date
    today: Figures
    month: Figures


def summarise(now: datetime, tenants: list[TenantFigures]) -> Summary:
    """All tenants' figures added up (per tenant, not per ledger row)."""
    return Summary(
        now.astimezone(UTC).date(),
        sum((t.today for t in tenants), NO_TRAFFIC),
        sum((t.month for t in tenants), NO_TRAFFIC),
    )


def summary(now: datetime) -> Summary:
    """Today's and this month's figures (one query)."""
    return summarise(now, tenants_month(now))


@dataclass(frozen=True)
class ProviderHealth:
    provider: Provider
    breaker: str  # closed, open or half_open, in this process
    requests: int  # ledger rows the provider answered (or last tried) in the window
    errors: int  # of those, answered 5xx

    @property
    def error_rate(self) -> float | None:
        return 100 * self.errors / self.requests if self.requests else None

    @property
    def failing(self) -> bool:
        """Worth a look: the breaker is not closed, or half the recent calls failed."""
        return self.breaker != "closed" or (self.error_rate or 0) >= 50


def _recent_count(since: datetime, condition: Q | None = None) -> Coalesce:
    """A correlated count of the provider's ledger rows since `since`, for annotating Provider rows."""
    rows = UsageRecord.objects.filter(provider=OuterRef("name"), created_at__gte=since)
    if condition is not None:
        rows = rows.filter(condition)
    counted = rows.order_by().values("provider").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def with_recent_errors(providers, now: datetime):
    """Providers annotated with recent_requests and recent_errors over the health window."""
    since = now - HEALTH_WINDOW
    return providers.annotate(
        recent_requests=_recent_count(since), recent_errors=_recent_count(since, _UPSTREAM_ERROR)
    )


def provider_health(now: datetime) -> list[ProviderHealth]:
    """Every provider with its breaker state and recent error rate (one query)."""
    providers = with_recent_errors(Provider.objects.order_by("name"), now)
    return [ProviderHealth(p, breaker.state(p.name), p.recent_requests, p.recent_errors) for p in providers]


def recent_requests(limit: int = RECENT_ROWS) -> list[UsageRecord]:
    """The newest ledger rows with their tenant (one query, newest first)."""
    return list(UsageRecord.objects.select_related("tenant").order_by("-created_at")[:limit])


@dataclass(frozen=True)
class Glance:
    """A tenant's calendar month so far."""

    month: date
    totals: reports.Totals
    budget_usd: Decimal | None
    top_models: list[reports.Group]
    recent_errors: list[UsageRecord]
    alerts: list[BudgetAlert]

    @property
    def budget_percent(self) -> float | None:
        """Spend as a percentage of the budget; None without a budget."""
        if self.budget_usd is None:
            return None
        if not self.budget_usd:
            return 100.0 if self.totals.cost_usd else 0.0
        return float(100 * self.totals.cost_usd / self.budget_usd)

    @property
    def bar_percent(self) -> float:
        return min(self.budget_percent or 0.0, 100.0)


def glance(tenant: Tenant, now: datetime) -> Glance:
    """Totals, top models, recent errors and fired alerts for the tenant's month (three queries: the models' rollups, recent errors, alerts)."""
    month = now.astimezone(UTC).date().replace(day=1)
    selection = reports.Selection(month, None, tenant.pk)
    models = reports.grouped(selection, "model")
    top = sorted(models, key=lambda g: (-g.totals.cost_usd, -g.totals.requests))
    return Glance(
        month=month,
        totals=reports.summed(models),
        budget_usd=tenant.monthly_budget_usd,
        top_models=top[:TOP_MODELS],
        recent_errors=list(reports.ledger(month, None, tenant.pk).filter(_ERROR).order_by("-created_at")[:RECENT_ERRORS]),
        alerts=list(BudgetAlert.objects.filter(tenant=tenant, month=month).order_by("threshold")),
    )


def admin_index(request):
    """The admin index, with the dashboard for those who may see usage."""
    context = {}
    if request.user.has_perm("usage.view_usagerecord"):
        now = datetime.now(UTC)
        tenants = tenants_month(now)
        context = {
            "summary": summarise(now, tenants),
            "busiest": tenants[:BUSIEST_TENANTS],
            "providers": provider_health(now),
            "recent": recent_requests(),
            "live_path": "/" + LIVE_PATH,
        }
    return admin.site.index(request, extra_context=context)
