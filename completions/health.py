"""Readiness of the database, the cache and Redis, for GET /health."""
from __future__ import annotations

import time
import uuid

from django.core.cache import cache
from django.db import connection

from infra import redisclients
from infra.sharedredis import shared_redis
from providers import routes


def check_database() -> dict:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"status": "ok", "latency_ms": round((time.monotonic() - started) * 1000, 1)}
    except Exception as exc:
        return {"status": "down", "error": type(exc).__name__}


def check_cache() -> dict:
    probe = f"health:{uuid.uuid4().hex}"
    try:
        cache.set(probe, 1, 5)
        ok = cache.get(probe) == 1
        cache.delete(probe)
        return {"status": "ok" if ok else "down", "backend": cache.__class__.__name__}
    except Exception as exc:
        return {"status": "down", "backend": cache.__class__.__name__, "error": type(exc).__name__}


def check_redis(cache_state: dict) -> dict:
    """Redis's topology, and whether it answered: the cache probe went through it (the Django cache is Redis then).

    `fallback`: the hot path (limits, response cache, budgets) is serving without Redis right now."""
    mode = redisclients.mode()
    if mode == "none":
        return {"mode": mode}
    return {"mode": mode, "status": cache_state["status"], "fallback": shared_redis.down}


def report() -> tuple[int, dict]:
    """200 while this process can serve (a database outage only degrades once routes are loaded); else 503."""
    database, cache_state = check_database(), check_cache()
    if database["status"] != "ok" and not routes.loaded():
        status, code = "down", 503
    elif database["status"] != "ok" or cache_state["status"] != "ok":
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    return code, {"status": status, "database": database, "cache": cache_state, "redis": check_redis(cache_state)}
