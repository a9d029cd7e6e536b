"""python manage.py bootstrap: demo data for `make run` (admin user, tenant demo, mock provider, one key)."""
import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from providers import services as provider_services
from tenants import services

CREDENTIALS_FILE = settings.BASE_DIR / ".demo-credentials"


class Command(BaseCommand):
    help = (
        "Create, if missing, the superuser `admin` (password from DEMO_ADMIN_PASSWORD, else generated), "
        "the tenant `demo`, the `mock` provider with mock-small, mock-large and the embeddings model mock-embed, and one demo key. "
        "Safe to run again: existing rows are left alone. The first run prints the admin password and the key "
        "and saves them in .demo-credentials (mode 0600), a demo-only file that later runs print again; "
        "it also keeps a generated DJANGO_SECRET_KEY there for `make run`. "
        "Do not keep it on a shared or production machine."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--credentials-file",
            type=Path,
            default=CREDENTIALS_FILE,
            help=f"Where to keep the demo credentials (default {CREDENTIALS_FILE}).",
        )

    def handle(self, *args, **options):
        path = options["credentials_file"]
        services.ensure_demo_secret(path)
        provider_services.ensure_mock_provider()
        created = services.ensure_demo_tenant(os.environ.get("DEMO_ADMIN_PASSWORD") or None)
        port = os.environ.get("PORT", "8000")
        self.stdout.write("Demo data ready: tenant demo, provider mock (models mock-small, mock-large; embeddings mock-embed).")
        self.stdout.write(f"Admin: http://127.0.0.1:{port}/admin/ (user {services.ADMIN_USERNAME})")
        if created.admin_password or created.demo_key:
            values = services.save_credentials(path, created)
            self.stdout.write(f"Saved to {path} (demo only, mode 0600).")
        else:
            values = services.read_credentials(path)
            self.stdout.write("The admin user and the demo key already exist.")
            self.stdout.write(f"Make a new key with: python manage.py create_api_key {services.DEMO_TENANT}")
            if not (values.get("ADMIN_PASSWORD") or values.get("DEMO_API_KEY")):
                return
            self.stdout.write(f"Demo credentials from {path} (a demo-only file):")
        if values.get("ADMIN_PASSWORD"):
            self.stdout.write(f"Admin password: {values['ADMIN_PASSWORD']}")
        if values.get("DEMO_API_KEY"):
            self.stdout.write("Demo API key (send it as X-API-Key or Authorization: Bearer):")
            self.stdout.write(values["DEMO_API_KEY"])
