"""Brute-force protection: failed key checks counted per client address, 429 past a limit per minute.

Failures are counted in the shared cache (Redis in a fleet), so every replica sees them; a
blocked address is remembered in process, so the check costs no I/O on the success path.
When the cache is unreachable the count falls back to this process.
"""
from __future__ import annotations

import logging
import math
import time
from collections import Counter

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from infra.errors import GatewayError
from infra.hotsettings import hot

log = logging.getLogger("gateway.bruteforce")

WINDOW = 60  # seconds
_LOCAL_MAX = 10_000
_blocked: dict[str, float] = {}  # address -> time.time() when the block ends
_local_counts: Counter[tuple[str, int]] = Counter()


def _limit() -> int:
    return settings.GATEWAY["AUTH_FAILURES_PER_MINUTE"]


def _refusal(until: float) -> GatewayError:
    retry = max(1, math.ceil(until - time.time()))
    return GatewayError(
        429, "rate_limit_error", "Too many failed authentication attempts from this address; try again later.",
        code="too_many_auth_failures", headers={"Retry-After": str(retry)},
    )


def check(address: str) -> None:
    """Raise 429 while the address is blocked; no I/O."""
    until = _blocked.get(address)
    if until is None:
        return
    if until > time.time():
        raise _refusal(until)
    _blocked.pop(address, None)


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
        if len(_local_counts) >= _LOCAL_MAX:
            _local_counts.clear()
        _local_counts[(address, window)] += 1
        return _local_counts[(address, window)]


async def failed(address: str) -> None:
    """Count one failed key check; block the address until the window ends once over the limit."""
    now = time.time()
    window = int(now // WINDOW)
    count = await sync_to_async(_count, thread_sensitive=False)(address, window)
    if count >= _limit():
        if len(_blocked) >= _LOCAL_MAX:
            _blocked.clear()
        _blocked[address] = (window + 1) * WINDOW
        log.warning("blocking key checks from %s for the rest of the minute (%d failures)", address, count)


def reset() -> None:
    """Forget blocks and local counts (tests)."""
    _blocked.clear()
    _local_counts.clear()
