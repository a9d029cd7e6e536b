"""Admin for providers and model routes; a provider shows the name of its secret's variable, never the secret."""
import os

from django import forms
from django.contrib import admin

from . import services
from .models import ModelRoute, Provider


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


class ModelRouteInline(admin.TabularInline):
    model = ModelRoute
    fields = [
        "public_name", "upstream_model", "priority", "weight", "input_price_per_mtok", "output_price_per_mtok", "enabled",
    ]
    extra = 0


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ["name", "kind", "base_url", "api_key_env", "secret_present", "timeout_seconds", "enabled"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [ModelRouteInline]

    @admin.display(description="secret set here", boolean=True)
    def secret_present(self, provider):
        """Whether this process sees the variable; None when the provider needs no key."""
        return bool(os.environ.get(provider.api_key_env)) if provider.api_key_env else None


@admin.register(ModelRoute)
class ModelRouteAdmin(admin.ModelAdmin):
    list_display = [
        "public_name", "provider", "upstream_model", "priority", "weight",
        "input_price_per_mtok", "output_price_per_mtok", "enabled",
    ]
    list_editable = ["priority", "weight", "enabled"]
    list_filter = ["enabled", "provider", "provider__kind"]
    list_select_related = ["provider"]
    search_fields = ["public_name", "upstream_model", "provider__name"]
    autocomplete_fields = ["provider"]
    readonly_fields = ["created_at", "updated_at"]
    ordering = ["public_name", "priority", "id"]
