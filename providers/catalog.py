"""Route prices from a price catalog in LiteLLM's model_prices_and_context_window.json format.

The catalog maps a model name (sometimes prefixed by its provider, `azure/gpt-4o`) to per-token
USD prices. JSON numbers are read as Decimal, never float, so 1.5e-07 per token is exactly
$0.15 per 1M tokens.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Context, Decimal
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from .models import ModelRoute, PriceSource

# Catalog field → route field.
FIELDS = {
    "input_cost_per_token": "input_price_per_mtok",
    "output_cost_per_token": "output_price_per_mtok",
    "cache_read_input_token_cost": "cached_input_price_per_mtok",
    "cache_creation_input_token_cost": "cache_write_price_per_mtok",
}
STEP = Decimal("0.000001")  # the route's price columns keep a millionth of a dollar per 1M tokens
MAX_PRICE = Decimal(10) ** 8  # and eight digits before the point
_EXACT = Context(prec=60)


@dataclass(frozen=True)
class Entry:
    """A catalog model's prices in USD per 1M tokens; None where the catalog has none."""

    key: str
    prices: dict[str, Decimal | None]


@dataclass
class Outcome:
    priced: list[tuple[ModelRoute, Entry]]
    kept: list[ModelRoute]  # prices set by hand, left alone
    unknown: list[ModelRoute]  # the catalog does not know the upstream model
    refused: list[tuple[ModelRoute, str]]  # the catalog's price cannot be stored exactly


def per_million(value, what: str) -> Decimal | None:
    """A per-token USD price as an exact per-1M price; None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise ValueError(f"{what} is not a number")
    price = Decimal(value).scaleb(6, _EXACT)
    if not price.is_finite() or price < 0 or price >= MAX_PRICE:
        raise ValueError(f"{what} = {value} is not a price from 0 to {MAX_PRICE} USD per 1M tokens")
    kept = price.quantize(STEP, context=_EXACT)
    if kept != price:
        raise ValueError(f"{what} = {value} is not a whole millionth of a dollar per 1M tokens")
    return kept.normalize(_EXACT) if kept else Decimal(0)


def load(path: str | Path) -> dict[str, dict]:
    """The catalog's models with at least an input or output price; ValidationError for an unreadable file."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f, parse_float=Decimal)
    except OSError as error:
        raise ValidationError(f"Cannot read {path}: {error.strerror}.") from None
    except ValueError as error:
        raise ValidationError(f"{path} is not JSON: {error}.") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{path} is not a price catalog: expected a JSON object of models.")
    return {
        key: value for key, value in data.items()
        if isinstance(value, dict) and ("input_cost_per_token" in value or "output_cost_per_token" in value)
    }


def entry(catalog: dict[str, dict], route: ModelRoute) -> tuple[str, dict] | None:
    """The catalog entry for a route: `<kind>/<upstream model>` first (azure/gpt-4o), then the bare name."""
    for key in (f"{route.provider.kind}/{route.upstream_model}", route.upstream_model):
        if key in catalog:
            return key, catalog[key]
    return None


def _hand_set(route: ModelRoute) -> bool:
    return route.priced and route.price_source != PriceSource.CATALOG


@transaction.atomic
def sync(catalog: dict[str, dict], overwrite: bool = False) -> Outcome:
    """Fill the prices of routes the catalog knows; prices set by hand stay unless `overwrite`."""
    outcome = Outcome([], [], [], [])
    rows = ModelRoute.objects.select_related("provider").select_for_update(of=("self",))
    for route in rows.order_by("public_name", "priority", "id"):
        found = entry(catalog, route)
        if found is None:
            outcome.unknown.append(route)
            continue
        if _hand_set(route) and not overwrite:
            outcome.kept.append(route)
            continue
        key, item = found
        try:
            prices = {field: per_million(item.get(name), f"{key}.{name}") for name, field in FIELDS.items()}
        except ValueError as error:
            outcome.refused.append((route, str(error)))
            continue
        for field in ("input_price_per_mtok", "output_price_per_mtok"):
            prices[field] = prices[field] if prices[field] is not None else Decimal(0)
        for field, price in prices.items():
            setattr(route, field, price)
        route.price_source = PriceSource.CATALOG
        route.save()
        outcome.priced.append((route, Entry(key, prices)))
    return outcome
