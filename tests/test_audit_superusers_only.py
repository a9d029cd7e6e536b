"""Superusers read the audit trail in the admin, with who and how; finance and other staff do not; nobody edits it."""
import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse

from infra.audit.actors import acting_as, as_command
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:auditlog_logentry_changelist"


def logged_in(client, user: User):
    client.force_login(user)
    return client


@pytest.fixture
def trail():
    """Three changes: one from the admin by alice, one by manage.py, one with no actor."""
    alice = User.objects.create_superuser("alice", password="x")
    with acting_as(alice, "192.0.2.1", via="admin"):
        Tenant.objects.create(slug="by-alice")
    with as_command("create_tenant"):
        Tenant.objects.create(slug="by-command")
    Tenant.objects.create(slug="by-nobody")
    return alice


def test_a_superuser_reads_who_made_each_change(client, trail):
    page = logged_in(client, trail).get(reverse(CHANGELIST)).content.decode()
    assert '<td class="field-who">alice</td>' in page
    assert '<td class="field-who">manage.py</td>' in page
    assert '<td class="field-who">system</td>' in page
    assert "create_tenant" in page and "192.0.2.1" in page


def test_an_entry_shows_its_changes(client, trail):
    entry = LogEntry.objects.get(object_repr="by-command")
    page = logged_in(client, trail).get(reverse("admin:auditlog_logentry_change", args=[entry.pk])).content.decode()
    assert "by-command" in page and "manage.py" in page and "create_tenant" in page


def test_the_trail_can_be_filtered_by_the_way_in(client, trail):
    page = logged_in(client, trail).get(reverse(CHANGELIST), {"via": "manage.py"}).content.decode()
    assert "by-command" in page and "by-alice" not in page


def test_a_deleted_users_changes_keep_the_name(client, trail):
    bob = User.objects.create_user("bob", is_staff=True)
    with acting_as(bob, via="admin"):
        Tenant.objects.create(slug="by-bob")
    bob.delete()
    page = logged_in(client, trail).get(reverse(CHANGELIST)).content.decode()
    assert "bob (user since deleted)" in page


def test_finance_cannot_read_the_trail(client, trail):
    fin = User.objects.create_user("fin", is_staff=True)
    fin.groups.add(Group.objects.get(name="finance"))
    logged_in(client, fin)
    assert client.get(reverse(CHANGELIST)).status_code == 403
    assert reverse(CHANGELIST) not in client.get(reverse("admin:index")).content.decode()


def test_staff_given_the_view_permission_still_cannot_read_it(client, trail):
    staff = User.objects.create_user("staff", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_logentry", content_type__app_label="auditlog"))
    assert logged_in(client, staff).get(reverse(CHANGELIST)).status_code == 403


def test_nobody_edits_or_deletes_an_entry(client, trail):
    entry = LogEntry.objects.first()
    logged_in(client, trail)
    assert client.post(reverse("admin:auditlog_logentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    page = client.get(reverse("admin:auditlog_logentry_change", args=[entry.pk])).content.decode()
    assert 'name="_save"' not in page
    assert LogEntry.objects.filter(pk=entry.pk).exists()
