"""create_tenant makes a tenant with limits, budget and models, and refuses bad input with a clear error."""
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, ManagementUtility, call_command

from tenants.models import ApiKey, Tenant

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("create_tenant", *args, stdout=out)
    return out.getvalue()


def test_it_creates_a_tenant_with_limits_budget_and_models():
    output = run("acme", "--name", "Acme Inc", "--rpm", "60", "--tpm", "10000", "--monthly-budget", "50.25", "--models", "a, b,a")
    tenant = Tenant.objects.get(slug="acme")
    assert (tenant.name, tenant.rpm_limit, tenant.tpm_limit) == ("Acme Inc", 60, 10000)
    assert tenant.monthly_budget_usd == Decimal("50.25")
    assert tenant.budget_is_hard is True
    assert tenant.allowed_models == ["a", "b"]
    assert "Created tenant acme" in output
    assert "create_api_key acme" in output


def test_it_defaults_to_no_limits_and_all_models():
    run("open")
    tenant = Tenant.objects.get(slug="open")
    assert (tenant.name, tenant.rpm_limit, tenant.tpm_limit, tenant.monthly_budget_usd) == ("open", None, None, None)
    assert tenant.allowed_models == []


def test_soft_budget_makes_the_budget_alert_only():
    run("acme", "--monthly-budget", "10", "--soft-budget")
    assert Tenant.objects.get(slug="acme").budget_is_hard is False


def test_it_makes_no_key():
    run("acme")
    assert not ApiKey.objects.exists()


def test_it_rejects_a_duplicate_slug():
    run("acme")
    with pytest.raises(CommandError, match="already exists"):
        run("acme")


def test_it_rejects_an_invalid_slug():
    with pytest.raises(CommandError, match="slug"):
        run("not a slug")


@pytest.mark.parametrize("flag, value", [("--rpm", "-1"), ("--tpm", "-5"), ("--rpm", "0")])
def test_it_rejects_limits_below_one(flag, value):
    with pytest.raises(CommandError, match="at least 1"):
        run("acme", flag, value)
    assert not Tenant.objects.exists()


def test_it_rejects_a_non_integer_limit():
    with pytest.raises(CommandError, match="invalid int"):
        run("acme", "--rpm", "lots")


@pytest.mark.parametrize("budget", ["abc", "-5", "NaN", "Infinity", "1.1234567"])
def test_it_rejects_a_bad_budget(budget):
    with pytest.raises(CommandError, match="budget"):
        run("acme", "--monthly-budget", budget)
    assert not Tenant.objects.exists()


def test_it_rejects_soft_budget_without_a_budget():
    with pytest.raises(CommandError, match="--soft-budget needs --monthly-budget"):
        run("acme", "--soft-budget")


@pytest.mark.parametrize("models", ["", ",", "a,,b", "a b"])
def test_it_rejects_bad_models(models):
    with pytest.raises(CommandError, match="--models"):
        run("acme", "--models", models)


def test_bad_input_exits_non_zero_without_a_traceback(capsys):
    run("acme")
    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "create_tenant", "acme", "--skip-checks"]).execute()
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert "already exists" in err
    assert "Traceback" not in err
