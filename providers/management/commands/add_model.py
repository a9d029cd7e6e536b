"""python manage.py add_model PUBLIC_NAME --provider NAME [--upstream-model] [--priority] [--weight] [--mode] [--input/output-price]"""
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
            f"${route.output_price_per_mtok.normalize():f} out per 1M tokens)."
        )
