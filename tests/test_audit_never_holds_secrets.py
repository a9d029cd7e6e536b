"""What the audit trail covers, and that no secret-looking field of a covered model reaches it in clear."""
import re

import pytest
from auditlog.registry import auditlog

from infra.audit import masks
from providers.models import Provider

from .audit_entries import entries_for, whole_trail

SECRET_NAME = re.compile(r"digest|hash|secret|password|token")


def test_tenants_keys_providers_and_routes_are_covered():
    covered = {model._meta.label for model in auditlog.get_models()}
    assert {"tenants.Tenant", "tenants.ApiKey", "providers.Provider", "providers.ModelRoute"} <= covered


@pytest.mark.parametrize("model", auditlog.get_models(), ids=lambda model: model._meta.label)
def test_no_covered_field_looks_like_a_secret(model):
    options = auditlog.get_model_fields(model)
    hidden = set(options["exclude_fields"]) | set(options["mask_fields"])
    suspects = {f.name for f in model._meta.concrete_fields if SECRET_NAME.search(f.name)}
    assert suspects <= hidden


@pytest.mark.django_db
def test_a_providers_base_url_loses_its_credentials():
    provider = Provider.objects.create(name="corp", kind="openai", base_url="https://user:pw-s3cr3t@llm.example.com:8443/v1?key=q-s3cr3t")
    (entry,) = entries_for(provider)
    assert entry.changes["base_url"] == [None, "https://llm.example.com:8443/v1"]
    assert "s3cr3t" not in whole_trail()


@pytest.mark.parametrize(
    "value, host_only, without_credentials",
    [
        ("None", None, None),
        ("", None, None),
        ("https://hooks.example.com/T/B/token", "https://hooks.example.com/…", "https://hooks.example.com/T/B/token"),
        ("http://[::1]:8080/x?y=1", "http://[::1]:8080/…", "http://[::1]:8080/x"),
        ("not a url", "…", "…"),
        ("http://host:99999999/", "…", "…"),
    ],
)
def test_masks_keep_only_what_is_safe(value, host_only, without_credentials):
    assert masks.host_only(value) == host_only
    assert masks.without_credentials(value) == without_credentials
