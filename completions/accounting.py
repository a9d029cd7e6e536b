"""Turn the outcome of a request into a ledger entry (tokens, prices, cost)."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from providers.types import Target, Usage
from tenants.principal import Principal
from usage import budget, ledger
from usage.cost import cost_usd

from . import observe
from .context import Context


@dataclass(frozen=True, slots=True)
class Outcome:
    model: str
    status: int
    target: Target | None = None
    usage: Usage | None = None
    error_type: str = ""
    cached: bool = False
    streamed: bool = False
    client_disconnected: bool = False
    ttft_ms: int | None = None


# Budget reservations of requests in flight, by request id; recording a request settles its own.
_held: dict[str, budget.Reservation] = {}


def hold(ctx: Context, reservation: budget.Reservation | None) -> None:
    """Keep the request's budget reservation until its outcome is recorded."""
    if reservation is not None:
        _held[ctx.request_id] = reservation


def record(principal: Principal, ctx: Context, outcome: Outcome) -> None:
    """Queue the request's ledger entry and settle its budget reservation; cache hits cost nothing."""
    target, usage = outcome.target, outcome.usage or Usage()
    in_price = target.input_price_per_mtok if target else Decimal(0)
    out_price = target.output_price_per_mtok if target else Decimal(0)
    cost = Decimal(0) if outcome.cached else cost_usd(usage.prompt_tokens, usage.completion_tokens, in_price, out_price)
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
            tokens_estimated=usage.estimated,
            input_price_per_mtok=in_price,
            output_price_per_mtok=out_price,
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
