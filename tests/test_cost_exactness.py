"""Cost is exact Decimal arithmetic on per-million prices, and the ledger stores it to the picodollar."""
from decimal import Decimal

import pytest

from usage.cost import cost_usd, from_pico, to_pico


@pytest.mark.parametrize(
    "prompt,completion,in_price,out_price,expected",
    [
        # Hand-computed: (prompt * in + completion * out) / 1,000,000, digit by digit.
        (1, 1, "0.000001", "0.000001", "0.000000000002"),
        (7, 13, "3.333333", "0.000001", "0.000023333344"),
        (999_999, 1, "3.333333", "1234567.891011", "4.567897557678"),
        (12_345, 678_901, "1234567.891011", "3.333333", "15243.003617637828"),
        (4_000_000_000, 4_000_000_000, "1234567.891011", "1234567.891011", "9876543128.088"),
        (0, 0, "1234567.891011", "1234567.891011", "0"),
    ],
)
def test_it_computes_cost_exactly(prompt, completion, in_price, out_price, expected):
    cost = cost_usd(prompt, completion, Decimal(in_price), Decimal(out_price))
    assert cost == Decimal(expected)
    assert to_pico(cost) * Decimal("1e-12") == Decimal(expected)


def test_it_adds_up_many_small_costs_without_drift():
    one = cost_usd(3, 7, Decimal("0.000001"), Decimal("3.333333"))
    assert sum([one] * 1_000_000, Decimal(0)) == one * 1_000_000
    assert sum([to_pico(one)] * 1_000_000) == to_pico(one * 1_000_000)


def test_picodollars_round_trip():
    for value in ("0", "0.000000000001", "15243.003617637828", "9876543128.088"):
        assert from_pico(to_pico(Decimal(value))) == Decimal(value)


def test_each_token_class_is_billed_at_its_own_price():
    # 11474 prompt tokens of which 8192 cache reads and 2048 cache writes, 517 completion tokens (README's example).
    cost = cost_usd(11474, 517, Decimal("3"), Decimal("15"), cached_tokens=8192, cache_write_tokens=2048,
                    cached_input_price_per_mtok=Decimal("0.30"), cache_write_price_per_mtok=Decimal("3.75"))
    assert cost == Decimal("0.0215946")


def test_a_class_without_its_own_price_is_billed_at_the_input_price():
    with_classes = cost_usd(2000, 100, Decimal("0.15"), Decimal("0.6"), cached_tokens=1500, cache_write_tokens=300)
    assert with_classes == cost_usd(2000, 100, Decimal("0.15"), Decimal("0.6"))
    assert with_classes == Decimal("0.00036")


@pytest.mark.parametrize("amount, text", [
    ("0.000092500000", "0.0000925"), ("0E-12", "0"), ("5.000000000000", "5"), ("123456789.123456000001", "123456789.123456000001"),
    ("1E+3", "1000"), ("0.000000000001", "0.000000000001"),
])
def test_report_money_is_exact_with_trailing_zeros_dropped(amount, text):
    from usage.cost import exact

    assert exact(Decimal(amount)) == text
