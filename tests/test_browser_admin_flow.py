"""In a real browser (headless Chromium): log in, make a tenant and a key, use the key, watch the dashboard, get the report's CSV.

Skipped where /usr/bin/chromium or the playwright package is missing. With GATEWAY_SCREENSHOTS=1 it also
seeds a month of ledger history and saves docs/dashboard.png and docs/report.png for the README.
"""
import csv
import io
import os
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User


from .conftest import chat_body, make_tenant
from .ledger_rows import row, save

CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).resolve().parent.parent / "docs"
SCREENSHOTS = os.environ.get("GATEWAY_SCREENSHOTS") == "1"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
PASSWORD = "browser-test-password"

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:
    sync_playwright = None

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium (apt-get install chromium)"),
    pytest.mark.skipif(sync_playwright is None, reason="needs the playwright package (pip install -r requirements-dev.txt)"),
]


def superuser() -> None:
    """An admin whose password the gateway process can check (this process hashes with MD5: conftest)."""
    hasher = PBKDF2PasswordHasher()
    User.objects.create(username="admin", is_staff=True, is_superuser=True, password=hasher.encode(PASSWORD, hasher.salt()))


def seed_history() -> None:
    """A month of traffic for three tenants, so the screenshots show what a working gateway looks like."""
    now = datetime.now(UTC)
    rng = random.Random(7)
    owners = [make_tenant(slug, monthly_budget_usd=Decimal(budget)) for slug, budget in (("globex", "40"), ("initech", "15"), ("umbrella", "5"))]
    models = [("gpt-4o-mini", "openai", "0.00006"), ("claude-haiku", "anthropic", "0.0004"), ("mock-large", "mock", "0.002")]
    rows = []
    for n in range(600):
        owner = owners[n % 3]
        model, provider, price = models[rng.randrange(3)]
        when = now - timedelta(minutes=rng.randrange(0, (now.day - 1) * 1440 + now.hour * 60 + now.minute + 1))
        status = 200 if rng.random() > 0.04 else rng.choice([429, 502, 504])
        tokens = rng.randrange(50, 900)
        rows.append(row(owner, when.strftime("%Y-%m-%d %H:%M:%S"), model=model, provider=provider, status=status,
                        prompt_tokens=tokens, completion_tokens=tokens // 2, latency_ms=rng.randrange(80, 2400),
                        cost_usd=Decimal(price) * tokens / 100 if status == 200 else Decimal(0)))
    save(*rows)


def wait_for_ledger(gateway, raw_key: str, requests: int) -> None:
    """Poll the tenant's own usage (the ORM is off limits here: Playwright's sync API runs an event loop)."""
    today = datetime.now(UTC).date().isoformat()
    deadline = time.monotonic() + 10
    while True:
        usage = httpx.get(f"{gateway.url}/v1/usage", params={"start": today, "end": today}, headers={"X-API-Key": raw_key}).json()
        if usage["total"]["requests"] >= requests:
            return
        assert time.monotonic() < deadline, "the gateway did not write its ledger"
        time.sleep(0.1)


def call(gateway, raw_key: str, model: str = "mock-small") -> None:
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json=chat_body(model), headers={"X-API-Key": raw_key}, timeout=10)
    assert response.status_code == 200, response.text


def test_an_admin_makes_a_tenant_and_key_uses_it_and_downloads_the_report(gateway, mock_provider, tmp_path):
    superuser()
    if SCREENSHOTS:
        seed_history()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_context(accept_downloads=True, viewport={"width": 1360, "height": 1000}).new_page()

        page.goto(f"{gateway.url}/admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        expect(page.locator("#user-tools")).to_contain_text("admin")

        page.goto(f"{gateway.url}/admin/tenants/tenant/add/")
        page.fill("#id_slug", "acme-web")
        page.fill("#id_name", "Acme Web")
        page.fill("#id_monthly_budget_usd", "10")
        page.click("input[name=_save]")
        expect(page.locator(".messagelist")).to_contain_text("acme-web")

        page.goto(f"{gateway.url}/admin/tenants/apikey/add/")
        page.click(".field-tenant .select2-selection")  # the autocomplete widget
        page.keyboard.type("acme-web")
        page.click(".select2-results__option >> text=acme-web")
        page.fill("#id_name", "browser")
        page.click("input[name=_save]")
        expect(page.locator(".errornote")).to_contain_text("shown only on this page")
        raw = page.input_value("#new-key-1")
        assert raw.startswith("gw-")
        page.click("button.copy-key")
        expect(page.locator("button.copy-key")).to_have_text("Copied")

        call(gateway, raw)
        wait_for_ledger(gateway, raw, 1)

        page.goto(f"{gateway.url}/admin/")
        expect(page.locator("#gw-live-state")).to_have_text("Live")
        call(gateway, raw, "mock-large")  # pushed to the open page over the WebSocket
        expect(page.locator("#gw-tail-rows tr").first).to_contain_text("mock-large")
        expect(page.locator("#gw-tail-rows tr").first).to_contain_text("acme-web")
        if SCREENSHOTS:
            page.screenshot(path=str(DOCS / "dashboard.png"), full_page=True)

        wait_for_ledger(gateway, raw, 2)
        page.goto(f"{gateway.url}/admin/tenants/tenant/")
        page.click("#result_list >> text=acme-web")
        expect(page.locator(".gw-glance-figures")).to_contain_text("2requests")
        if SCREENSHOTS:
            page.goto(f"{gateway.url}/admin/tenants/tenant/")
            page.click("#result_list >> text=umbrella")
            page.screenshot(path=str(DOCS / "tenant.png"), full_page=True)
            page.go_back()
            page.click("#result_list >> text=acme-web")

        page.click("text=Usage report for this month")
        expect(page.locator("h1")).to_have_text("Usage report")
        expect(page.locator(".usage-table").first).to_contain_text("acme-web")
        if SCREENSHOTS:
            page.goto(f"{gateway.url}/admin/usage/report/")
            page.screenshot(path=str(DOCS / "report.png"), full_page=True)
            page.go_back()
        with page.expect_download() as download:
            page.click("text=Download the ledger rows as CSV")
        path = tmp_path / "usage.csv"
        download.value.save_as(path)
        browser.close()

    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert sorted((r["tenant"], r["model"], r["status"]) for r in rows) == [
        ("acme-web", "mock-large", "200"), ("acme-web", "mock-small", "200"),
    ]
