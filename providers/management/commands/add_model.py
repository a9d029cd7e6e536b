"""python manage.py add_model PUBLIC_NAME --provider NAME [--upstream-model] [--priority] [--weight] [--mode] [--*-price]"""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from providers import services
from providers.models import ModelRoute
from infra.errors import error_text


class Command(BaseCommand):
    help = (
        "Route a public model name to a provider, or update that route if PUBLIC_NAME and --provider exist "
        "(options left out keep their current values). Several providers under one PUBLIC_NAME form a "
        "fallback chain, lowest --priority first; --weight shares traffic among routes of equal priority."
    )

    def add_arguments(self, parser):
        parser.add_argument("public_name", metavar="PUBLIC_NAME", help="The model name clients send, e.g. gpt-4o-mini.")
        parser.add_argument("--provider", required=True, metavar="NAME", help="A provider made with add_provider.")
        parser.add_argument(
            "--upstream-model", metavar="NAME", help="The provider's model or Azure deployment name (default: PUBLIC_NAME)."
        )
        parser.add_argument("--priority", type=int, metavar="N", help="Fallback order, lowest first (default 0).")
        parser.add_argument(
            "--weight", type=int, metavar="N", help="Traffic share among equal priorities, at least 1 (default 1)."
        )
        parser.add_argument(
            "--mode", choices=ModelRoute.Mode.values, metavar="chat|embeddings",
            help="Which endpoints the route serves: chat (/v1/chat/completions) or embeddings (/v1/embeddings); "
                 "default chat. Embeddings need a provider of kind openai, azure, ollama or mock.",
        )
        parser.add_argument("--input-price", metavar="USD_PER_1M", help="USD per 1M prompt tokens, e.g. 0.15 (default 0).")
        parser.add_argument(
            "--output-price", metavar="USD_PER_1M", help="USD per 1M completion tokens, e.g. 0.60 (default 0)."
        )
        parser.add_argument(
            "--cached-input-price", metavar="USD_PER_1M",
            help="USD per 1M prompt tokens read from the provider's cache (default: the input price).",
        )
        parser.add_argument(
            "--cache-write-price", metavar="USD_PER_1M",
            help="USD per 1M prompt tokens written to the provider's cache (default: the input price).",
        )

    def handle(self, *args, **options):
        try:
            spec = services.RouteSpec(
                public_name=options["public_name"],
                provider=options["provider"],
                upstream_model=options["upstream_model"],
                priority=options["priority"],
                weight=options["weight"],
                input_price_per_mtok=services.parse_price(options["input_price"], "--input-price"),
                output_price_per_mtok=services.parse_price(options["output_price"], "--output-price"),
                cached_input_price_per_mtok=services.parse_price(options["cached_input_price"], "--cached-input-price"),
                cache_write_price_per_mtok=services.parse_price(options["cache_write_price"], "--cache-write-price"),
                mode=options["mode"],
            )
            route, created = services.add_model(spec)
        except ValidationError as error:
            raise CommandError(error_text(error)) from None
        verb = "Added" if created else "Updated"
        self.stdout.write(
            f"{verb} route {route.public_name} → {route.provider.name}:{route.upstream_model} "
            f"({route.mode}, priority {route.priority}, weight {route.weight}, "
            f"${route.input_price_per_mtok.normalize():f} in / "
            f"${route.output_price_per_mtok.normalize():f} out per 1M tokens{_cache_prices(route)})."
        )
        if not route.priced:
            self.stderr.write(
                f"Warning: route {route.public_name} → {route.provider.name} has no prices: its requests are billed "
                f"$0 (counted in gateway_unpriced_requests_total). Set --input-price and --output-price, or run "
                f"sync_prices --file with a price catalog."
            )


def _cache_prices(route) -> str:
    parts = [f"${price.normalize():f} {what}" for what, price in (
        ("cached in", route.cached_input_price_per_mtok), ("cache write", route.cache_write_price_per_mtok),
    ) if price is not None]
    return "".join(f", {part}" for part in parts)
