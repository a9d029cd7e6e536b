"""Requests that find a key's cached entry expired together share one fetch of it, not one thread and one
Redis or database read each; a revoked key is not served from a fetch begun before the revocation."""
from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from tenants import auth, keys

from .conftest import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


async def test_concurrent_lookups_of_an_expired_key_share_one_fetch(monkeypatch):
    acme = await sync_to_async(make_tenant)("acme")
    digest = keys.digest(acme.raw)
    fetches = []
    real_fetch = auth._fetch
    monkeypatch.setattr(auth, "_fetch", lambda d: fetches.append(d) or real_fetch(d))
    principals = await asyncio.gather(*(auth.lookup(digest) for _ in range(100)))
    assert {p.tenant_slug for p in principals} == {"acme"}
    assert fetches == [digest]
    assert auth._fetches.get(digest) is None  # nothing left behind once it is done


async def test_different_keys_are_fetched_apart(monkeypatch):
    acme, other = await sync_to_async(make_tenant)("acme"), await sync_to_async(make_tenant)("other")
    fetches = []
    real_fetch = auth._fetch
    monkeypatch.setattr(auth, "_fetch", lambda d: fetches.append(d) or real_fetch(d))
    a, b = await asyncio.gather(auth.lookup(keys.digest(acme.raw)), auth.lookup(keys.digest(other.raw)))
    assert (a.tenant_slug, b.tenant_slug) == ("acme", "other") and len(fetches) == 2


async def test_a_key_revoked_while_its_fetch_runs_is_fetched_again():
    acme = await sync_to_async(make_tenant)("acme")
    digest = keys.digest(acme.raw)
    begun = auth._fetching(digest)  # a fetch in flight, begun before the revocation
    await sync_to_async(keys.revoke)(acme.key)  # forgets the key here
    assert auth._fetches.get(digest) is not begun
    principal = await auth.lookup(digest)
    await begun
    assert principal is None or principal.revoked
