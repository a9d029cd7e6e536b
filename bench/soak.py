"""Soak: many requests in ten equal segments, RSS of every worker after each (flat from the half on)."""
from __future__ import annotations

import time

from . import fixture, load, servers
from .report import markdown
from .sampler import MB, Sampler

SEGMENTS = 10
# wrk cannot end on a count (a stopped thread still waits out -d), so each segment lasts the time
# the last measured rate needs for a tenth of the requests, within these bounds (seconds).
MIN_SEGMENT, MAX_SEGMENT, MAX_SEGMENTS = 2.0, 600.0, 30
# "Flat": growth between the half-way and the final sample within max(2 MB, 2%) of the half-way RSS.
FLAT_MB, FLAT_SHARE = 2.0, 0.02


def run(gateway: servers.Running, fx: fixture.Fixture, total: int) -> tuple[float, str, bool]:
    """Send `total` requests at 64 connections; print RSS over time; return (final RSS, note, flat and <= 150 MB)."""
    sampler = Sampler(gateway.pids)
    workers = sampler.workers()
    per_segment = max(1, total // SEGMENTS)
    rows, sent, started, rate = [], 0, time.monotonic(), None
    samples: list[tuple[int, float]] = []
    print(f"soak: {total:,} requests in about {SEGMENTS} segments, 64 connections, workers {workers}", flush=True)
    for _ in range(MAX_SEGMENTS):
        if sent >= total:
            break
        seconds = MIN_SEGMENT if rate is None else min(MAX_SEGMENT, max(MIN_SEGMENT, min(per_segment, total - sent) / rate))
        before = sampler.snapshot()
        result = load.wrk(gateway.url, 64, seconds, fx.key, fx.model)
        rate = result.rps or None
        time.sleep(0.5)
        after = sampler.snapshot()
        sent += result.requests
        rss = max(after.rss.get(pid, 0) for pid in workers) / MB
        samples.append((sent, rss))
        cpu = (after.cpu_seconds - before.cpu_seconds) * 1000 / max(1, result.requests)
        per_worker = " ".join(f"{after.rss.get(pid, 0) / MB:.1f}" for pid in workers)
        rows.append((f"{sent:,}", f"{time.monotonic() - started:,.0f}", f"{result.rps:,.0f}", f"{cpu:.3f}",
                     f"{result.errors}", per_worker))
        print(f"  {rows[-1]}", flush=True)
    print("\n" + markdown(("requests", "seconds", "req/s", "CPU ms/req", "errors", "RSS MB per worker"), rows))
    half = next(rss for n, rss in samples if n >= sent / 2)
    final = samples[-1][1]
    growth = final - half
    flat = growth <= max(FLAT_MB, FLAT_SHARE * half)
    print(f"RSS half-way {half:.1f} MB, final {final:.1f} MB, growth {growth:+.1f} MB: {'flat' if flat else 'GROWING'}")
    return final, f"after {sent:,} soak requests, {growth:+.1f} MB since half", flat and final <= 150
