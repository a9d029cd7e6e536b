"""Cost in exact Decimal USD from per-million-token prices."""
from decimal import Context, Decimal, ROUND_CEILING

# Prices have at most 6 decimal places, so a cost has at most 12: a picodollar is exact.
PLACES = 12
# Wide enough that no product of tokens and prices is ever rounded.
_EXACT = Context(prec=60)


def cost_usd(
    prompt_tokens: int, completion_tokens: int, input_price_per_mtok: Decimal, output_price_per_mtok: Decimal
) -> Decimal:
    """Exact USD: tokens times the price per million, never rounded."""
    total = _EXACT.add(
        _EXACT.multiply(Decimal(prompt_tokens), input_price_per_mtok),
        _EXACT.multiply(Decimal(completion_tokens), output_price_per_mtok),
    )
    return total.scaleb(-6, _EXACT)


def to_pico(usd: Decimal) -> int:
    """Whole picodollars, rounding any finer fraction up (costs never have one)."""
    return int(usd.scaleb(PLACES, _EXACT).to_integral_value(rounding=ROUND_CEILING, context=_EXACT))


def from_pico(pico: int) -> Decimal:
    return Decimal(pico).scaleb(-PLACES, _EXACT)
