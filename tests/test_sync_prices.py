"""sync_prices fills route prices from a LiteLLM-format catalog, exactly, and leaves hand-set prices alone."""
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from providers.models import ModelRoute, Provider

pytestmark = pytest.mark.django_db

CATALOG = Path(__file__).parent / "data" / "model_prices.json"


@pytest.fixture
def providers(db):
    return {
        kind: Provider.objects.create(name=kind, kind=kind, base_url=url, options=options)
        for kind, url, options in (
            ("openai", "https://api.openai.com/v1", {}),
            ("azure", "https://acme.openai.azure.com", {"api_version": "2024-10-21"}),
            ("anthropic", "https://api.anthropic.com", {}),
        )
    }


def route(provider, public, upstream, **prices) -> ModelRoute:
    return ModelRoute.objects.create(public_name=public, provider=provider, upstream_model=upstream, **prices)


def sync(*args, path=CATALOG) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("sync_prices", "--file", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def prices(public: str) -> tuple:
    r = ModelRoute.objects.get(public_name=public)
    return (r.input_price_per_mtok, r.output_price_per_mtok, r.cached_input_price_per_mtok, r.cache_write_price_per_mtok,
            r.price_source)


def test_it_converts_per_token_prices_exactly_to_per_million(providers):
    route(providers["openai"], "mini", "gpt-4o-mini")
    route(providers["anthropic"], "haiku", "claude-3-5-haiku-20241022")
    out, _ = sync()
    # 1.5e-07, 6e-07, 7.5e-08 per token; no cache-write price in the catalog: the input price applies.
    assert prices("mini") == (Decimal("0.15"), Decimal("0.6"), Decimal("0.075"), None, "catalog")
    assert prices("haiku") == (Decimal("0.8"), Decimal("4"), Decimal("0.08"), Decimal("1"), "catalog")
    assert "Priced mini → openai:gpt-4o-mini from gpt-4o-mini" in out


def test_an_azure_route_takes_the_azure_entry_first(providers):
    route(providers["azure"], "gpt4o", "gpt-4o")
    sync()
    assert prices("gpt4o")[:3] == (Decimal("2.5"), Decimal("10"), Decimal("1.25"))


def test_hand_set_prices_stay_unless_overwrite(providers):
    call_command("add_model", "mini", "--provider", "openai", "--upstream-model", "gpt-4o-mini",
                 "--input-price", "0.2", "--output-price", "0.7", stdout=StringIO())
    out, _ = sync()
    assert prices("mini") == (Decimal("0.2"), Decimal("0.7"), None, None, "manual")
    assert "Kept the hand-set prices of mini" in out
    sync("--overwrite")
    assert prices("mini") == (Decimal("0.15"), Decimal("0.6"), Decimal("0.075"), None, "catalog")


def test_prices_set_before_the_catalog_count_as_hand_set(providers):
    route(providers["openai"], "mini", "gpt-4o-mini", input_price_per_mtok=Decimal("9"))
    sync()
    assert prices("mini")[0] == Decimal("9")


def test_catalog_prices_are_refreshed_by_the_next_sync(providers, tmp_path):
    route(providers["openai"], "mini", "gpt-4o-mini")
    sync()
    newer = tmp_path / "prices.json"
    newer.write_text('{"gpt-4o-mini": {"input_cost_per_token": 1e-07, "output_cost_per_token": 4e-07}}')
    sync(path=newer)
    assert prices("mini") == (Decimal("0.1"), Decimal("0.4"), None, None, "catalog")


def test_routes_the_catalog_does_not_know_are_listed_and_untouched(providers):
    route(providers["openai"], "house", "our-finetune")
    out, _ = sync()
    assert "Not in the catalog: house → openai:our-finetune." in out
    assert prices("house") == (Decimal(0), Decimal(0), None, None, "")


def test_a_price_finer_than_the_columns_hold_is_refused_not_rounded(providers):
    route(providers["openai"], "fine", "finer-than-a-micro")
    route(providers["openai"], "mini", "gpt-4o-mini")
    with pytest.raises(CommandError, match="could not be priced exactly"):
        sync()
    assert prices("fine") == (Decimal(0), Decimal(0), None, None, "")
    assert prices("mini")[0] == Decimal("0.15")  # the others are priced


@pytest.mark.parametrize("content, message", [
    ("not json", "is not JSON"),
    ("[1, 2]", "expected a JSON object"),
])
def test_a_bad_file_is_a_clear_error(providers, tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(CommandError, match=message):
        sync(path=bad)


def test_a_missing_file_is_a_clear_error(providers, tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        sync(path=tmp_path / "nope.json")
