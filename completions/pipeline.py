"""The one request pipeline every endpoint plugs into (../shared/ARCHITECTURE.md, "One pipeline").

authenticate -> admit (limits, budget) -> cache -> route and call with fallback -> account -> observe.
An endpoint (completions/endpoint.py) supplies its parser, its renderers, its cache rule, the mode of
the routes it serves and the call it makes along a chain (routing.complete for chat); the steps between
are written here once. Every outcome after authentication is recorded.
"""
from __future__ import annotations

import asyncio
from typing import Callable

from infra.errors import GatewayError, bad_request, forbidden, not_found
from infra.sharedredis import shared_redis
from providers import routes, routing
from providers.types import ChatRequest, Request, Target, Usage
from tenants import ratelimit
from tenants.auth import authenticate
from tenants.principal import Principal

from . import accounting, admission, cache, observe, streaming
from .context import Context, Outcome, Reply
from .endpoint import Endpoint

_after: set[asyncio.Task] = set()  # bookkeeping after a stream ends (cache fill, token correction), kept alive until done


def _later(work) -> None:
    """Run bookkeeping that the answer need not wait for; kept referenced until done."""
    task = asyncio.get_running_loop().create_task(work)
    _after.add(task)
    task.add_done_callback(_after.discard)


async def finished() -> None:
    """Wait for the bookkeeping in flight, Redis settlements included (tests, shutdown)."""
    while _after:
        await asyncio.gather(*list(_after), return_exceptions=True)
    await admission.settled()
    await shared_redis.posted()


async def serve(endpoint: Endpoint, headers, address: str, read_body: Callable[[], bytes]) -> Reply:
    """An endpoint's answer from headers and body, errors included as replies in the endpoint's shape."""
    ctx = Context.new(headers)
    try:
        principal = await authenticate(headers, address)
        try:
            body = read_body()
        except GatewayError as err:
            reject(principal, ctx, err)
            raise
        return await handle(endpoint, principal, body, ctx)
    except GatewayError as err:
        err.headers.setdefault("x-request-id", ctx.request_id)
        return error_reply(endpoint, err)


def error_reply(endpoint: Endpoint, err: GatewayError) -> Reply:
    return Reply(err.status, err.headers, body=endpoint.error_body(err))


async def handle(endpoint: Endpoint, principal: Principal, body: bytes, ctx: Context) -> Reply:
    """Parse, admit, answer from cache or a provider; every outcome is recorded."""
    observe.begin(principal, ctx)
    model, ticket, slot, routed = "", None, cache.NO_SLOT, False
    try:
        req = endpoint.parse(body, ctx.headers)
        model = req.model
        targets = await _targets(endpoint, principal, req)
        cacheable = endpoint.cacheable(req)
        if cacheable and cache.may_answer(principal, req, ctx.cache_control):
            ticket = await admission.admit(principal, req, targets, ctx, reserve=False)
            hit, slot = await cache.lookup(principal, req, ctx.cache_control)
            if hit is not None:
                return _cached(endpoint, principal, req, targets, ctx, ticket, hit)
            await admission.reserve(principal, req, targets, ctx)  # a hit costs nothing, so only a miss reserves
        else:
            ticket = await admission.admit(principal, req, targets, ctx)
            if cacheable:
                hit, slot = await cache.lookup(principal, req, ctx.cache_control)  # a slot to fill (no-cache), no read
        routed = True  # from here on, the answer's own steps record a cancel
        if req.stream:
            return await _stream(endpoint, principal, req, targets, ctx, ticket, slot)
        return await _complete(endpoint, principal, req, targets, ctx, ticket, slot)
    except GatewayError as err:
        await slot.release()
        admission.give_back(ticket, err)
        reject(principal, ctx, err, model)
        raise
    except asyncio.CancelledError:
        if routed:
            raise
        # The client left before a provider was called: free the slot and the reservation, leave a row.
        await asyncio.shield(slot.release())
        admission.give_back(ticket)
        accounting.record(principal, ctx, Outcome(model, 499, error_type="client_disconnected", client_disconnected=True))
        raise
    except Exception:
        # A bug: still leave a ledger row (and free the reservation), then let the server answer 500.
        await slot.release()
        accounting.record(principal, ctx, Outcome(model, 500, error_type="server_error"))
        raise


async def _targets(endpoint: Endpoint, principal: Principal, req: Request) -> tuple[Target, ...]:
    targets = await routes.targets_for(req.model)
    if not principal.may_use(req.model):
        raise forbidden(f"This key may not use the model '{req.model}'.", code="model_not_allowed")
    if not targets:
        raise not_found(f"The model '{req.model}' does not exist.", code="model_not_found")
    if targets[0].mode != endpoint.mode:
        raise bad_request(
            f"The model '{req.model}' is for {targets[0].mode} (its mode); this endpoint takes models for {endpoint.mode}.",
            param="model", code="model_mode_mismatch",
        )
    return targets


