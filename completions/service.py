"""The request path of a chat completion, one plain step after another (ARCHITECTURE.md)."""
from __future__ import annotations

import asyncio
from decimal import Decimal

import orjson

from infra.errors import GatewayError, forbidden, not_found
from infra.sharedredis import shared_redis
from providers import routes, routing, tokens
from providers.types import ChatRequest, Target, Usage
from tenants import ratelimit
from tenants.principal import Principal
from usage import budget

from . import accounting, cache, observe, streaming
from .accounting import Outcome
from .context import Context, Reply
from .validation import parse_chat_request, parse_json

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
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
    await shared_redis.posted()


async def _targets(principal: Principal, req: ChatRequest) -> tuple[Target, ...]:
    targets = await routes.targets_for(req.model)
    if not principal.may_use(req.model):
        raise forbidden(f"This key may not use the model '{req.model}'.", code="model_not_allowed")
    if not targets:
        raise not_found(f"The model '{req.model}' does not exist.", code="model_not_found")
    return targets


def _headers(ctx: Context, provider: str | None, cache: str = "MISS", ticket: ratelimit.Ticket | None = None) -> dict[str, str]:
    headers = {"x-request-id": ctx.request_id, "x-cache": cache}
    if provider:
        headers["x-gateway-provider"] = provider
    if ticket is not None:
        headers.update(ticket.headers)
    return headers


def _record_disconnect(principal: Principal, req: ChatRequest, ctx: Context, target: Target, streamed: bool = False) -> None:
    """The client left while a provider was working: bill the prompt we sent, as estimated.

    The cheap estimate, not the BPE: loading the tokenizer costs a worker ~130 MB, and a
    disconnect's count is an estimate either way (the completion is unknown)."""
    usage = Usage(tokens.measure(req.messages).estimate(), 0, estimated=True)
    outcome = Outcome(req.model, 499, target, usage, "client_disconnected", streamed=streamed, client_disconnected=True)
    accounting.record(principal, ctx, outcome)


async def _cached(principal: Principal, req: ChatRequest, targets: tuple[Target, ...], ctx: Context,
                  ticket: ratelimit.Ticket, hit: cache.Hit) -> Reply:
    """Answer from the cache: no upstream call, recorded as cached at zero cost."""
    target = next((t for t in targets if t.provider == hit.provider), None)
    accounting.record(principal, ctx, Outcome(req.model, 200, target, hit.usage, cached=True, streamed=req.stream))
    ratelimit.refund(ticket)
    headers = _headers(ctx, hit.provider, "HIT", ticket)
    if req.stream:
        return Reply(200, headers | SSE_HEADERS, stream=hit.stream(req.include_usage))
    return Reply(200, headers, body=hit.body())


async def _complete(principal: Principal, req: ChatRequest, targets: tuple[Target, ...], ctx: Context,
                    ticket: ratelimit.Ticket, slot: cache.Slot) -> Reply:
    try:
        answer = await routing.complete(req, targets, ctx.traceparent)
    except asyncio.CancelledError:
        _record_disconnect(principal, req, ctx, targets[0])
        raise
    response, payload = answer.response, answer.response.to_openai()
    accounting.record(principal, ctx, Outcome(req.model, 200, answer.target, response.usage))
    ratelimit.settle(ticket, response.usage)  # queued for the next bookkeeping pipeline, with the budget's
    await slot.fill(answer.target.provider, payload)
    return Reply(200, _headers(ctx, answer.target.provider, ticket=ticket), body=orjson.dumps(payload))


async def _after_stream(ticket: ratelimit.Ticket, slot: cache.Slot, provider: str, result: streaming.StreamResult) -> None:
    await slot.close_stream(provider, result)
    ratelimit.settle(ticket, result.usage)


