"""The API's plain Django views (health, error handlers); /v1/models is DRF (completions/api.py), the pipeline's endpoints raw ASGI (completions/asgi.py)."""
from __future__ import annotations

import orjson
from asgiref.sync import sync_to_async
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from infra.errors import GatewayError, error_response, method_not_allowed, not_found

from . import health as health_checks


def json_response(payload: dict, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(payload), status=status, content_type="application/json")


def _err(status: int, type_: str, message: str, code: str | None = None) -> HttpResponse:
    return error_response(GatewayError(status, type_, message, code))


def bad_request_handler(request, exception=None):
    return _err(400, "invalid_request_error", "Bad request.")


def forbidden_handler(request, exception=None):
    return _err(403, "permission_error", "Forbidden.")


def not_found_handler(request, exception=None):
    return error_response(not_found(f"No such endpoint: {request.path}", code="unknown_url"))


def server_error_handler(request):
    return _err(500, "server_error", "The gateway failed to handle this request.", "internal_error")


@csrf_exempt
async def health(request):
    if request.method not in ("GET", "HEAD"):
        return error_response(method_not_allowed(request.method))
    code, payload = await sync_to_async(health_checks.report, thread_sensitive=False)()
    return json_response(payload, code)
