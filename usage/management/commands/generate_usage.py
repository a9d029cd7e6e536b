"""python manage.py generate_usage --rows N --days D --tenants T [--keys K] [--models M] [--run NAME]"""
import time
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from usage import generate


class Command(BaseCommand):
    help = ("Fill the ledger with synthetic rows (and their rollups) for benchmarks: N rows evenly over the last "
            "D days, T tenants gen-00000... with K keys each. PostgreSQL only. Never run it on a real ledger.")

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument("--days", type=int, default=90)
        parser.add_argument("--tenants", type=int, default=1000)
        parser.add_argument("--keys", type=int, default=2, help="Keys per tenant (default 2).")
        parser.add_argument("--models", type=int, default=5)
        parser.add_argument("--run", default="", help="Request id prefix (default: a random one).")

    def handle(self, *args, **options):
        shape = generate.Shape(options["rows"], options["days"], options["tenants"], options["keys"], options["models"])
        if min(shape.rows, shape.days, shape.tenants, shape.keys_per_tenant, shape.models) < 1:
            raise CommandError("--rows, --days, --tenants, --keys and --models must be at least 1.")
        if connection.vendor != "postgresql":
            raise CommandError("generate_usage needs PostgreSQL (DATABASE_URL=postgres://...).")
        run = options["run"] or f"gen-{uuid.uuid4().hex[:8]}"
        began = time.monotonic()

        def progress(made: int) -> None:
            self.stdout.write(f"  {made:,} rows ({made / (time.monotonic() - began):,.0f} rows/s)")

        made = generate.generate(shape, run, progress=progress)
        self.stdout.write(f"Generated {made:,} ledger rows in {time.monotonic() - began:.1f} s (run {run}).")
