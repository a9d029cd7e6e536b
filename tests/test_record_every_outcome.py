"""Every request that passes authentication leaves exactly one ledger row, whatever its outcome."""
from __future__ import annotations

import time
from decimal import Decimal

import httpx
import orjson
import pytest
from asgiref.sync import sync_to_async

from providers import tokens
from providers.models import ModelRoute, Provider
from providers.types import Message
from tests.fakes.upstream import FakeUpstream, closed_port
from usage import budget, ledger
from usage.cost import cost_usd
from usage.models import UsageRecord

from .conftest import chat_body, make_tenant
from .live import GatewayServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _hand_flushed_ledger(settings):
    settings.GATEWAY = {**settings.GATEWAY, "LEDGER_WRITER": False}


@pytest.fixture(autouse=True)
def _spy(ledger_spy):
    """Counts calls to the ledger (a second record of one request would leave no second row)."""
    global recorded
    recorded = ledger_spy
    yield
    recorded = None


recorded = None


@pytest.fixture
def upstream():
    with FakeUpstream() as fake:
        yield fake


def fake_route(fake: FakeUpstream, name: str = "gpt-test") -> None:
    provider = Provider.objects.create(name="fake", kind="openai", base_url=fake.base_url("openai"), timeout_seconds=5)
    ModelRoute.objects.create(public_name=name, provider=provider, upstream_model="gpt-4o-mini",
                              input_price_per_mtok=Decimal("3.333333"), output_price_per_mtok=Decimal("0.000001"))


async def post_chat(client, tenant, body):
    """POST /v1/chat/completions with the tenant's key."""
    data = orjson.dumps(body)
    return await client.post("/v1/chat/completions", data=data, content_type="application/json",
                             headers={"X-API-Key": tenant.raw})


async def rows_for(response) -> list[UsageRecord]:
    """Flush the ledger, then the rows of the response's request id."""
    await budget.settled()
    await sync_to_async(ledger.flush)()
    request_id = response["x-request-id"]
    return await sync_to_async(list)(UsageRecord.objects.filter(request_id=request_id))


async def only_row(response) -> UsageRecord:
    rows = await rows_for(response)
    assert len(rows) == 1, rows
    assert recorded.count(response["x-request-id"]) == 1, "recorded more than once"
    return rows[0]


async def read_stream(response) -> bytes:
    return b"".join([chunk async for chunk in response.streaming_content])


@pytest.fixture
async def acme(db):
    return await sync_to_async(make_tenant)("acme")


