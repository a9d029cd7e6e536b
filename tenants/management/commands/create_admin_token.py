"""python manage.py create_admin_token USERNAME [--expires-days N]"""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants import admintokens, services


class Command(BaseCommand):
    help = (
        "Create a token for the management API (/v1/admin/) acting as USERNAME, with that user's permissions. "
        "The raw token is printed once, as the last line; only its hash is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="The Django user the token acts as.")
        parser.add_argument("--expires-days", type=int, metavar="N", help="The token stops working after N days (default: never).")

    def handle(self, *args, **options):
        try:
            issued = admintokens.issue(options["username"], expires_days=options["expires_days"])
        except ValidationError as error:
            raise CommandError(services.error_text(error)) from None
        token = issued.token
        expires = f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "never expires"
        self.stdout.write(f"Created an admin token for user {token.user.get_username()}; it {expires}.")
        self.stdout.write(f"Prefix (not secret): {token.prefix}")
        self.stdout.write("Send it as Authorization: Bearer <token>. The token, shown only this once:")
        self.stdout.write(issued.raw)
