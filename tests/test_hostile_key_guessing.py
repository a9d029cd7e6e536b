"""Guessing keys is rate-limited per client address: wrong keys get 429 after N failures a minute, other addresses unaffected."""
import pytest
from django.test import AsyncClient

from tenants import bruteforce
from tests.asgi_client import ASGIClient

pytestmark = pytest.mark.django_db(transaction=True)


class ClientAt(ASGIClient):
    """A test client whose requests come from one address, served by the production ASGI application."""

    def __init__(self, address: str):
        super().__init__()
        self.address = address

    def _base_scope(self, **request):
        return {**super()._base_scope(**request), "client": [self.address, 1000]}


def at(address: str) -> AsyncClient:
    return ClientAt(address)


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.GATEWAY = {**settings.GATEWAY, "AUTH_FAILURES_PER_MINUTE": 3}
    bruteforce.reset()
    yield
    bruteforce.reset()


async def test_it_answers_429_after_too_many_wrong_keys(acme, mock_provider):
    statuses = []
    for n in range(5):
        statuses.append((await at("10.0.0.1").get("/v1/models", headers={"X-API-Key": f"gw-wrong-{n}"},
                                                )).status_code)
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429, 429]
    refused = await at("10.0.0.1").get("/v1/models", headers={"X-API-Key": "gw-wrong-again"})
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error" and error["code"] == "too_many_auth_failures"
    assert int(refused["Retry-After"]) >= 1


async def test_other_addresses_keep_working(acme, mock_provider):
    for n in range(4):
        await at("10.0.0.1").get("/v1/models", headers={"X-API-Key": f"gw-wrong-{n}"})
    response = await at("10.0.0.2").get("/v1/models", headers=acme.headers)
    assert response.status_code == 200


async def test_a_missing_key_is_not_counted_as_a_guess(acme, mock_provider):
    for _ in range(5):
        assert (await at("10.0.0.1").get("/v1/models")).status_code == 401
    assert (await at("10.0.0.1").get("/v1/models", headers=acme.headers)).status_code == 200


async def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(acme, mock_provider):
    for n in range(4):  # a guesser cannot dodge the limit by inventing X-Forwarded-For
        await at("10.0.0.1").get("/v1/models", headers={"X-API-Key": f"gw-w{n}", "X-Forwarded-For": f"1.2.3.{n}"},
                               )
    assert (await at("10.0.0.1").get("/v1/models", headers={"X-API-Key": "gw-w9"})).status_code == 429


async def test_behind_a_trusted_proxy_the_proxys_hop_names_the_client(acme, mock_provider, settings):
    settings.GATEWAY = {**settings.GATEWAY, "TRUSTED_PROXY": True}
    for n in range(4):  # one proxy address, the client's own forged hop on the left
        await at("10.0.0.9").get("/v1/models", headers={"X-API-Key": f"gw-w{n}", "X-Forwarded-For": f"9.9.9.{n}, 5.5.5.5"},
                               )
    blocked = await at("127.0.0.1").get("/v1/models", headers={"X-API-Key": "gw-w9", "X-Forwarded-For": "5.5.5.5"})
    other = await at("127.0.0.1").get("/v1/models", headers={**acme.headers, "X-Forwarded-For": "6.6.6.6"})
    assert (blocked.status_code, other.status_code) == (429, 200)
