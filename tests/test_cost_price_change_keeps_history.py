"""A price change applies to later requests only: each row keeps the prices it was charged at."""
from decimal import Decimal

import orjson
import pytest
from asgiref.sync import sync_to_async

from providers.models import ModelRoute
from usage import ledger
from usage.cost import cost_usd
from usage.models import UsageRecord

from .conftest import chat_body, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _hand_flushed_ledger(settings):
    settings.GATEWAY = {**settings.GATEWAY, "LEDGER_WRITER": False}


async def ask(client, tenant) -> UsageRecord:
    response = await client.post("/v1/chat/completions", data=orjson.dumps(chat_body(text="price check")),
                                 content_type="application/json", headers={"X-API-Key": tenant.raw})
    assert response.status_code == 200
    await sync_to_async(ledger.flush)()
    return await UsageRecord.objects.aget(request_id=response["x-request-id"])


def reprice(input_price: str, output_price: str) -> None:
    route = ModelRoute.objects.get(public_name="mock-small")
    route.input_price_per_mtok, route.output_price_per_mtok = Decimal(input_price), Decimal(output_price)
    route.save()


async def test_old_rows_keep_their_prices_and_cost(async_client, mock_provider):
    tenant = await sync_to_async(make_tenant)("acme")
    before = await ask(async_client, tenant)
    await sync_to_async(reprice)("1234567.891011", "3.333333")
    after = await ask(async_client, tenant)

    await before.arefresh_from_db()
    assert (before.input_price_per_mtok, before.output_price_per_mtok) == (Decimal("0.15"), Decimal("0.6"))
    assert before.cost_usd == cost_usd(before.prompt_tokens, before.completion_tokens, Decimal("0.15"), Decimal("0.60"))
    assert (after.input_price_per_mtok, after.output_price_per_mtok) == (Decimal("1234567.891011"), Decimal("3.333333"))
    assert after.cost_usd == cost_usd(after.prompt_tokens, after.completion_tokens,
                                      Decimal("1234567.891011"), Decimal("3.333333"))
    assert after.cost_usd > before.cost_usd