def _headers(ctx: Context, provider: str | None, cache: str = "MISS", ticket: ratelimit.Ticket | None = None) -> dict[str, str]:
    headers = {"x-request-id": ctx.request_id, "x-cache": cache}
    if provider:
        headers["x-gateway-provider"] = provider
    if ticket is not None:
        headers.update(ticket.headers)
    return headers


def _record_disconnect(principal: Principal, req: Request, ctx: Context, target: Target, streamed: bool = False) -> None:
    """The client left while a provider was working: bill the prompt we sent, as estimated.

    The cheap estimate, not the BPE: loading the tokenizer costs a worker ~130 MB, and a
    disconnect's count is an estimate either way (the completion is unknown)."""
    usage = Usage(req.prompt_size().estimate(), 0, estimated=True)
    outcome = Outcome(req.model, 499, target, usage, "client_disconnected", streamed=streamed, client_disconnected=True)
    accounting.record(principal, ctx, outcome)


def _cached(endpoint: Endpoint, principal: Principal, req: Request, targets: tuple[Target, ...], ctx: Context,
            ticket: ratelimit.Ticket, hit: cache.Hit) -> Reply:
    """Answer from the cache: no upstream call, recorded as cached at zero cost."""
    target = next((t for t in targets if t.provider == hit.provider), None)
    accounting.record(principal, ctx, Outcome(req.model, 200, target, hit.usage, cached=True, streamed=req.stream))
    ratelimit.refund(ticket)
    headers = _headers(ctx, hit.provider, "HIT", ticket)
    if req.stream:
        return Reply(200, headers | dict(endpoint.stream_headers), stream=hit.stream(endpoint.stream(req), req.include_usage))
    return Reply(200, headers, body=endpoint.render(hit.payload()))


async def _complete(endpoint: Endpoint, principal: Principal, req: Request, targets: tuple[Target, ...],
                    ctx: Context, ticket: ratelimit.Ticket, slot: cache.Slot) -> Reply:
    try:
        answer = await endpoint.call(req, targets, ctx.traceparent)
    except asyncio.CancelledError:
        _record_disconnect(principal, req, ctx, targets[0])
        await asyncio.shield(slot.release())
        raise
    response, payload = answer.response, answer.response.to_openai()
    usage = response.usage
    if usage is None and isinstance(req, ChatRequest):
        # No usage from the provider: bill the gateway's own count, marked estimated, never $0.
        usage = response.filled().estimated_usage(req.messages)
        payload["usage"] = usage.to_openai()  # as the stream's last chunk carries the estimate
    accounting.record(principal, ctx, Outcome(req.model, 200, answer.target, usage))
    ratelimit.settle(ticket, usage)  # queued for the next bookkeeping pipeline, with the budget's
    hollow = getattr(response, "hollow", None)  # big strings left as received (the chat endpoint's call)
    await slot.fill(answer.target.provider, payload, hollow)
    body = endpoint.render(payload)
    return Reply(200, _headers(ctx, answer.target.provider, ticket=ticket), body=hollow.splice(body) if hollow else body)


async def _after_stream(ticket: ratelimit.Ticket, slot: cache.Slot, provider: str, result: streaming.StreamResult) -> None:
    await slot.close_stream(provider, result)
    ratelimit.settle(ticket, result.usage)


async def _stream(endpoint: Endpoint, principal: Principal, req: ChatRequest, targets: tuple[Target, ...],
                  ctx: Context, ticket: ratelimit.Ticket, slot: cache.Slot) -> Reply:
    try:
        answer = await routing.open_stream(req, targets, ctx.traceparent)
    except asyncio.CancelledError:
        _record_disconnect(principal, req, ctx, targets[0], streamed=True)
        await asyncio.shield(slot.release())
        raise
    slot.watch(answer)

    def finish(result: streaming.StreamResult) -> None:
        status = 499 if result.disconnected else 200
        outcome = Outcome(req.model, status, answer.target, result.usage, result.error_type,
                          streamed=True, client_disconnected=result.disconnected, ttft_ms=result.ttft_ms)
        accounting.record(principal, ctx, outcome)
        _later(_after_stream(ticket, slot, answer.target.provider, result))

    headers = _headers(ctx, answer.target.provider, ticket=ticket) | dict(endpoint.stream_headers)
    return Reply(200, headers, stream=streaming.relay(answer, req, ctx.started, finish, endpoint.stream(req)))


def reject(principal: Principal, ctx: Context, err: GatewayError, model: str = "") -> None:
    """Record a refused or failed request and stamp the error with the request's headers."""
    accounting.record(principal, ctx, Outcome(model, err.status, error_type=err.type))
    err.headers = {**_headers(ctx, None), **err.headers}
