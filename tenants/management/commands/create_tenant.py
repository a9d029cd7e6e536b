"""python manage.py create_tenant SLUG [--name] [--rpm] [--tpm] [--monthly-budget USD [--soft-budget]] [--models A,B]"""
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants import services


class Command(BaseCommand):
    help = "Create a tenant with its limits, monthly budget and allowed models; make its keys with create_api_key."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Unique short name, e.g. acme (letters, digits, - and _).")
        parser.add_argument("--name", default="", help="Display name (default: the slug).")
        parser.add_argument("--rpm", type=int, metavar="N", help="Requests per minute (default: unlimited).")
        parser.add_argument("--tpm", type=int, metavar="N", help="Tokens per minute (default: unlimited).")
        parser.add_argument(
            "--monthly-budget", metavar="USD", help="Spend per calendar month (UTC), e.g. 50.00 (default: none)."
        )
        parser.add_argument(
            "--soft-budget", action="store_true", help="Only alert once the budget is spent (default: refuse requests)."
        )
        parser.add_argument("--models", metavar="NAME,NAME", help="Public model names the tenant may use (default: all).")

    def handle(self, *args, **options):
        try:
            budget = services.parse_usd(options["monthly_budget"], "--monthly-budget")
            if options["soft_budget"] and budget is None:
                raise ValidationError("--soft-budget needs --monthly-budget.")
            spec = services.TenantSpec(
                slug=options["slug"],
                name=options["name"],
                rpm_limit=options["rpm"],
                tpm_limit=options["tpm"],
                monthly_budget_usd=budget,
                budget_is_hard=not options["soft_budget"],
                allowed_models=tuple(services.parse_models(options["models"])),
            )
            tenant = services.create_tenant(spec)
        except ValidationError as error:
            raise CommandError(services.error_text(error)) from None
        self.stdout.write(f"Created tenant {tenant.slug} ({describe(tenant)}).")
        self.stdout.write(f"Make a key for it with: python manage.py create_api_key {tenant.slug}")


def describe(tenant) -> str:
    budget = "no budget"
    if tenant.monthly_budget_usd is not None:
        budget = f"budget ${tenant.monthly_budget_usd}/month, {'hard' if tenant.budget_is_hard else 'soft'}"
    return ", ".join(
        [
            f"rpm {tenant.rpm_limit or 'unlimited'}",
            f"tpm {tenant.tpm_limit or 'unlimited'}",
            budget,
            f"models: {','.join(tenant.allowed_models) or 'all'}",
        ]
    )
