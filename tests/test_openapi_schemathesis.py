"""Schemathesis against a live gateway: the published schema holds, no 5xx, no HTML, errors in one JSON shape."""
import pytest
import schemathesis
from django.contrib.auth.models import User
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, response_schema_conformance

from tenants import admintokens

from .conftest import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = 15  # per operation and mode: the run stays well under a minute


def check_error_shape(response, path: str = "") -> None:
    """Every answer is JSON (or SSE/CSV on success); every error is ../shared/INTERFACE.md's {"error": {...}},
    but on /v1/messages, where it is Anthropic's {"type": "error", "error": {"type", "message"}}."""
    content_type = (response.headers.get("content-type") or [""])[0]
    assert response.status_code < 500 or response.status_code == 503, response.text[:500]
    assert "html" not in content_type and not response.text.lstrip().startswith("<"), response.text[:200]
    if response.status_code >= 400:
        assert content_type.startswith("application/json"), content_type
        error = response.json()["error"]
        assert isinstance(error["message"], str) and isinstance(error["type"], str)
        if path == "/v1/messages":
            assert response.json()["type"] == "error"
        else:
            assert "code" in error


def test_the_published_document_is_openapi_3(client):
    document = client.get("/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert {"/v1/chat/completions", "/v1/embeddings", "/v1/messages", "/v1/responses", "/v1/models", "/v1/usage", "/health"} <= set(
        document["paths"])
    assert {"/v1/admin/tenants", "/v1/admin/tenants/{slug}", "/v1/admin/tenants/{slug}/keys", "/v1/admin/keys/{prefix}/rotate",
            "/v1/admin/keys/{prefix}/revoke", "/v1/admin/providers", "/v1/admin/routes", "/v1/admin/usage"} <= set(document["paths"])


def admin_last(operation) -> bool:
    """The management API runs after the rest, so the providers and routes it makes route no completion."""
    return operation.path.startswith("/v1/admin/")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_get_no_5xx_and_errors_in_one_shape(gateway, mock_provider, mode):
    tenant = make_tenant("acme")
    User.objects.create_superuser("root", password="pw")
    schema = schemathesis.openapi.from_url(f"{gateway.url}/v1/openapi.json")
    # The key for the tenant endpoints (X-API-Key wins there), the admin token for /v1/admin/.
    headers = {"X-API-Key": tenant.raw, "Authorization": f"Bearer {admintokens.issue('root').raw}"}
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=admin_last)
    assert sum(map(admin_last, operations)) == 13
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not (len(operation.body) or len(operation.query)):
            continue  # nothing to make invalid

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            response = case.call(base_url=gateway.url, headers=headers, timeout=10)
            check_error_shape(response, case.path)
            if mode is GenerationMode.POSITIVE:
                case.validate_response(response, checks=[response_schema_conformance], headers=headers)
            else:
                case.validate_response(response, checks=[negative_data_rejection], headers=headers)

        run()
