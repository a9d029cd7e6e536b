"""Garbage-collector settings for a server process: less collector time per request.

A request allocates thousands of short-lived objects, nearly all freed by reference counting, yet
every 700 allocations the collector runs, and each older-generation pass walks the whole of
Django, the routes and the caches again. Freezing what exists at startup takes it out of those
walks, and a larger first-generation threshold runs the collector less often (about 10-20 % of
CPU per request in bench/README.md). GC_GEN0_THRESHOLD=0 leaves Python's defaults.
"""
from __future__ import annotations

import gc

from infra.env import envint


def tune() -> None:
    """Call once the application is built, before serving."""
    threshold = envint("GC_GEN0_THRESHOLD", 10_000)
    if threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)
