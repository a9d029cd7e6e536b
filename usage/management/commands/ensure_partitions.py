"""python manage.py ensure_partitions [--months N]"""
from django.core.management.base import BaseCommand, CommandError

from usage import partitions


class Command(BaseCommand):
    help = ("Make the ledger's monthly partitions for this month and the next N-1 (PostgreSQL; a no-op on SQLite). "
            "The ledger writer does this itself; run it from cron when a replica may sit idle across a month's end.")

    def add_arguments(self, parser):
        parser.add_argument("--months", type=int, default=3, help="Months to make, this one included (default 3).")

    def handle(self, *args, **options):
        months = options["months"]
        if not 1 <= months <= 120:
            raise CommandError("--months must be between 1 and 120.")
        if not partitions.partitioned():
            self.stdout.write("The ledger is not partitioned here (SQLite keeps one table); nothing to do.")
            return
        partitions.forget()  # ask the database, not this process's memory
        made = partitions.ensure(partitions.ahead(months=months))
        self.stdout.write(f"Made {', '.join(partitions.partition_name(m) for m in made)}." if made
                          else f"The next {months} months' partitions exist already.")
