"""Tenants and their API keys."""
from django.conf import settings
from django.db import models
from django.db.models import Q


def default_thresholds() -> list[int]:
    return [50, 80, 100]


class Tenant(models.Model):
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    rpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Requests per minute; empty = unlimited.")
    tpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Tokens per minute; empty = unlimited.")
    monthly_budget_usd = models.DecimalField(
        max_digits=18, decimal_places=6, null=True, blank=True, help_text="Calendar month, UTC; empty = no budget."
    )
    budget_is_hard = models.BooleanField(default=True, help_text="Hard: refuse requests once spent. Soft: alert only.")
    alert_thresholds = models.JSONField(default=default_thresholds, blank=True, help_text="Percent of budget, e.g. [50, 80, 100].")
    alert_webhook_url = models.URLField(blank=True)
    alert_email = models.EmailField(blank=True)
    allowed_models = models.JSONField(default=list, blank=True, help_text="Public model names; empty = all.")
    cache_ttl_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Response cache TTL; empty = the global default, 0 = off."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            # Tenants are addressed by slug in commands, reports and URLs.
            models.UniqueConstraint(fields=["slug"], name="tenant_slug_unique"),
            models.CheckConstraint(
                condition=Q(monthly_budget_usd__isnull=True) | Q(monthly_budget_usd__gte=0),
                name="tenant_budget_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.slug


class ApiKey(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="keys")
    name = models.CharField(max_length=200, blank=True)
    prefix = models.CharField(max_length=12, help_text="The key's first 12 characters; not secret.")
    digest = models.CharField(max_length=64, editable=False, help_text="SHA-256 of the whole key.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    replaced_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces")
    grace_until = models.DateTimeField(null=True, blank=True, help_text="After rotation: the old key works until then.")
    rpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Per-key RPM, below the tenant's; empty = tenant's.")
    tpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Per-key TPM, below the tenant's; empty = tenant's.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Authentication looks a key up by its digest.
            models.UniqueConstraint(fields=["digest"], name="apikey_digest_unique"),
            # Operators name keys by prefix (rotate_api_key, revoke_api_key).
            models.UniqueConstraint(fields=["prefix"], name="apikey_prefix_unique"),
        ]
        indexes = [
            # The tenant's key list in the admin.
            models.Index(fields=["tenant", "created_at"], name="apikey_tenant_created"),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.tenant.slug})" if self.tenant_id else self.prefix


class ApiKeyLastUsed(models.Model):
    """Last use of a key, kept apart from ApiKey so its frequent writes spare the key rows."""

    key = models.OneToOneField(ApiKey, on_delete=models.CASCADE, primary_key=True, related_name="last_used")
    last_used_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key_id} @ {self.last_used_at}"


class AdminToken(models.Model):
    """A bearer token for the management API (/v1/admin/), acting as its user with that user's permissions."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="admin_tokens")
    prefix = models.CharField(max_length=12, help_text="The token's first 12 characters; not secret.")
    digest = models.CharField(max_length=64, editable=False, help_text="SHA-256 of the whole token.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # The management API looks a token up by its digest.
            models.UniqueConstraint(fields=["digest"], name="admintoken_digest_unique"),
            # Operators name tokens by prefix in the admin.
            models.UniqueConstraint(fields=["prefix"], name="admintoken_prefix_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id and self.user.get_username()})"
