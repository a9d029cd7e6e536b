"""Authentication: key digest → cached Principal, with no database read in steady state.

Two cache levels: a per-process dict trusted for KEY_CACHE_LOCAL_TTL seconds, then the
shared Django cache (Redis in a fleet), then the database. Changes to a key or tenant
delete the shared entry (tenants/signals.py), so a revocation is seen everywhere within
KEY_CACHE_LOCAL_TTL seconds.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import time
from functools import partial

from django.conf import settings
from django.core.cache import cache

from infra.errors import GatewayError, forbidden, unauthorized
from infra.inflight import InFlight

from . import bruteforce, keys
from .models import ApiKey
from .principal import Principal

log = logging.getLogger("gateway.auth")

_MISSING = "missing"  # shared-cache marker for an unknown digest
_local: dict[str, tuple[float, Principal | None]] = {}
_LOCAL_MAX = 100_000
_fetches = InFlight()  # digest -> its fetch in flight


def cache_key(digest: str) -> str:
    return f"key:{digest}"


def shared_cache_enabled() -> bool:
    """Only a cache shared by every process can be invalidated for all of them."""
    return bool(settings.REDIS_URL)


def extract_key(headers) -> str | None:
    raw = headers.get("x-api-key")
    if raw:
        return raw.strip()
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def load_principal(digest: str) -> Principal | None:
    """Read a key and its tenant from the database (one query)."""
    key = ApiKey.objects.select_related("tenant").filter(digest=digest).first()
    if key is None or not hmac.compare_digest(key.digest, digest):
        return None
    tenant = key.tenant
    ends = [t.timestamp() for t in (key.expires_at, key.grace_until) if t is not None]
    return Principal(
        key_id=key.pk,
        key_prefix=key.prefix,
        digest=key.digest,
        tenant_id=tenant.pk,
        tenant_slug=tenant.slug,
        tenant_active=tenant.active,
        valid_until=min(ends) if ends else None,
        revoked=key.revoked_at is not None,
        rpm_limit=tenant.rpm_limit,
        tpm_limit=tenant.tpm_limit,
        key_rpm_limit=key.rpm_limit,
        key_tpm_limit=key.tpm_limit,
        allowed_models=frozenset(tenant.allowed_models or ()),
        monthly_budget_usd=tenant.monthly_budget_usd,
        budget_is_hard=tenant.budget_is_hard,
        alert_thresholds=tuple(int(t) for t in (tenant.alert_thresholds or ())),
        cache_ttl_seconds=tenant.cache_ttl_seconds,
    )


def _fetch(digest: str) -> Principal | None:
    """Shared cache, then database; runs in a worker thread."""
    shared = shared_cache_enabled()
    if shared:
        try:
            hit = cache.get(cache_key(digest))
            if hit is not None:
                return None if hit == _MISSING else hit
        except Exception:  # Redis down: fall through to the database
            log.warning("key cache unavailable; reading the database")
    principal = load_principal(digest)
    if shared:
        try:
            ttl = settings.GATEWAY["KEY_CACHE_SHARED_TTL"] if principal else 30
            cache.set(cache_key(digest), principal or _MISSING, ttl)
        except Exception:
            pass
    return principal


def _fetching(digest: str) -> asyncio.Task:
    """The one fetch of this key in flight on this loop: the requests that find its entry expired together
    share it, rather than each taking a thread and a Redis or database read."""
    return _fetches.run(digest, partial(_fetch, digest))


async def lookup(digest: str) -> Principal | None:
    now = time.monotonic()
    entry = _local.get(digest)
    if entry is not None and entry[0] > now:
        return entry[1]
    try:
        principal = await asyncio.shield(_fetching(digest))
    except Exception:
        if entry is not None:  # database and cache both unreachable: trust what we knew
            log.warning("key store unreachable; serving a known key from process memory")
            return entry[1]
        raise
    # Newest last; past _LOCAL_MAX the oldest go first, so a flood of wrong keys cannot empty the cache at once.
    _local.pop(digest, None)
    while len(_local) >= _LOCAL_MAX:
        del _local[next(iter(_local))]
    _local[digest] = (now + settings.GATEWAY["KEY_CACHE_LOCAL_TTL"], principal)
    return principal


def forget(digest: str) -> None:
    """Drop a key from this process and the shared cache (called on change)."""
    _local.pop(digest, None)
    _fetches.forget(digest)  # a fetch begun before the change must not serve the next request
    try:
        cache.delete(cache_key(digest))
    except Exception:
        log.warning("could not delete a key from the shared cache")


def clear_local() -> None:
    _local.clear()


async def authenticate(headers, client: str | None = None) -> Principal:
    """The Principal for the request's key, or a GatewayError (401/403; 429 for a `client` address guessing keys).

    The key is checked first: a valid key is served whatever its address did, and only wrong keys count."""
    raw = extract_key(headers)
    if not raw:
        raise unauthorized("Missing API key: send X-API-Key or Authorization: Bearer.")
    if client is None:
        return await _check_key(raw)
    try:
        return await _check_key(raw)
    except GatewayError as err:
        if err.status != 401:
            raise
        raise await bruteforce.failed(client, err) from None


async def _check_key(raw: str) -> Principal:
    principal = await lookup(keys.digest(raw))
    if principal is None or principal.revoked:
        raise unauthorized("Invalid API key.")
    if principal.valid_until is not None and principal.valid_until <= time.time():
        raise unauthorized("This API key has expired.")
    if not principal.tenant_active:
        raise forbidden("This tenant is disabled.", code="tenant_disabled")
    return principal


def authenticate_sync(headers) -> Principal:
    """Blocking variant for DRF (sync) views off the hot path."""
    from asgiref.sync import async_to_sync

    return async_to_sync(authenticate)(headers)


__all__ = ["GatewayError", "authenticate", "authenticate_sync", "forget", "lookup", "Principal"]
