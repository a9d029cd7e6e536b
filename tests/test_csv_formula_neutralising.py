"""CSV cells a spreadsheet would run as formulas (=, +, -, @, tab, CR) get a leading apostrophe."""
import csv
import io
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from usage import exports, reports

from .conftest import make_tenant
from .ledger_rows import asave, row, save

DANGEROUS = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.mark.parametrize("text", DANGEROUS)
def test_it_prefixes_an_apostrophe_to_formula_text(text):
    assert exports.cell(text) == "'" + text


@pytest.mark.parametrize("text", ["gpt-4o-mini", "claude 3", " =spaced", "a=b", "", "'quoted"])
def test_it_leaves_ordinary_text_alone(text):
    assert exports.cell(text) == text


def test_it_leaves_numbers_it_formats_itself_alone():
    assert [exports.cell(v) for v in (Decimal("0.5"), 42, 0, True)] == ["0.5", "42", "0", "true"]


@pytest.mark.django_db
def test_the_ledger_export_neutralises_every_text_column():
    acme = make_tenant("acme")
    save(row(acme, request_id="@req", model="=cmd|' /C calc'!A0", provider="+provider", upstream_model="-1", error_type="\tx"))
    text = "".join(exports.ledger_csv(reports.ledger()))
    record = next(csv.DictReader(io.StringIO(text, newline="")))
    assert record["request_id"] == "'@req"
    assert record["model"] == "'=cmd|' /C calc'!A0"
    assert record["provider"] == "'+provider"
    assert record["upstream_model"] == "'-1"
    assert record["error_type"] == "'\tx"


@pytest.mark.django_db(transaction=True)
async def test_the_usage_report_csv_neutralises_model_names(async_client):
    acme = await sync_to_async(make_tenant)("acme")
    await asave(row(acme, model="=1+1"))
    response = await async_client.get(
        "/v1/usage", {"start": "2026-11-01", "end": "2026-11-30", "format": "csv"}, headers=acme.headers
    )
    text = b"".join([part async for part in response.streaming_content]).decode()
    assert text.splitlines()[1].startswith("'=1+1,")
