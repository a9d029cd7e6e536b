"""CSV: /v1/usage?format=csv and the raw ledger export have a header, a fixed shape, exact decimals and UTC times."""
import csv
import io
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.test import RequestFactory

from usage import exports, reports
from usage.admin_views import export_selected_csv
from usage.models import UsageRecord

from .conftest import make_tenant
from .ledger_rows import asave, row, save

LEDGER_HEADER = [
    "created_at", "request_id", "tenant", "key_prefix", "model", "provider", "upstream_model", "status", "error_type",
    "prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens", "tokens_estimated",
    "input_price_per_mtok", "output_price_per_mtok", "cached_input_price_per_mtok", "cache_write_price_per_mtok",
    "cost_usd", "cached", "streamed", "client_disconnected", "latency_ms", "ttft_ms",
]


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


async def body_of(response) -> str:
    return b"".join([part async for part in response.streaming_content]).decode()


@pytest.mark.django_db(transaction=True)
async def test_the_usage_report_answers_csv_with_a_header_row(async_client):
    acme = await sync_to_async(make_tenant)("acme")
    await asave(
        row(acme, model="a", cost_usd=Decimal("0.1"), prompt_tokens=1, completion_tokens=2),
        row(acme, model="a", cost_usd=Decimal("0.2"), prompt_tokens=3, completion_tokens=4, cached=True),
        row(acme, model="b", cost_usd=Decimal("0.000000000001"), status=502),
    )
    response = await async_client.get(
        "/v1/usage", {"start": "2026-11-01", "end": "2026-11-30", "format": "csv"}, headers=acme.headers
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    text = await body_of(response)
    assert text.splitlines()[0] == (
        "model,requests,prompt_tokens,completion_tokens,total_tokens,cached_tokens,cache_write_tokens,reasoning_tokens,"
        "cost_usd,cached_requests,errors"
    )
    assert text.endswith("\r\n")
    assert parse(text) == [
        {"model": "a", "requests": "2", "prompt_tokens": "4", "completion_tokens": "6", "total_tokens": "10",
         "cached_tokens": "0", "cache_write_tokens": "0", "reasoning_tokens": "0",
         "cost_usd": "0.3", "cached_requests": "1", "errors": "0"},
        {"model": "b", "requests": "1", "prompt_tokens": "10", "completion_tokens": "20", "total_tokens": "30",
         "cached_tokens": "0", "cache_write_tokens": "0", "reasoning_tokens": "0",
         "cost_usd": "0.000000000001", "cached_requests": "0", "errors": "1"},
    ]


@pytest.mark.django_db(transaction=True)
async def test_the_usage_csv_names_the_group_column_after_group_by(async_client):
    acme = await sync_to_async(make_tenant)("acme")
    await asave(row(acme, "2026-11-03 08:00"))
    response = await async_client.get(
        "/v1/usage", {"start": "2026-11-01", "end": "2026-11-30", "format": "csv", "group_by": "day"},
        headers=acme.headers,
    )
    rows = parse(await body_of(response))
    assert [(r["day"], r["requests"]) for r in rows] == [("2026-11-03", "1")]


def ledger_text(rows) -> str:
    return "".join(exports.ledger_csv(rows))


@pytest.mark.django_db
def test_the_ledger_export_has_one_line_per_row_after_a_header():
    acme = make_tenant("acme")
    save(*(row(acme, f"2026-11-0{day} 10:00") for day in range(1, 6)))
    text = ledger_text(reports.ledger())
    lines = text.split("\r\n")
    assert lines[0].split(",") == LEDGER_HEADER
    assert lines[-1] == ""  # every line ends with CRLF
    assert len(lines) == 1 + 5 + 1
    assert [r["created_at"][:10] for r in parse(text)] == [f"2026-11-0{day}" for day in range(1, 6)]  # oldest first


@pytest.mark.django_db
def test_the_ledger_export_writes_exact_money_and_utc_times():
    acme = make_tenant("acme")
    save(
        row(acme, "2026-11-02 12:34:56.789", request_id="r1", cost_usd=Decimal("0.1"),
            input_price_per_mtok=Decimal("0.15"), output_price_per_mtok=Decimal("0.6")),
        row(acme, "2026-11-02 12:35:00", request_id="r2", cost_usd=Decimal("0.000000000001"), cached=True,
            tokens_estimated=True, ttft_ms=120),
        row(acme, "2026-11-02 12:36:00", request_id="r3", cost_usd=Decimal("123456789.123456")),
    )
    first, second, third = parse(ledger_text(reports.ledger()))
    assert first["created_at"] == "2026-11-02T12:34:56.789000Z"
    assert (first["cost_usd"], first["input_price_per_mtok"], first["output_price_per_mtok"]) == (
        "0.100000000000", "0.150000", "0.600000",
    )
    assert second["cost_usd"] == "0.000000000001"  # no exponent
    assert (second["cached"], second["tokens_estimated"], second["streamed"], second["ttft_ms"]) == ("true", "true", "false", "120")
    assert (first["ttft_ms"], first["tenant"], first["key_prefix"]) == ("", "acme", acme.key.prefix)
    assert third["cost_usd"] == "123456789.123456000000"


@pytest.mark.django_db
def test_the_ledger_export_sums_back_to_the_ledger_exactly():
    acme = make_tenant("acme")
    costs = [Decimal("0.1"), Decimal("0.2"), Decimal("0.000000333333"), Decimal("1.000000000001")]
    save(*(row(acme, cost_usd=cost) for cost in costs))
    exported = sum((Decimal(r["cost_usd"]) for r in parse(ledger_text(reports.ledger()))), Decimal(0))
    assert exported == sum(costs)


@pytest.mark.django_db
def test_the_admin_action_exports_only_the_selected_rows(admin_user):
    acme = make_tenant("acme")
    save(row(acme, request_id="keep-1"), row(acme, request_id="skip"), row(acme, request_id="keep-2"))
    request = RequestFactory().post("/admin/usage/usagerecord/")
    request.user = admin_user
    selected = UsageRecord.objects.filter(request_id__startswith="keep")
    response = export_selected_csv(None, request, selected)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    assert sorted(r["request_id"] for r in parse(text)) == ["keep-1", "keep-2"]
