"""The ledger queue gauge shows the usage entries still waiting to be written, at scrape time."""
import pytest
from asgiref.sync import sync_to_async
from prometheus_client.parser import text_string_to_metric_families

from usage import ledger

from .conftest import chat_body, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


def value(text: str, name: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


async def scrape(client) -> str:
    return (await client.get("/metrics")).content.decode()


async def test_it_counts_queued_entries_and_drops_to_zero_after_a_flush(async_client, acme, mock_provider, settings):
    settings.GATEWAY = {**settings.GATEWAY, "LEDGER_WRITER": False}
    for _ in range(3):
        assert (await post_chat(async_client, acme, chat_body())).status_code == 200
    assert value(await scrape(async_client), "gateway_ledger_queue_length") == 3
    await sync_to_async(ledger.flush)()
    assert value(await scrape(async_client), "gateway_ledger_queue_length") == 0
