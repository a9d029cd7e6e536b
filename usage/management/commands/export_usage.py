"""python manage.py export_usage [--tenant SLUG] [--start DATE] [--end DATE] [--output FILE|-]"""
import os
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from tenants.models import Tenant
from usage import exports, reports


def _date(raw: str | None, option: str) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise CommandError(f"{option} must be a date as YYYY-MM-DD (UTC), not {raw!r}.") from None


class Command(BaseCommand):
    help = "Write the raw usage ledger as CSV (UTC days, both ends inclusive; streamed, any size)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", metavar="SLUG", help="Only this tenant's rows (default: every tenant).")
        parser.add_argument("--start", metavar="DATE", help="First day, YYYY-MM-DD UTC (default: the oldest row).")
        parser.add_argument("--end", metavar="DATE", help="Last day, YYYY-MM-DD UTC (default: the newest row).")
        parser.add_argument("--output", metavar="FILE", default="-", help="File to write, or - for standard output (default).")

    def handle(self, *args, **options):
        start, end = _date(options["start"], "--start"), _date(options["end"], "--end")
        if start and end and start > end:
            raise CommandError("--start must not be after --end.")
        tenant_id = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant with slug {options['tenant']!r}.")
            tenant_id = tenant.pk
        lines = exports.ledger_csv(reports.ledger(start, end, tenant_id))
        if options["output"] == "-":
            for line in lines:
                self.stdout.write(line, ending="")
        else:
            rows = self._write_file(options["output"], lines)
            self.stdout.write(f"Wrote {rows} usage rows to {options['output']}.")

    def _write_file(self, path: str, lines) -> int:
        """Write through a temporary name, so a failed export never leaves a file that looks complete."""
        partial = f"{path}.partial"
        rows = -1  # the header is not a row
        try:
            with open(partial, "w", newline="", encoding="utf-8") as out:
                for rows, line in enumerate(lines):
                    out.write(line)
            os.replace(partial, path)
        except OSError as error:
            raise CommandError(f"Cannot write {path}: {error.strerror}.") from None
        finally:
            if os.path.exists(partial):
                os.remove(partial)
        return rows
