"""manage.py export_usage writes the raw ledger as CSV, filtered by tenant and inclusive UTC days."""
import csv
import io

import pytest
from django.core.management import CommandError, call_command

from .conftest import make_tenant
from .ledger_rows import row, save

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger():
    acme, globex = make_tenant("acme"), make_tenant("globex")
    save(
        row(acme, "2026-10-31 23:59:59", request_id="acme-oct"),
        row(acme, "2026-11-01 00:00:00", request_id="acme-nov-1"),
        row(acme, "2026-11-30 23:59:59.999999", request_id="acme-nov-30"),
        row(acme, "2026-12-01 00:00:00", request_id="acme-dec"),
        row(globex, "2026-11-15 12:00:00", request_id="globex-nov"),
    )


def export(*args) -> list[dict[str, str]]:
    out = io.StringIO()
    call_command("export_usage", *args, stdout=out)
    return list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))


def test_it_writes_every_row_to_standard_output_by_default(ledger):
    rows = export()
    assert [r["request_id"] for r in rows] == ["acme-oct", "acme-nov-1", "globex-nov", "acme-nov-30", "acme-dec"]


def test_it_keeps_only_the_named_tenant(ledger):
    assert {r["tenant"] for r in export("--tenant", "globex")} == {"globex"}


def test_it_includes_both_days_of_the_period(ledger):
    rows = export("--tenant", "acme", "--start", "2026-11-01", "--end", "2026-11-30")
    assert [r["request_id"] for r in rows] == ["acme-nov-1", "acme-nov-30"]


def test_an_open_end_runs_to_the_newest_row(ledger):
    assert [r["request_id"] for r in export("--tenant", "acme", "--start", "2026-11-30")] == ["acme-nov-30", "acme-dec"]


def test_it_writes_a_file_when_asked(ledger, tmp_path):
    target = tmp_path / "usage.csv"
    out = io.StringIO()
    call_command("export_usage", "--output", str(target), stdout=out)
    assert "Wrote 5 usage rows" in out.getvalue()
    assert target.read_bytes().startswith(b"created_at,request_id,")
    assert target.read_bytes().count(b"\r\n") == 6
    assert [p.name for p in tmp_path.iterdir()] == ["usage.csv"]


def test_an_empty_selection_still_has_the_header(ledger):
    out = io.StringIO()
    call_command("export_usage", "--start", "2030-01-01", stdout=out)
    assert out.getvalue().startswith("created_at,") and out.getvalue().count("\r\n") == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tenant", "nobody"], "No tenant"),
        (["--start", "2026-13-01"], "--start"),
        (["--end", "last week"], "--end"),
        (["--start", "2026-11-30", "--end", "2026-11-01"], "after"),
        (["--output", "/nonexistent-dir/usage.csv"], "Cannot write"),
    ],
)
def test_it_refuses_bad_input_with_a_clear_error(ledger, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("export_usage", *args, stdout=io.StringIO())
