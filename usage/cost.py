"""Cost in exact Decimal USD from per-million-token prices."""
from decimal import Decimal

MILLION = Decimal(1_000_000)


def cost_usd(prompt_tokens: int, completion_tokens: int, input_price_per_mtok: Decimal, output_price_per_mtok: Decimal) -> Decimal:
    return (Decimal(prompt_tokens) * input_price_per_mtok + Decimal(completion_tokens) * output_price_per_mtok) / MILLION
