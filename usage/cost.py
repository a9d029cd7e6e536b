"""Cost in exact Decimal USD from per-million-token prices, per token class (../shared/INTERFACE.md "Tokens and money")."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal, ROUND_CEILING

# Prices have at most 6 decimal places, so a cost has at most 12: a picodollar is exact.
PLACES = 12
# Wide enough that no product of tokens and prices is ever rounded.
_EXACT = Context(prec=60)


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per 1M tokens of each class, as billed (a cache class without a price of its own takes the input price)."""

    input: Decimal
    output: Decimal
    cached_input: Decimal
    cache_write: Decimal

    @classmethod
    def of(cls, input: Decimal, output: Decimal, cached_input: Decimal | None = None,
           cache_write: Decimal | None = None) -> Prices:
        return cls(input, output, input if cached_input is None else cached_input,
                   input if cache_write is None else cache_write)


FREE = Prices(Decimal(0), Decimal(0), Decimal(0), Decimal(0))


def cost_usd(
    prompt_tokens: int, completion_tokens: int, input_price_per_mtok: Decimal, output_price_per_mtok: Decimal,
    cached_tokens: int = 0, cache_write_tokens: int = 0,
    cached_input_price_per_mtok: Decimal | None = None, cache_write_price_per_mtok: Decimal | None = None,
) -> Decimal:
    """Exact USD, never rounded: (prompt - cached - cache_write) x input + cached x cached-input
    + cache_write x cache-write + completion x output, each price per million tokens."""
    prices = Prices.of(input_price_per_mtok, output_price_per_mtok, cached_input_price_per_mtok,
                       cache_write_price_per_mtok)
    return cost_of(prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens, prices)


def cost_of(prompt_tokens: int, completion_tokens: int, cached_tokens: int, cache_write_tokens: int,
            prices: Prices) -> Decimal:
    uncached = max(prompt_tokens - cached_tokens - cache_write_tokens, 0)
    total = Decimal(0)
    for tokens, price in ((uncached, prices.input), (cached_tokens, prices.cached_input),
                          (cache_write_tokens, prices.cache_write), (completion_tokens, prices.output)):
        total = _EXACT.add(total, _EXACT.multiply(Decimal(tokens), price))
    return total.scaleb(-6, _EXACT)


def to_pico(usd: Decimal) -> int:
    """Whole picodollars, rounding any finer fraction up (costs never have one)."""
    return int(usd.scaleb(PLACES, _EXACT).to_integral_value(rounding=ROUND_CEILING, context=_EXACT))


def from_pico(pico: int) -> Decimal:
    return Decimal(pico).scaleb(-PLACES, _EXACT)


def exact(amount: Decimal) -> str:
    """A sum of ledger costs as a plain decimal string: every digit kept, trailing zeros dropped, no exponent."""
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
