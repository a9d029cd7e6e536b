"""The gateway's Prometheus metrics, each defined once, with bounded labels only.

Labels are tenant slugs, public model names, provider names, status classes and cache
results: never a key, a prompt or a request id. With PROMETHEUS_MULTIPROC_DIR set,
prometheus_client keeps every process's values in files there and GET /metrics adds them
up (see exposition.py); the gauges say how (`multiprocess_mode`).
"""
from __future__ import annotations

import asyncio
import functools
import os
import threading
import time

from prometheus_client import Counter, Gauge, Histogram

from providers import breaker
from usage import ledger

from . import exiting

# LLM answers take from tens of milliseconds (cache hits) to minutes (long generations).
LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)

REQUESTS = Counter(
    "gateway_requests", "Chat completion requests, by outcome.",
    ["tenant", "model", "provider", "status_class", "cache"],
)
TOKENS = Counter(
    "gateway_tokens", "Tokens processed by providers (cache hits excluded).",
    ["tenant", "model", "provider", "type"],
)
COST = Counter("gateway_cost_usd", "Cost of provider calls in USD.", ["tenant", "model", "provider"])
REQUEST_SECONDS = Histogram(
    "gateway_request_duration_seconds", "Time from request to the last byte of the answer.",
    ["model", "provider", "cache"], buckets=LLM_BUCKETS,
)
TTFT_SECONDS = Histogram(
    "gateway_time_to_first_token_seconds", "Time from request to the first streamed token.",
    ["model", "provider"], buckets=LLM_BUCKETS,
)
ATTEMPT_SECONDS = Histogram(
    "gateway_upstream_attempt_duration_seconds",
    "One call to a provider, until its answer (or first stream chunk) or failure.",
    ["provider", "outcome"], buckets=LLM_BUCKETS,
)
FALLBACKS = Counter(
    "gateway_fallbacks", "Attempts at a provider after an earlier one in the chain failed or was skipped.",
    ["model", "provider"],
)
RATE_LIMITED = Counter("gateway_rate_limited_requests", "Requests refused by a rate limit.", ["tenant"])
BUDGET_BLOCKED = Counter("gateway_budget_blocked_requests", "Requests refused by a hard budget.", ["tenant"])
CACHE = Counter("gateway_cache_requests", "Answered requests by response-cache result.", ["tenant", "model", "result"])
BUDGET_ALERTS = Counter("gateway_budget_alerts", "Budget threshold alerts fired.", ["tenant"])
OPEN_STREAMS = Gauge("gateway_open_streams", "Streams being relayed now.", multiprocess_mode="livesum")
BREAKER_STATE = Gauge(
    "gateway_breaker_state", "Circuit breaker per provider: 0 closed, 1 half-open, 2 open (worst process).",
    ["provider"], multiprocess_mode="livemax",
)
LEDGER_QUEUE = Gauge("gateway_ledger_queue_length", "Usage entries waiting to be written.", multiprocess_mode="livesum")
# Counted when sampled, on the loop noted by watch_loop(): at start under gateway_project.serve, else at the first scrape.
LOOP_TASKS = Gauge(
    "gateway_event_loop_tasks", "Asyncio tasks alive on the serving event loop (requests, streams, their helpers).",
    multiprocess_mode="livesum",
)
REDIS_FALLBACK = Gauge(
    "gateway_redis_fallback", "1 while Redis is unreachable and limits and cache run per process.",
    multiprocess_mode="livemax",
)

_BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}
_breakers_seen: set[str] = set()
_sampler: threading.Thread | None = None
_loop: asyncio.AbstractEventLoop | None = None


def status_class(status: int) -> str:
    return f"{status // 100}xx"


@functools.lru_cache(maxsize=4096)
def child(metric, *labels: str):
    """A metric's child for these label values, looked up once: labels() takes a lock and builds a key each call."""
    return metric.labels(*labels)


def note_breaker(provider: str) -> None:
    """Publish a provider's breaker state after routing touched it."""
    _breakers_seen.add(provider)
    child(BREAKER_STATE, provider).set(_BREAKER_VALUES[breaker.state(provider)])


def watch_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Note the event loop the application runs on, whose tasks `sample()` counts."""
    global _loop
    _loop = loop


def sample() -> None:
    """Refresh the gauges that read process state: ledger queue, breakers (an open one half-opens with time), tasks."""
    LEDGER_QUEUE.set(ledger.pending())
    if _loop is not None and not _loop.is_closed():
        LOOP_TASKS.set(len(asyncio.all_tasks(_loop)))  # all_tasks may be called from another thread
    for provider in tuple(_breakers_seen):
        BREAKER_STATE.labels(provider).set(_BREAKER_VALUES[breaker.state(provider)])


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def start_sampler(interval: float = 5.0) -> None:
    """In multiprocess mode, keep this process's gauges fresh for scrapes served by another process."""
    global _sampler
    if not multiprocess() or _sampler is not None:
        return
    from prometheus_client import multiprocess as mp

    exiting.on_exit(functools.partial(mp.mark_process_dead, os.getpid()))
    _sampler = threading.Thread(target=_sample_forever, args=(interval,), name="metrics-sampler", daemon=True)
    _sampler.start()


def _sample_forever(interval: float) -> None:
    while True:
        time.sleep(interval)
        sample()
