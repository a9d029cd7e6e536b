"""Usage metrics: the ledger's queue and budget alerts (apps.py samples the queue's length)."""
from __future__ import annotations

from prometheus_client import Counter, Gauge

LEDGER_QUEUE = Gauge("gateway_ledger_queue_length", "Usage entries waiting to be written.", multiprocess_mode="livesum")
BUDGET_ALERTS = Counter("gateway_budget_alerts", "Budget threshold alerts fired.", ["tenant"])
