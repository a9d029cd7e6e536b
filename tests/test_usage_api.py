"""GET /v1/usage: the calling tenant's totals only, grouped, over an inclusive UTC period, money as strings."""
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from asgiref.sync import sync_to_async

from tenants import keys

from .conftest import make_tenant
from .ledger_rows import asave, row

pytestmark = pytest.mark.django_db(transaction=True)

NOVEMBER = {"start": "2026-11-01", "end": "2026-11-30"}


async def get_usage(client, owner, **params):
    return await client.get("/v1/usage", params, headers=owner.headers if owner else {})


@pytest.fixture
def globex(db):
    return make_tenant("globex")


async def test_it_shows_only_the_calling_tenants_usage(api, acme, globex):
    await asave(
        row(acme, model="gpt-4o-mini", cost_usd=Decimal("0.25")),
        row(globex, model="claude-secret", cost_usd=Decimal("9"), prompt_tokens=1000),
    )
    body = orjson.loads((await get_usage(api, acme, **NOVEMBER)).content)
    assert body["tenant"] == "acme"
    assert [item["model"] for item in body["data"]] == ["gpt-4o-mini"]
    assert body["total"]["cost_usd"] == "0.25"
    assert body["total"]["prompt_tokens"] == 10

    other = orjson.loads((await get_usage(api, globex, **NOVEMBER)).content)
    assert [item["model"] for item in other["data"]] == ["claude-secret"]
    assert other["total"]["requests"] == 1


async def test_it_answers_in_the_documented_shape(api, acme):
    await asave(
        row(acme, prompt_tokens=300, completion_tokens=900, cost_usd=Decimal("0.000500")),
        row(acme, prompt_tokens=40, completion_tokens=10, cost_usd=Decimal("0.000097"), cached=True),
        row(acme, prompt_tokens=0, completion_tokens=0, cost_usd=Decimal(0), status=502, error_type="upstream_error"),
    )
    response = await get_usage(api, acme, group_by="model", **NOVEMBER)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    totals = {"requests": 3, "prompt_tokens": 340, "completion_tokens": 910, "total_tokens": 1250,
              "cached_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0,
              "cost_usd": "0.000597", "cached_requests": 1, "errors": 1}
    assert orjson.loads(response.content) == {
        "object": "usage", "tenant": "acme", "start": "2026-11-01", "end": "2026-11-30", "group_by": "model",
        "data": [{"model": "gpt-4o-mini", **totals}], "total": totals,
    }


async def test_it_groups_by_model_in_name_order(api, acme):
    await asave(row(acme, model="b-model"), row(acme, model="a-model"), row(acme, model="b-model"))
    body = orjson.loads((await get_usage(api, acme, group_by="model", **NOVEMBER)).content)
    assert [(item["model"], item["requests"]) for item in body["data"]] == [("a-model", 1), ("b-model", 2)]


async def test_it_groups_by_utc_day(api, acme):
    await asave(
        row(acme, "2026-11-02 23:59:59.999999", cost_usd=Decimal("1")),
        row(acme, "2026-11-03 00:00:00", cost_usd=Decimal("2")),
        row(acme, "2026-11-03 18:00:00", cost_usd=Decimal("3")),
    )
    body = orjson.loads((await get_usage(api, acme, group_by="day", **NOVEMBER)).content)
    assert [(item["day"], item["cost_usd"]) for item in body["data"]] == [("2026-11-02", "1"), ("2026-11-03", "5")]


async def test_it_groups_by_key_prefix(api, acme):
    second = (await sync_to_async(keys.issue)(acme.tenant, name="second")).key
    await asave(row(acme), row(acme), row(acme, api_key=second))
    body = orjson.loads((await get_usage(api, acme, group_by="key", **NOVEMBER)).content)
    counts = {item["key"]: item["requests"] for item in body["data"]}
    assert counts == {acme.key.prefix: 2, second.prefix: 1}


async def test_it_includes_both_ends_of_the_period(api, acme):
    await asave(
        row(acme, "2026-10-31 23:59:59.999999", request_id="before"),
        row(acme, "2026-11-01 00:00:00", request_id="first-instant"),
        row(acme, "2026-11-30 23:59:59.999999", request_id="last-instant"),
        row(acme, "2026-12-01 00:00:00", request_id="after"),
    )
    body = orjson.loads((await get_usage(api, acme, group_by="day", **NOVEMBER)).content)
    assert [item["day"] for item in body["data"]] == ["2026-11-01", "2026-11-30"]
    assert body["total"]["requests"] == 2


