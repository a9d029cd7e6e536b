"""Upstream providers and the routes that map public model names onto them."""
import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

# A provider reads its key from a variable named *_API_KEY and from no other: a staff user who may
# edit providers must not aim one at the gateway's own secrets (DATABASE_URL, DJANGO_SECRET_KEY...)
# and receive the value as a bearer token at a URL of their choosing (../shared/INTERFACE.md).
API_KEY_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*_API_KEY$")


def api_key_env_problem(name: str) -> str | None:
    """Why a provider may not read its key from the variable `name`, or None when it may ("" needs no key)."""
    if not name or API_KEY_ENV.match(name):
        return None
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
        return (f"API key env must be the NAME of an environment variable (e.g. OPENAI_API_KEY), "
                f"not the key itself; got {name[:4]!r}…")
    return f"API key env must name a variable ending in _API_KEY (e.g. OPENAI_API_KEY); {name!r} is refused."


class Provider(models.Model):
    class Kind(models.TextChoices):
        OPENAI = "openai", "OpenAI or OpenAI-compatible"
        AZURE = "azure", "Azure OpenAI"
        ANTHROPIC = "anthropic", "Anthropic"
        OLLAMA = "ollama", "Ollama"
        MOCK = "mock", "Built-in mock"

    name = models.SlugField(max_length=64)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    base_url = models.URLField(max_length=500, blank=True)
    api_key_env = models.CharField(
        max_length=128, blank=True, help_text="Name of the environment variable holding the secret (never the secret)."
    )
    timeout_seconds = models.FloatField(default=60.0)
    enabled = models.BooleanField(default=True)
    options = models.JSONField(default=dict, blank=True, help_text='Kind-specific, e.g. {"api_version": "2024-10-21"}.')
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # add_model --provider NAME and the x-gateway-provider header name providers.
            models.UniqueConstraint(fields=["name"], name="provider_name_unique"),
            models.CheckConstraint(condition=Q(timeout_seconds__gt=0), name="provider_timeout_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        if problem := api_key_env_problem(self.api_key_env):
            raise ValidationError({"api_key_env": problem})


class PriceSource(models.TextChoices):
    UNSET = "", "not set"
    MANUAL = "manual", "set by hand"
    CATALOG = "catalog", "price catalog"


class ModelRoute(models.Model):
    class Mode(models.TextChoices):
        CHAT = "chat", "Chat"
        EMBEDDINGS = "embeddings", "Embeddings"

    # Provider kinds that answer embeddings (providers/adapters: build_embeddings_request).
    EMBEDDINGS_KINDS = ("openai", "azure", "ollama", "mock")

    public_name = models.CharField(max_length=200, help_text="The model name clients ask for.")
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="routes")
    upstream_model = models.CharField(max_length=200, help_text="The provider's model (or Azure deployment) name.")
    priority = models.IntegerField(default=0, help_text="Fallback order: lowest first.")
    weight = models.PositiveIntegerField(default=1, help_text="Share of traffic among routes of equal priority.")
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.CHAT,
                            help_text="Which endpoints the route serves; every route of one public name has the same mode.")
    enabled = models.BooleanField(default=True)
    input_price_per_mtok = models.DecimalField(max_digits=14, decimal_places=6, default=0, help_text="USD per 1M prompt tokens.")
    output_price_per_mtok = models.DecimalField(
        max_digits=14, decimal_places=6, default=0, help_text="USD per 1M completion tokens."
    )
    cached_input_price_per_mtok = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True,
        help_text="USD per 1M prompt tokens read from the provider's cache; empty: the input price.",
    )
    cache_write_price_per_mtok = models.DecimalField(
        max_digits=14, decimal_places=6, null=True, blank=True,
        help_text="USD per 1M prompt tokens written to the provider's cache; empty: the input price.",
    )
    price_source = models.CharField(
        max_length=16, choices=PriceSource.choices, default=PriceSource.UNSET, blank=True,
        help_text="Who set the prices: sync_prices refreshes catalog prices and leaves manual ones alone.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["public_name", "priority"]
        constraints = [
            # add_model is idempotent per public name and provider.
            models.UniqueConstraint(fields=["public_name", "provider"], name="route_public_provider_unique"),
            models.CheckConstraint(
                condition=Q(input_price_per_mtok__gte=0) & Q(output_price_per_mtok__gte=0), name="route_prices_non_negative"
            ),
            models.CheckConstraint(
                condition=(Q(cached_input_price_per_mtok__isnull=True) | Q(cached_input_price_per_mtok__gte=0))
                & (Q(cache_write_price_per_mtok__isnull=True) | Q(cache_write_price_per_mtok__gte=0)),
                name="route_cache_prices_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_name} → {self.provider_id}:{self.upstream_model}"

    @property
    def priced(self) -> bool:
        """Whether anyone set this route's prices; an unset route with all prices 0 bills $0."""
        return self.price_source != PriceSource.UNSET or any(
            p for p in (self.input_price_per_mtok, self.output_price_per_mtok,
                        self.cached_input_price_per_mtok, self.cache_write_price_per_mtok)
        )

    def clean(self) -> None:
        """One mode per public name (the endpoint a client calls picks it), and a provider kind that serves it."""
        super().clean()
        if self.mode == self.Mode.EMBEDDINGS and self.provider_id is not None:
            kind = self.provider.kind
            if kind not in self.EMBEDDINGS_KINDS:
                raise ValidationError(
                    {"mode": f"{kind} providers serve no embeddings; use one of {', '.join(self.EMBEDDINGS_KINDS)}."})
        others = ModelRoute.objects.filter(public_name=self.public_name).exclude(pk=self.pk).exclude(mode=self.mode)
        other = others.first()
        if other is not None:
            raise ValidationError({"mode": f"The routes of {self.public_name!r} are {other.mode} routes; "
                                           f"one public name has one mode (use another name for {self.mode})."})
