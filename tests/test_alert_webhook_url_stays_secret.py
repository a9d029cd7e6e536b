"""A budget-alert webhook URL often carries a token: logs name its host only, and only superusers see it in the admin."""
import logging
import socket

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from usage import alerts

from .conftest import make_tenant

pytestmark = pytest.mark.django_db

TOKEN = "T0KEN-abc123-never-in-logs"


@pytest.fixture(autouse=True)
def _fast_webhooks(settings):
    settings.GATEWAY = {**settings.GATEWAY, "ALERT_WEBHOOK_ATTEMPTS": 2, "ALERT_WEBHOOK_BACKOFF": 0.0,
                        "ALERT_WEBHOOK_TIMEOUT": 5.0}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_failing_webhook_is_logged_by_its_host_only(caplog):
    url = f"http://127.0.0.1:{closed_port()}/hooks/{TOKEN}?token={TOKEN}"
    with caplog.at_level(logging.WARNING, logger="gateway.alerts"):
        assert alerts.post_webhook(url, {"type": "budget_alert"}) is False
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "webhook to 127.0.0.1 failed" in text and "gave up" in text
    assert TOKEN not in text and "/hooks/" not in text


@pytest.fixture
def tenant():
    return make_tenant("acme", alert_webhook_url=f"https://hooks.example.com/services/{TOKEN}")


def staff(client, *codenames) -> None:
    user = User.objects.create_user("ops", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)


def test_staff_without_superuser_see_only_that_a_webhook_is_set(client, tenant):
    staff(client, "view_tenant", "change_tenant")
    page = client.get(reverse("admin:tenants_tenant_change", args=[tenant.tenant.pk])).content.decode()
    assert "set, to hooks.example.com" in page
    assert TOKEN not in page and 'name="alert_webhook_url"' not in page


def test_a_staff_save_keeps_the_webhook(client, tenant):
    staff(client, "view_tenant", "change_tenant")
    data = {"slug": "acme", "name": "Renamed", "active": "on", "allowed_models": "[]", "alert_thresholds": "[50]",
            "budget_is_hard": "on", "keys-TOTAL_FORMS": "0", "keys-INITIAL_FORMS": "0"}
    response = client.post(reverse("admin:tenants_tenant_change", args=[tenant.tenant.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    tenant.tenant.refresh_from_db()
    assert tenant.tenant.name == "Renamed" and TOKEN in tenant.tenant.alert_webhook_url


def test_superusers_see_and_edit_the_url(admin_client, tenant):
    page = admin_client.get(reverse("admin:tenants_tenant_change", args=[tenant.tenant.pk])).content.decode()
    assert 'name="alert_webhook_url"' in page and TOKEN in page
