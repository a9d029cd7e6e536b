"""Key guessing: failed key checks counted per client address, 429 for its wrong keys past a limit per minute.

Only failures are ever refused: a valid key is checked first and always served, so guessers
sharing an address with real clients (a load balancer without TRUSTED_PROXY_HOPS, a UNIX socket,
a NAT) cannot lock those clients out. Failures are counted in the shared cache (Redis in a
fleet), so every replica sees them; a blocked address is remembered in process, so a blocked
guesser's next wrong keys cost no Redis round trip. IPv6 clients are counted per /64, the block
a single host usually holds. Memory is bounded: past _LOCAL_MAX addresses the oldest entries go
first, so a flood of new addresses cannot flush the blocks already made.
"""
from __future__ import annotations

import ipaddress
import logging
import math
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from infra.errors import GatewayError

log = logging.getLogger("gateway.bruteforce")

WINDOW = 60  # seconds
_LOCAL_MAX = 10_000
_blocked: dict[str, float] = {}  # counted address -> time.time() when the block ends; oldest block first
_local_counts: dict[tuple[str, int], int] = {}  # (counted address, window) -> failures, when the cache is down


def counted_as(address: str) -> str:
    """The unit failures are counted for: an IPv4 address, an IPv6 /64, or the text as given."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _limit() -> int:
    return settings.GATEWAY["AUTH_FAILURES_PER_MINUTE"]


def _refusal(until: float) -> GatewayError:
    retry = max(1, math.ceil(until - time.time()))
    return GatewayError(
        429, "rate_limit_error", "Too many failed authentication attempts from this address; try again later.",
        code="too_many_auth_failures", headers={"Retry-After": str(retry)},
    )


def _remember(table: dict, key, value) -> None:
    """Set table[key] as its newest entry, dropping the oldest ones past _LOCAL_MAX."""
    table.pop(key, None)
    while len(table) >= _LOCAL_MAX:
        del table[next(iter(table))]
    table[key] = value


def _count(address: str, window: int) -> int:
    key = f"bf:{address}:{window}"
    try:
        if cache.add(key, 1, WINDOW * 2):
            return 1
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, WINDOW * 2)
        return 1
    except Exception:
        log.warning("failure counter unavailable; counting in process")
        count = _local_counts.get((address, window), 0) + 1
        _remember(_local_counts, (address, window), count)
        return count


async def failed(client: str, error: GatewayError) -> GatewayError:
    """Count one failed key check from `client`; the error to answer: `error`, or 429 once over the limit."""
    address = counted_as(client)
    now = time.time()
    until = _blocked.get(address)
    if until is not None:
        if until > now:
            return _refusal(until)
        _blocked.pop(address, None)
    window = int(now // WINDOW)
    count = await sync_to_async(_count, thread_sensitive=False)(address, window)
    if count > _limit():  # another replica blocked it first
        until = (window + 1) * WINDOW
        _remember(_blocked, address, until)
        return _refusal(until)
    if count == _limit():
        _remember(_blocked, address, (window + 1) * WINDOW)
        log.warning("refusing wrong keys from %s for the rest of the minute (%d failures)", address, count)
    return error


def reset() -> None:
    """Forget blocks and local counts (tests)."""
    _blocked.clear()
    _local_counts.clear()
