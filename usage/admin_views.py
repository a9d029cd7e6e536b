"""Admin usage report (tables, an inline SVG chart, CSV download) and the ledger's CSV export action."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest
from django.template.response import TemplateResponse

from tenants.models import Tenant

from . import exports, reports

CHART_WIDTH, CHART_HEIGHT = 720, 200
CHART_MAX_DAYS = 731
# A page of a thousand tenants' rows takes longer to render than the report takes to sum: the biggest spenders
# are shown, the rest counted (GET /v1/admin/usage?group_by=tenant&format=csv has every tenant).
TENANT_ROWS = 100


class ReportForm(forms.Form):
    start = forms.DateField(label="From (UTC)", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To (UTC, included)", widget=forms.DateInput(attrs={"type": "date"}))
    # A slug typed in, not a <select>: a list of a thousand tenants took longer to render than the report to sum.
    tenant = forms.ModelChoiceField(
        Tenant.objects.all(), to_field_name="slug", required=False, label="Tenant (slug; empty: all)",
        widget=forms.TextInput(attrs={"placeholder": "all tenants"}),
        error_messages={"invalid_choice": "No tenant has that slug."},
    )

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError("The start must not be after the end.")
        return data

    def selection(self) -> tuple[reports.Period, Tenant | None]:
        return reports.Period(self.cleaned_data["start"], self.cleaned_data["end"]), self.cleaned_data["tenant"]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: date
    totals: reports.Totals | None


def _form(params) -> ReportForm:
    """The report's form; a missing day means this month so far."""
    default = reports.Period.month_to_date()
    return ReportForm({"start": default.start, "end": default.end, **params.dict()})


def _query_string(period: reports.Period, tenant: Tenant | None) -> str:
    params = {"start": period.start.isoformat(), "end": period.end.isoformat()}
    if tenant is not None:
        params["tenant"] = tenant.slug
    return urlencode(params)


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    top: str  # the highest day's spend, as a report amount
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


def spend_chart(period: reports.Period, days: list[reports.Group]) -> Chart:
    """One bar per day of the period, its height the day's spend relative to the highest day."""
    by_day = {group.value: group.totals for group in days}
    top = max((totals.cost_usd for totals in by_day.values()), default=Decimal(0))
    dates = period.days()
    slot = CHART_WIDTH / len(dates)
    bars = []
    for n, day in enumerate(dates):
        totals = by_day.get(day)
        height = float(totals.cost_usd / top) * CHART_HEIGHT if totals and top else 0.0
        bars.append(Bar(n * slot, CHART_HEIGHT - height, max(slot * 0.8, 1.0), height, day, totals))
    return Chart(bars, reports.report_money(top))


def _biggest_tenants(groups: list[reports.Group]) -> dict:
    """The report's tenants (by slug), or past TENANT_ROWS the biggest spenders and how many more there are."""
    if len(groups) <= TENANT_ROWS:
        return {"tenants": groups, "tenants_more": 0}
    biggest = sorted(groups, key=lambda g: (-g.totals.cost_usd, -g.totals.requests, g.label))[:TENANT_ROWS]
    return {"tenants": biggest, "tenants_more": len(groups) - TENANT_ROWS}


def _require_view_permission(request) -> None:
    if not request.user.has_perm("usage.view_usagerecord"):
        raise PermissionDenied


def report(request):
    """Spend and tokens per tenant, model and day for a chosen period."""
    _require_view_permission(request)
    form = _form(request.GET)
    context = {**admin.site.each_context(request), "title": "Usage report", "form": form}
    if form.is_valid():
        period, tenant = form.selection()
        selection = reports.Selection(period.start, period.end, tenant.pk if tenant else None)
        days = reports.grouped(selection, "day")
        context.update(
            period=period,
            **_biggest_tenants(reports.grouped(selection, "tenant")),
            models=reports.grouped(selection, "model"),
            days=days,
            total=reports.summed(days),
            # A bar per day: over years (9999-12-31 is a valid end) the page would never finish.
            chart=spend_chart(period, days) if len(period) <= CHART_MAX_DAYS else None,
            csv_query=_query_string(period, tenant),
        )
    return TemplateResponse(request, "admin/usage/report.html", context)


def report_csv(request):
    """The raw ledger rows of exactly the report's selection, as a streamed CSV file."""
    _require_view_permission(request)
    form = ReportForm(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest(form.errors.as_text(), content_type="text/plain")
    period, tenant = form.selection()
    rows = reports.ledger(period.start, period.end, tenant.pk if tenant else None)
    name = f"usage-{tenant.slug if tenant else 'all'}-{period.start}-{period.end}.csv"
    return exports.csv_response(request, exports.ledger_csv(rows), name)


@admin.action(description="Export selected usage records as CSV", permissions=["view"])
def export_selected_csv(modeladmin, request, queryset):
    """Admin action: the selected ledger rows (or all matching, with "select all") as a streamed CSV."""
    return exports.csv_response(request, exports.ledger_csv(queryset), "usage-selected.csv")
