"""A tenant's change page opens with its month at a glance: spend against budget, requests, tokens, top models, errors, alerts."""
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from usage import dashboard
from usage.models import BudgetAlert

from .conftest import make_tenant
from .ledger_rows import row, save

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def acme():
    acme = make_tenant("acme", monthly_budget_usd=Decimal("2"))
    beta = make_tenant("beta")
    save(
        row(acme, "2026-11-02 10:00", model="gpt-4o", cost_usd=Decimal("1.2"), prompt_tokens=100, completion_tokens=50),
        row(acme, "2026-11-03 10:00", model="gpt-4o-mini", cost_usd=Decimal("0.3")),
        row(acme, "2026-11-04 10:00", model="gpt-4o-mini", status=502, error_type="upstream_error", cost_usd=Decimal(0)),
        row(acme, "2026-10-30 10:00", model="old-model", status=500, cost_usd=Decimal("5")),  # last month
        row(beta, "2026-11-04 10:00", model="beta-only", status=500, cost_usd=Decimal("7")),  # another tenant
    )
    BudgetAlert.objects.create(tenant=acme.tenant, month=date(2026, 11, 1), threshold=50, spent_usd=Decimal("1.2"), budget_usd=Decimal("2"))
    BudgetAlert.objects.create(tenant=acme.tenant, month=date(2026, 10, 1), threshold=100, spent_usd=Decimal("5"), budget_usd=Decimal("2"))
    return acme


def test_the_glance_sums_only_this_tenants_month(acme):
    glance = dashboard.glance(acme.tenant, NOW)
    assert glance.month == date(2026, 11, 1)
    assert (glance.totals.requests, glance.totals.errors) == (3, 1)
    assert glance.totals.cost_usd == Decimal("1.5")
    assert glance.totals.total_tokens == 100 + 50 + 30 + 30
    assert glance.budget_percent == 75.0
    assert glance.bar_percent == 75.0


def test_top_models_come_by_spend(acme):
    glance = dashboard.glance(acme.tenant, NOW)
    assert [(g.label, g.totals.requests) for g in glance.top_models] == [("gpt-4o", 1), ("gpt-4o-mini", 2)]


def test_recent_errors_and_alerts_are_this_months(acme):
    glance = dashboard.glance(acme.tenant, NOW)
    assert [(r.model, r.status) for r in glance.recent_errors] == [("gpt-4o-mini", 502)]
    assert [a.threshold for a in glance.alerts] == [50]


def test_the_bar_stops_at_full_when_over_budget(acme):
    acme.tenant.monthly_budget_usd = Decimal("1")
    glance = dashboard.glance(acme.tenant, NOW)
    assert glance.budget_percent == 150.0
    assert glance.bar_percent == 100.0


def test_a_tenant_without_a_budget_has_no_bar(db):
    free = make_tenant("free")
    glance = dashboard.glance(free.tenant, NOW)
    assert glance.budget_percent is None
    assert glance.totals.requests == 0


def test_the_glance_takes_three_queries(acme, django_assert_num_queries):
    """Models from the rollups (their sum is the month's totals), recent errors from the ledger, fired alerts."""
    with django_assert_num_queries(3):
        dashboard.glance(acme.tenant, NOW)


def test_the_change_page_shows_the_glance(admin_client):
    acme = make_tenant("acme", monthly_budget_usd=Decimal("10"))
    today = datetime.now(UTC)
    save(
        row(acme, today.strftime("%Y-%m-%d %H:%M"), model="gpt-4o", cost_usd=Decimal("2.5")),
        row(acme, today.strftime("%Y-%m-%d %H:%M"), model="gpt-4o", status=504, error_type="timeout_error", cost_usd=Decimal(0)),
    )
    BudgetAlert.objects.create(
        tenant=acme.tenant, month=today.date().replace(day=1), threshold=80, spent_usd=Decimal("8"), budget_usd=Decimal("10")
    )
    page = admin_client.get(reverse("admin:tenants_tenant_change", args=[acme.tenant.pk])).content.decode()
    assert "at a glance" in page
    assert "Spent <strong>$2.5</strong> of the $10.00" in page
    assert 'role="progressbar"' in page and 'aria-valuenow="25"' in page
    assert "width: 25.0%" in page
    assert "timeout_error" in page
    assert "80%" in page
    assert f"?tenant={acme.tenant.slug}&amp;start=" in page
    assert f"?tenant__id__exact={acme.tenant.pk}" in page
    assert 'name="slug"' in page  # the form still follows


def test_the_add_page_has_no_glance(admin_client):
    page = admin_client.get(reverse("admin:tenants_tenant_add")).content.decode()
    assert "at a glance" not in page


def test_staff_who_may_see_tenants_but_not_usage_get_no_glance(client, acme):
    user = User.objects.create_user("ops", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_tenant"))
    client.force_login(user)
    response = client.get(reverse("admin:tenants_tenant_change", args=[acme.tenant.pk]))
    assert response.status_code == 200
    assert "at a glance" not in response.content.decode()
