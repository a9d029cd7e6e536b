"""Garbage-collector settings for a server process: less collector time per request.

A request allocates thousands of short-lived objects, nearly all freed by reference counting, yet
every 700 allocations the collector runs, and each older-generation pass walks the whole of
Django, the routes and the caches again. Freezing what exists at startup takes it out of those
walks, and a larger first-generation threshold runs the collector less often (about 10-20 % of
CPU per request in bench/README.md). GC_GEN0_THRESHOLD=0 leaves Python's defaults.

With thousands of streams open, most of what a young pass sees survives, and the middle generation
grows: at Python's 10 young passes per middle pass one middle pass held the loop ~130 ms (bench/README.md,
"Issue 18"). A middle pass every 2 young ones (GC_GEN1_THRESHOLD) keeps each short; a full pass is
considered every 50 middle ones (GC_GEN2_THRESHOLD), every 100 young passes as before.
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
    gc.set_threshold(threshold, envint("GC_GEN1_THRESHOLD", 2), envint("GC_GEN2_THRESHOLD", 50))
