"""The key-guessing limiter refuses wrong keys only: a valid key from a guessing address is served.

Also: TRUSTED_PROXY_HOPS picks the Nth X-Forwarded-For hop from the right, IPv6 clients are counted
per /64, and the in-process tables drop their oldest entries first, never all at once.
"""
import pytest
from django.test import AsyncClient

from tenants import auth, bruteforce, keys
from tests.asgi_client import ASGIClient

pytestmark = pytest.mark.django_db(transaction=True)


class ClientAt(ASGIClient):
    """A test client whose requests come from one address, served by the production ASGI application."""

    def __init__(self, address: str):
        super().__init__()
        self.address = address

    def _base_scope(self, **request):
        return {**super()._base_scope(**request), "client": [self.address, 1000]}


@pytest.fixture(autouse=True)
def _fresh_limiter():
    bruteforce.reset()
    yield
    bruteforce.reset()


async def wrong(client: AsyncClient, n: int, **headers) -> int:
    return (await client.get("/v1/models", headers={"X-API-Key": f"gw-wrong-{n}", **headers})).status_code


async def test_a_valid_key_gets_200_after_25_wrong_ones_from_its_address(acme, mock_provider):
    client = ClientAt("10.0.0.1")
    statuses = [await wrong(client, n) for n in range(25)]
    assert statuses[:20] == [401] * 20 and statuses[20:] == [429] * 5  # the default limit, 20 a minute
    assert (await client.get("/v1/models", headers=acme.headers)).status_code == 200
    assert await wrong(client, 99) == 429  # and the address still may not guess


async def test_the_nth_hop_from_the_right_names_the_client(acme, mock_provider, settings):
    settings.GATEWAY = {**settings.GATEWAY, "TRUSTED_PROXY_HOPS": 2, "AUTH_FAILURES_PER_MINUTE": 3}
    balancer = ClientAt("10.0.0.9")
    for n in range(4):  # forged hop, client, edge proxy; the balancer is the socket peer
        await wrong(balancer, n, **{"X-Forwarded-For": f"9.9.9.{n}, 5.5.5.5, 10.0.0.8"})
    assert await wrong(balancer, 9, **{"X-Forwarded-For": "5.5.5.5, 10.0.0.8"}) == 429
    assert await wrong(balancer, 9, **{"X-Forwarded-For": "6.6.6.6, 10.0.0.8"}) == 401


async def test_too_few_hops_fall_back_to_the_socket_peer(acme, mock_provider, settings):
    settings.GATEWAY = {**settings.GATEWAY, "TRUSTED_PROXY_HOPS": 2, "AUTH_FAILURES_PER_MINUTE": 3}
    for n in range(4):  # a client that went around the edge proxy cannot name itself
        await wrong(ClientAt("10.0.0.7"), n, **{"X-Forwarded-For": f"1.1.1.{n}"})
    assert await wrong(ClientAt("10.0.0.7"), 9, **{"X-Forwarded-For": "2.2.2.2"}) == 429


async def test_ipv6_clients_are_counted_per_64(acme, mock_provider, settings):
    settings.GATEWAY = {**settings.GATEWAY, "AUTH_FAILURES_PER_MINUTE": 3}
    for n in range(4):  # a new address in the same /64 for every guess
        await wrong(ClientAt(f"2001:db8:1:2::{n + 1:x}"), n)
    assert await wrong(ClientAt("2001:db8:1:2:ffff::1"), 9) == 429
    assert await wrong(ClientAt("2001:db8:1:3::1"), 9) == 401  # the next /64 is someone else


def test_addresses_are_counted_as_hosts_or_64s():
    assert bruteforce.counted_as("2001:db8::1") == bruteforce.counted_as("2001:db8::ffff:1") == "2001:db8::/64"
    assert bruteforce.counted_as("::ffff:10.1.2.3") == "10.1.2.3"
    assert bruteforce.counted_as("10.1.2.3") == "10.1.2.3"
    assert bruteforce.counted_as("unknown") == "unknown"


async def test_a_flood_of_new_addresses_evicts_the_oldest_blocks_first(acme, mock_provider, settings, monkeypatch):
    settings.GATEWAY = {**settings.GATEWAY, "AUTH_FAILURES_PER_MINUTE": 1}
    monkeypatch.setattr(bruteforce, "_LOCAL_MAX", 5)
    for n in range(7):
        await wrong(ClientAt(f"10.0.1.{n}"), n)  # each address blocked at its first failure
    assert list(bruteforce._blocked) == [f"10.0.1.{n}" for n in range(2, 7)]



async def test_a_flood_of_wrong_keys_drops_the_oldest_cached_keys_first(acme, mock_provider, monkeypatch):
    monkeypatch.setattr(auth, "_LOCAL_MAX", 5)
    client = ClientAt("10.0.2.1")
    for n in range(8):
        await wrong(client, n)
    assert list(auth._local) == [keys.digest(f"gw-wrong-{n}") for n in range(3, 8)]  # never emptied at once
