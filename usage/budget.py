"""Hard monthly budgets: reserve a request's maximum cost before the call, settle to the real cost after.

The counter per tenant and month (calendar month, UTC) holds spent plus reserved. It lives in
Redis when REDIS_URL is set (one Lua round trip, exact integer picodollars), in the database
otherwise (and while Redis is unreachable). It is seeded from the ledger's month-to-date sum
and reseeded every BUDGET_RESYNC_SECONDS, which heals reservations of crashed processes.
A request is admitted while spent plus reserved is below the budget, so concurrent requests
overshoot by at most one reservation. Soft budgets reserve nothing: they only alert.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import threading
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Coroutine

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from infra.errors import GatewayError
from infra.sharedredis import NO_REDIS, shared_redis
from providers.types import Request, Target
from tenants.principal import Principal

from . import ledger
from .cost import cost_usd, from_pico, to_pico
from .partitions import bounds, month_start
from .rollups import month_spend

log = logging.getLogger("gateway.budget")

DATABASE = "budgets count in the database"  # what serving without Redis means here, for the log
MICRO = 1_000_000  # the Redis counter keeps whole micro-dollars and a picodollar remainder below one

_ADD = """
local function add(k, hi, lo)
  local p = redis.call('HINCRBY', k, 'p', lo)
  if p >= 1000000 then
    redis.call('HINCRBY', k, 'p', -1000000)
    redis.call('HINCRBY', k, 'u', 1)
  end
  redis.call('HINCRBY', k, 'u', hi)
end
"""
# KEYS[1] counter; ARGV amount hi lo, budget hi lo, then (only when seeding) seed hi lo, generation, ttl.
# Lua numbers are doubles: both halves stay far below 2^53, so every comparison is exact.
_RESERVE = _ADD + """
local k = KEYS[1]
if redis.call('EXISTS', k) == 0 then
  if #ARGV < 8 then return {-1, ''} end
  redis.call('HSET', k, 'u', ARGV[5], 'p', ARGV[6], 'g', ARGV[7])
  redis.call('EXPIRE', k, ARGV[8])
end
local u, p = tonumber(redis.call('HGET', k, 'u')), tonumber(redis.call('HGET', k, 'p'))
local bu, bp = tonumber(ARGV[3]), tonumber(ARGV[4])
local g = redis.call('HGET', k, 'g')
if u > bu or (u == bu and p >= bp) then return {0, g} end
add(k, ARGV[1], ARGV[2])
return {1, g}
"""
# KEYS[1] counter; ARGV delta hi lo, generation: a reseeded counter already holds the ledger's truth.
_SETTLE = _ADD + """
if redis.call('HGET', KEYS[1], 'g') ~= ARGV[3] then return 0 end
add(KEYS[1], ARGV[1], ARGV[2])
return 1
"""


@dataclass(slots=True)
class Reservation:
    tenant_id: int
    month: date
    pico: int
    backend: str  # "redis" | "database"
    generation: str
    settled: bool = False


def _input_prices(target: Target) -> tuple[Decimal, ...]:
    cached, write = target.cached_input_price_per_mtok, target.cache_write_price_per_mtok
    return tuple(p for p in (target.input_price_per_mtok, cached, write) if p is not None)


def max_cost(req: Request, targets: tuple[Target, ...]) -> Decimal:
    """The most a request can cost: its prompt (bounded by its bytes, images and tool definitions included) and
    max_tokens at the chain's highest prices."""
    completion = req.output_ceiling(settings.GATEWAY["BUDGET_DEFAULT_MAX_TOKENS"])
    # Any prompt token may turn out a cache write, which can cost more than a plain input token.
    in_price = max((max(_input_prices(t)) for t in targets), default=Decimal(0))
    out_price = max((t.output_price_per_mtok for t in targets), default=Decimal(0))
    return cost_usd(req.prompt_size().upper_bound(), completion, in_price, out_price)


# Reservations granted in this process and not settled yet: a reseed counts them and carries them over.
_outstanding: dict[int, Reservation] = {}


def _held_now(tenant_id: int, month: date, backend: str) -> list[Reservation]:
    return [r for r in list(_outstanding.values())
            if (r.tenant_id, r.month, r.backend) == (tenant_id, month, backend) and not r.settled]


def _carry_over(held: list[Reservation], generation: str) -> None:
    """Reservations counted in a new seed settle against it: their settlements are not lost to the reseed."""
    for reservation in held:
        reservation.generation = generation


def seed_spend(tenant_id: int, month: date) -> Decimal:
    """The month's spend as a reseed counts it: the ledger's rows plus this process's entries not written yet.

    Read with the ledger's writes held, so no batch is in neither place; one being written is waited for."""
    start, end = bounds(month)
    with ledger.writes_held():
        return month_spend(tenant_id, month) + ledger.unwritten_cost(tenant_id, start, end)