async def test_a_single_day_period_covers_that_whole_day(api, acme):
    await asave(row(acme, "2026-11-05 00:00"), row(acme, "2026-11-05 23:59:59"), row(acme, "2026-11-06 00:00"))
    body = orjson.loads((await get_usage(api, acme, start="2026-11-05", end="2026-11-05")).content)
    assert body["total"]["requests"] == 2


async def test_it_sums_money_exactly_as_decimal_strings(api, acme):
    await asave(row(acme, cost_usd=Decimal("0.1")), row(acme, cost_usd=Decimal("0.2")))
    body = orjson.loads((await get_usage(api, acme, **NOVEMBER)).content)
    assert body["total"]["cost_usd"] == "0.3"
    assert body["data"][0]["cost_usd"] == "0.3"


async def test_it_never_rounds_spend(api, acme):
    await asave(row(acme, model="a", cost_usd=Decimal("0.0000925")), row(acme, model="b", cost_usd=Decimal("0.000000499999")))
    body = orjson.loads((await get_usage(api, acme, **NOVEMBER)).content)
    assert [item["cost_usd"] for item in body["data"]] == ["0.0000925", "0.000000499999"]
    assert body["total"]["cost_usd"] == "0.000092999999"  # the exact sum: the rows add up to it


async def test_it_counts_cache_hits_and_errors(api, acme):
    await asave(
        row(acme, cached=True),
        row(acme, cached=True),
        row(acme, status=429, error_type="rate_limit_error"),
        row(acme, status=400, error_type="invalid_request_error"),
        row(acme, status=399),
    )
    total = orjson.loads((await get_usage(api, acme, **NOVEMBER)).content)["total"]
    assert (total["requests"], total["cached_requests"], total["errors"]) == (5, 2, 2)


async def test_an_empty_period_has_zero_totals(api, acme):
    body = orjson.loads((await get_usage(api, acme, **NOVEMBER)).content)
    assert body["data"] == []
    assert body["total"] == {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0,
                             "cached_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0,
                             "cost_usd": "0", "cached_requests": 0, "errors": 0}


async def test_it_defaults_to_this_month_so_far(api, acme):
    today = datetime.now(UTC)
    last_month = today.replace(day=1) - timedelta(days=1)
    await asave(row(acme, today.strftime("%Y-%m-%d %H:%M")), row(acme, last_month.strftime("%Y-%m-%d 12:00")))
    body = orjson.loads((await get_usage(api, acme)).content)
    assert (body["start"], body["end"], body["group_by"]) == (today.strftime("%Y-%m-01"), today.strftime("%Y-%m-%d"), "model")
    assert body["total"]["requests"] == 1


@pytest.mark.parametrize(
    "params, param",
    [
        ({"start": "2026-13-01"}, "start"),
        ({"start": "yesterday"}, "start"),
        ({"end": "2026-11-31"}, "end"),
        ({"end": "20261130"}, "end"),
        ({"start": "2026-11-30", "end": "2026-11-01"}, "start"),
        ({"group_by": "tenant"}, "group_by"),
        ({"format": "xml"}, "format"),
    ],
)
async def test_it_rejects_bad_parameters_naming_them(api, acme, params, param):
    response = await get_usage(api, acme, **params)
    assert response.status_code == 400
    error = orjson.loads(response.content)["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


async def test_it_requires_a_key(api, acme):
    response = await get_usage(api, None)
    assert response.status_code == 401
    assert orjson.loads(response.content)["error"]["type"] == "authentication_error"


async def test_it_accepts_a_bearer_key(api, acme):
    response = await api.get("/v1/usage", NOVEMBER, headers={"Authorization": f"Bearer {acme.raw}"})
    assert response.status_code == 200


async def test_it_refuses_other_methods(api, acme):
    response = await api.post("/v1/usage", {}, headers=acme.headers)
    assert response.status_code == 405
    assert orjson.loads(response.content)["error"]["type"] == "invalid_request_error"
