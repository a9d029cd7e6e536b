"""Provider and route upserts for management commands and the admin; bad input raises ValidationError."""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction

from .models import ModelRoute, PriceSource, Provider, api_key_env_problem

MOCK_PROVIDER = "mock"
MOCK_ROUTES = (
    ("mock-small", Decimal("0.15"), Decimal("0.60"), ModelRoute.Mode.CHAT),
    ("mock-large", Decimal("2.50"), Decimal("10.00"), ModelRoute.Mode.CHAT),
    ("mock-embed", Decimal("0.02"), Decimal("0"), ModelRoute.Mode.EMBEDDINGS),
)


def check_base_url(kind: str, base_url: str) -> None:
    """http(s) with a host; hosts without a dot (docker names like `ollama`) are fine."""
    if not base_url:
        if kind != Provider.Kind.MOCK:
            raise ValidationError(f"A base URL is required for {kind} providers (--base-url).")
        return
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in base_url):
        raise ValidationError(f"Base URL must be an http:// or https:// URL with a host, got {base_url!r}.")


def check_provider(kind: str, base_url: str, api_key_env: str, options: dict) -> None:
    """Rules shared by add_provider, the admin form and the management API (Provider.clean holds the key rule too)."""
    if kind not in Provider.Kind.values:
        raise ValidationError(f"Unknown provider kind {kind!r}; choose one of {', '.join(Provider.Kind.values)}.")
    check_base_url(kind, base_url)
    if problem := api_key_env_problem(api_key_env):
        raise ValidationError({"api_key_env": problem})
    if kind == Provider.Kind.AZURE and not options.get("api_version"):
        raise ValidationError("Azure providers need an API version (--api-version, e.g. 2024-10-21).")


@dataclass(frozen=True)
class ProviderSpec:
    """None means: keep the current value on update, the model default on create."""

    name: str
    kind: str
    base_url: str | None = None
    api_key_env: str | None = None
    timeout_seconds: float | None = None
    api_version: str | None = None


@transaction.atomic
def add_provider(spec: ProviderSpec) -> tuple[Provider, bool]:
    """Create the provider, or update the one with that name; returns (provider, created)."""
    if spec.timeout_seconds is not None and not (math.isfinite(spec.timeout_seconds) and spec.timeout_seconds > 0):
        raise ValidationError(f"Timeout must be a positive number of seconds, got {spec.timeout_seconds}.")
    provider = Provider.objects.select_for_update().filter(name=spec.name).first()
    created = provider is None
    provider = provider or Provider(name=spec.name)
    provider.kind = spec.kind
    if spec.base_url is not None:
        provider.base_url = spec.base_url.strip()
    if spec.api_key_env is not None:
        provider.api_key_env = spec.api_key_env.strip()
    if spec.timeout_seconds is not None:
        provider.timeout_seconds = spec.timeout_seconds
    if spec.api_version is not None:
        provider.options = {**(provider.options or {}), "api_version": spec.api_version.strip()}
    check_provider(provider.kind, provider.base_url, provider.api_key_env, provider.options or {})
    provider.full_clean(exclude=["base_url"])  # checked above: URLField would refuse hosts like `ollama`
    provider.save()
    return provider, created


def parse_price(text: str | None, what: str) -> Decimal | None:
    """USD per 1M tokens: a finite decimal of at least 0; None stays None."""
    if text is None:
        return None
    try:
        value = Decimal(text.strip().lstrip("$"))
    except InvalidOperation:
        raise ValidationError(f"{what} must be a decimal number of USD per 1M tokens, got {text!r}.") from None
    if not value.is_finite() or value < 0:
        raise ValidationError(f"{what} must be a finite price of at least 0, got {text!r}.")
    return value


@dataclass(frozen=True)
class RouteSpec:
    """None means: keep the current value on update, the default on create."""

    public_name: str
    provider: str
    upstream_model: str | None = None
    priority: int | None = None
    weight: int | None = None
    input_price_per_mtok: Decimal | None = None
    output_price_per_mtok: Decimal | None = None
    cached_input_price_per_mtok: Decimal | None = None
    cache_write_price_per_mtok: Decimal | None = None
    mode: str | None = None  # chat | embeddings
    cleared_prices: tuple[str, ...] = ()  # cache prices to empty, so their tokens bill at the input price


CACHE_PRICE_FIELDS = ("cached_input_price_per_mtok", "cache_write_price_per_mtok")
PRICE_FIELDS = ("input_price_per_mtok", "output_price_per_mtok", *CACHE_PRICE_FIELDS)


@transaction.atomic
def add_model(spec: RouteSpec) -> tuple[ModelRoute, bool]:
    """Create the route for (public name, provider), or update it; returns (route, created)."""
    public_name = spec.public_name.strip()
    if not public_name or any(c.isspace() for c in public_name):
        raise ValidationError(f"Model name must be non-empty and without spaces, got {spec.public_name!r}.")
    if spec.weight is not None and spec.weight < 1:
        raise ValidationError(f"Weight must be at least 1 (disable a route instead of weighting it 0), got {spec.weight}.")
    if spec.mode is not None and spec.mode not in ModelRoute.Mode.values:
        raise ValidationError(f"Mode must be one of {', '.join(ModelRoute.Mode.values)}, got {spec.mode!r}.")
    if unknown := set(spec.cleared_prices) - set(CACHE_PRICE_FIELDS):
        raise ValidationError(f"Only the cache prices can be cleared, not {', '.join(sorted(unknown))}.")
    provider = Provider.objects.filter(name=spec.provider).first()
    if provider is None:
        raise ValidationError(f"No provider named {spec.provider!r}. Add it first with: python manage.py add_provider")
    route = ModelRoute.objects.select_for_update().filter(public_name=public_name, provider=provider).first()
    created = route is None
    route = route or ModelRoute(public_name=public_name, provider=provider, upstream_model=public_name)
    updates = {
        "upstream_model": spec.upstream_model.strip() if spec.upstream_model is not None else None,
        "priority": spec.priority,
        "weight": spec.weight,
        **{name: getattr(spec, name) for name in PRICE_FIELDS},
        "mode": spec.mode,
    }
    for field, value in updates.items():
        if value is not None:
            setattr(route, field, value)
    for name in spec.cleared_prices:
        setattr(route, name, None)
    if spec.cleared_prices or any(getattr(spec, name) is not None for name in PRICE_FIELDS):
        route.price_source = PriceSource.MANUAL  # sync_prices leaves it alone unless --overwrite
    route.full_clean()
    route.save()
    return route, created


@transaction.atomic
def ensure_mock_provider() -> Provider:
    """The built-in mock provider and its demo routes; existing rows are left as the operator set them."""
    provider, _ = Provider.objects.get_or_create(name=MOCK_PROVIDER, defaults={"kind": Provider.Kind.MOCK})
    for name, input_price, output_price, mode in MOCK_ROUTES:
        ModelRoute.objects.get_or_create(
            public_name=name,
            provider=provider,
            defaults={"upstream_model": name, "input_price_per_mtok": input_price, "output_price_per_mtok": output_price,
                      "mode": mode, "price_source": PriceSource.MANUAL},
        )
    return provider
