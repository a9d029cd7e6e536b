"""Item 3: the same app under Daphne, Uvicorn (uvloop, httptools) and Granian, with several worker counts."""
from __future__ import annotations

from . import fixture, servers
from .measure import measured, upstream_alone, warm
from .report import fmt, markdown
from .sampler import MB, Sampler


def run(upstream: servers.Running, fx: fixture.Fixture, worker_counts: list[int], seconds: float) -> None:
    alone = upstream_alone(upstream)
    direct1 = measured(upstream, 1, seconds)
    rows = []
    for server in servers.SERVERS:
        for workers in worker_counts:
            gateway = servers.start_gateway(server, workers, fx.env)
            try:
                warm(gateway, fx)
                one = measured(gateway, 1, seconds, fx.key, fx.model)
                busy = measured(gateway, 64, seconds * 2, fx.key, fx.model)
                sampler = Sampler(gateway.pids)
                snap = sampler.snapshot()
                worker_rss = max(snap.rss.get(pid, 0) for pid in sampler.workers()) / MB
            finally:
                gateway.stop()
            rows.append((server, str(workers), fmt(busy.run.rps, "", 0), fmt(busy.cpu_ms_per_request, "", 3),
                         fmt(one.run.p50_ms - direct1.run.p50_ms, ""), fmt(busy.run.p50_ms, "", 1),
                         fmt(busy.run.p99_ms, "", 1), fmt(worker_rss, "", 0), fmt(snap.rss_total_mb, "", 0),
                         str(one.run.errors + busy.run.errors)))
            print(f"  {rows[-1]}", flush=True)
    header = ("server", "workers", "req/s @64", "CPU ms/req", "added p50 @1 (ms)", "p50 @64 (ms)", "p99 @64 (ms)",
              "RSS/worker MB", "RSS total MB", "errors")
    print(f"\nfake upstream alone: {alone.run.rps:,.0f} req/s; direct p50 at 1 client {direct1.run.p50_ms:.2f} ms\n")
    table = markdown(header, rows)
    print(table)
    servers.OUT.mkdir(exist_ok=True)
    (servers.OUT / "last-compare.md").write_text(table + "\n")
