"""With a known key, /v1/models and /v1/chat/completions read no database in steady state."""
import pytest

from .conftest import chat_body, post_chat
from .querycount import all_queries

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _steady(settings):
    """Steady state: within the caches' lifetimes, however slow a loaded machine makes the loop."""
    settings.GATEWAY = {**settings.GATEWAY, "KEY_CACHE_LOCAL_TTL": 300.0, "ROUTE_CACHE_TTL": 300.0, "LEDGER_WRITER": False}


async def test_models_reads_no_database_once_warm(async_client, acme, mock_provider):
    await async_client.get("/v1/models", headers={"X-API-Key": acme.raw})
    with all_queries() as queries:
        for _ in range(20):
            response = await async_client.get("/v1/models", headers={"X-API-Key": acme.raw})
            assert response.status_code == 200
    assert queries == []


async def test_completions_read_no_database_once_warm(async_client, acme, mock_provider):
    await post_chat(async_client, acme, chat_body())
    with all_queries() as queries:
        for _ in range(20):
            response = await post_chat(async_client, acme, chat_body())
            assert response.status_code == 200
    assert queries == []
