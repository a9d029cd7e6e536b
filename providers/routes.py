"""The route table: public model name → ordered Targets, held in process memory.

Loaded from the database at most every ROUTE_CACHE_TTL seconds (and at once in the
process that saved a change), so the hot path reads no database in steady state: when the
table has only aged, requests go on with it while one refresh runs beside them.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time

from asgiref.sync import sync_to_async
from infra.hotsettings import hot
from infra.inflight import InFlight

from .models import ModelRoute, api_key_env_problem
from .types import Target

log = logging.getLogger("gateway.routes")

_lock = threading.Lock()
_table: dict[str, tuple[Target, ...]] = {}
_loaded_at = float("-inf")  # -inf: never loaded, or invalidated by a change (then requests wait for the next)
_generation = 0  # changes seen by invalidate(); a load that overlapped one is not fresh
_refreshes = InFlight("route table refresh failed; serving the last one")  # the one refresh in flight
_reported: set[tuple[str, str]] = set()  # (provider, variable) refused and logged by this process


def _api_key(provider) -> tuple[str, str]:
    """(the key, "") from the provider's variable, or ("", why) when the variable's name is refused.

    Rows saved before the *_API_KEY rule are never read from the environment: such a provider
    is skipped until renamed (`manage.py check --database default` lists them)."""
    if not provider.api_key_env:
        return "", ""
    if problem := api_key_env_problem(provider.api_key_env):
        if (provider.name, provider.api_key_env) not in _reported:
            _reported.add((provider.name, provider.api_key_env))
            log.error("provider %s skipped as misconfigured: %s", provider.name, problem)
        return "", "its API key variable's name is refused (it must end in _API_KEY)"
    return os.environ.get(provider.api_key_env, ""), ""


def _target(route: ModelRoute) -> Target:
    provider = route.provider
    api_key, misconfigured = _api_key(provider)
    return Target(
        provider=provider.name,
        kind=provider.kind,
        base_url=provider.base_url.rstrip("/"),
        api_key=api_key,
        timeout=provider.timeout_seconds,
        upstream_model=route.upstream_model,
        public_model=route.public_name,
        input_price_per_mtok=route.input_price_per_mtok,
        output_price_per_mtok=route.output_price_per_mtok,
        cached_input_price_per_mtok=route.cached_input_price_per_mtok,
        cache_write_price_per_mtok=route.cache_write_price_per_mtok,
        priced=route.priced,
        priority=route.priority,
        weight=route.weight,
        options=dict(provider.options or {}),
        misconfigured=misconfigured,
        mode=route.mode,
    )


def load() -> dict[str, tuple[Target, ...]]:
    """Build the table from the database (one query)."""
    table: dict[str, list[Target]] = {}
    rows = ModelRoute.objects.select_related("provider").filter(enabled=True, provider__enabled=True)
    for route in rows.order_by("public_name", "priority", "id"):
        table.setdefault(route.public_name, []).append(_target(route))
    return {name: tuple(targets) for name, targets in table.items()}


def refresh() -> dict[str, tuple[Target, ...]]:
    global _table, _loaded_at
    generation = _generation
    table = load()
    with _lock:
        # A change saved while this load ran may be missing from it: fresh only if none was.
        _table, _loaded_at = table, time.monotonic() if generation == _generation else float("-inf")
    return table


def loaded() -> bool:
    """Whether this process holds a route table it can serve from without the database."""
    return bool(_table)


def invalidate() -> None:
    """A route or provider changed: the next request waits for a table that has it."""
    global _loaded_at, _generation
    with _lock:
        _loaded_at, _generation = float("-inf"), _generation + 1


def _fresh() -> bool:
    return time.monotonic() - _loaded_at < hot.GATEWAY["ROUTE_CACHE_TTL"]


async def table() -> dict[str, tuple[Target, ...]]:
    """The table; when only its age expired, the current one while one refresh runs beside (no request waits
    on the database in steady state, and a thousand requests at the expiry make one query, not a thousand)."""
    if _fresh():
        return _table
    cached = hot.GATEWAY["ROUTE_CACHE_TTL"] > 0  # 0: each request reads the table itself (changes apply at once)
    if cached and _table and _loaded_at > float("-inf"):
        _refreshes.run("table", refresh)
        return _table
    try:
        if not cached:
            return await sync_to_async(refresh, thread_sensitive=False)()
        while not _fresh():  # a load that overlapped a change is not fresh: wait for the next one
            await asyncio.shield(_refreshes.run("table", refresh))
        return _table
    except Exception:
        if _table:  # database unreachable: keep routing with what we know
            return _table
        raise


def table_sync() -> dict[str, tuple[Target, ...]]:
    return _table if _fresh() else refresh()


async def targets_for(public_model: str) -> tuple[Target, ...]:
    return (await table()).get(public_model, ())
