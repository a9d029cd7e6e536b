"""The audit trail in the admin: superusers only, read-only, with who (user or manage.py) and how each change came."""
from auditlog.admin import LogEntryAdmin  # registers auditlog's own admin, replaced below
from auditlog.filters import ResourceTypeFilter
from auditlog.models import LogEntry
from django.contrib import admin

from .actors import COMMAND

admin.site.unregister(LogEntry)


class ViaFilter(admin.SimpleListFilter):
    title = "through"
    parameter_name = "via"

    def lookups(self, request, model_admin):
        return [("admin", "the admin"), ("api", "the management API"), (COMMAND, COMMAND)]

    def queryset(self, request, queryset):
        return queryset.filter(additional_data__via=self.value()) if self.value() else queryset


@admin.register(LogEntry)
class AuditEntryAdmin(LogEntryAdmin):
    list_display = ["created", "who", "through", "resource_url", "action", "msg_short", "remote_addr"]
    list_filter = ["action", ResourceTypeFilter, ViaFilter]
    search_fields = ["object_repr", "changes_text", "changes", "actor__username"]
    readonly_fields = ["created", "who", "through", "remote_addr", "resource_url", "action", "msg"]
    fieldsets = [
        (None, {"fields": ["created", "who", "through", "remote_addr", "resource_url"]}),
        ("Changes", {"fields": ["action", "msg"]}),
    ]

    @admin.display(description="who")
    def who(self, entry: LogEntry) -> str:
        data = entry.additional_data or {}
        if entry.actor_id is not None:
            return entry.actor.get_username()
        if data.get("username"):
            return f"{data['username']} (user since deleted)"
        return COMMAND if data.get("via") == COMMAND else "system"

    @admin.display(description="through")
    def through(self, entry: LogEntry) -> str:
        data = entry.additional_data or {}
        if data.get("via") != COMMAND:
            return data.get("via", "")
        command = data.get("command", "")
        return f"{command} (as {data['os_user']})" if data.get("os_user") else command

    # The trail is for superusers only (../shared/INTERFACE.md "Audit"), whatever permissions a staff user holds,
    # and nobody edits or deletes it from the admin.
    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False