def budget_exceeded(month: date) -> GatewayError:
    reset = bounds(month)[1] - datetime.now(timezone.utc)
    return GatewayError(
        429, "budget_exceeded", "This tenant's monthly budget is spent.", code="insufficient_quota",
        headers={"Retry-After": str(max(int(reset.total_seconds()), 1))},
    )


def budget_unavailable(month: date) -> GatewayError:
    return GatewayError(
        429, "budget_exceeded", "This tenant's budget cannot be checked right now; try again shortly.",
        code="budget_unavailable", headers={"Retry-After": "5"},
    )


def reserve(principal: Principal, req: Request, targets: tuple[Target, ...],
            at: datetime | None = None) -> Coroutine[Any, Any, Reservation | None]:
    """Reserve the request's maximum cost against a hard budget; raise budget_exceeded when spent. Await the result.

    The Redis script is queued before this returns, so a reservation and a rate-limit check started
    one after the other share one pipeline without a task each (completions.admission.admit)."""
    if principal.monthly_budget_usd is None or not principal.budget_is_hard:
        return _no_reservation()
    month = month_start(at or datetime.now(timezone.utc))  # the month the request started in, as its ledger row
    amount, budget = to_pico(max_cost(req, targets)), to_pico(principal.monthly_budget_usd)
    return _reserved(principal, month, amount, budget, _start_reserve(principal.tenant_id, month, amount, budget))


async def _no_reservation() -> None:
    return None


async def _reserved(principal: Principal, month: date, amount: int, budget: int, started) -> Reservation | None:
    try:
        granted, reservation = await _reserve(principal.tenant_id, month, amount, budget, started)
    except Exception:
        # Neither Redis nor the database can confirm the spend: a hard budget refuses rather than admit blind.
        log.error("budget state unreachable; refusing tenant %s (hard budget)", principal.tenant_slug, exc_info=True)
        raise budget_unavailable(month) from None
    if not granted:
        raise budget_exceeded(month)
    _outstanding[id(reservation)] = reservation
    return reservation


def _start_reserve(tenant_id: int, month: date, amount: int, budget: int) -> asyncio.Future:
    """The reservation script queued for Redis; it answers NO_REDIS when the database must count."""
    return shared_redis.script(_RESERVE, [_key(tenant_id, month)], _halves(amount) + _halves(budget), fallback=DATABASE)


async def _reserve(tenant_id: int, month: date, amount: int, budget: int, started: asyncio.Future) -> tuple[bool, Reservation]:
    try:
        answer = await _redis_reserve(tenant_id, month, amount, budget, started)
    except Exception:
        log.warning("budget: could not use the Redis counter; using the database counter", exc_info=True)
        answer = None
    if answer is not None:
        granted, generation = answer
        return granted, Reservation(tenant_id, month, amount, "redis", generation)
    reserving = asyncio.ensure_future(sync_to_async(_db_reserve, thread_sensitive=False)(
        tenant_id, month, from_pico(amount), from_pico(budget)
    ))
    try:
        granted, generation = await asyncio.shield(reserving)
    except asyncio.CancelledError:
        reserving.add_done_callback(functools.partial(_release_late, Reservation(tenant_id, month, amount, "database", "")))
        raise
    return granted, Reservation(tenant_id, month, amount, "database", generation)


def _release_late(held: Reservation, answer: asyncio.Future) -> None:
    """The request was cancelled while its reservation was in flight: release whatever the answer granted.

    Shielded answers arrive after the cancel; without this, a granted reservation would hold budget
    until the next reseed."""
    if answer.cancelled() or answer.exception() is not None or answer.result() is NO_REDIS:
        return
    granted, generation = answer.result()
    if granted == 1 or granted is True:
        held.generation = generation.decode() if isinstance(generation, bytes) else str(generation)
        settle(held, Decimal(0))


def settle(reservation: Reservation | None, cost: Decimal) -> None:
    """Replace a reservation by the real cost (0 releases it), off the request path; idempotent."""
    if reservation is None or reservation.settled:
        return
    reservation.settled = True
    _outstanding.pop(id(reservation), None)
    delta = to_pico(cost) - reservation.pico
    if not delta:
        return
    if reservation.backend == "redis" and asyncio._get_running_loop() is not None:
        # Queued for the next bookkeeping pipeline: no task per request.
        _post_settle(reservation, delta)
        return
    _spawn(_apply(reservation, delta))


_tasks: set[asyncio.Task] = set()


