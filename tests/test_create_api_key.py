"""create_api_key prints the raw key once, last; only its digest is stored and the key authenticates."""
from datetime import timedelta
from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.core.management import CommandError, call_command
from django.utils import timezone

from tenants import auth, keys
from tenants.models import ApiKey, Tenant

pytestmark = pytest.mark.django_db(transaction=True)


def create_key(*args) -> list[str]:
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.fixture
def acme(db):
    return Tenant.objects.create(slug="acme")


def test_it_prints_the_raw_key_as_the_last_line(acme):
    lines = create_key("acme", "--name", "backend")
    raw = lines[-1]
    key = ApiKey.objects.get()
    assert key.digest == keys.digest(raw)
    assert key.name == "backend"
    assert key.tenant == acme
    assert any(key.prefix in line for line in lines[:-1])
    assert sum(raw in line for line in lines) == 1


def test_the_new_key_authenticates(acme):
    raw = create_key("acme")[-1]
    principal = async_to_sync(auth.authenticate)({"x-api-key": raw})
    assert principal.tenant_slug == "acme"


def test_expires_days_sets_the_expiry(acme):
    create_key("acme", "--expires-days", "30")
    expires_at = ApiKey.objects.get().expires_at
    assert abs(expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)


def test_it_makes_keys_that_never_expire_by_default(acme):
    create_key("acme")
    assert ApiKey.objects.get().expires_at is None


def test_it_rejects_an_unknown_tenant(db):
    with pytest.raises(CommandError, match="No tenant with slug 'nobody'"):
        create_key("nobody")


@pytest.mark.parametrize("days", ["0", "-3"])
def test_it_rejects_expiry_below_one_day(acme, days):
    with pytest.raises(CommandError, match="--expires-days"):
        create_key("acme", "--expires-days", days)
    assert not ApiKey.objects.exists()
