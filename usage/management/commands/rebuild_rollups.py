"""python manage.py rebuild_rollups [--check]"""
from django.core.management.base import BaseCommand, CommandError

from usage import rollups


class Command(BaseCommand):
    help = ("Recompute the usage rollups from the ledger (pruned months keep theirs). With --check, only compare "
            "and exit non-zero when they differ.")

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Report differences instead of rebuilding.")

    def handle(self, *args, **options):
        if not options["check"]:
            rollups.rebuild()
            self.stdout.write("Rollups rebuilt from the ledger.")
            return
        found = rollups.differences()
        for d in found:
            self.stdout.write(f"{d.table} {d.key}: rollup {d.rollup} ledger {d.ledger}")
        if found:
            more = "at least " if len(found) >= 100 else ""
            raise CommandError(f"{more}{len(found)} rollup rows differ from the ledger; run rebuild_rollups to fix.")
        self.stdout.write("Rollups agree with the ledger.")
