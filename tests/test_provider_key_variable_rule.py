"""A provider reads its key only from a variable named *_API_KEY: never from the gateway's own secrets.

Refused at every entry (command, service, model validation, admin form); a row saved before the
rule is skipped at use with a clear error, and a system check lists it until renamed.
"""
from io import StringIO

import pytest
from django.core import checks
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from providers import services
from providers.models import ModelRoute, Provider

from .conftest import post_chat, chat_body
from .fakes.upstream import FakeUpstream

GATEWAY_SECRET = "the-gateway-own-secret-value-0123456789"


def test_the_command_refuses_a_gateway_secret(db):
    with pytest.raises(CommandError, match="_API_KEY"):
        call_command("add_provider", "evil", "--kind", "openai", "--base-url", "https://evil.example.com/v1",
                     "--api-key-env", "DJANGO_SECRET_KEY", stdout=StringIO(), stderr=StringIO())
    assert not Provider.objects.exists()


def test_the_command_refuses_renaming_an_existing_provider_to_a_gateway_secret(db):
    services.add_provider(services.ProviderSpec("openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY"))
    with pytest.raises(CommandError, match="_API_KEY"):
        call_command("add_provider", "openai", "--kind", "openai", "--api-key-env", "DATABASE_URL",
                     stdout=StringIO(), stderr=StringIO())
    assert Provider.objects.get(name="openai").api_key_env == "OPENAI_API_KEY"


@pytest.mark.parametrize("variable", ["DJANGO_SECRET_KEY", "DATABASE_URL", "EMAIL_HOST_PASSWORD", "METRICS_TOKEN", "_API_KEY"])
def test_the_service_refuses_other_names(db, variable):
    with pytest.raises(ValidationError, match="_API_KEY"):
        services.add_provider(services.ProviderSpec("evil", "openai", "https://evil.example.com/v1", variable))


def test_model_validation_refuses_it(db):
    provider = Provider(name="evil", kind="openai", base_url="https://evil.example.com/v1", api_key_env="DJANGO_SECRET_KEY")
    with pytest.raises(ValidationError) as error:
        provider.full_clean()
    assert "api_key_env" in error.value.message_dict


def test_names_ending_in_api_key_are_accepted(db):
    provider, _ = services.add_provider(services.ProviderSpec("az", "azure", "https://acme.openai.azure.com",
                                                              "AZURE_OPENAI_API_KEY", api_version="2024-10-21"))
    assert provider.api_key_env == "AZURE_OPENAI_API_KEY"


def test_the_admin_form_refuses_it(admin_client):
    data = {
        "name": "evil", "kind": "openai", "base_url": "https://evil.example.com/v1", "api_key_env": "DJANGO_SECRET_KEY",
        "timeout_seconds": "60", "enabled": "on", "options": "{}",
        "routes-TOTAL_FORMS": "0", "routes-INITIAL_FORMS": "0",
    }
    response = admin_client.post(reverse("admin:providers_provider_add"), data)
    assert response.status_code == 200
    assert "must name a variable ending in _API_KEY" in response.content.decode()
    assert not Provider.objects.exists()


@pytest.fixture
def old_row(transactional_db, monkeypatch):
    """A provider saved before the rule, pointing at the gateway's secret and at a server that records what it gets."""
    monkeypatch.setenv("DJANGO_SECRET_KEY", GATEWAY_SECRET)
    with FakeUpstream() as fake:
        provider = Provider.objects.create(name="old", kind="openai", base_url=fake.base_url("openai"),
                                           api_key_env="DJANGO_SECRET_KEY", timeout_seconds=5)
        ModelRoute.objects.create(public_name="old-model", provider=provider, upstream_model="gpt-4o-mini")
        yield fake


@pytest.mark.django_db(transaction=True)
async def test_an_old_row_is_skipped_at_use_with_a_clear_error(async_client, acme, old_row):
    for stream in (False, True):
        response = await post_chat(async_client, acme, chat_body("old-model", stream=stream))
        assert response.status_code == 502
        error = response.json()["error"]
        assert error["code"] == "provider_misconfigured"
        assert "'old' is misconfigured" in error["message"] and "_API_KEY" in error["message"]
        assert GATEWAY_SECRET not in response.content.decode()
    assert old_row.calls == 0  # the secret never left


@pytest.mark.django_db(transaction=True)
async def test_an_old_row_falls_back_to_the_next_provider(async_client, acme, old_row, mock_provider):
    await ModelRoute.objects.acreate(public_name="old-model", provider=mock_provider, upstream_model="mock-small", priority=1)
    response = await post_chat(async_client, acme, chat_body("old-model"))
    assert response.status_code == 200
    assert response["x-gateway-provider"] == "mock"
    assert old_row.calls == 0


def test_the_system_check_reports_an_old_row_until_renamed(old_row):
    found = [m for m in checks.run_checks(databases=["default"]) if m.id == "providers.W001"]
    assert len(found) == 1 and "'old'" in found[0].msg and "DJANGO_SECRET_KEY" in found[0].msg
    Provider.objects.filter(name="old").update(api_key_env="OLD_API_KEY")
    assert not [m for m in checks.run_checks(databases=["default"]) if m.id == "providers.W001"]


def test_the_admin_does_not_say_whether_a_refused_variable_is_set(admin_client, old_row):
    page = admin_client.get(reverse("admin:providers_provider_changelist")).content.decode()
    cell = page.split('class="field-secret_present"')[1].split("</td>")[0]
    assert 'alt="False"' in cell
