"""HTTP views: authenticate, validate, call one function, render."""
from __future__ import annotations

from typing import Callable

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from infra.errors import GatewayError, error_response, method_not_allowed, not_found, too_large
from providers import routes
from tenants.auth import authenticate
from tenants.bruteforce import client_address

from . import health as health_checks
from . import service
from .context import Context, Reply


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


def _render(reply: Reply) -> HttpResponse:
    if reply.stream is not None:
        response = StreamingHttpResponse(reply.stream, status=reply.status, content_type="text/event-stream")
    else:
        response = HttpResponse(reply.body, status=reply.status, content_type="application/json")
    for name, value in reply.headers.items():
        response[name] = value
    return response


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


def _body(request) -> bytes:
    try:
        return request.body
    except RequestDataTooBig:
        raise too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) from None


@csrf_exempt
async def chat_completions(request):
    if request.method != "POST":
        return error_response(method_not_allowed(request.method))
    return _render(await chat_reply(request.headers, client_address(request), lambda: _body(request)))


def error_reply(err: GatewayError) -> Reply:
    return Reply(err.status, err.headers, body=orjson.dumps(err.payload()))


async def chat_reply(headers, address: str, read_body: Callable[[], bytes]) -> Reply:
    """A chat completion from headers and body, errors included as JSON replies (Django view and raw ASGI path)."""
    ctx = Context.new(headers)
    try:
        principal = await authenticate(headers, address)
        try:
            body = read_body()
        except GatewayError as err:
            service.reject(principal, ctx, err)
            raise
        return await service.handle(principal, body, ctx)
    except GatewayError as err:
        err.headers.setdefault("x-request-id", ctx.request_id)
        return error_reply(err)
