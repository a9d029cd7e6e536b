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
            # The ledger writer retries batches; the request id makes a retry harmless. PostgreSQL partitions
            # the table by month on created_at, and a partitioned table's unique keys must hold that column;
            # a retried entry carries its created_at, so the pair still refuses it.
            models.UniqueConstraint(fields=["request_id", "created_at"], name="usage_request_id_unique"),
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


class UsageTotalsBase(models.Model):
    """What every rollup row counts: the sums of its ledger rows, exactly (usage/rollups.py keeps them)."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False)
    requests = models.BigIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    cached_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    cached_requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0, help_text="Rows answered with status 400 or above.")

    class Meta:
        abstract = True


class UsageDaily(UsageTotalsBase):
    """The ledger summed per tenant, key, model and UTC day."""

    # Not a foreign key: 0 stands for "no key", so the unique key has no NULL and upserts find their row.
    key_id = models.BigIntegerField(default=0, help_text="The ApiKey's id; 0 for rows without a key.")
    model = models.CharField(max_length=200)
    day = models.DateField()

    class Meta:
        constraints = [
            # The writer's upsert target; day first: the report's edge days across all tenants.
            models.UniqueConstraint(fields=["day", "tenant", "key_id", "model"], name="usage_daily_key"),
        ]
        # One tenant's days (/v1/usage by model or key, a tenant's month at a glance).
        indexes = [models.Index(fields=["tenant", "day"], name="usage_daily_tenant_day")]


class UsageMonthly(UsageTotalsBase):
    """The ledger summed per tenant, key, model and UTC calendar month: reports by model or key over months."""

    key_id = models.BigIntegerField(default=0, help_text="The ApiKey's id; 0 for rows without a key.")
    model = models.CharField(max_length=200)
    month = models.DateField(help_text="First day of the calendar month (UTC).")

    class Meta:
        constraints = [
            # The writer's upsert target; month first: the admin report's models over all tenants.
            models.UniqueConstraint(fields=["month", "tenant", "key_id", "model"], name="usage_monthly_key"),
        ]
        # One tenant's months (/v1/usage by model or key).
        indexes = [models.Index(fields=["tenant", "month"], name="usage_monthly_tenant_month")]


class UsageDayTotal(UsageTotalsBase):
    """The ledger summed per tenant and UTC day: totals, days, tenants, budgets and the dashboard."""

    day = models.DateField()

    class Meta:
        constraints = [
            # The writer's upsert target; day first: totals, days and tenants over all tenants, the dashboard.
            models.UniqueConstraint(fields=["day", "tenant"], name="usage_daytotal_key"),
        ]
        # One tenant's days: /v1/usage totals and days, budget reseeding and alerts (month_spend).
        indexes = [models.Index(fields=["tenant", "day"], name="usage_daytotal_tenant_day")]


class PrunedMonth(models.Model):
    """A month whose ledger rows prune_usage dropped; its rollups stay, and rebuild_rollups leaves them alone."""

    month = models.DateField(unique=True, help_text="First day of the calendar month (UTC).")
    rows = models.BigIntegerField(help_text="Ledger rows dropped.")
    exported_to = models.CharField(max_length=500, blank=True)
    pruned_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}"
