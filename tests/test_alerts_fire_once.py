"""Budget thresholds fire once per tenant and month: a row, a log line, an e-mail and a webhook."""
import threading
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest
from django.core import mail

from usage import alerts, ledger
from usage.models import BudgetAlert

from .conftest import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


class Hook:
    """A webhook receiver on 127.0.0.1: answers each POST with the next status of a script, or hangs."""

    def __init__(self, statuses=(200,), hang: float = 0.0, until: threading.Event | None = None):
        self.statuses, self.hang, self.until, self.bodies, self.calls = list(statuses), hang, until, [], 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.calls += 1
                time.sleep(hook.hang)
                if hook.until is not None:
                    hook.until.wait(120)
                status = hook.statuses.pop(0) if len(hook.statuses) > 1 else hook.statuses[0]
                if status == 200:
                    hook.bodies.append(orjson.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


@pytest.fixture(autouse=True)
def _fast_webhooks(settings):
    settings.GATEWAY = {**settings.GATEWAY, "LEDGER_WRITER": False, "ALERT_WEBHOOK_BACKOFF": 0.01,
                        "ALERT_WEBHOOK_TIMEOUT": 0.5}


def spend(tk, usd: str) -> ledger.LedgerEntry:
    return ledger.LedgerEntry(
        request_id=f"req_{uuid.uuid4().hex}", tenant_id=tk.tenant.pk, api_key_id=tk.key.pk, model="mock-small",
        provider="mock", upstream_model="mock-small", prompt_tokens=1, completion_tokens=1, tokens_estimated=False,
        input_price_per_mtok=Decimal(0), output_price_per_mtok=Decimal(0), cost_usd=Decimal(usd), status=200,
        error_type="", cached=False, streamed=False, client_disconnected=False, latency_ms=1, ttft_ms=None,
        created_at=datetime.now(timezone.utc),
    )


def write(*entries):
    for entry in entries:
        ledger.record(entry)
    ledger.flush()
    alerts.drain()


def test_each_threshold_fires_once_with_row_mail_and_webhook(hook, caplog):
    tk = make_tenant("acme", monthly_budget_usd=Decimal("1.00"), alert_email="finance@acme.test",
                     alert_webhook_url=hook.url)
    write(spend(tk, "0.3"))
    assert BudgetAlert.objects.count() == 0
    write(spend(tk, "0.2"))  # 0.5: exactly 50 %
    write(spend(tk, "0.35"))  # 0.85: 80 %
    write(spend(tk, "0.1"))
    write(spend(tk, "0.2"), spend(tk, "0.5"))  # past 100 %
    write(spend(tk, "1"))  # nothing left to fire

    assert sorted(BudgetAlert.objects.values_list("threshold", flat=True)) == [50, 80, 100]
    assert BudgetAlert.objects.get(threshold=50).spent_usd == Decimal("0.5")
    assert [m.to for m in mail.outbox] == [["finance@acme.test"]] * 3
    assert "50%" in mail.outbox[0].subject
    assert [b["threshold_percent"] for b in hook.bodies] == [50, 80, 100]
    assert hook.bodies[1] == {"type": "budget_alert", "tenant": "acme", "month": f"{datetime.now(timezone.utc):%Y-%m}",
                              "threshold_percent": 80, "spent_usd": "0.85", "budget_usd": "1"}
    assert sum("budget alert: tenant acme reached" in r.getMessage() for r in caplog.records) == 3


def test_it_uses_the_tenants_own_thresholds(hook):
    tk = make_tenant("acme", monthly_budget_usd=Decimal("10"), alert_thresholds=[25], alert_webhook_url=hook.url)
    write(spend(tk, "9"))
    assert list(BudgetAlert.objects.values_list("threshold", flat=True)) == [25]
    assert mail.outbox == []


def test_replicas_checking_at_once_fire_each_threshold_once(hook):
    tk = make_tenant("acme", monthly_budget_usd=Decimal("1"), alert_webhook_url=hook.url)
    entries = [spend(tk, "2")]
    write(*entries)
    BudgetAlert.objects.all().delete()  # as if no replica had checked yet
    hook.bodies.clear()
    fired: list = []
    barrier = threading.Barrier(6)

    def replica():
        from django.db import connection

        barrier.wait()
        try:
            fired.extend(alerts.check(entries))
        finally:
            connection.close()

    threads = [threading.Thread(target=replica) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alerts.drain()
    assert sorted(n.threshold for n in fired) == [50, 80, 100]
    assert BudgetAlert.objects.count() == 3
    assert sorted(b["threshold_percent"] for b in hook.bodies) == [50, 80, 100]


def test_a_failing_webhook_is_retried():
    flaky = Hook(statuses=(500, 503, 200))
    try:
        tk = make_tenant("acme", monthly_budget_usd=Decimal("1"), alert_thresholds=[100], alert_webhook_url=flaky.url)
        write(spend(tk, "1"))
        assert flaky.calls == 3
        assert [b["threshold_percent"] for b in flaky.bodies] == [100]
    finally:
        flaky.close()


def test_a_webhook_that_answers_late_blocks_nothing(settings, caplog):
    # The hook answers only once the ledger flush has returned: a flush that waited for it would
    # wait until the webhook call timed out, and the one attempt would fail.
    settings.GATEWAY = {**settings.GATEWAY, "ALERT_WEBHOOK_ATTEMPTS": 1, "ALERT_WEBHOOK_TIMEOUT": 60.0}
    flushed = threading.Event()
    late = Hook(until=flushed)
    try:
        tk = make_tenant("acme", monthly_budget_usd=Decimal("1"), alert_thresholds=[100], alert_webhook_url=late.url)
        ledger.record(spend(tk, "1"))
        ledger.flush()
        flushed.set()
        assert BudgetAlert.objects.count() == 1
        alerts.drain()
        assert late.calls == 1 and [b["threshold_percent"] for b in late.bodies] == [100]
        assert not [r for r in caplog.records if "webhook" in r.getMessage() and r.levelno >= 30]
    finally:
        flushed.set()
        late.close()


def test_a_hanging_webhook_is_given_up_after_its_attempts():
    stuck = Hook(hang=2.0)
    try:
        tk = make_tenant("acme", monthly_budget_usd=Decimal("1"), alert_thresholds=[100], alert_webhook_url=stuck.url)
        write(spend(tk, "1"))
        assert BudgetAlert.objects.count() == 1
        assert stuck.calls == 3  # each attempt timed out after 0.5 s, then it gave up
    finally:
        stuck.close()
