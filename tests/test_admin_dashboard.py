"""The admin index dashboard: today's and this month's figures, busiest tenants, providers' health, latest requests."""
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from providers import breaker
from usage import dashboard

from .conftest import make_tenant
from .ledger_rows import row, save

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def traffic():
    acme, beta = make_tenant("acme"), make_tenant("beta")
    save(
        row(acme, "2026-11-15 09:00", cost_usd=Decimal("0.000100000001")),
        row(acme, "2026-11-15 10:00", status=502, cost_usd=Decimal("0")),
        row(acme, "2026-11-03 10:00", cost_usd=Decimal("0.25")),
        row(beta, "2026-11-14 23:59:59", cost_usd=Decimal("1")),
        row(beta, "2026-10-31 23:59:59", cost_usd=Decimal("9")),  # last month: in neither span
    )
    return acme, beta


def test_the_summary_counts_today_and_this_month_in_utc(traffic):
    summary = dashboard.summary(NOW)
    assert summary.day.isoformat() == "2026-11-15"
    assert (summary.today.requests, summary.today.errors, summary.today.cost_usd) == (2, 1, Decimal("0.000100000001"))
    assert (summary.month.requests, summary.month.errors, summary.month.cost_usd) == (4, 1, Decimal("1.250100000001"))
    assert summary.today.error_rate == 50.0
    assert summary.month.cost == "1.250100000001"  # exact, as every report


def test_a_quiet_day_has_no_error_rate(db):
    summary = dashboard.summary(NOW)
    assert summary.today.requests == 0
    assert summary.today.error_rate is None
    assert summary.month.cost_usd == 0


def test_the_busiest_tenants_are_ranked_by_requests_this_month(traffic):
    busiest = dashboard.tenants_month(NOW)
    assert [(t.slug, t.month.requests, t.month.errors, t.today.requests) for t in busiest] == [("acme", 3, 1, 2), ("beta", 1, 0, 0)]
    assert busiest[1].month.cost_usd == Decimal("1")


def test_provider_health_shows_breaker_state_and_recent_upstream_errors(mock_provider, traffic):
    acme, _ = traffic
    recent = NOW - timedelta(minutes=5)
    save(
        row(acme, recent.strftime("%Y-%m-%d %H:%M"), provider="mock", status=502),
        row(acme, recent.strftime("%Y-%m-%d %H:%M"), provider="mock", status=200),
        row(acme, recent.strftime("%Y-%m-%d %H:%M"), provider="mock", status=429),  # a refusal, not the provider's fault
        row(acme, "2026-11-15 11:00", provider="mock", status=502),  # an hour ago: outside the window
    )
    for _ in range(5):
        breaker.failure("mock")
    [health] = dashboard.provider_health(NOW)
    assert (health.provider.name, health.breaker) == ("mock", "open")
    assert (health.requests, health.errors) == (3, 1)
    assert health.failing


def test_each_dashboard_table_is_one_query(mock_provider, traffic, django_assert_num_queries):
    for build in (dashboard.summary, dashboard.tenants_month, dashboard.provider_health):
        with django_assert_num_queries(1):
            build(NOW)
    with django_assert_num_queries(1):
        [r.tenant.slug for r in dashboard.recent_requests()]


def test_the_index_shows_the_dashboard_to_superusers(admin_client, mock_provider):
    acme = make_tenant("acme")
    save(row(acme, datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"), model="mock-small", provider="mock", cost_usd=Decimal("0.5")))
    response = admin_client.get(reverse("admin:index"))
    page = response.content.decode()
    assert response.context["summary"].today.requests == 1
    assert "Requests today" in page
    assert "Busiest tenants this month" in page
    assert reverse("admin:tenants_tenant_change", args=[acme.tenant.pk]) in page
    assert reverse("admin:providers_provider_change", args=[mock_provider.pk]) in page
    assert "Latest requests" in page
    assert 'data-live-path="/ws/admin/live/"' in page
    assert "$0.5<" in page
    assert acme.key.prefix not in page
    assert acme.raw not in page
    assert "Usage report" in page


def test_the_index_of_staff_without_usage_permission_has_no_dashboard(client):
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert "summary" not in response.context
    assert "Requests today" not in response.content.decode()
    assert 'id="gw-dashboard"' not in response.content.decode()


def test_the_index_asks_anonymous_visitors_to_log_in(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
