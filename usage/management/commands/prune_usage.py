"""python manage.py prune_usage --before YYYY-MM [--export FILE]"""
from django.core.management.base import BaseCommand, CommandError

from usage import pruning


class Command(BaseCommand):
    help = ("Drop every ledger row before a month (whole monthly partitions on PostgreSQL), after writing them "
            "to CSV with --export. The rollups keep their sums: reports over those months stay whole.")

    def add_arguments(self, parser):
        parser.add_argument("--before", required=True, metavar="YYYY-MM",
                            help="First month to keep (UTC); at most the current month.")
        parser.add_argument("--export", metavar="FILE", help="Write the rows to drop to this CSV file first.")

    def handle(self, *args, **options):
        try:
            cut = pruning.parse_month(options["before"])
            done = pruning.prune(cut, options["export"])
        except (ValueError, pruning.PruneRefused) as error:
            raise CommandError(str(error)) from None
        except OSError as error:
            raise CommandError(f"Cannot write {options['export']}: {error.strerror}; nothing was pruned.") from None
        if not done.months:
            self.stdout.write(f"No ledger rows before {cut:%Y-%m}.")
            return
        months = ", ".join(f"{m:%Y-%m}" for m in done.months)
        where = f", exported to {done.exported_to}" if done.exported_to else " (not exported)"
        self.stdout.write(f"Pruned {done.rows} ledger rows of {months}{where}; their rollups stay.")