def _spawn(coro) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    task = loop.create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def settled() -> None:
    """Wait for settlements in flight (tests, shutdown)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)
    await shared_redis.posted()


async def _apply(res: Reservation, delta: int) -> None:
    try:
        if res.backend == "redis":
            await _redis_settle(res, delta)
        else:
            await sync_to_async(_db_settle, thread_sensitive=False)(res, from_pico(delta))
    except Exception:
        # The next reseed from the ledger corrects the counter.
        log.warning("budget: could not settle %s for tenant %s", from_pico(delta), res.tenant_id, exc_info=True)


# Redis.

def _key(tenant_id: int, month: date) -> str:
    # {t:ID}: the tenant's Redis Cluster hash tag, as its rate limits have (tenants/ratelimit.py).
    return f"gw:budget:{{t:{tenant_id}}}:{month.year}-{month.month:02d}"  # strftime costs more than the rest


def _halves(pico: int) -> list[int]:
    hi, lo = divmod(pico, MICRO)  # floor division keeps lo in [0, MICRO) for negative amounts too
    return [hi, lo]


async def _redis_reserve(tenant_id: int, month: date, amount: int, budget: int,
                         first: asyncio.Future) -> tuple[bool, str] | None:
    """`first`: the reservation script already queued; a counter to seed from the ledger runs it once more.

    None without Redis: the database counts."""
    key, args = _key(tenant_id, month), _halves(amount) + _halves(budget)
    try:
        answer = await asyncio.shield(first)  # a cancel must not lose the answer: it may hold budget
    except asyncio.CancelledError:
        first.add_done_callback(functools.partial(_release_late, Reservation(tenant_id, month, amount, "redis", "")))
        raise
    if answer is NO_REDIS:
        return None
    granted, generation = answer
    if granted == -1:
        held = _held_now(tenant_id, month, "redis")
        spent = await sync_to_async(seed_spend, thread_sensitive=False)(tenant_id, month)
        ours = uuid.uuid4().hex[:12]
        seed = _halves(to_pico(spent + sum(from_pico(r.pico) for r in held))) + [ours, settings.GATEWAY["BUDGET_RESYNC_SECONDS"]]
        answer = await shared_redis.script(_RESERVE, [key], args + seed, fallback=DATABASE)
        if answer is NO_REDIS:
            return None
        granted, generation = answer
        if (generation.decode() if isinstance(generation, bytes) else str(generation)) == ours:
            _carry_over(held, ours)
    return granted == 1, generation.decode() if isinstance(generation, bytes) else str(generation)


def _post_settle(res: Reservation, delta: int) -> asyncio.Future:
    """Queue the settlement for the next bookkeeping pipeline; it answers NO_REDIS when Redis did not take it
    (the next reseed from the ledger corrects the counter)."""
    args = _halves(delta) + [res.generation]
    return shared_redis.script(_SETTLE, [_key(res.tenant_id, res.month)], args, fallback=DATABASE, later=True)


async def _redis_settle(res: Reservation, delta: int) -> None:
    await _post_settle(res, delta)


# Database.

def _db_counter(tenant_id: int, month: date):
    """The tenant's counter row, created or reseeded from the ledger when missing or stale."""
    from .models import BudgetCounter

    now = datetime.now(timezone.utc)
    row = BudgetCounter.objects.filter(tenant_id=tenant_id, month=month).first()
    if row is None:
        try:
            with transaction.atomic():
                return BudgetCounter.objects.create(
                    tenant_id=tenant_id, month=month, amount_usd=seed_spend(tenant_id, month), seeded_at=now
                )
        except IntegrityError:  # another process seeded it first
            return BudgetCounter.objects.get(tenant_id=tenant_id, month=month)
    if (now - row.seeded_at).total_seconds() > settings.GATEWAY["BUDGET_RESYNC_SECONDS"]:
        held = _held_now(tenant_id, month, "database")
        seed = seed_spend(tenant_id, month) + sum((from_pico(r.pico) for r in held), Decimal(0))
        reseeded = BudgetCounter.objects.filter(pk=row.pk, generation=row.generation).update(
            amount_usd=seed, seeded_at=now, generation=F("generation") + 1
        )
        row.refresh_from_db()
        if reseeded:
            _carry_over(held, str(row.generation))
    return row


# SQLite (single-process development) fails concurrent writers at once instead of queueing them.
_sqlite_lock = threading.Lock()


def _db_reserve(tenant_id: int, month: date, amount: Decimal, budget: Decimal) -> tuple[bool, str]:
    if connection.vendor != "sqlite":
        return _db_compare_and_add(tenant_id, month, amount, budget)
    with _sqlite_lock:
        return _db_compare_and_add(tenant_id, month, amount, budget)


def _db_compare_and_add(tenant_id: int, month: date, amount: Decimal, budget: Decimal) -> tuple[bool, str]:
    """One conditional UPDATE on the counter row, retried if a reseed intervened."""
    from .models import BudgetCounter

    for _ in range(5):
        row = _db_counter(tenant_id, month)
        if row.amount_usd >= budget:
            return False, str(row.generation)
        added = BudgetCounter.objects.filter(pk=row.pk, generation=row.generation, amount_usd__lt=budget).update(
            amount_usd=F("amount_usd") + amount
        )
        if added:
            return True, str(row.generation)
    return False, ""


def _db_settle(res: Reservation, delta: Decimal) -> None:
    from .models import BudgetCounter

    with _sqlite_lock if connection.vendor == "sqlite" else nullcontext():
        BudgetCounter.objects.filter(tenant_id=res.tenant_id, month=res.month, generation=int(res.generation)).update(
            amount_usd=F("amount_usd") + delta
        )
