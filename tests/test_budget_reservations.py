"""Hard budgets reserve a request's maximum cost atomically (Redis, or the database) and settle after."""
import asyncio
from datetime import datetime, timezone
from decimal import ROUND_DOWN, Decimal

import orjson
import pytest
from asgiref.sync import sync_to_async

from infra.errors import GatewayError
from providers.types import ChatRequest, Message, Target
from tenants.auth import load_principal
from usage import budget, ledger
from usage.cost import to_pico

from .conftest import make_tenant
from .test_alerts_fire_once import spend, write
from .test_cancel_during_admission_releases import held_now

pytestmark = pytest.mark.django_db(transaction=True)

TARGETS = (
    Target("cheap", "mock", "", "", 10, "m", "m", Decimal("1.000000"), Decimal("2.000000")),
    Target("dear", "mock", "", "", 10, "m", "m", Decimal("3.333333"), Decimal("10.000000"), priority=1),
)
REQ = ChatRequest("m", (Message("user", "hello there"),), max_tokens=1000)


def one_reservation() -> str:
    """A budget with room for exactly one reservation (rounded down to the budget's 6 places)."""
    return str(budget.max_cost(REQ, TARGETS).quantize(Decimal("0.000001"), rounding=ROUND_DOWN))


async def principal_with(budget_usd: str | None, hard: bool = True):
    tk = await sync_to_async(make_tenant)("acme", monthly_budget_usd=budget_usd and Decimal(budget_usd),
                                          budget_is_hard=hard)
    return await sync_to_async(load_principal)(tk.key.digest)


def test_it_reserves_the_prompt_and_max_tokens_at_the_chains_highest_prices():
    from providers import tokens

    # The prompt is reserved at its UTF-8 byte length, a bound the real token count never exceeds.
    prompt = tokens.measure(REQ.messages).upper_bound()
    expected = (Decimal(prompt) * Decimal("3.333333") + 1000 * Decimal("10")) / 1_000_000
    assert budget.max_cost(REQ, TARGETS) == expected


def test_a_cache_write_dearer_than_input_bounds_every_prompt_token():
    from dataclasses import replace

    from providers import tokens

    # Anthropic's cache writes cost 1.25x input: any prompt token may turn out one.
    writing = (replace(TARGETS[0], cached_input_price_per_mtok=Decimal("0.1"), cache_write_price_per_mtok=Decimal("4.5")),)
    prompt = tokens.measure(REQ.messages).upper_bound()
    assert budget.max_cost(REQ, writing) == (Decimal(prompt) * Decimal("4.5") + 1000 * Decimal("2")) / 1_000_000


def test_it_reserves_the_default_max_tokens_when_none_is_asked(settings):
    settings.GATEWAY = {**settings.GATEWAY, "BUDGET_DEFAULT_MAX_TOKENS": 500}
    bare = ChatRequest("m", (), n=2)
    assert budget.max_cost(bare, TARGETS) == (3 * Decimal("3.333333") + 1000 * Decimal("10")) / 1_000_000


async def test_fifty_concurrent_requests_overshoot_by_at_most_one_reservation(backend):
    reservation = budget.max_cost(REQ, TARGETS)
    limit = reservation * 5  # room for five
    principal = await principal_with(str(limit.quantize(Decimal("0.000001"))))
    limit = principal.monthly_budget_usd

    async def one():
        try:
            held = await budget.reserve(principal, REQ, TARGETS)
        except GatewayError as err:
            assert (err.status, err.type, err.code) == (429, "budget_exceeded", "insufficient_quota")
            return Decimal(0)
        await asyncio.sleep(0.01)
        budget.settle(held, reservation)  # worst case: every answer costs its whole reservation
        return reservation

    spent = sum(await asyncio.gather(*(one() for _ in range(50))))
    await budget.settled()
    assert 0 < spent <= limit + reservation


async def test_it_refuses_once_the_budget_is_spent_and_settles_to_the_real_cost(backend):
    principal = await principal_with("0.05")
    held = await budget.reserve(principal, REQ, TARGETS)
    budget.settle(held, Decimal("0.049999999999"))
    await budget.settled()
    held = await budget.reserve(principal, REQ, TARGETS)  # a picodollar left: still admitted
    budget.settle(held, Decimal("0.000000000001"))
    await budget.settled()
    with pytest.raises(GatewayError) as refused:
        await budget.reserve(principal, REQ, TARGETS)
    assert refused.value.status == 429 and int(refused.value.headers["Retry-After"]) > 0