async def _stream(principal: Principal, req: ChatRequest, targets: tuple[Target, ...], ctx: Context,
                  ticket: ratelimit.Ticket, slot: cache.Slot) -> Reply:
    try:
        answer = await routing.open_stream(req, targets, ctx.traceparent)
    except asyncio.CancelledError:
        _record_disconnect(principal, req, ctx, targets[0], streamed=True)
        raise
    slot.watch(answer)

    def finish(result: streaming.StreamResult) -> None:
        status = 499 if result.disconnected else 200
        outcome = Outcome(req.model, status, answer.target, result.usage, result.error_type,
                          streamed=True, client_disconnected=result.disconnected, ttft_ms=result.ttft_ms)
        accounting.record(principal, ctx, outcome)
        _later(_after_stream(ticket, slot, answer.target.provider, result))

    headers = _headers(ctx, answer.target.provider, ticket=ticket) | SSE_HEADERS
    return Reply(200, headers, stream=streaming.relay(answer, req, ctx.started, finish))


async def handle(principal: Principal, body: bytes, ctx: Context) -> Reply:
    """Validate, route, answer; every outcome after authentication is recorded."""
    observe.begin(principal, ctx)
    model, ticket, slot = "", None, cache.NO_SLOT
    try:
        req = parse_chat_request(parse_json(body))
        model = req.model
        targets = await _targets(principal, req)
        if cache.may_answer(principal, req, ctx.cache_control):
            ticket = await ratelimit.acquire(principal, req, ctx.request_id)
            hit, slot = await cache.lookup(principal, req, ctx.cache_control)
            if hit is not None:
                return await _cached(principal, req, targets, ctx, ticket, hit)
            # A hit costs nothing, so only a miss reserves budget.
            accounting.hold(ctx, await budget.reserve(principal, req, targets))
        else:
            ticket = await _admit(principal, req, targets, ctx)
            hit, slot = await cache.lookup(principal, req, ctx.cache_control)  # a slot to fill (no-cache), no read
        if req.stream:
            return await _stream(principal, req, targets, ctx, ticket, slot)
        return await _complete(principal, req, targets, ctx, ticket, slot)
    except GatewayError as err:
        await _give_up(ticket, slot, err)
        reject(principal, ctx, err, model)
        raise
    except Exception:
        # A bug: still leave a ledger row (and free the reservation), then let the view answer 500.
        await slot.release()
        accounting.record(principal, ctx, Outcome(model, 500, error_type="server_error"))
        raise


async def _admit(principal: Principal, req: ChatRequest, targets: tuple[Target, ...], ctx: Context) -> ratelimit.Ticket:
    """Rate limits and budget at once: their Redis scripts share one pipeline (one round trip).

    What one admits is given back when the other refuses: the limits' token estimate, or the reservation."""
    # Each call queues its Redis script before it returns: one pipeline, and no task for either.
    counting = ratelimit.acquire(principal, req, ctx.request_id)
    try:
        reserving = budget.reserve(principal, req, targets)
    except BaseException:
        counting.close()
        raise
    try:
        counted = await _outcome(counting)
        reserved = await _outcome(reserving)
    finally:
        counting.close()  # no-ops once awaited; closes the second if the first was cancelled
        reserving.close()
    if isinstance(counted, BaseException):
        if not isinstance(reserved, BaseException):
            budget.settle(reserved, Decimal(0))
        raise counted
    if isinstance(reserved, BaseException):
        ratelimit.refund(counted)
        if isinstance(reserved, GatewayError):
            reserved.headers.update(counted.headers)
        raise reserved
    accounting.hold(ctx, reserved)
    return counted


async def _outcome(work):
    """The result, or the exception it raised (as gather(return_exceptions=True) gives them)."""
    try:
        return await work
    except Exception as exc:  # noqa: BLE001 - _admit decides, for each, what to give back
        return exc


async def _give_up(ticket: ratelimit.Ticket | None, slot: cache.Slot, err: GatewayError) -> None:
    """An error after admission: count no tokens, free the cache slot, keep the limit headers."""
    await slot.release()
    if ticket is not None:
        ratelimit.refund(ticket)
        err.headers.update(ticket.headers)


def reject(principal: Principal, ctx: Context, err: GatewayError, model: str = "") -> None:
    """Record a refused or failed request and stamp the error with the request's headers."""
    accounting.record(principal, ctx, Outcome(model, err.status, error_type=err.type))
    err.headers = {**_headers(ctx, None), **err.headers}

