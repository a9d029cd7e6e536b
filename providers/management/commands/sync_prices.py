"""python manage.py sync_prices --file PATH [--overwrite]"""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from providers import catalog
from infra.errors import error_text


def _usd(price) -> str:
    return "input price" if price is None else f"${price:f}"


class Command(BaseCommand):
    help = (
        "Fill route prices from a price catalog in LiteLLM's model_prices_and_context_window.json format "
        "(per-token USD, converted exactly to USD per 1M tokens), matched on each route's upstream model. "
        "Prices set by hand (add_model, the admin) are kept unless --overwrite."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", required=True, metavar="PATH", help="The catalog file (JSON; no network is used).")
        parser.add_argument("--overwrite", action="store_true", help="Replace prices set by hand too.")

    def handle(self, *args, **options):
        try:
            outcome = catalog.sync(catalog.load(options["file"]), overwrite=options["overwrite"])
        except ValidationError as error:
            raise CommandError(error_text(error)) from None
        for route, entry in outcome.priced:
            p = entry.prices
            self.stdout.write(
                f"Priced {route.public_name} → {route.provider.name}:{route.upstream_model} from {entry.key}: "
                f"{_usd(p['input_price_per_mtok'])} in, {_usd(p['output_price_per_mtok'])} out, "
                f"{_usd(p['cached_input_price_per_mtok'])} cached in, {_usd(p['cache_write_price_per_mtok'])} cache write "
                f"per 1M tokens."
            )
        for route in outcome.kept:
            self.stdout.write(f"Kept the hand-set prices of {route.public_name} → {route.provider.name} (--overwrite replaces them).")
        for route in outcome.unknown:
            self.stdout.write(f"Not in the catalog: {route.public_name} → {route.provider.name}:{route.upstream_model}.")
        for route, reason in outcome.refused:
            self.stderr.write(f"Not priced {route.public_name} → {route.provider.name}: {reason}.")
        self.stdout.write(
            f"{len(outcome.priced)} priced, {len(outcome.kept)} kept, {len(outcome.unknown)} not in the catalog, "
            f"{len(outcome.refused)} refused."
        )
        if outcome.refused:
            raise CommandError(f"{len(outcome.refused)} route(s) could not be priced exactly from the catalog.")
