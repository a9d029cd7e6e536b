"""Admission: rate limits and the budget reservation, admitted together and given back together.

Both Redis scripts share one pipeline (one round trip). What one admits is given back when the
other refuses, when a later step fails, and when the request is cancelled on the way: a
reservation never waits out its expiry because the client left during admission.
"""
from __future__ import annotations

import asyncio
from decimal import Decimal

from infra.errors import GatewayError
from providers.types import Request, Target
from tenants import ratelimit
from tenants.principal import Principal
from usage import budget

from . import accounting
from .context import Context

_undoing: set[asyncio.Task] = set()  # give-backs of admissions cut short by a cancel, kept alive until done


async def admit(principal: Principal, req: Request, targets: tuple[Target, ...], ctx: Context,
                *, reserve: bool = True) -> ratelimit.Ticket:
    """Count the request against its limits and (with `reserve`) hold its maximum cost against a hard budget.

    The reservation is held on the request (accounting.hold) until its outcome is recorded."""
    # Each call queues its Redis script before it returns: one pipeline, and no task for either.
    counting = ratelimit.acquire(principal, req, ctx.request_id)
    try:
        reserving = budget.reserve(principal, req, targets, ctx.started_at) if reserve else _nothing()
    except BaseException:
        counting.close()
        raise
    try:
        counted = await _outcome(counting)
    except BaseException:
        _undo_later(reserving)
        raise
    try:
        reserved = await _outcome(reserving)
    except BaseException:
        if not isinstance(counted, BaseException):
            ratelimit.refund(counted)
        raise
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


async def reserve(principal: Principal, req: Request, targets: tuple[Target, ...], ctx: Context) -> None:
    """The budget half alone, for a request whose limits were counted before a cache miss."""
    accounting.hold(ctx, await budget.reserve(principal, req, targets, ctx.started_at))


def give_back(ticket: ratelimit.Ticket | None, err: GatewayError | None = None) -> None:
    """A request that failed after admission counts no tokens; its error keeps the limit headers."""
    if ticket is not None:
        ratelimit.refund(ticket)
        if err is not None:
            err.headers.update(ticket.headers)


async def _nothing() -> None:
    return None


async def _outcome(work):
    """The result, or the exception it raised (as gather(return_exceptions=True) gives them)."""
    try:
        return await work
    except Exception as exc:  # noqa: BLE001 - admit decides, for each, what to give back
        return exc


def _undo_later(reserving) -> None:
    """A cancel landed before the reservation's answer was read: read it in a task of its own and release it."""
    async def undo() -> None:
        try:
            budget.settle(await reserving, Decimal(0))
        except Exception:  # noqa: BLE001 - refused or unreachable: nothing was held
            pass

    task = asyncio.get_running_loop().create_task(undo())
    _undoing.add(task)
    task.add_done_callback(_undoing.discard)


async def settled() -> None:
    """Wait for the give-backs of cancelled admissions (tests, shutdown)."""
    while _undoing:
        await asyncio.gather(*list(_undoing), return_exceptions=True)
