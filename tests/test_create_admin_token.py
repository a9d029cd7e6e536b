"""create_admin_token: the raw token last, only its digest stored, acting as its user; bad input exits non-zero."""
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from tenants import admintokens, keys
from tenants.models import AdminToken

pytestmark = pytest.mark.django_db


def run(*args) -> list[str]:
    out = StringIO()
    call_command("create_admin_token", *args, stdout=out)
    return out.getvalue().splitlines()


@pytest.fixture
def ops(db):
    return User.objects.create_user("ops", password="pw", is_staff=True)


def test_it_prints_the_token_last_and_stores_only_its_digest(ops):
    lines = run("ops")
    raw = lines[-1]
    assert raw.startswith(admintokens.TOKEN_PREFIX) and len(raw) > 40
    token = AdminToken.objects.get()
    assert (token.user, token.prefix, token.digest, token.expires_at) == (ops, raw[:12], keys.digest(raw), None)
    assert all(raw not in str(value) for value in AdminToken.objects.values().get().values())
    assert any(token.prefix in line for line in lines[:-1])


def test_the_token_acts_as_its_user(ops):
    raw = run("ops")[-1]
    assert admintokens.user_for(raw) == ops
    assert admintokens.user_for(raw + "x") is None


def test_it_expires_after_the_days_given(ops):
    raw = run("ops", "--expires-days", "7")[-1]
    expires = AdminToken.objects.get().expires_at
    assert timedelta(days=6, hours=23) < expires - timezone.now() <= timedelta(days=7)
    AdminToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert admintokens.user_for(raw) is None


@pytest.mark.parametrize(
    "args, message",
    [(["ghost"], "No user named 'ghost'"), (["ops", "--expires-days", "0"], "--expires-days must be at least 1")],
)
def test_it_refuses_bad_input(ops, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not AdminToken.objects.exists()


def test_an_inactive_user_gets_no_token(ops):
    User.objects.filter(pk=ops.pk).update(is_active=False)
    with pytest.raises(CommandError, match="not active"):
        run("ops")

