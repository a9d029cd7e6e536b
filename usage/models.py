"""The usage ledger: one row per authenticated request."""
from django.db import models
from django.db.models import Q


def token_classes(row) -> str:
    """A ledger row's (or entry's) token classes in a line, for the dashboard's tooltip."""
    return (f"prompt {row.prompt_tokens} (cached {row.cached_tokens}, cache write {row.cache_write_tokens}), "
            f"completion {row.completion_tokens} (reasoning {row.reasoning_tokens})")


class UsageRecord(models.Model):
    request_id = models.CharField(max_length=64)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="usage")
    api_key = models.ForeignKey("tenants.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="usage")
    model = models.CharField(max_length=200, help_text="Public model name the client asked for.")
    provider = models.CharField(max_length=64, blank=True, help_text="Provider that answered (or last tried).")
    upstream_model = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0, help_text="Of prompt_tokens: read from the provider's cache.")
    cache_write_tokens = models.PositiveIntegerField(default=0, help_text="Of prompt_tokens: written to the provider's cache.")
    reasoning_tokens = models.PositiveIntegerField(default=0, help_text="Of completion_tokens: reasoning.")
    tokens_estimated = models.BooleanField(default=False, help_text="Counted by the gateway, not reported by the provider.")
    input_price_per_mtok = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    output_price_per_mtok = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    # The prices the cache classes were billed at (the input price when the route had none of its own).
    cached_input_price_per_mtok = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    cache_write_price_per_mtok = models.DecimalField(max_digits=14, decimal_places=6, default=0)
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
            models.CheckConstraint(
                condition=Q(cached_input_price_per_mtok__gte=0) & Q(cache_write_price_per_mtok__gte=0),
                name="usage_cache_prices_non_negative",
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

    @property
    def cost(self) -> str:
        """The cost as reports show it: exact, trailing zeros dropped."""
        from .cost import exact

        return exact(self.cost_usd)

    @property
    def token_classes(self) -> str:
        return token_classes(self)


class BudgetAlert(models.Model):
    """A budget threshold crossed by a tenant in a month; each fires once."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="budget_alerts")
    month = models.DateField(help_text="First day of the calendar month (UTC).")
    threshold = models.PositiveSmallIntegerField(help_text="Percent of the monthly budget.")
    spent_usd = models.DecimalField(max_digits=24, decimal_places=12, help_text="Month-to-date spend when it fired.")
    budget_usd = models.DecimalField(max_digits=18, decimal_places=6)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Fired once per tenant, month and threshold, whichever replica sees the crossing first.
            models.UniqueConstraint(fields=["tenant", "month", "threshold"], name="budget_alert_once"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.month:%Y-%m} {self.threshold}%"


class BudgetCounter(models.Model):
    """Spent plus reserved for a tenant's month, when no Redis holds it; rebuilt from the ledger."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    month = models.DateField()
    amount_usd = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    generation = models.PositiveIntegerField(default=1, help_text="Bumped on every reseed; settling checks it.")
    seeded_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Budget reserve and settle address one row per tenant and month.
            models.UniqueConstraint(fields=["tenant", "month"], name="budget_counter_tenant_month"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id} {self.month:%Y-%m} {self.amount_usd}"
