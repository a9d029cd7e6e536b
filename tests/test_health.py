import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_reports_database_and_cache_ok(async_client):
    response = await async_client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["cache"]["status"] == "ok"


async def test_it_needs_no_key(async_client):
    response = await async_client.get("/health")
    assert response.status_code == 200


async def test_it_rejects_post_with_json_405(async_client):
    response = await async_client.post("/health")
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "invalid_request_error"
