"""Admin for tenants and keys: a key's secret is shown once, on the page after it is made; its digest never."""
from urllib.parse import urlsplit

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.template.response import TemplateResponse
from django.utils import formats, timezone

from . import keys, services
from .models import AdminToken, ApiKey, Tenant

KEY_CREATED_TEMPLATE = "admin/tenants/apikey/key_created.html"


def last_used(key: ApiKey) -> str:
    """When the key was last used, from its side table, formatted (read-only form fields would show it raw)."""
    try:
        used_at = key.last_used.last_used_at
    except ApiKey.last_used.RelatedObjectDoesNotExist:
        return "never"
    return formats.localize(timezone.template_localtime(used_at))


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = ["prefix", "name", "created_at", "expires_at", "revoked_at", "last_used_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("last_used")

    @admin.display(description="last used")
    def last_used_at(self, key):
        return last_used(key)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "active", "rpm_limit", "tpm_limit", "monthly_budget_usd", "budget_is_hard", "created_at"]
    list_filter = ["active", "budget_is_hard", "created_at"]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [ApiKeyInline]
    fieldsets = [
        (None, {"fields": ["slug", "name", "active", "allowed_models"]}),
        ("Limits", {"fields": ["rpm_limit", "tpm_limit", "cache_ttl_seconds"]}),
        (
            "Budget and alerts",
            {"fields": ["monthly_budget_usd", "budget_is_hard", "alert_thresholds", "alert_email", "alert_webhook_url"]},
        ),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        """Webhook URLs often carry a token: only superusers see them; others see whether one is set, and its host."""
        if request.user.is_superuser:
            return self.fieldsets
        swap = {"alert_webhook_url": "alert_webhook"}
        return [(name, {**opts, "fields": [swap.get(f, f) for f in opts["fields"]]}) for name, opts in self.fieldsets]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return readonly if request.user.is_superuser else [*readonly, "alert_webhook"]

    @admin.display(description="alert webhook URL")
    def alert_webhook(self, tenant):
        if not tenant or not tenant.alert_webhook_url:
            return "not set"
        return f"set, to {urlsplit(tenant.alert_webhook_url).hostname} (only superusers see or change it)"


class KeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("grace", "Rotated, in grace"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        not_expired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        states = {
            "active": Q(revoked_at__isnull=True, replaced_by__isnull=True) & not_expired,
            "grace": Q(revoked_at__isnull=True, replaced_by__isnull=False, grace_until__gt=now) & not_expired,
            "revoked": Q(revoked_at__isnull=False),
            "expired": Q(revoked_at__isnull=True) & (Q(expires_at__lte=now) | Q(grace_until__lte=now)),
        }
        return queryset.filter(states[self.value()]) if self.value() in states else queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "tenant", "name", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = [KeyStateFilter, "created_at", "tenant"]
    list_select_related = ["tenant", "last_used"]
    search_fields = ["prefix", "name", "tenant__slug"]
    autocomplete_fields = ["tenant"]
    actions = ["revoke_selected", "rotate_selected"]
    add_fields = ["tenant", "name", "expires_at", "rpm_limit", "tpm_limit"]
    change_fields = [
        "tenant", "prefix", "name", "created_at", "expires_at", "rpm_limit", "tpm_limit",
        "revoked_at", "replaced_by", "grace_until", "last_used_at",
    ]
    change_readonly = ["tenant", "prefix", "created_at", "revoked_at", "replaced_by", "grace_until", "last_used_at"]

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.change_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.change_readonly

    @admin.display(description="last used")
    def last_used_at(self, key):
        return last_used(key)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        issued = keys.issue(obj.tenant, name=obj.name, expires_at=obj.expires_at)
        issued.key.rpm_limit, issued.key.tpm_limit = obj.rpm_limit, obj.tpm_limit
        issued.key.save(update_fields=["rpm_limit", "tpm_limit"])
        obj.pk = issued.key.pk
        obj.refresh_from_db()
        obj._state.adding = False
        request._issued_keys = [issued]  # read by response_add in this same request, never stored

    def response_add(self, request, obj, post_url_continue=None):
        return self.show_new_keys(request, request._issued_keys, "The key was created.")

    def show_new_keys(self, request, issued: list[keys.IssuedKey], title: str, note: str = "") -> TemplateResponse:
        """The one page that shows raw keys; nothing keeps them, and admin views send Cache-Control: no-store."""
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "issued": issued,
            "note": note,
        }
        return TemplateResponse(request, KEY_CREATED_TEMPLATE, context)

    @admin.action(description="Revoke selected keys now", permissions=["change"])
    def revoke_selected(self, request, queryset):
        revoked = 0
        for key in queryset.select_related("tenant"):
            if services.revoke_key(key):
                self.log_change(request, key, "Revoked.")
                revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)

    @admin.action(
        description=f"Rotate selected keys (old keys work {services.DEFAULT_GRACE_MINUTES} more minutes)",
        permissions=["change"],
    )
    def rotate_selected(self, request, queryset):
        issued = []
        for key in queryset.select_related("tenant"):
            try:
                issued.append(services.rotate_key(key, services.DEFAULT_GRACE_MINUTES))
            except ValidationError as error:
                self.message_user(request, services.error_text(error), messages.WARNING)
                continue
            self.log_change(request, key, f"Rotated into {issued[-1].key.prefix}.")
        if not issued:
            return None
        note = f"The old keys keep working for {services.DEFAULT_GRACE_MINUTES} minutes, then stop."
        return self.show_new_keys(request, issued, f"{len(issued)} key(s) rotated.", note)


@admin.register(AdminToken)
class AdminTokenAdmin(admin.ModelAdmin):
    """Tokens of the management API; made with `manage.py create_admin_token` (the raw token is shown there once)."""

    list_display = ["prefix", "user", "created_at", "expires_at", "revoked_at"]
    list_select_related = ["user"]
    search_fields = ["prefix", "user__username"]
    fields = ["prefix", "user", "created_at", "expires_at", "revoked_at"]
    readonly_fields = ["prefix", "user", "created_at"]
    actions = ["revoke_selected"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected admin tokens now", permissions=["change"])
    def revoke_selected(self, request, queryset):
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {revoked} admin token(s).", messages.SUCCESS)
