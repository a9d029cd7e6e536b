"""Routes over the management API carry their mode and cache prices, as add_model and the admin do, and the gateway uses them."""
import time
from decimal import Decimal

import httpx
import pytest

from providers.models import ModelRoute
from usage.models import UsageRecord

from .audit_entries import entries_for
from .conftest import admin_client, chat_body, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def ledger_row(request_id: str) -> UsageRecord:
    """The live gateway's row for the request, once its ledger writer has flushed it."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if row := UsageRecord.objects.filter(request_id=request_id).first():
            return row
        time.sleep(0.05)
    raise AssertionError(f"no ledger row for {request_id}")


def post(server, path: str, body: dict, raw: str) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, headers={"X-API-Key": raw}, timeout=10)


def test_an_embeddings_route_made_over_the_api_serves_embeddings_and_only_them(admin_gateway, upstream):
    with admin_client(admin_gateway) as admin:
        admin.post("/v1/admin/providers", json={"name": "up", "kind": "openai", "base_url": upstream.base_url("openai")})
        made = admin.post("/v1/admin/routes", json={"public_name": "embed", "provider": "up", "mode": "embeddings",
                                                     "upstream_model": "text-embedding-3-small", "input_price_per_mtok": "0.02"})
        assert made.status_code == 201, made.text
        assert (made.json()["mode"], made.json()["price_source"]) == ("embeddings", "manual")
        chat = admin.post("/v1/admin/routes", json={"public_name": "talk", "provider": "up"})
        assert (chat.status_code, chat.json()["mode"], chat.json()["price_source"]) == (201, "chat", "")
        listed = {r["public_name"]: r["mode"] for r in admin.get("/v1/admin/routes").json()}
        assert listed == {"embed": "embeddings", "talk": "chat"}
    raw = make_tenant("acme").raw
    answer = post(admin_gateway, "/v1/embeddings", {"model": "embed", "input": ["a", "b"]}, raw)
    assert answer.status_code == 200, answer.text
    assert [item["index"] for item in answer.json()["data"]] == [0, 1]
    assert upstream.last.path.endswith("/embeddings") and upstream.last.body["model"] == "text-embedding-3-small"
    refused = post(admin_gateway, "/v1/embeddings", {"model": "talk", "input": "a"}, raw)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["type"] == "invalid_request_error" and "chat" in refused.json()["error"]["message"]
    wrong_way = post(admin_gateway, "/v1/chat/completions", chat_body("embed"), raw)
    assert wrong_way.status_code == 400 and "embeddings" in wrong_way.json()["error"]["message"]


BAD = [
    ({"mode": "completion"}, "mode", "Mode must be one of chat, embeddings"),
    ({"mode": 5}, "mode", "Mode must be one of"),
    ({"cached_input_price_per_mtok": "-0.1"}, "cached_input_price_per_mtok", "greater than or equal to 0"),
    ({"cache_write_price_per_mtok": "cheap"}, "cache_write_price_per_mtok", "Must be a decimal string"),
    ({"cache_write_price_per_mtok": 0.5}, "cache_write_price_per_mtok", "decimal string"),
    ({"input_price_per_mtok": None}, "input_price_per_mtok", "null"),
]


def test_bad_modes_and_cache_prices_get_a_400_naming_the_field(admin_gateway, mock_provider):
    with admin_client(admin_gateway) as admin:
        admin.post("/v1/admin/providers", json={"name": "claude", "kind": "anthropic", "base_url": "https://x.example"})
        admin.post("/v1/admin/providers", json={"name": "other", "kind": "openai", "base_url": "https://y.example"})
        for fields, param, message in BAD:
            response = admin.post("/v1/admin/routes", json={"public_name": "m", "provider": "mock", **fields})
            assert response.status_code == 400, (fields, response.text)
            error = response.json()["error"]
            assert (error["type"], error["param"]) == ("invalid_request_error", param), (fields, error)
            assert message in error["message"], (fields, error)
        no_embeddings = admin.post("/v1/admin/routes", json={"public_name": "m", "provider": "claude", "mode": "embeddings"})
        assert no_embeddings.status_code == 400
        assert "anthropic providers serve no embeddings" in no_embeddings.json()["error"]["message"]
        two_modes = admin.post("/v1/admin/routes", json={"public_name": "mock-small", "provider": "other", "mode": "embeddings"})
        assert two_modes.status_code == 400 and "one public name has one mode" in two_modes.json()["error"]["message"]
    assert not ModelRoute.objects.filter(public_name="m").exists()
    assert ModelRoute.objects.filter(public_name="mock-small").count() == 1


def test_cache_prices_set_then_cleared_are_what_the_ledger_bills(admin_gateway, upstream):
    upstream.cached_tokens, upstream.cache_write_tokens = 4, 3  # of 12 prompt tokens; 7 completion tokens
    route = {"public_name": "claude", "provider": "anthropic"}
    with admin_client(admin_gateway, "ops") as admin:
        admin.post("/v1/admin/providers", json={"name": "anthropic", "kind": "anthropic",
                                                "base_url": upstream.base_url("anthropic")})
        made = admin.post("/v1/admin/routes", json={**route, "input_price_per_mtok": "1", "output_price_per_mtok": "2",
                                                    "cached_input_price_per_mtok": "0.1", "cache_write_price_per_mtok": "1.25"})
        assert made.status_code == 201, made.text
        assert (made.json()["cached_input_price_per_mtok"], made.json()["cache_write_price_per_mtok"]) == ("0.100000", "1.250000")
        raw = make_tenant("acme").raw
        first = post(admin_gateway, "/v1/chat/completions", chat_body("claude"), raw)
        assert first.status_code == 200, first.text
        row = ledger_row(first.headers["x-request-id"])
        assert (row.prompt_tokens, row.cached_tokens, row.cache_write_tokens, row.completion_tokens) == (12, 4, 3, 7)
        assert (row.cached_input_price_per_mtok, row.cache_write_price_per_mtok) == (Decimal("0.1"), Decimal("1.25"))
        assert row.cost_usd == Decimal("0.00002315")  # (5 x 1 + 4 x 0.1 + 3 x 1.25 + 7 x 2) / 1M

        cleared = admin.post("/v1/admin/routes", json={**route, "cached_input_price_per_mtok": None,
                                                       "cache_write_price_per_mtok": None})
        assert cleared.status_code == 200, cleared.text
        assert cleared.json()["cached_input_price_per_mtok"] is None and cleared.json()["cache_write_price_per_mtok"] is None
        assert cleared.json()["input_price_per_mtok"] == "1.000000"  # left out: kept
        second = post(admin_gateway, "/v1/chat/completions", chat_body("claude", "again"), raw)
        row = ledger_row(second.headers["x-request-id"])
        assert (row.cached_input_price_per_mtok, row.cache_write_price_per_mtok) == (Decimal(1), Decimal(1))
        assert row.cost_usd == Decimal("0.000026")  # the cache classes fall back to the input price: (12 x 1 + 7 x 2) / 1M
    stored = ModelRoute.objects.get(public_name="claude")
    assert (stored.cached_input_price_per_mtok, stored.cache_write_price_per_mtok, stored.price_source) == (None, None, "manual")
    changes = [e.changes for e in entries_for(stored)]
    assert changes[-1]["cached_input_price_per_mtok"] == ["0.100000", None]
    assert all(e.actor.username == "ops" and e.additional_data["via"] == "api" for e in entries_for(stored))
