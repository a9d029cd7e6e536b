"""GET /v1/admin/usage: /v1/usage for any tenant (tenant=), or every tenant, JSON or CSV, money as exact strings."""
import csv
import io
from decimal import Decimal

import pytest

from .conftest import admin_client, make_tenant
from .ledger_rows import row, save

pytestmark = pytest.mark.django_db(transaction=True)

NOVEMBER = {"start": "2026-11-01", "end": "2026-11-30"}


@pytest.fixture
def ledger(db):
    acme, globex = make_tenant("acme"), make_tenant("globex")
    save(
        row(acme, model="gpt-4o-mini", cost_usd=Decimal("0.25")),
        row(acme, model="gpt-4o", cost_usd=Decimal("0.5"), prompt_tokens=100),
        row(globex, model="claude", cost_usd=Decimal("9")),
    )
    return acme, globex


@pytest.fixture
def admin(admin_gateway):
    with admin_client(admin_gateway) as client:
        yield client


def test_it_reports_one_tenant_in_the_shape_of_v1_usage(admin, ledger):
    acme, _ = ledger
    body = admin.get("/v1/admin/usage", params={"tenant": "acme", **NOVEMBER}).json()
    assert (body["object"], body["tenant"], body["group_by"]) == ("usage", "acme", "model")
    assert [item["model"] for item in body["data"]] == ["gpt-4o", "gpt-4o-mini"]
    assert body["total"]["cost_usd"] == "0.75" and body["total"]["requests"] == 2
    mine = admin.get("/v1/usage", params=NOVEMBER, headers={"X-API-Key": acme.raw}).json()
    assert mine == body


def test_without_a_tenant_it_reports_every_tenant(admin, ledger):
    body = admin.get("/v1/admin/usage", params={"group_by": "tenant", **NOVEMBER}).json()
    assert body["tenant"] is None
    assert [(item["tenant"], item["cost_usd"]) for item in body["data"]] == [("acme", "0.75"), ("globex", "9")]
    assert body["total"]["cost_usd"] == "9.75"


def test_it_answers_csv(admin, ledger):
    response = admin.get("/v1/admin/usage", params={"tenant": "globex", "format": "csv", **NOVEMBER})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["model"], r["cost_usd"]) for r in rows] == [("claude", "9")]


def test_an_unknown_tenant_is_404_and_a_bad_parameter_400(admin, ledger):
    missing = admin.get("/v1/admin/usage", params={"tenant": "nobody"})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    for params, param in (({"start": "2026-13-01"}, "start"), ({"group_by": "week"}, "group_by"),
                          ({"start": "2026-11-30", "end": "2026-11-01"}, "start")):
        response = admin.get("/v1/admin/usage", params=params)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param
