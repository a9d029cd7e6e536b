"""Providers in the admin show which one is failing (breaker state, recent 5xx rate) and can be disabled and enabled."""
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from providers import breaker, routes
from providers.models import Provider

from .conftest import make_tenant
from .ledger_rows import row, save

pytestmark = pytest.mark.django_db


def changelist() -> str:
    return reverse("admin:providers_provider_changelist")


def minutes_ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")


def test_the_list_shows_an_open_breaker(admin_client, mock_provider):
    for _ in range(5):
        breaker.failure("mock")
    page = admin_client.get(changelist()).content.decode()
    assert "breaker (this process)" in page.lower()
    assert ">open</strong>" in page


def test_the_list_shows_the_recent_upstream_error_rate_from_the_ledger(admin_client, mock_provider):
    acme = make_tenant("acme")
    save(
        row(acme, minutes_ago(1), provider="mock", status=502),
        row(acme, minutes_ago(2), provider="mock", status=200),
        row(acme, minutes_ago(3), provider="mock", status=200),
        row(acme, minutes_ago(4), provider="mock", status=200),
        row(acme, minutes_ago(30), provider="mock", status=502),  # before the window
        row(acme, minutes_ago(1), provider="other", status=502),
    )
    page = admin_client.get(changelist()).content.decode()
    assert "5xx, last 15 min" in page.lower()
    assert "1 of 4 (25%)" in page


def test_a_provider_without_recent_traffic_says_so(admin_client, mock_provider):
    page = admin_client.get(changelist()).content.decode()
    assert "no requests" in page
    assert ">closed<" in page


def test_the_change_page_shows_health_read_only(admin_client, mock_provider):
    page = admin_client.get(reverse("admin:providers_provider_change", args=[mock_provider.pk])).content.decode()
    assert "breaker (this process)" in page.lower()
    assert 'name="breaker_state"' not in page


def test_the_disable_action_takes_a_provider_out_of_routing(admin_client, mock_provider):
    assert routes.table_sync().get("mock-small")
    response = admin_client.post(changelist(), {"action": "disable_selected", "_selected_action": [mock_provider.pk]}, follow=True)
    assert "Disabled 1 provider" in response.content.decode()
    mock_provider.refresh_from_db()
    assert not mock_provider.enabled
    assert not routes.table_sync().get("mock-small")
    assert LogEntry.objects.filter(object_id=str(mock_provider.pk), change_message="Disabled.").exists()


def test_the_enable_action_brings_it_back(admin_client, mock_provider):
    Provider.objects.filter(pk=mock_provider.pk).update(enabled=False)
    routes.invalidate()
    response = admin_client.post(changelist(), {"action": "enable_selected", "_selected_action": [mock_provider.pk]}, follow=True)
    assert "Enabled 1 provider" in response.content.decode()
    mock_provider.refresh_from_db()
    assert mock_provider.enabled
    assert routes.table_sync().get("mock-small")


def test_staff_who_may_only_view_providers_cannot_disable_them(client, mock_provider):
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_provider"))
    client.force_login(user)
    page = client.get(changelist()).content.decode()
    assert "disable_selected" not in page
    response = client.post(changelist(), {"action": "disable_selected", "_selected_action": [mock_provider.pk]})
    assert response.status_code == 200  # the list again: no action is offered, so none ran
    mock_provider.refresh_from_db()
    assert mock_provider.enabled
