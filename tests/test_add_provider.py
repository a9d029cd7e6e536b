"""add_provider creates or updates a provider by name and refuses bad kinds, URLs and settings."""
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from providers.models import Provider

pytestmark = pytest.mark.django_db


def add(*args) -> str:
    out, err = StringIO(), StringIO()
    call_command("add_provider", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_it_creates_an_openai_provider():
    output = add("openai", "--kind", "openai", "--base-url", "https://api.openai.com/v1", "--api-key-env", "OPENAI_API_KEY", "--timeout", "30")
    provider = Provider.objects.get(name="openai")
    assert (provider.kind, provider.base_url, provider.api_key_env, provider.timeout_seconds) == (
        "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", 30.0,
    )
    assert "Added provider openai" in output


def test_it_warns_when_the_key_variable_is_unset(monkeypatch):
    monkeypatch.delenv("GW_TEST_UNSET_API_KEY", raising=False)
    output = add("openai", "--kind", "openai", "--base-url", "https://api.openai.com/v1", "--api-key-env", "GW_TEST_UNSET_API_KEY")
    assert "GW_TEST_UNSET_API_KEY is not set" in output


def test_running_it_again_updates_the_same_provider():
    add("openai", "--kind", "openai", "--base-url", "https://api.openai.com/v1", "--api-key-env", "OPENAI_API_KEY", "--timeout", "30")
    output = add("openai", "--kind", "openai", "--base-url", "https://proxy.example.com/v1")
    provider = Provider.objects.get(name="openai")
    assert Provider.objects.count() == 1
    assert provider.base_url == "https://proxy.example.com/v1"
    assert (provider.api_key_env, provider.timeout_seconds) == ("OPENAI_API_KEY", 30.0)  # left out: kept
    assert "Updated provider openai" in output


def test_azure_keeps_its_api_version_in_options():
    add("azure", "--kind", "azure", "--base-url", "https://acme.openai.azure.com", "--api-version", "2024-10-21")
    assert Provider.objects.get(name="azure").options == {"api_version": "2024-10-21"}


def test_azure_update_keeps_the_stored_api_version():
    add("azure", "--kind", "azure", "--base-url", "https://acme.openai.azure.com", "--api-version", "2024-10-21")
    add("azure", "--kind", "azure", "--base-url", "https://other.openai.azure.com")
    assert Provider.objects.get(name="azure").options == {"api_version": "2024-10-21"}


def test_mock_needs_no_base_url():
    add("mock", "--kind", "mock")
    assert Provider.objects.get(name="mock").base_url == ""


def test_it_accepts_a_host_without_a_dot():
    add("local", "--kind", "ollama", "--base-url", "http://ollama:11434/v1")
    assert Provider.objects.get(name="local").base_url == "http://ollama:11434/v1"


def test_it_rejects_azure_without_an_api_version():
    with pytest.raises(CommandError, match="--api-version"):
        add("azure", "--kind", "azure", "--base-url", "https://acme.openai.azure.com")
    assert not Provider.objects.exists()


def test_it_rejects_an_unknown_kind():
    with pytest.raises(CommandError, match="invalid choice"):
        add("x", "--kind", "cohere", "--base-url", "https://api.cohere.com")


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com/v1", "https://", "api.openai.com/v1"])
def test_it_rejects_a_bad_base_url(url):
    with pytest.raises(CommandError, match="Base URL"):
        add("openai", "--kind", "openai", "--base-url", url)
    assert not Provider.objects.exists()


def test_it_requires_a_base_url_except_for_mock():
    with pytest.raises(CommandError, match="base URL is required"):
        add("anthropic", "--kind", "anthropic")


@pytest.mark.parametrize("timeout", ["0", "-5", "nan", "inf"])
def test_it_rejects_a_bad_timeout(timeout):
    with pytest.raises(CommandError, match="Timeout"):
        add("openai", "--kind", "openai", "--base-url", "https://api.openai.com/v1", "--timeout", timeout)


def test_it_refuses_a_secret_in_place_of_a_variable_name():
    with pytest.raises(CommandError, match="NAME of an environment variable") as error:
        add("openai", "--kind", "openai", "--base-url", "https://api.openai.com/v1", "--api-key-env", "sk-proj-abcdef123456")
    assert "abcdef123456" not in str(error.value)
    assert not Provider.objects.exists()


def test_it_rejects_an_invalid_name():
    with pytest.raises(CommandError, match="name"):
        add("my provider", "--kind", "mock")
