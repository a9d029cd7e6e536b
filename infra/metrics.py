"""The metrics registry's shared parts: label-child lookup, the gauges of the process itself, and the
sampler that refreshes gauges read from process state.

Each app defines its own metrics once (completions/metrics.py, providers/metrics.py,
usage/metrics.py) and registers what must be sampled with `on_sample`; this module knows no app.
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
from collections.abc import Callable

from prometheus_client import Gauge

from . import exiting

# LLM answers take from tens of milliseconds (cache hits) to minutes (long generations).
LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)

# Counted when sampled, on the loop noted by watch_loop(): at start under gateway_project.serve, else at the first scrape.
LOOP_TASKS = Gauge(
    "gateway_event_loop_tasks", "Asyncio tasks alive on the serving event loop (requests, streams, their helpers).",
    multiprocess_mode="livesum",
)
REDIS_FALLBACK = Gauge(
    "gateway_redis_fallback", "1 while Redis is unreachable and limits and cache run per process.",
    multiprocess_mode="livemax",
)

_samplers: list[Callable[[], None]] = []
_sampler: threading.Thread | None = None
_loop: asyncio.AbstractEventLoop | None = None


def status_class(status: int) -> str:
    return f"{status // 100}xx"


@functools.lru_cache(maxsize=4096)
def child(metric, *labels: str):
    """A metric's child for these label values, looked up once: labels() takes a lock and builds a key each call."""
    return metric.labels(*labels)


def on_sample(fn: Callable[[], None]) -> None:
    """Have `sample()` call fn: an app refreshing a gauge that reads its own state (ledger queue, breakers)."""
    if fn not in _samplers:
        _samplers.append(fn)


def watch_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Note the event loop the application runs on, whose tasks `sample()` counts."""
    global _loop
    _loop = loop


def sample() -> None:
    """Refresh the gauges that read process state: the apps' (ledger queue, breakers) and the loop's tasks."""
    for fn in tuple(_samplers):
        fn()
    if _loop is not None and not _loop.is_closed():
        LOOP_TASKS.set(len(asyncio.all_tasks(_loop)))  # all_tasks may be called from another thread


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
