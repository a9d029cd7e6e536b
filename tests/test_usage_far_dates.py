"""/v1/usage takes any valid date, the calendar's first and last days included (no overflow, no 500)."""
from decimal import Decimal

import orjson
import pytest

from .ledger_rows import asave, row

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("params", [
    {"end": "9999-12-31"},
    {"start": "0001-01-01", "end": "9999-12-31"},
    {"start": "9999-12-31", "end": "9999-12-31"},
])
async def test_the_calendars_ends_are_answered(async_client, acme, params):
    await asave(row(acme, "2026-11-02 12:00", cost_usd=Decimal("0.0000925")))
    response = await async_client.get("/v1/usage", {"start": "2026-11-01", **params}, headers=acme.headers)
    assert response.status_code == 200
    total = orjson.loads(response.content)["total"]
    expected = 0 if params.get("start") == "9999-12-31" else 1
    assert total["requests"] == expected
    assert total["cost_usd"] == ("0.0000925" if expected else "0")
    csv = await async_client.get("/v1/usage", {"start": "2026-11-01", **params, "format": "csv"}, headers=acme.headers)
    assert csv.status_code == 200
