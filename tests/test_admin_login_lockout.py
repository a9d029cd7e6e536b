"""Admin logins lock after AXES_FAILURE_LIMIT failures for one user from one address, until a superuser clears it or the cool-off passes."""
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from completions import asgi as api_asgi

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "right-password"


@pytest.fixture
def admin_user():
    return User.objects.create_superuser("admin", password=PASSWORD)


def log_in(client: Client, password: str, username: str = "admin", **headers):
    return client.post(LOGIN, {"username": username, "password": password}, **headers)


def logged_in(response) -> bool:
    return response.status_code == 302 and response.url == "/admin/"


def fail_until_locked(client: Client, username: str = "admin", **headers) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = log_in(client, "wrong", username, **headers)
        assert response.status_code in (200, 429)  # the form again, then the lockout page on the last one


def test_the_right_password_is_refused_once_locked(admin_user, client):
    fail_until_locked(client)
    response = log_in(client, PASSWORD)
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # still sent to the login page


def test_fewer_failures_than_the_limit_do_not_lock(admin_user, client):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "wrong").status_code == 200
    assert logged_in(log_in(client, PASSWORD))


def test_the_lock_holds_only_this_user_from_this_address(admin_user, client):
    User.objects.create_superuser("other", password=PASSWORD)
    fail_until_locked(client)
    assert logged_in(log_in(Client(), PASSWORD, REMOTE_ADDR="192.0.2.20"))  # the same user elsewhere
    assert logged_in(log_in(Client(), PASSWORD, "other"))  # another user from here


def test_a_superuser_sees_the_lockout_and_clears_it(admin_user, client):
    fail_until_locked(client)
    other = User.objects.create_superuser("root", password="x")
    superuser = Client()
    superuser.force_login(other)
    changelist = reverse("admin:axes_accessattempt_changelist")
    page = superuser.get(changelist).content.decode()
    assert '<td class="field-username">admin</td>' in page and "Locked Out" in page

    attempt = AccessAttempt.objects.get(username="admin")
    response = superuser.post(changelist, {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"})
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert logged_in(log_in(client, PASSWORD))


def test_the_lock_ends_after_the_cool_off(admin_user, client):
    fail_until_locked(client)
    assert log_in(client, PASSWORD).status_code == 429
    past = timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    AccessAttempt.objects.update(attempt_time=past)
    assert logged_in(log_in(client, PASSWORD))


def test_a_failure_during_the_lockout_starts_the_wait_again(admin_user, client):
    fail_until_locked(client)
    almost_over = timezone.now() - settings.AXES_COOLOFF_TIME + timedelta(seconds=30)
    AccessAttempt.objects.update(attempt_time=almost_over)
    assert log_in(client, "wrong").status_code == 429
    assert AccessAttempt.objects.get().attempt_time > almost_over + timedelta(seconds=20)


def test_behind_a_trusted_proxy_the_forwarded_address_is_locked(admin_user, client, settings):
    settings.GATEWAY = {**settings.GATEWAY, "TRUSTED_PROXY": True}
    fail_until_locked(client, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert AccessAttempt.objects.get().ip_address == "203.0.113.7"
    assert log_in(client, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 429
    assert logged_in(log_in(Client(), PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.8"))


def test_without_a_trusted_proxy_a_forwarded_header_changes_nothing(admin_user, client):
    fail_until_locked(client, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert AccessAttempt.objects.get().ip_address == "127.0.0.1"
    assert log_in(client, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 429


def test_finance_does_not_see_login_attempts(client):
    user = User.objects.create_user("fin", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="finance"))
    client.force_login(user)
    assert client.get(reverse("admin:axes_accessattempt_changelist")).status_code == 403


def test_the_api_paths_run_without_the_lockout():
    assert not [path for path in api_asgi.api_middleware() if path.startswith(("axes.", "infra.audit."))]
