"""Admin for providers and model routes; a provider shows the name of its secret's variable, never the secret."""
import os

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from . import breaker, services
from .models import ModelRoute, PriceSource, Provider, api_key_env_problem
from .services import PRICE_FIELDS


class ProviderForm(forms.ModelForm):
    # A plain field: URLField refuses hosts without a dot, such as a docker service `ollama`.
    base_url = forms.CharField(max_length=500, required=False, help_text="See add_provider --help for each kind's form.")

    class Meta:
        model = Provider
        fields = ["name", "kind", "base_url", "api_key_env", "timeout_seconds", "enabled", "options"]

    def clean(self):
        data = super().clean()
        if "kind" in data:
            options = data.get("options") or {}
            services.check_provider(data["kind"], data.get("base_url", ""), data.get("api_key_env", ""), options)
        return data


class RouteForm(forms.ModelForm):
    """A price edited here is set by hand: sync_prices leaves it alone unless --overwrite."""

    class Meta:
        model = ModelRoute
        exclude = ["price_source"]

    def save(self, commit=True):
        if any(name in self.changed_data for name in PRICE_FIELDS):
            self.instance.price_source = PriceSource.MANUAL
        return super().save(commit)


class ModelRouteInline(admin.TabularInline):
    model = ModelRoute
    form = RouteForm
    fields = [
        "public_name", "upstream_model", "mode", "priority", "weight", *PRICE_FIELDS, "enabled",
    ]
    extra = 0


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = [
        "name", "kind", "base_url", "api_key_env", "secret_present", "timeout_seconds", "enabled",
        "breaker_state",
    ]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["breaker_state", "created_at", "updated_at"]
    inlines = [ModelRouteInline]
    actions = ["disable_selected", "enable_selected"]

    @admin.display(description="breaker (this process)")
    def breaker_state(self, provider):
        """Each replica keeps its own breaker; the ledger's error rate beside it covers them all."""
        state = breaker.state(provider.name)
        label = state.replace("_", "-")
        return format_html('<strong style="color: var(--error-fg)">{}</strong>', label) if state != "closed" else label

    def _set_enabled(self, request, queryset, enabled: bool) -> int:
        """Save each provider, so the route table reloads (providers/signals.py) and the change is logged."""
        changed = 0
        for provider in queryset.filter(enabled=not enabled):
            provider.enabled = enabled
            provider.save(update_fields=["enabled", "updated_at"])
            self.log_change(request, provider, "Enabled." if enabled else "Disabled.")
            changed += 1
        return changed

    @admin.action(description="Disable selected providers (their routes stop taking traffic)", permissions=["change"])
    def disable_selected(self, request, queryset):
        self.message_user(request, f"Disabled {self._set_enabled(request, queryset, False)} provider(s).", messages.SUCCESS)

    @admin.action(description="Enable selected providers", permissions=["change"])
    def enable_selected(self, request, queryset):
        self.message_user(request, f"Enabled {self._set_enabled(request, queryset, True)} provider(s).", messages.SUCCESS)

    @admin.display(description="secret set here", boolean=True)
    def secret_present(self, provider):
        """Whether this process sees the variable; None when the provider needs no key; a refused name is never read."""
        if not provider.api_key_env:
            return None
        return not api_key_env_problem(provider.api_key_env) and bool(os.environ.get(provider.api_key_env))


@admin.register(ModelRoute)
class ModelRouteAdmin(admin.ModelAdmin):
    form = RouteForm
    list_display = [
        "public_name", "provider", "upstream_model", "mode", "priority", "weight", *PRICE_FIELDS, "prices", "enabled",
    ]
    list_editable = ["priority", "weight", "enabled"]
    list_filter = ["enabled", "mode", "provider", "provider__kind"]
    list_select_related = ["provider"]
    search_fields = ["public_name", "upstream_model", "provider__name"]
    autocomplete_fields = ["provider"]
    readonly_fields = ["price_source", "created_at", "updated_at"]
    ordering = ["public_name", "priority", "id"]

    @admin.display(description="prices", ordering="price_source")
    def prices(self, route):
        """Who set the prices; a route nobody priced bills $0 and says so loudly."""
        if not route.priced:
            return format_html('<strong style="color: var(--error-fg)">{}</strong>', "NOT SET: billed $0")
        return route.get_price_source_display() if route.price_source else "set"
