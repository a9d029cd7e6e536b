"""Schemathesis against a live gateway: the published schema holds, no 5xx, no HTML, errors in one JSON shape."""
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, response_schema_conformance

from .conftest import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = 15  # per operation and mode: the run stays well under a minute


def check_error_shape(response) -> None:
    """Every answer is JSON (or SSE/CSV on success); every error is ../shared/INTERFACE.md's {"error": {...}}."""
    content_type = (response.headers.get("content-type") or [""])[0]
    assert response.status_code < 500 or response.status_code == 503, response.text[:500]
    assert "html" not in content_type and not response.text.lstrip().startswith("<"), response.text[:200]
    if response.status_code >= 400:
        assert content_type.startswith("application/json"), content_type
        error = response.json()["error"]
        assert isinstance(error["message"], str) and isinstance(error["type"], str)
        assert "code" in error


def test_the_published_document_is_openapi_3(client):
    document = client.get("/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert {"/v1/chat/completions", "/v1/embeddings", "/v1/models", "/v1/usage", "/health"} <= set(document["paths"])


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_get_no_5xx_and_errors_in_one_shape(gateway, mock_provider, mode):
    tenant = make_tenant("acme")
    schema = schemathesis.openapi.from_url(f"{gateway.url}/v1/openapi.json")
    headers = {"X-API-Key": tenant.raw}
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not (len(operation.body) or len(operation.query)):
            continue  # nothing to make invalid

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            response = case.call(base_url=gateway.url, headers=headers, timeout=10)
            check_error_shape(response)
            if mode is GenerationMode.POSITIVE:
                case.validate_response(response, checks=[response_schema_conformance], headers=headers)
            else:
                case.validate_response(response, checks=[negative_data_rejection], headers=headers)

        run()
