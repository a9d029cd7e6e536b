"""The request path of a chat completion, one plain step after another (ARCHITECTURE.md)."""
from __future__ import annotations

import asyncio

import orjson

from gateway_project.errors import GatewayError, forbidden, not_found
from providers import routes, routing, tokens
from providers.types import ChatRequest, Target, Usage
from tenants.principal import Principal

from . import accounting, streaming
from .accounting import Outcome
from .context import Context, Reply
from .validation import parse_chat_request, parse_json

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def _targets(principal: Principal, req: ChatRequest) -> tuple[Target, ...]:
    targets = await routes.targets_for(req.model)
    if not principal.may_use(req.model):
        raise forbidden(f"This key may not use the model '{req.model}'.", code="model_not_allowed")
    if not targets:
        raise not_found(f"The model '{req.model}' does not exist.", code="model_not_found")
    return targets


def _headers(ctx: Context, provider: str | None, cache: str = "MISS") -> dict[str, str]:
    headers = {"x-request-id": ctx.request_id, "x-cache": cache}
    if provider:
        headers["x-gateway-provider"] = provider
    return headers


def _record_disconnect(principal: Principal, req: ChatRequest, ctx: Context, target: Target, streamed: bool = False) -> None:
    """The client left while a provider was working: bill the prompt we sent, as estimated."""
    usage = Usage(tokens.count_messages(req.messages), 0, estimated=True)
    outcome = Outcome(req.model, 499, target, usage, "client_disconnected", streamed=streamed, client_disconnected=True)
    accounting.record(principal, ctx, outcome)


async def _complete(principal: Principal, req: ChatRequest, targets: tuple[Target, ...], ctx: Context) -> Reply:
    try:
        answer = await routing.complete(req, targets, ctx.traceparent)
    except asyncio.CancelledError:
        _record_disconnect(principal, req, ctx, targets[0])
        raise
    response = answer.response
    accounting.record(principal, ctx, Outcome(req.model, 200, answer.target, response.usage))
    return Reply(200, _headers(ctx, answer.target.provider), body=orjson.dumps(response.to_openai()))


async def _stream(principal: Principal, req: ChatRequest, targets: tuple[Target, ...], ctx: Context) -> Reply:
    try:
        answer = await routing.open_stream(req, targets, ctx.traceparent)
    except asyncio.CancelledError:
        _record_disconnect(principal, req, ctx, targets[0], streamed=True)
        raise

    def finish(result: streaming.StreamResult) -> None:
        status = 499 if result.disconnected else 200
        outcome = Outcome(req.model, status, answer.target, result.usage, result.error_type,
                          streamed=True, client_disconnected=result.disconnected, ttft_ms=result.ttft_ms)
        accounting.record(principal, ctx, outcome)

    headers = _headers(ctx, answer.target.provider) | SSE_HEADERS
    return Reply(200, headers, stream=streaming.relay(answer, req, ctx.started, finish))


async def handle(principal: Principal, body: bytes, ctx: Context) -> Reply:
    """Validate, route, answer; every outcome after authentication is recorded."""
    model = ""
    try:
        req = parse_chat_request(parse_json(body))
        model = req.model
        targets = await _targets(principal, req)
        if req.stream:
            return await _stream(principal, req, targets, ctx)
        return await _complete(principal, req, targets, ctx)
    except GatewayError as err:
        reject(principal, ctx, err, model)
        raise


def reject(principal: Principal, ctx: Context, err: GatewayError, model: str = "") -> None:
    """Record a refused or failed request and stamp the error with the request's headers."""
    accounting.record(principal, ctx, Outcome(model, err.status, error_type=err.type))
    err.headers = {**_headers(ctx, None), **err.headers}

