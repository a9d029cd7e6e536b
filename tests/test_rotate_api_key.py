"""rotate_api_key issues a successor; the old key works through the grace period, then stops."""
from datetime import timedelta
from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.core.management import CommandError, call_command
from django.utils import timezone

from infra.errors import GatewayError
from tenants import auth, keys
from tenants.models import ApiKey

from .conftest import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def rotate(*args) -> list[str]:
    out = StringIO()
    call_command("rotate_api_key", *args, stdout=out)
    return out.getvalue().splitlines()


def authenticates(raw: str) -> bool:
    try:
        async_to_sync(auth.authenticate)({"x-api-key": raw})
    except GatewayError as error:
        assert error.status == 401
        return False
    return True


def test_it_prints_a_working_successor_as_the_last_line():
    acme = make_tenant("acme")
    lines = rotate(acme.key.prefix)
    new_raw = lines[-1]
    new = ApiKey.objects.get(digest=keys.digest(new_raw))
    assert new.tenant_id == acme.tenant.pk
    assert any(new.prefix in line for line in lines[:-1])
    assert authenticates(new_raw)


def test_the_old_key_works_within_the_grace_period():
    acme = make_tenant("acme")
    rotate(acme.key.prefix, "--grace-minutes", "5")
    acme.key.refresh_from_db()
    assert abs(acme.key.grace_until - (timezone.now() + timedelta(minutes=5))) < timedelta(minutes=1)
    assert authenticates(acme.raw)


def test_the_old_key_fails_after_the_grace_period():
    acme = make_tenant("acme")
    rotate(acme.key.prefix)
    assert authenticates(acme.raw)
    acme.key.refresh_from_db()
    acme.key.grace_until = timezone.now() - timedelta(seconds=1)
    acme.key.save(update_fields=["grace_until"])
    assert not authenticates(acme.raw)


def test_the_default_grace_is_sixty_minutes():
    acme = make_tenant("acme")
    rotate(acme.key.prefix)
    acme.key.refresh_from_db()
    assert abs(acme.key.grace_until - (timezone.now() + timedelta(minutes=60))) < timedelta(minutes=1)


def test_zero_grace_stops_the_old_key_at_once():
    acme = make_tenant("acme")
    rotate(acme.key.prefix, "--grace-minutes", "0")
    assert not authenticates(acme.raw)


def test_the_successor_keeps_the_per_key_limits():
    acme = make_tenant("acme")
    acme.key.rpm_limit, acme.key.tpm_limit = 7, 700
    acme.key.save()
    new = ApiKey.objects.get(digest=keys.digest(rotate(acme.key.prefix)[-1]))
    assert (new.rpm_limit, new.tpm_limit) == (7, 700)


def test_it_rejects_a_revoked_key():
    acme = make_tenant("acme")
    keys.revoke(acme.key)
    with pytest.raises(CommandError, match="revoked"):
        rotate(acme.key.prefix)
    assert ApiKey.objects.count() == 1


def test_it_rejects_a_key_rotated_before():
    acme = make_tenant("acme")
    rotate(acme.key.prefix)
    with pytest.raises(CommandError, match="already rotated"):
        rotate(acme.key.prefix)
    assert ApiKey.objects.count() == 2


def test_it_rejects_an_expired_key():
    acme = make_tenant("acme")
    acme.key.expires_at = timezone.now() - timedelta(days=1)
    acme.key.save()
    with pytest.raises(CommandError, match="expired"):
        rotate(acme.key.prefix)


def test_it_rejects_an_unknown_prefix(db):
    with pytest.raises(CommandError, match="No API key with prefix"):
        rotate("gw-nothing00")


def test_it_rejects_a_negative_grace():
    acme = make_tenant("acme")
    with pytest.raises(CommandError, match="--grace-minutes"):
        rotate(acme.key.prefix, "--grace-minutes", "-1")
    assert ApiKey.objects.count() == 1
