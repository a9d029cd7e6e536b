"""With METRICS_TOKEN set, /metrics wants it as a bearer token and answers 401 JSON otherwise."""
import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    return settings.METRICS_TOKEN


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic czNjcmV0LW1ldHJpY3MtdG9rZW4=", "s3cret-metrics-token"])
async def test_it_refuses_a_missing_or_wrong_token(async_client, token, header):
    headers = {"Authorization": header} if header else {}
    response = await async_client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["type"] == "authentication_error"
    assert token not in response.content.decode()


async def test_it_serves_the_metrics_for_the_right_token(async_client, token):
    response = await async_client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"gateway_open_streams" in response.content


async def test_it_is_open_when_no_token_is_set(async_client):
    assert (await async_client.get("/metrics")).status_code == 200
