"""python manage.py rotate_api_key KEY_PREFIX [--grace-minutes M]"""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants import services


class Command(BaseCommand):
    help = (
        "Replace a key with a new one. The old key keeps working for --grace-minutes "
        f"(default {services.DEFAULT_GRACE_MINUTES}; 0 stops it at once). The new raw key is printed once, as the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("prefix", metavar="KEY_PREFIX", help="The key's first 12 characters, as the admin shows them.")
        parser.add_argument(
            "--grace-minutes",
            type=int,
            default=services.DEFAULT_GRACE_MINUTES,
            metavar="M",
            help=f"Minutes the old key keeps working (default {services.DEFAULT_GRACE_MINUTES}).",
        )

    def handle(self, *args, **options):
        try:
            old = services.get_key(options["prefix"])
            issued = services.rotate_key(old, options["grace_minutes"])
        except ValidationError as error:
            raise CommandError(services.error_text(error)) from None
        old.refresh_from_db()
        until = f"{old.grace_until:%Y-%m-%d %H:%M:%S} UTC"
        self.stdout.write(f"Rotated key {old.prefix} of tenant {old.tenant.slug}; the old key works until {until}.")
        self.stdout.write(f"New key prefix: {issued.key.prefix}")
        self.stdout.write("The new key, shown only this once:")
        self.stdout.write(issued.raw)