async def test_a_success_is_recorded_with_the_providers_tokens_and_exact_cost(async_client, acme, mock_provider):
    response = await post_chat(async_client, acme, chat_body(text="count me"))
    assert response.status_code == 200
    usage = response.json()["usage"]
    row = await only_row(response)
    assert row.status == 200
    assert (row.prompt_tokens, row.completion_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert not row.tokens_estimated and not row.streamed
    assert row.cost_usd == cost_usd(row.prompt_tokens, row.completion_tokens, Decimal("0.15"), Decimal("0.60"))
    assert (row.input_price_per_mtok, row.output_price_per_mtok) == (Decimal("0.15"), Decimal("0.6"))
    assert (row.tenant_id, row.api_key_id) == (acme.tenant.pk, acme.key.pk)
    assert (row.model, row.provider) == ("mock-small", "mock")


async def test_a_provider_error_is_recorded(async_client, acme, db):
    provider = await sync_to_async(Provider.objects.create)(
        name="down", kind="openai", base_url=f"http://127.0.0.1:{closed_port()}/v1", timeout_seconds=2)
    await sync_to_async(ModelRoute.objects.create)(public_name="gpt-down", provider=provider, upstream_model="x")
    response = await post_chat(async_client, acme, chat_body("gpt-down"))
    assert response.status_code == 502
    row = await only_row(response)
    assert (row.status, row.error_type, row.cost_usd) == (502, "upstream_error", 0)


async def test_an_invalid_request_is_recorded(async_client, acme, mock_provider):
    response = await post_chat(async_client, acme, {"model": "mock-small"})
    assert response.status_code == 400
    assert (await only_row(response)).error_type == "invalid_request_error"


async def test_a_rate_limited_request_is_recorded(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("limited", rpm_limit=1)
    await post_chat(async_client, tenant, chat_body())
    response = await post_chat(async_client, tenant, chat_body())
    assert response.status_code == 429
    assert (await only_row(response)).error_type == "rate_limit_error"


async def test_a_budget_blocked_request_is_recorded(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("broke", monthly_budget_usd=Decimal(0))
    response = await post_chat(async_client, tenant, chat_body())
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "insufficient_quota"
    row = await only_row(response)
    assert (row.status, row.error_type, row.cost_usd) == (429, "budget_exceeded", 0)


async def test_a_cache_hit_is_recorded_free_with_the_tokens_it_saved(async_client, acme, mock_provider):
    first = await post_chat(async_client, acme, chat_body(temperature=0))
    hit = await post_chat(async_client, acme, chat_body(temperature=0))
    assert hit["x-cache"] == "HIT"
    row, paid = await only_row(hit), await only_row(first)
    assert row.cached and row.cost_usd == 0 and row.status == 200
    assert (row.prompt_tokens, row.completion_tokens) == (paid.prompt_tokens, paid.completion_tokens)


async def test_a_cache_hit_needs_no_budget(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("thrifty", monthly_budget_usd=Decimal("0.000001"))
    await post_chat(async_client, tenant, chat_body(temperature=0))
    await budget.settled()
    await sync_to_async(ledger.flush)()
    assert (await post_chat(async_client, tenant, chat_body())).status_code == 429
    hit = await post_chat(async_client, tenant, chat_body(temperature=0))
    assert (hit.status_code, hit["x-cache"]) == (200, "HIT")


async def test_a_stream_is_recorded_once_with_the_providers_usage(async_client, acme, mock_provider):
    response = await post_chat(async_client, acme, chat_body(stream=True))
    body = await read_stream(response)
    assert body.endswith(b"data: [DONE]\n\n")
    row = await only_row(response)
    assert row.streamed and not row.tokens_estimated and row.completion_tokens > 0 and row.ttft_ms is not None
    assert row.cost_usd == cost_usd(row.prompt_tokens, row.completion_tokens, Decimal("0.15"), Decimal("0.60"))


async def test_a_stream_cut_by_the_provider_is_recorded_with_estimated_tokens(async_client, acme, upstream):
    await sync_to_async(fake_route)(upstream)
    upstream.set_mode("cut")
    body = chat_body("gpt-test", text="tell me a story", stream=True)
    response = await post_chat(async_client, acme, body)
    await read_stream(response)
    row = await only_row(response)
    assert row.streamed and row.tokens_estimated and row.error_type.startswith("upstream_")
    assert row.prompt_tokens == tokens.count_messages((Message("user", "tell me a story"),))
    assert row.cost_usd == cost_usd(row.prompt_tokens, row.completion_tokens, Decimal("3.333333"), Decimal("0.000001"))


async def test_a_key_of_a_disabled_tenant_is_not_a_request_to_bill(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("off", active=False)
    response = await post_chat(async_client, tenant, chat_body())
    assert response.status_code == 403
    await sync_to_async(ledger.flush)()
    assert await UsageRecord.objects.acount() == 0


def wait_for_row(request_id: str, timeout: float = 10.0) -> UsageRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = UsageRecord.objects.filter(request_id=request_id).first()
        if row is not None:
            return row
        time.sleep(0.05)
    raise AssertionError(f"no ledger row for {request_id}")


def test_a_client_disconnect_mid_stream_is_recorded_once_with_what_was_streamed(db):
    provider = Provider.objects.create(name="slow", kind="mock", options={"delay_ms": 100})
    ModelRoute.objects.create(public_name="mock-slow", provider=provider, upstream_model="mock-small",
                              input_price_per_mtok="0.15", output_price_per_mtok="0.60")
    tenant = make_tenant("acme")
    with GatewayServer() as server:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": tenant.raw}, timeout=10) as client:
            with client.stream("POST", "/v1/chat/completions", json=chat_body("mock-slow", stream=True)) as response:
                request_id = response.headers["x-request-id"]
                received = b""
                for data in response.iter_bytes():
                    received += data
                    if received.count(b"data: ") >= 3:
                        break  # leave mid-answer
        row = wait_for_row(request_id)
        time.sleep(0.5)
        assert server.records(request_id) == 1  # calls to the recorder, not surviving rows
    assert b"[DONE]" not in received
    assert (row.status, row.error_type) == (499, "client_disconnected")
    assert row.streamed and row.client_disconnected and row.tokens_estimated
    assert row.prompt_tokens > 0 and 0 < row.completion_tokens < 30
    assert row.cost_usd > 0
