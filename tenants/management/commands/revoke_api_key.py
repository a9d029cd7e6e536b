"""python manage.py revoke_api_key KEY_PREFIX"""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants import services


class Command(BaseCommand):
    help = "Revoke a key at once (within seconds on every replica). Revoking a revoked key changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("prefix", metavar="KEY_PREFIX", help="The key's first 12 characters, as the admin shows them.")

    def handle(self, *args, **options):
        try:
            key = services.get_key(options["prefix"])
        except ValidationError as error:
            raise CommandError(services.error_text(error)) from None
        if services.revoke_key(key):
            self.stdout.write(f"Revoked key {key.prefix} of tenant {key.tenant.slug}.")
        else:
            self.stdout.write(f"Key {key.prefix} was already revoked at {key.revoked_at:%Y-%m-%d %H:%M:%S} UTC.")
