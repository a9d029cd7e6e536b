"""How late the serving event loop runs a timer: the lag every request on it waits behind; and what the
garbage collector's passes cost, the usual cause of a long one.

Every LOOP_LAG_SAMPLE_MS (default 100; 0 turns it off) a timer notes how much later than due it ran, into
the histogram gateway_event_loop_lag_seconds. A loop busy with thousands of open streams, a long garbage
collection or a blocking call shows here before it shows as time to first token. One timer handle per
sample, no task: about 2 us of CPU per sample. Each collection's duration goes into
gateway_gc_pause_seconds by generation (two clock reads per collection, one collection per ~10,000
allocations).
"""
from __future__ import annotations

import asyncio
import gc
import time

from prometheus_client import Histogram

from .env import envint

LAG = Histogram(
    "gateway_event_loop_lag_seconds", "How late the serving event loop ran a timer due at a fixed interval.",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
GC_PAUSE = Histogram(
    "gateway_gc_pause_seconds", "How long each pass of the cyclic garbage collector held the process.",
    ["generation"], buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
_loop: asyncio.AbstractEventLoop | None = None
_gc_started = 0.0
_gc_pause = tuple(GC_PAUSE.labels(str(generation)) for generation in range(3))


def ensure_started() -> None:
    """Start sampling the running loop, once per loop (the first request on it calls this)."""
    global _loop
    loop = asyncio.get_running_loop()
    if loop is _loop:
        return
    _loop = loop
    interval = envint("LOOP_LAG_SAMPLE_MS", 100) / 1000
    if interval > 0:
        loop.call_at(loop.time() + interval, _tick, loop, interval, loop.time() + interval)
        if _timed_gc not in gc.callbacks:
            gc.callbacks.append(_timed_gc)


def _timed_gc(phase: str, info: dict) -> None:
    global _gc_started
    if phase == "start":
        _gc_started = time.perf_counter()
    else:
        _gc_pause[info["generation"]].observe(time.perf_counter() - _gc_started)


def _tick(loop: asyncio.AbstractEventLoop, interval: float, due: float) -> None:
    now = loop.time()
    LAG.observe(max(0.0, now - due))
    if loop is _loop:
        loop.call_at(now + interval, _tick, loop, interval, now + interval)
