from django.apps import AppConfig, apps

# What the trail covers (../shared/INTERFACE.md "Audit") and what it must never hold: a key's digest is left
# out, URLs that may carry a token are kept by host (infra/audit/masks.py). A new model to audit gets a line here.
TRACKED = {
    "tenants.Tenant": {"mask_fields": ["alert_webhook_url"], "mask_callable": "infra.audit.masks.host_only"},
    "tenants.ApiKey": {"exclude_fields": ["digest"]},
    "providers.Provider": {"mask_fields": ["base_url"], "mask_callable": "infra.audit.masks.without_credentials"},
    "providers.ModelRoute": {},
}
NOISE = {"updated_at"}  # changes with every save


class AuditConfig(AppConfig):
    name = "infra.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        from auditlog.registry import auditlog

        for label, options in TRACKED.items():
            model = apps.get_model(label)
            fields = model._meta.get_fields()
            # Other models' foreign keys to this one (a tenant's keys, its usage): not this row's fields.
            unowned = [f.name for f in fields if f.auto_created and not f.concrete]
            noise = [f.name for f in fields if f.name in NOISE]
            auditlog.register(model, **{**options, "exclude_fields": [*options.get("exclude_fields", []), *unowned, *noise]})
