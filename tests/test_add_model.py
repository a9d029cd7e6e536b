"""add_model routes a public name to a provider; the same name and provider again updates that row."""
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from providers.models import ModelRoute, Provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def providers(db):
    Provider.objects.create(name="openai", kind="openai", base_url="https://api.openai.com/v1")
    Provider.objects.create(name="azure", kind="azure", base_url="https://acme.openai.azure.com", options={"api_version": "x"})


def add(*args) -> str:
    out = StringIO()
    call_command("add_model", *args, stdout=out)
    return out.getvalue()


def test_it_creates_a_route_with_defaults(providers):
    output = add("gpt-4o-mini", "--provider", "openai")
    route = ModelRoute.objects.get()
    assert (route.public_name, route.provider.name, route.upstream_model) == ("gpt-4o-mini", "openai", "gpt-4o-mini")
    assert (route.priority, route.weight, route.enabled) == (0, 1, True)
    assert (route.input_price_per_mtok, route.output_price_per_mtok) == (0, 0)
    assert "Added route gpt-4o-mini" in output


def test_it_stores_exact_decimal_prices(providers):
    add("gpt-4o-mini", "--provider", "openai", "--input-price", "0.15", "--output-price", "0.60", "--priority", "2", "--weight", "3")
    route = ModelRoute.objects.get()
    assert (route.input_price_per_mtok, route.output_price_per_mtok) == (Decimal("0.15"), Decimal("0.6"))
    assert (route.priority, route.weight) == (2, 3)


def test_running_it_again_updates_the_row(providers):
    add("gpt-4o-mini", "--provider", "openai", "--input-price", "0.15", "--output-price", "0.60")
    output = add("gpt-4o-mini", "--provider", "openai", "--upstream-model", "gpt-4o-mini-2024-07-18", "--priority", "1")
    route = ModelRoute.objects.get()
    assert (route.upstream_model, route.priority) == ("gpt-4o-mini-2024-07-18", 1)
    assert route.input_price_per_mtok == Decimal("0.15")  # left out: kept
    assert "Updated route" in output


def test_another_provider_adds_a_fallback_row(providers):
    add("gpt-4o-mini", "--provider", "openai", "--priority", "0")
    add("gpt-4o-mini", "--provider", "azure", "--upstream-model", "my-deployment", "--priority", "1")
    chain = list(ModelRoute.objects.filter(public_name="gpt-4o-mini").order_by("priority").values_list("provider__name", flat=True))
    assert chain == ["openai", "azure"]


def test_it_rejects_an_unknown_provider(providers):
    with pytest.raises(CommandError, match="No provider named 'nope'"):
        add("gpt-4o-mini", "--provider", "nope")


@pytest.mark.parametrize("price", ["abc", "-1", "NaN", "Infinity", "0.1234567"])
@pytest.mark.parametrize("flag", ["--input-price", "--output-price"])
def test_it_rejects_a_bad_price(providers, flag, price):
    with pytest.raises(CommandError, match="price"):
        add("gpt-4o-mini", "--provider", "openai", flag, price)
    assert not ModelRoute.objects.exists()


@pytest.mark.parametrize("weight", ["0", "-2"])
def test_it_rejects_a_weight_below_one(providers, weight):
    with pytest.raises(CommandError, match="Weight"):
        add("gpt-4o-mini", "--provider", "openai", "--weight", weight)


def test_it_rejects_a_name_with_spaces(providers):
    with pytest.raises(CommandError, match="without spaces"):
        add("gpt 4o", "--provider", "openai")


def test_it_rejects_an_empty_upstream_model(providers):
    with pytest.raises(CommandError, match="upstream_model"):
        add("gpt-4o-mini", "--provider", "openai", "--upstream-model", " ")


def test_it_stores_cache_prices_and_marks_the_prices_hand_set(providers):
    output = add("claude", "--provider", "openai", "--input-price", "3", "--output-price", "15",
                 "--cached-input-price", "0.30", "--cache-write-price", "3.75")
    route = ModelRoute.objects.get()
    assert (route.cached_input_price_per_mtok, route.cache_write_price_per_mtok) == (Decimal("0.3"), Decimal("3.75"))
    assert route.price_source == "manual"
    assert "$0.3 cached in, $3.75 cache write" in output


def test_cache_prices_left_out_mean_the_input_price(providers):
    add("gpt-4o-mini", "--provider", "openai", "--input-price", "0.15")
    route = ModelRoute.objects.get()
    assert (route.cached_input_price_per_mtok, route.cache_write_price_per_mtok) == (None, None)


@pytest.mark.parametrize("flag", ["--cached-input-price", "--cache-write-price"])
def test_it_rejects_a_bad_cache_price(providers, flag):
    with pytest.raises(CommandError, match="price"):
        add("gpt-4o-mini", "--provider", "openai", flag, "-0.5")
    assert not ModelRoute.objects.exists()


def test_it_warns_on_stderr_about_a_route_without_prices(providers):
    err = StringIO()
    call_command("add_model", "gpt-4o-mini", "--provider", "openai", stdout=StringIO(), stderr=err)
    assert "has no prices" in err.getvalue() and "sync_prices" in err.getvalue()
    err = StringIO()
    call_command("add_model", "gpt-4o-mini", "--provider", "openai", "--input-price", "0", "--output-price", "0",
                 stdout=StringIO(), stderr=err)
    assert err.getvalue() == ""  # priced at $0 on purpose (a local model): no warning


def test_mode_embeddings_makes_an_embeddings_route(providers):
    output = add("text-embedding-3-small", "--provider", "openai", "--mode", "embeddings", "--input-price", "0.02")
    route = ModelRoute.objects.get()
    assert route.mode == "embeddings"
    assert "(embeddings," in output
    add("gpt-4o-mini", "--provider", "openai")
    assert ModelRoute.objects.get(public_name="gpt-4o-mini").mode == "chat"  # the default


def test_mode_is_kept_when_left_out_on_update(providers):
    add("embed", "--provider", "openai", "--mode", "embeddings")
    add("embed", "--provider", "openai", "--priority", "2")
    assert ModelRoute.objects.get().mode == "embeddings"


def test_it_rejects_an_unknown_mode(providers):
    with pytest.raises(CommandError, match="invalid choice: 'images'"):
        add("embed", "--provider", "openai", "--mode", "images")


def test_it_rejects_embeddings_on_a_kind_without_them(providers):
    Provider.objects.create(name="claude", kind="anthropic", base_url="https://api.anthropic.com")
    with pytest.raises(CommandError, match="anthropic providers serve no embeddings"):
        add("embed", "--provider", "claude", "--mode", "embeddings")
    assert not ModelRoute.objects.exists()


def test_one_public_name_has_one_mode(providers):
    add("embed", "--provider", "openai", "--mode", "embeddings")
    with pytest.raises(CommandError, match="one public name has one mode"):
        add("embed", "--provider", "azure", "--mode", "chat")
    assert ModelRoute.objects.count() == 1
