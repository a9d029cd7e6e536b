"""Read-only admin for the usage ledger (rows are written by the gateway only), and the ledger's figures on the
tenant and provider pages: usage sits above tenants and providers, so it extends their admin, not the reverse."""
from datetime import UTC, datetime

from django.contrib import admin
from django.db.models import Q

from providers.admin import ProviderAdmin
from providers.models import ModelRoute, Provider
from tenants.admin import TenantAdmin
from tenants.models import Tenant

from . import dashboard

from .admin_views import export_selected_csv
from .models import BudgetAlert, UsageRecord


class ModelFilter(admin.SimpleListFilter):
    """Choices from the route table: a DISTINCT over the ledger would scan every row."""

    title = "model"
    parameter_name = "model"

    def lookups(self, request, model_admin):
        names = ModelRoute.objects.order_by("public_name").values_list("public_name", flat=True).distinct()
        return [(name, name) for name in names]

    def queryset(self, request, queryset):
        return queryset.filter(model=self.value()) if self.value() else queryset


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status_class"
    classes = {
        "2xx": Q(status__gte=200, status__lt=300),
        "4xx": Q(status__gte=400, status__lt=500),
        "429": Q(status=429),
        "5xx": Q(status__gte=500),
    }

    def lookups(self, request, model_admin):
        return [
            ("2xx", "Success (2xx)"),
            ("4xx", "Client errors (4xx)"),
            ("429", "Rate or budget limited (429)"),
            ("5xx", "Upstream errors (5xx)"),
        ]

    def queryset(self, request, queryset):
        return queryset.filter(self.classes[self.value()]) if self.value() in self.classes else queryset


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = [
        "created_at", "request_id", "tenant", "key_prefix", "model", "provider", "status",
        "prompt_tokens", "cached_tokens", "cache_write_tokens", "completion_tokens", "reasoning_tokens", "cost_usd",
        "cached", "streamed", "latency_ms",
    ]
    list_filter = ["created_at", "tenant", ModelFilter, StatusFilter, "cached", "streamed"]
    list_select_related = ["tenant", "api_key"]
    search_fields = ["=request_id"]
    show_full_result_count = False  # the ledger grows large; skip the extra COUNT(*)
    actions = [export_selected_csv]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="key", ordering="api_key__prefix")
    def key_prefix(self, record):
        return record.api_key.prefix if record.api_key_id else ""


@admin.register(BudgetAlert)
class BudgetAlertAdmin(admin.ModelAdmin):
    list_display = ("tenant", "month", "threshold", "spent_usd", "budget_usd", "created_at")
    list_filter = ("month", "threshold")
    search_fields = ("tenant__slug",)
    list_select_related = ("tenant",)
    raw_id_fields = ("tenant",)
    readonly_fields = ("tenant", "month", "threshold", "spent_usd", "budget_usd", "created_at")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False


class TenantWithUsageAdmin(TenantAdmin):
    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        """The change page, headed by the tenant's month at a glance for those who may see usage."""
        if obj is not None and request.user.has_perm("usage.view_usagerecord"):
            context["glance"] = dashboard.glance(obj, datetime.now(UTC))
        return super().render_change_form(request, context, add, change, form_url, obj)


class ProviderWithHealthAdmin(ProviderAdmin):
    list_display = [*ProviderAdmin.list_display, "recent_errors"]
    readonly_fields = [*ProviderAdmin.readonly_fields, "recent_errors"]

    def get_queryset(self, request):
        return dashboard.with_recent_errors(super().get_queryset(request), datetime.now(UTC))

    @admin.display(description=f"5xx, last {dashboard.HEALTH_WINDOW.seconds // 60} min")
    def recent_errors(self, provider):
        if not provider.recent_requests:
            return "no requests"
        rate = 100 * provider.recent_errors / provider.recent_requests
        return f"{provider.recent_errors} of {provider.recent_requests} ({rate:.0f}%)"


for model, model_admin in ((Tenant, TenantWithUsageAdmin), (Provider, ProviderWithHealthAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
