"""One measured closed-loop run: wrk, with the CPU seconds and RSS of the server processes around it."""
from __future__ import annotations

import time
from dataclasses import dataclass

from . import fixture, load, servers
from .sampler import Sampler


@dataclass(frozen=True)
class Measured:
    """A wrk run with the CPU seconds and RSS of the server processes around it."""

    run: load.WrkResult
    cpu_ms_per_request: float
    rss_max_mb: float


def measured(running: servers.Running, connections: int, seconds: float, key: str = "", model: str = "") -> Measured:
    sampler = Sampler(running.pids)
    before = sampler.snapshot()
    run = load.wrk(running.url, connections, seconds, key, model or fixture.MODEL)
    time.sleep(0.5)  # the ledger writer flushes what the run queued; its CPU belongs to the run
    after = sampler.snapshot()
    cpu = (after.cpu_seconds - before.cpu_seconds) * 1000 / run.requests if run.requests else float("nan")
    return Measured(run, cpu, after.rss_max_mb)


def warm(gateway: servers.Running, fx: fixture.Fixture, seconds: float = 2.0) -> None:
    """Fill pools and caches (key, routes, connections) before anything is measured."""
    load.wrk(gateway.url, 16, seconds, fx.key, fx.model)
    load.streams(gateway.url, fx.key, fx.model, concurrency=16, total=32)


def upstream_alone(upstream: servers.Running) -> Measured:
    """The fake upstream alone at 64 connections: it must serve far more than the gateway can."""
    result = measured(upstream, 64, 3)
    print(f"fake upstream alone: {result.run.rps:,.0f} req/s at 64 connections, "
          f"{result.cpu_ms_per_request:.3f} ms CPU per request, p50 {result.run.p50_ms:.2f} ms", flush=True)
    return result
