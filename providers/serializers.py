"""JSON shapes of providers and routes in the management API; a provider shows the NAME of its key's variable, never a secret."""
from __future__ import annotations

from rest_framework import serializers

from infra import api

from . import services
from .models import ModelRoute, Provider

PRICE = {"max_digits": 14, "decimal_places": 6, "required": False, "help_text": "USD per 1M tokens, a decimal string."}
# null clears a cache class's own price: its tokens are then billed at the input price (usage/cost.py, Prices.of).
CACHE_PRICE = {**PRICE, "allow_null": True,
               "help_text": "USD per 1M tokens, a decimal string; null (or never set): the input price."}
MODES = ", ".join(ModelRoute.Mode.values)


class ProviderSerializer(serializers.ModelSerializer):
    name = api.SlugField(max_length=64, help_text="Unique; POST with an existing name updates that provider.")
    kind = serializers.ChoiceField(choices=Provider.Kind.choices)
    base_url = api.CharField(max_length=500, required=False, allow_blank=True)
    api_key_env = api.CharField(max_length=128, required=False, allow_blank=True,
                                help_text="Name of the environment variable holding the key (never the key).")
    timeout_seconds = api.FloatField(min_value=0.001, max_value=86_400, required=False)
    api_version = api.CharField(max_length=64, required=False, source="options.api_version", help_text="Azure only.")

    class Meta:
        model = Provider
        fields = ["name", "kind", "base_url", "api_key_env", "timeout_seconds", "api_version", "enabled", "created_at",
                  "updated_at"]
        read_only_fields = ["enabled", "created_at", "updated_at"]
        validators = []  # POST with an existing name updates, as the command does

    def create(self, validated):
        version = validated.pop("options", {}).get("api_version")
        provider, self.created = services.add_provider(services.ProviderSpec(**validated, api_version=version))
        return provider


class RouteSerializer(serializers.ModelSerializer):
    public_name = api.CharField(max_length=200, help_text="The model name clients ask for.")
    provider = api.SlugField(max_length=64, source="provider.name", help_text="The provider's name.")
    upstream_model = api.CharField(max_length=200, required=False, help_text="Default: the public name.")
    priority = api.IntegerField(min_value=-api.MAX_INT, max_value=api.MAX_INT, required=False, help_text="Lowest first.")
    weight = api.IntegerField(min_value=1, max_value=api.MAX_INT, required=False)
    input_price_per_mtok = api.MoneyField(**PRICE)
    output_price_per_mtok = api.MoneyField(**PRICE)
    cached_input_price_per_mtok = api.MoneyField(**CACHE_PRICE)
    cache_write_price_per_mtok = api.MoneyField(**CACHE_PRICE)
    mode = serializers.ChoiceField(
        choices=ModelRoute.Mode.choices, required=False,
        help_text="chat (/v1/chat/completions, /v1/messages, /v1/responses) or embeddings (/v1/embeddings); default chat.",
        error_messages={"invalid_choice": f"Mode must be one of {MODES}, got \"{{input}}\"."},
    )

    class Meta:
        model = ModelRoute
        fields = ["public_name", "provider", "upstream_model", "mode", "priority", "weight", "enabled",
                  "input_price_per_mtok", "output_price_per_mtok", "cached_input_price_per_mtok",
                  "cache_write_price_per_mtok", "price_source", "created_at", "updated_at"]
        read_only_fields = ["enabled", "price_source", "created_at", "updated_at"]
        validators = []  # POST with an existing name updates, as the command does

    def create(self, validated):
        provider = validated.pop("provider")["name"]
        # A cache price sent as null is cleared; one left out keeps its value (RouteSpec's None).
        cleared = tuple(name for name in services.CACHE_PRICE_FIELDS if name in validated and validated[name] is None)
        route, self.created = services.add_model(services.RouteSpec(provider=provider, cleared_prices=cleared, **validated))
        return route
