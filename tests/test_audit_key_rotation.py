"""A key rotation through the command, the admin or the management API leaves audit entries with its actor, and never the key or its digest."""
import os
import re
import subprocess
import sys

import pytest
from asgiref.sync import sync_to_async
from auditlog.models import LogEntry
from django.contrib.auth.models import User
from django.urls import reverse
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from infra.audit.actors import AuditActorMixin
from tenants import keys, services
from tenants.models import ApiKey

from .audit_entries import entries_for, whole_trail
from .conftest import make_tenant
from .live import ROOT, database_url


def assert_rotation_entries(old: ApiKey, new: ApiKey, via: str) -> tuple[LogEntry, LogEntry]:
    """The successor's creation and the old key's update, each made `via` the given way in."""
    (created,) = entries_for(new)
    assert created.action == LogEntry.Action.CREATE
    assert created.changes["prefix"] == [None, new.prefix]
    updated = entries_for(old)[-1]
    assert updated.action == LogEntry.Action.UPDATE
    assert set(updated.changes) == {"replaced_by", "grace_until"}
    assert updated.changes["replaced_by"][0] is None and new.prefix in updated.changes["replaced_by"][1]
    for entry in (created, updated):
        assert entry.additional_data["via"] == via
        assert "digest" not in entry.changes
    return created, updated


def assert_no_secret(*raw_keys: str) -> None:
    trail = whole_trail()
    for raw in raw_keys:
        assert raw not in trail and keys.digest(raw) not in trail


@pytest.mark.django_db(transaction=True)
def test_a_rotation_by_the_command_is_made_by_manage_py():
    acme = make_tenant("acme")
    env = {**os.environ, "DATABASE_URL": database_url()}
    done = subprocess.run(
        [sys.executable, "manage.py", "rotate_api_key", acme.key.prefix, "--grace-minutes", "5"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    new_raw = done.stdout.splitlines()[-1]
    new = ApiKey.objects.get(digest=keys.digest(new_raw))

    created, updated = assert_rotation_entries(acme.key, new, via="manage.py")
    for entry in (created, updated):
        assert entry.actor is None
        assert entry.additional_data["command"] == "rotate_api_key"
    assert_no_secret(acme.raw, new_raw)


@pytest.mark.django_db
def test_a_rotation_in_the_admin_is_made_by_the_logged_in_user(client):
    acme = make_tenant("acme")
    root = User.objects.create_superuser("root", password="x")
    client.force_login(root)
    page = client.post(
        reverse("admin:tenants_apikey_changelist"), {"action": "rotate_selected", "_selected_action": [acme.key.pk]}
    )
    assert page.status_code == 200
    new = ApiKey.objects.get(replaces=acme.key)

    created, updated = assert_rotation_entries(acme.key, new, via="admin")
    for entry in (created, updated):
        assert entry.actor == root
        assert entry.remote_addr == "127.0.0.1"
    new_raw = re.search(r'id="new-key-1" value="([^"]+)"', page.content.decode()).group(1)
    assert keys.digest(new_raw) == new.digest
    assert_no_secret(acme.raw, new_raw)


@pytest.mark.django_db(transaction=True)
async def test_a_rotation_in_the_admin_over_asgi_is_made_by_the_logged_in_user(async_client):
    """The server's path: Django's ASGI handler with the async middleware chain, the view in a worker thread."""
    acme = await sync_to_async(make_tenant)("acme")
    root = await User.objects.acreate(username="root", is_staff=True, is_superuser=True)
    await async_client.aforce_login(root)
    page = await async_client.post(
        reverse("admin:tenants_apikey_changelist"), {"action": "rotate_selected", "_selected_action": [acme.key.pk]}
    )
    assert page.status_code == 200
    new = await ApiKey.objects.aget(replaces=acme.key)
    created, updated = await sync_to_async(assert_rotation_entries)(acme.key, new, via="admin")
    assert created.actor_id == updated.actor_id == root.pk


class RotateView(AuditActorMixin, APIView):
    """A stand-in for the management API's rotate endpoint: DRF, a token-authenticated user, the services call."""

    permission_classes = []  # the stand-in checks no permission (REST_FRAMEWORK's default, ModelPermissions, would)

    def post(self, request, prefix):
        issued = services.rotate_key(services.get_key(prefix), 5)
        return Response({"prefix": issued.key.prefix, "key": issued.raw})


@pytest.mark.django_db
def test_a_rotation_through_a_drf_view_is_made_by_its_authenticated_user():
    acme = make_tenant("acme")
    bot = User.objects.create_user("ci-bot", is_staff=True)
    request = APIRequestFactory().post(f"/v1/admin/keys/{acme.key.prefix}/rotate", {}, format="json",
                                       REMOTE_ADDR="198.51.100.4")
    force_authenticate(request, user=bot)
    response = RotateView.as_view()(request, prefix=acme.key.prefix)
    assert response.status_code == 200
    new = ApiKey.objects.get(prefix=response.data["prefix"])

    created, updated = assert_rotation_entries(acme.key, new, via="api")
    for entry in (created, updated):
        assert entry.actor == bot
        assert entry.remote_addr == "198.51.100.4"
    assert_no_secret(acme.raw, response.data["key"])


@pytest.mark.django_db
def test_an_unauthenticated_drf_request_names_no_actor():
    acme = make_tenant("acme")
    request = APIRequestFactory().post("/rotate", {}, format="json")
    response = RotateView.as_view()(request, prefix=acme.key.prefix)
    assert response.status_code == 200  # the stand-in checks no permission; the real API does
    assert entries_for(acme.key)[-1].actor is None
    assert entries_for(acme.key)[-1].additional_data == {"via": "api"}
