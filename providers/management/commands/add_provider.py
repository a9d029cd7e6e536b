"""python manage.py add_provider NAME --kind KIND --base-url URL [--api-key-env VAR] [--timeout SECONDS] [--api-version V]"""
import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from providers import services
from providers.models import Provider
from infra.errors import error_text


class Command(BaseCommand):
    help = (
        "Add an upstream provider, or update the one with this NAME (options left out keep their current values). "
        "--base-url: for openai and ollama the URL up to and including /v1 (https://api.openai.com/v1); "
        "for anthropic the host (https://api.anthropic.com); for azure the resource URL "
        "(https://NAME.openai.azure.com) with --api-version; not needed for mock. "
        "The secret stays in the environment: --api-key-env names the variable that holds it."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Unique provider name, e.g. openai (shown in the x-gateway-provider header).")
        parser.add_argument("--kind", required=True, choices=Provider.Kind.values, help="The provider's API dialect.")
        parser.add_argument("--base-url", metavar="URL", help="Where the provider's API lives (see above).")
        parser.add_argument(
            "--api-key-env", metavar="VAR",
            help="Environment variable holding the API key; its name must end in _API_KEY, e.g. OPENAI_API_KEY.",
        )
        parser.add_argument("--timeout", type=float, metavar="SECONDS", help="Upstream timeout (default 60).")
        parser.add_argument("--api-version", metavar="V", help="Azure OpenAI api-version, e.g. 2024-10-21 (azure only).")

    def handle(self, *args, **options):
        spec = services.ProviderSpec(
            name=options["name"],
            kind=options["kind"],
            base_url=options["base_url"],
            api_key_env=options["api_key_env"],
            timeout_seconds=options["timeout"],
            api_version=options["api_version"],
        )
        try:
            provider, created = services.add_provider(spec)
        except ValidationError as error:
            raise CommandError(error_text(error)) from None
        verb = "Added" if created else "Updated"
        where = provider.base_url or "built in"
        timeout = f"timeout {provider.timeout_seconds:g}s"
        self.stdout.write(f"{verb} provider {provider.name} ({provider.kind}, {where}, {timeout}).")
        if provider.api_key_env and provider.api_key_env not in os.environ:
            self.stderr.write(
                f"Warning: {provider.api_key_env} is not set in this environment; the gateway needs it at run time."
            )
        self.stdout.write(f"Route models to it with: python manage.py add_model MODEL --provider {provider.name}")
