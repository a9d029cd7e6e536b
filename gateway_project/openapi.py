"""GET /v1/openapi.json: one OpenAPI 3 document of the public API (../shared/INTERFACE.md).

The completion endpoints and /health are described by hand in completions/openapi.py (raw ASGI and
plain Django views); drf-spectacular generates the Django REST framework endpoints (/v1/models, /v1/usage, /v1/admin/)
from their serializers, and document() joins the two.
"""
from __future__ import annotations

from functools import cache

import orjson
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.generators import SchemaGenerator

from completions.openapi import PATHS, SCHEMAS, error_answer
from infra.errors import error_response, method_not_allowed


_SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "Bearer": {"type": "http", "scheme": "bearer", "description": "A tenant's API key."},
    "AdminToken": {"type": "http", "scheme": "bearer", "description": "An admin token from `manage.py create_admin_token`."},
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.ApiKeyAuthentication"
    name = ["ApiKey", "Bearer"]

    def get_security_requirement(self, auto_schema):
        return [{"ApiKey": []}, {"Bearer": []}]  # either header

    def get_security_definition(self, auto_schema):
        return [_SECURITY_SCHEMES["ApiKey"], _SECURITY_SCHEMES["Bearer"]]


class AdminTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.AdminTokenAuthentication"
    name = "AdminToken"

    def get_security_definition(self, auto_schema):
        return _SECURITY_SCHEMES["AdminToken"]


_DRF_ERRORS = {
    "400": "Bad input; `param` names the field (`invalid_request_error`).",
    "401": "Missing, unknown, revoked or expired key or token (`authentication_error`).",
    "403": "Not allowed: the user lacks the permission, or the tenant is disabled (`permission_error`).",
    "404": "No such tenant, key prefix or model (`not_found_error`).",
    "405": "Wrong method (`invalid_request_error`).",
    "429": "Too many failed key checks (`rate_limit_error`); see `Retry-After`.",
}


def _with_errors(path: str, operation: dict) -> dict:
    """A generated operation with the error answers its view can give, in the one Error shape."""
    statuses = ["401", "403", "405"]
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.append("400")
    if "{" in path or "tenant" in str(operation.get("parameters")):
        statuses.append("404")
    if not path.startswith("/v1/admin/"):
        statuses.append("429")
    operation["responses"].update({s: error_answer(_DRF_ERRORS[s]) for s in sorted(statuses) if s not in operation["responses"]})
    return operation


def _generated() -> dict:
    """drf-spectacular's document of the DRF endpoints."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            operations[method] = _with_errors(path, operation)
    return schema


@cache
def document() -> bytes:
    """The OpenAPI document, built and serialised once."""
    generated = _generated()
    components = generated.get("components", {})
    return orjson.dumps({
        "openapi": "3.0.3",
        "info": {"title": "AI gateway", "version": "1", "description": "OpenAI-compatible gateway; see the README."},
        "servers": [{"url": "/"}],
        "paths": {**PATHS, **generated["paths"]},
        "components": {
            "schemas": {**components.get("schemas", {}), **SCHEMAS},
            "securitySchemes": _SECURITY_SCHEMES,
        },
    })


@csrf_exempt
async def view(request):
    if request.method not in ("GET", "HEAD"):
        return error_response(method_not_allowed(request.method))
    return HttpResponse(document(), content_type="application/json")
