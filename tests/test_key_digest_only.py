"""Only a key's digest and prefix reach the database: a full dump never holds a raw key."""
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from tenants import keys

from .conftest import make_tenant

pytestmark = pytest.mark.django_db


def dump() -> str:
    out = StringIO()
    call_command("dumpdata", stdout=out)
    return out.getvalue()


def test_a_database_dump_holds_the_prefix_and_digest_but_not_the_key():
    acme = make_tenant("acme")
    text = dump()
    assert acme.raw not in text
    assert acme.key.prefix in text
    assert keys.digest(acme.raw) in text


def test_keys_from_commands_and_rotation_never_reach_the_dump():
    acme = make_tenant("acme")
    out = StringIO()
    call_command("create_api_key", "acme", stdout=out)
    from_command = out.getvalue().splitlines()[-1]
    rotated = keys.rotate(acme.key, grace=timedelta(minutes=1)).raw
    text = dump()
    for raw in (acme.raw, from_command, rotated):
        assert raw not in text
        assert raw[: keys.PREFIX_LENGTH] in text
