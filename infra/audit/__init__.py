"""The audit trail (django-auditlog): who changed which tenant, key, provider or route, when, and how (README, "Security")."""
