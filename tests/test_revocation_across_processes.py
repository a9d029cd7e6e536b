"""A key revoked in one process is refused by two gateway processes sharing Redis within KEY_CACHE_LOCAL_TTL.

The race this guards: the caches were cleared inside the revoking transaction, so a replica that
read the key before the commit cached the old row again in Redis for KEY_CACHE_SHARED_TTL.
"""
from __future__ import annotations

import time

import httpx
import pytest
from django.db import transaction

from tenants import services
from tests.conftest import make_tenant, requires_redis
from tests.live import GatewayServer

pytestmark = [pytest.mark.django_db(transaction=True), requires_redis]

LOCAL_TTL = 1.0  # KEY_CACHE_LOCAL_TTL of both gateways, seconds
SETTLE = 0.25  # the request's own way through the gateway after the TTL has run out


def status(http: httpx.Client, server: GatewayServer, raw: str) -> int:
    return http.get(server.url + "/v1/models", headers={"X-API-Key": raw}).status_code


def test_a_key_revoked_while_another_gateway_reads_it_is_refused_by_both(mock_provider):
    tenant = make_tenant("acme")
    env = {"KEY_CACHE_LOCAL_TTL": str(LOCAL_TTL), "KEY_CACHE_SHARED_TTL": "300"}
    with GatewayServer(env) as first, GatewayServer(env) as second, httpx.Client(timeout=10) as http:
        assert status(http, first, tenant.raw) == 200  # cached in Redis and in the first process
        with transaction.atomic():
            services.revoke_key(tenant.key)
            # Before the commit the second gateway reads the old row and caches it, in Redis too.
            assert status(http, second, tenant.raw) == 200
        # Every copy in process memory was taken before the commit, so it has run out now; the
        # shared cache was cleared after the commit. (Cleared before it, the copy lived 300 s.)
        time.sleep(LOCAL_TTL + SETTLE)
        assert (status(http, first, tenant.raw), status(http, second, tenant.raw)) == (401, 401)


def test_a_key_revoked_by_the_command_is_refused_by_a_gateway_that_had_it_cached(mock_provider):
    tenant = make_tenant("acme")
    env = {"KEY_CACHE_LOCAL_TTL": str(LOCAL_TTL)}
    with GatewayServer(env) as first, GatewayServer(env) as second, httpx.Client(timeout=10) as http:
        assert (status(http, first, tenant.raw), status(http, second, tenant.raw)) == (200, 200)
        services.revoke_key(tenant.key)
        time.sleep(LOCAL_TTL + SETTLE)
        assert (status(http, first, tenant.raw), status(http, second, tenant.raw)) == (401, 401)
