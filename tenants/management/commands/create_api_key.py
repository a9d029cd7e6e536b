"""python manage.py create_api_key SLUG [--name NAME] [--expires-days N]"""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants import services


class Command(BaseCommand):
    help = "Create an API key for a tenant. The raw key is printed once, as the last line; only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The tenant's slug.")
        parser.add_argument("--name", default="", help="A label for the key, e.g. the app that uses it.")
        parser.add_argument(
            "--expires-days", type=int, metavar="N", help="The key stops working after N days (default: never)."
        )

    def handle(self, *args, **options):
        try:
            issued = services.issue_key(options["slug"], name=options["name"], expires_days=options["expires_days"])
        except ValidationError as error:
            raise CommandError(services.error_text(error)) from None
        key = issued.key
        expires = f"expires {key.expires_at:%Y-%m-%d %H:%M} UTC" if key.expires_at else "never expires"
        self.stdout.write(f"Created a key for tenant {key.tenant.slug}; it {expires}.")
        self.stdout.write(f"Prefix (not secret; use it with rotate_api_key and revoke_api_key): {key.prefix}")
        self.stdout.write("The key, shown only this once:")
        self.stdout.write(issued.raw)
