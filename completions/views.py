"""The API's plain Django views (health, models); the pipeline's endpoints are served in raw ASGI (completions/asgi.py)."""
from __future__ import annotations

import orjson
from asgiref.sync import sync_to_async
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from infra.errors import GatewayError, error_response, method_not_allowed, not_found
from providers import routes
from tenants.auth import authenticate
from infra.clients import client_address

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


@csrf_exempt
async def models(request):
    if request.method != "GET":
        return error_response(method_not_allowed(request.method))
    try:
        principal = await authenticate(request.headers, client_address(request))
    except GatewayError as err:
        return error_response(err)
    table = await routes.table()
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": targets[0].provider}
        for name, targets in sorted(table.items())
        if principal.may_use(name)
    ]
    return json_response({"object": "list", "data": data})
