"""Turn the outcome of a request into a ledger entry (tokens, prices, cost)."""
from __future__ import annotations

from decimal import Decimal

from providers.types import Target, Usage
from tenants.principal import Principal
from usage import budget, ledger
from usage.cost import FREE, Prices, cost_of

from . import observe
from .context import Context, Outcome


def _prices(target: Target | None) -> Prices:
    """The route's prices as billed, frozen on the ledger row."""
    if target is None:
        return FREE
    return Prices.of(target.input_price_per_mtok, target.output_price_per_mtok,
                     target.cached_input_price_per_mtok, target.cache_write_price_per_mtok)


# Budget reservations of requests in flight, by request id; recording a request settles its own.
_held: dict[str, budget.Reservation] = {}


def hold(ctx: Context, reservation: budget.Reservation | None) -> None:
    """Keep the request's budget reservation until its outcome is recorded."""
    if reservation is not None:
        _held[ctx.request_id] = reservation


def record(principal: Principal, ctx: Context, outcome: Outcome) -> None:
    """Queue the request's ledger entry and settle its budget reservation; cache hits cost nothing."""
    target, usage = outcome.target, outcome.usage or Usage()
    prices = _prices(target)
    if outcome.cached:
        cost = Decimal(0)
    else:
        cost = cost_of(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens, usage.cache_write_tokens, prices)
    budget.settle(_held.pop(ctx.request_id, None), cost)
    ledger.record(
        ledger.LedgerEntry(
            request_id=ctx.request_id,
            tenant_id=principal.tenant_id,
            api_key_id=principal.key_id,
            model=outcome.model[:200],
            provider=target.provider if target else "",
            upstream_model=target.upstream_model if target else "",
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            tokens_estimated=usage.estimated,
            input_price_per_mtok=prices.input,
            output_price_per_mtok=prices.output,
            cached_input_price_per_mtok=prices.cached_input,
            cache_write_price_per_mtok=prices.cache_write,
            cost_usd=cost,
            status=outcome.status,
            error_type=outcome.error_type,
            cached=outcome.cached,
            streamed=outcome.streamed,
            client_disconnected=outcome.client_disconnected,
            latency_ms=ctx.elapsed_ms(),
            ttft_ms=outcome.ttft_ms,
            created_at=ctx.started_at,
        )
    )
    observe.record(principal, ctx, outcome, cost)
