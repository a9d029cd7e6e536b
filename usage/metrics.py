"""Usage metrics: the ledger's queue and budget alerts."""
from __future__ import annotations

from prometheus_client import Counter, Gauge

from infra.metrics import on_sample

from . import ledger

LEDGER_QUEUE = Gauge("gateway_ledger_queue_length", "Usage entries waiting to be written.", multiprocess_mode="livesum")
BUDGET_ALERTS = Counter("gateway_budget_alerts", "Budget threshold alerts fired.", ["tenant"])

on_sample(lambda: LEDGER_QUEUE.set(ledger.pending()))
