"""revoke_api_key stops a key at once; revoking twice is harmless."""
from datetime import timedelta
from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.core.management import CommandError, call_command

from infra.errors import GatewayError
from tenants import auth, keys

from .conftest import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def revoke(prefix: str) -> str:
    out = StringIO()
    call_command("revoke_api_key", prefix, stdout=out)
    return out.getvalue()


def test_it_revokes_the_key():
    acme = make_tenant("acme")
    assert "Revoked key" in revoke(acme.key.prefix)
    acme.key.refresh_from_db()
    assert acme.key.revoked_at is not None


def test_a_revoked_key_no_longer_authenticates():
    acme = make_tenant("acme")
    async_to_sync(auth.authenticate)({"x-api-key": acme.raw})  # now cached
    revoke(acme.key.prefix)
    with pytest.raises(GatewayError) as error:
        async_to_sync(auth.authenticate)({"x-api-key": acme.raw})
    assert error.value.status == 401


def test_it_stops_a_rotated_key_before_its_grace_ends():
    acme = make_tenant("acme")
    new = keys.rotate(acme.key, grace=timedelta(hours=1))
    revoke(acme.key.prefix)
    with pytest.raises(GatewayError):
        async_to_sync(auth.authenticate)({"x-api-key": acme.raw})
    assert async_to_sync(auth.authenticate)({"x-api-key": new.raw}).key_prefix == new.key.prefix


def test_revoking_twice_says_so_and_succeeds():
    acme = make_tenant("acme")
    revoke(acme.key.prefix)
    acme.key.refresh_from_db()
    first = acme.key.revoked_at
    assert "already revoked" in revoke(acme.key.prefix)
    acme.key.refresh_from_db()
    assert acme.key.revoked_at == first


def test_it_rejects_an_unknown_prefix(db):
    with pytest.raises(CommandError, match="No API key with prefix"):
        revoke("gw-nothing00")


def test_it_leaves_other_keys_alone():
    acme = make_tenant("acme")
    other = keys.issue(acme.tenant, name="other")
    revoke(acme.key.prefix)
    other.key.refresh_from_db()
    assert other.key.revoked_at is None
