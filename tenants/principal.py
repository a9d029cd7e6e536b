"""The authenticated caller, as cached: everything the hot path needs about a key and its tenant."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: int
    key_prefix: str
    digest: str
    tenant_id: int
    tenant_slug: str
    tenant_active: bool
    valid_until: float | None  # epoch seconds: expiry or end of rotation grace, whichever is first
    revoked: bool
    rpm_limit: int | None
    tpm_limit: int | None
    key_rpm_limit: int | None
    key_tpm_limit: int | None
    allowed_models: frozenset[str]  # empty: all models
    monthly_budget_usd: Decimal | None
    budget_is_hard: bool
    alert_thresholds: tuple[int, ...]
    cache_ttl_seconds: int | None

    def may_use(self, model: str) -> bool:
        return not self.allowed_models or model in self.allowed_models
