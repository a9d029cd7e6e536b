"""Budget alerts: after the ledger writes a batch, fire each threshold a tenant crossed, once a month.

Spend comes from the database (the day totals kept with the ledger just written), so soft and hard budgets, with or
without Redis, alert alike; between checks the ledger asks the database again only when a
tenant's spend may have reached its next threshold (`worth_checking`). The BudgetAlert unique
constraint decides which replica fires; the mail and webhook go out on a small thread pool,
so a slow webhook blocks nothing.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from . import metrics
from .partitions import month_start
from .rollups import month_spend

log = logging.getLogger("gateway.alerts")

DEFAULT_THRESHOLDS = (50, 80, 100)

_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="budget-alert")
_futures: set[Future] = set()

# How long what a check learnt stands in for the database: other replicas' spend and budget
# edits are seen within this time; this process's own spend is added as it is written.
RECHECK_SECONDS = 30.0


@dataclass(slots=True)
class _Hint:
    """What the last check of a tenant's month found: spend so far and where the next threshold lies."""

    spent: Decimal
    due_at: Decimal | None  # None: no budget, or every threshold fired
    checked: float

_hints: dict[tuple[int, date], _Hint] = {}


@dataclass(frozen=True, slots=True)
class Notice:
    tenant: str
    month: date
    threshold: int
    spent_usd: Decimal
    budget_usd: Decimal
    email: str
    webhook_url: str

    def payload(self) -> dict:
        return {
            "type": "budget_alert",
            "tenant": self.tenant,
            "month": f"{self.month:%Y-%m}",
            "threshold_percent": self.threshold,
            "spent_usd": money(self.spent_usd),
            "budget_usd": money(self.budget_usd),
        }


def money(value: Decimal) -> str:
    """A plain decimal string: no exponent, no float artefacts."""
    return format(value.normalize() if value else Decimal(0), "f")


def thresholds(tenant) -> tuple[int, ...]:
    chosen = {int(t) for t in (tenant.alert_thresholds or DEFAULT_THRESHOLDS) if int(t) > 0}
    return tuple(sorted(chosen))


def forget() -> None:
    _hints.clear()


def worth_checking(entries) -> list:
    """The entries whose tenant's spend may have crossed a threshold since the last check (or is not known lately)."""
    now, due = time.monotonic(), []
    for e in entries:
        if e.cost_usd <= 0:
            continue
        hint = _hints.get((e.tenant_id, month_start(e.created_at)))
        if hint is None or now - hint.checked > RECHECK_SECONDS:
            due.append(e)
            continue
        hint.spent += e.cost_usd
        if hint.due_at is not None and hint.spent >= hint.due_at:
            due.append(e)
    return due


def check(entries) -> list[Notice]:
    """Fire the thresholds crossed by the tenants of written ledger entries; returns what fired here."""
    from tenants.models import Tenant

    from .models import BudgetAlert

    pairs = {(e.tenant_id, month_start(e.created_at)) for e in entries if e.cost_usd > 0}
    if not pairs:
        return []
    tenants = Tenant.objects.filter(pk__in={t for t, _ in pairs}, monthly_budget_usd__gt=0).in_bulk()
    now = time.monotonic()
    for pair in pairs:  # refined below for tenants with thresholds still to fire
        _hints[pair] = _Hint(Decimal(0), None, now)
    if not tenants:
        return []
    fired = set(
        BudgetAlert.objects.filter(tenant_id__in=tenants, month__in={m for _, m in pairs}).values_list(
            "tenant_id", "month", "threshold"
        )
    )
    notices = []
    for tenant_id, month in sorted(pairs):
        tenant = tenants.get(tenant_id)
        due = [t for t in thresholds(tenant) if (tenant_id, month, t) not in fired] if tenant else []
        if due:
            notices += _crossed(tenant, month, due, _hints[(tenant_id, month)])
    return notices


def _crossed(tenant, month: date, due: list[int], hint: _Hint) -> list[Notice]:
    from .models import BudgetAlert

    spent, budget = month_spend(tenant.pk, month), tenant.monthly_budget_usd
    hint.spent = spent
    notices = []
    for threshold in due:
        if spent * 100 < budget * threshold:
            hint.due_at = budget * threshold / 100
            break
        try:
            with transaction.atomic():
                BudgetAlert.objects.create(
                    tenant=tenant, month=month, threshold=threshold, spent_usd=spent, budget_usd=budget
                )
        except IntegrityError:  # another replica fired it
            continue
        notice = Notice(tenant.slug, month, threshold, spent, budget, tenant.alert_email, tenant.alert_webhook_url)
        log.warning(
            "budget alert: tenant %s reached %d%% of its %s USD budget for %s (spent %s USD)",
            tenant.slug, threshold, money(budget), f"{month:%Y-%m}", money(spent),
        )
        metrics.BUDGET_ALERTS.labels(notice.tenant).inc()
        _submit(notice)
        notices.append(notice)
    return notices


def _submit(notice: Notice) -> None:
    future = _pool.submit(deliver, notice)
    _futures.add(future)
    future.add_done_callback(_futures.discard)


def drain(timeout: float = 30.0) -> None:
    """Wait for deliveries in flight (tests, shutdown)."""
    wait(list(_futures), timeout=timeout)


def deliver(notice: Notice) -> None:
    """Send the e-mail and the webhook, each when configured; failures are logged, never raised."""
    if notice.email:
        try:
            send_mail(_subject(notice), _body(notice), None, [notice.email])
        except Exception:
            log.error("budget alert e-mail to %s failed", notice.email, exc_info=True)
    if notice.webhook_url:
        post_webhook(notice.webhook_url, notice.payload())


def _subject(notice: Notice) -> str:
    return f"[AI gateway] {notice.tenant} reached {notice.threshold}% of its monthly budget"


def _body(notice: Notice) -> str:
    return (
        f"Tenant {notice.tenant} has spent {money(notice.spent_usd)} USD of its {money(notice.budget_usd)} USD "
        f"budget for {notice.month:%Y-%m} ({notice.threshold}% threshold).\n"
    )


def webhook_host(url: str) -> str:
    """What the logs and non-superusers may see of a webhook URL: its host; its path and query often hold a token."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def post_webhook(url: str, payload: dict) -> bool:
    """POST JSON with a timeout, retrying with backoff on errors and non-2xx answers; logs name the host only."""
    attempts, host = settings.GATEWAY["ALERT_WEBHOOK_ATTEMPTS"], webhook_host(url)
    for attempt in range(attempts):
        try:
            response = httpx.post(url, json=payload, timeout=settings.GATEWAY["ALERT_WEBHOOK_TIMEOUT"])
            if response.is_success:
                return True
            log.warning("budget alert webhook to %s answered %d (attempt %d)", host, response.status_code, attempt + 1)
        except httpx.HTTPError as err:
            reason = str(err).replace(url, host) or type(err).__name__
            log.warning("budget alert webhook to %s failed: %s (attempt %d)", host, reason, attempt + 1)
        if attempt + 1 < attempts:
            time.sleep(settings.GATEWAY["ALERT_WEBHOOK_BACKOFF"] * 2**attempt)
    log.error("budget alert webhook to %s gave up after %d attempts", host, attempts)
    return False
