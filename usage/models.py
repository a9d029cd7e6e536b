"""The usage ledger: one row per authenticated request."""
from django.db import models
from django.db.models import Q


class UsageRecord(models.Model):
    request_id = models.CharField(max_length=64)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="usage")
    api_key = models.ForeignKey("tenants.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="usage")
    model = models.CharField(max_length=200, help_text="Public model name the client asked for.")
    provider = models.CharField(max_length=64, blank=True, help_text="Provider that answered (or last tried).")
    upstream_model = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    tokens_estimated = models.BooleanField(default=False, help_text="Counted by the gateway, not reported by the provider.")
    input_price_per_mtok = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    output_price_per_mtok = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    cost_usd = models.DecimalField(max_digits=24, decimal_places=12, default=0)
    status = models.PositiveSmallIntegerField(help_text="HTTP status returned to the client.")
    error_type = models.CharField(max_length=64, blank=True)
    cached = models.BooleanField(default=False)
    streamed = models.BooleanField(default=False)
    client_disconnected = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time to first token (streams).")
    created_at = models.DateTimeField(db_index=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(cost_usd__gte=0) & Q(input_price_per_mtok__gte=0) & Q(output_price_per_mtok__gte=0),
                name="usage_money_non_negative",
            ),
            # The ledger writer retries batches; the request id makes a retry harmless.
            models.UniqueConstraint(fields=["request_id"], name="usage_request_id_unique"),
        ]
        indexes = [
            # /v1/usage, budgets and reports: one tenant over a period.
            models.Index(fields=["tenant", "created_at"], name="usage_tenant_created"),
            # Admin report across tenants over a period.
            models.Index(fields=["created_at"], name="usage_created"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.model} {self.status}"