async def test_a_released_reservation_frees_its_room(backend):
    principal = await principal_with(one_reservation())
    held = await budget.reserve(principal, REQ, TARGETS)
    with pytest.raises(GatewayError):
        await budget.reserve(principal, REQ, TARGETS)
    budget.settle(held, Decimal(0))
    budget.settle(held, Decimal(0))  # settling twice changes nothing
    await budget.settled()
    assert await budget.reserve(principal, REQ, TARGETS) is not None


async def test_it_counts_what_the_ledger_already_holds_this_month(backend):
    tk = await sync_to_async(make_tenant)("acme", monthly_budget_usd=Decimal("1"))
    await sync_to_async(write)(spend(tk, "1"))
    principal = await sync_to_async(load_principal)(tk.key.digest)
    with pytest.raises(GatewayError):
        await budget.reserve(principal, REQ, TARGETS)


async def test_a_stuck_reservation_heals_at_the_next_resync(backend, settings):
    settings.GATEWAY = {**settings.GATEWAY, "BUDGET_RESYNC_SECONDS": 1}
    principal = await principal_with(one_reservation())
    await budget.reserve(principal, REQ, TARGETS)  # never settled: its process died...
    budget._outstanding.clear()  # ...and with it what that process knew it held
    with pytest.raises(GatewayError):
        await budget.reserve(principal, REQ, TARGETS)
    await asyncio.sleep(2.1)
    assert await budget.reserve(principal, REQ, TARGETS) is not None


async def test_soft_and_absent_budgets_reserve_nothing(backend):
    assert await budget.reserve(await principal_with("0", hard=False), REQ, TARGETS) is None


async def test_it_falls_back_to_the_database_when_redis_is_unreachable(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    principal = await principal_with(one_reservation())
    held = await budget.reserve(principal, REQ, TARGETS)
    assert held.backend == "database" and held.pico == to_pico(budget.max_cost(REQ, TARGETS))
    with pytest.raises(GatewayError):
        await budget.reserve(principal, REQ, TARGETS)


async def test_a_resync_counts_unwritten_usage_and_reservations_and_keeps_their_settlements(backend, settings):
    """What a reseed from the ledger alone would lose: rows still queued, reservations held, their settlements."""
    settings.GATEWAY = {**settings.GATEWAY, "BUDGET_RESYNC_SECONDS": 1}
    tk = await sync_to_async(make_tenant)("acme", monthly_budget_usd=Decimal("1"), budget_is_hard=True)
    principal = await sync_to_async(load_principal)(tk.key.digest)
    queued = spend(tk, "0.4")  # answered, its row still in this process's queue
    ledger.record(queued)
    held = await budget.reserve(principal, REQ, TARGETS)  # a request in flight
    await asyncio.sleep(1.1)  # the counter goes stale: the next reservation reseeds it
    second = await budget.reserve(principal, REQ, TARGETS)
    budget.settle(held, Decimal("0.5"))  # the request in flight ends after the reseed
    budget.settle(second, Decimal(0))
    await budget.settled()
    # The counter holds the queued 0.4 and the in-flight request's 0.5, settled after the reseed.
    month = budget.month_start(datetime.now(timezone.utc))
    assert await held_now(backend, principal.tenant_id, month) == Decimal("0.9")
    ledger.discard()


def test_images_and_tools_raise_the_bound_conservatively():
    from providers import tokens

    image = {"type": "image_url", "image_url": {"url": "https://example.test/cat.png"}}
    with_image = ChatRequest("m", (Message("user", [{"type": "text", "text": "hello there"}, image]),), max_tokens=1000)
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
    with_tool = ChatRequest("m", REQ.messages, max_tokens=1000, tools=(tool,))
    price = Decimal("3.333333") / 1_000_000
    assert budget.max_cost(with_image, TARGETS) - budget.max_cost(REQ, TARGETS) >= tokens.IMAGE_TOKENS_BOUND * price
    assert budget.max_cost(with_tool, TARGETS) - budget.max_cost(REQ, TARGETS) >= len(orjson.dumps([tool])) * price


async def test_a_request_started_in_the_last_second_of_a_month_reserves_in_that_month(backend):
    principal = await principal_with("5")
    last_second = datetime(2026, 11, 30, 23, 59, 59, 999_000, tzinfo=timezone.utc)
    held = await budget.reserve(principal, REQ, TARGETS, last_second)
    assert held.month.isoformat() == "2026-11-01"
    budget.settle(held, Decimal(0))
    await budget.settled()
