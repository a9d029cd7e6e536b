"""bootstrap makes the demo data once, prints the credentials once, and can be run again safely."""
import stat
from decimal import Decimal
from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.management import call_command

from providers.models import ModelRoute, Provider
from tenants import auth, keys, services
from tenants.models import ApiKey, Tenant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "demo-password-123")
    return tmp_path / ".demo-credentials"


def bootstrap(path) -> list[str]:
    out = StringIO()
    call_command("bootstrap", "--credentials-file", str(path), stdout=out)
    return out.getvalue().splitlines()


def test_it_creates_the_admin_tenant_provider_routes_and_key(credentials):
    bootstrap(credentials)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("demo-password-123")
    tenant = Tenant.objects.get(slug="demo")
    assert Provider.objects.get(name="mock").kind == "mock"
    prices = {r.public_name: (r.input_price_per_mtok, r.output_price_per_mtok, r.mode) for r in ModelRoute.objects.all()}
    assert prices == {"mock-small": (Decimal("0.15"), Decimal("0.60"), "chat"),
                      "mock-large": (Decimal("2.50"), Decimal("10.00"), "chat"),
                      "mock-embed": (Decimal("0.02"), Decimal("0"), "embeddings")}
    assert tenant.keys.count() == 1


def test_the_first_run_prints_the_key_last_and_the_admin_login(credentials):
    lines = bootstrap(credentials)
    raw = lines[-1]
    assert ApiKey.objects.get().digest == keys.digest(raw)
    assert async_to_sync(auth.authenticate)({"x-api-key": raw}).tenant_slug == "demo"
    assert any("demo-password-123" in line for line in lines)
    assert any("/admin/" in line for line in lines)


def test_it_saves_the_credentials_in_a_private_file(credentials):
    raw = bootstrap(credentials)[-1]
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    text = credentials.read_text()
    assert raw in text and "demo-password-123" in text
    assert "demo-only" in text.lower() or "demo only" in text.lower()


def test_a_second_run_creates_nothing(credentials):
    bootstrap(credentials)
    counts = [m.objects.count() for m in (get_user_model(), Tenant, ApiKey, Provider, ModelRoute)]
    bootstrap(credentials)
    assert [m.objects.count() for m in (get_user_model(), Tenant, ApiKey, Provider, ModelRoute)] == counts


def test_a_second_run_says_so_and_reprints_the_saved_credentials(credentials):
    raw = bootstrap(credentials)[-1]
    lines = bootstrap(credentials)
    text = "\n".join(lines)
    assert "already exist" in text
    assert "python manage.py create_api_key demo" in text
    assert lines[-1] == raw


def test_a_second_run_without_the_file_prints_no_secret(credentials):
    raw = bootstrap(credentials)[-1]
    credentials.unlink()
    text = "\n".join(bootstrap(credentials))
    assert raw not in text and "demo-password-123" not in text
    assert "python manage.py create_api_key demo" in text


def test_it_generates_a_password_when_none_is_given(credentials, monkeypatch):
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD")
    bootstrap(credentials)
    password = dict(line.split("=", 1) for line in credentials.read_text().splitlines() if "=" in line)["ADMIN_PASSWORD"]
    assert len(password) >= 12
    assert get_user_model().objects.get(username="admin").check_password(password)


def test_it_leaves_an_existing_admin_password_alone(credentials):
    get_user_model().objects.create_superuser("admin", password="mine-already-1")
    bootstrap(credentials)
    assert get_user_model().objects.get(username="admin").check_password("mine-already-1")
    assert "ADMIN_PASSWORD" not in credentials.read_text()


def test_it_keeps_prices_an_operator_changed(credentials):
    bootstrap(credentials)
    ModelRoute.objects.filter(public_name="mock-small").update(input_price_per_mtok=Decimal("1"))
    bootstrap(credentials)
    assert ModelRoute.objects.get(public_name="mock-small").input_price_per_mtok == Decimal("1")


def test_it_issues_a_new_demo_key_when_the_old_one_was_revoked(credentials):
    old = bootstrap(credentials)[-1]
    keys.revoke(ApiKey.objects.get())
    new = bootstrap(credentials)[-1]
    assert new != old
    assert async_to_sync(auth.authenticate)({"x-api-key": new}).tenant_slug == "demo"
    assert new in credentials.read_text() and old not in credentials.read_text()


def test_it_keeps_a_demo_secret_key_for_make_run(credentials):
    printed = bootstrap(credentials)
    secret = services.read_credentials(credentials)["DJANGO_SECRET_KEY"]
    assert len(secret) >= 50 and not any(secret in line for line in printed)
    bootstrap(credentials)
    assert services.read_credentials(credentials)["DJANGO_SECRET_KEY"] == secret  # kept: sessions survive a restart
