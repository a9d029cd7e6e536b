"""make bench: the gateway with everything on against a fast fake upstream, targets beside measurements.

    python -m bench.run                 # full run: direct baseline and gateway (one worker per core), the targets table
    python -m bench.run --soak          # and 100,000 requests with RSS at intervals
    python -m bench.run --quick         # CPU per request only, beside the figure in bench/README.md
    python -m bench.run --compare       # Daphne, Uvicorn, Granian with 1 and 2 workers
    python -m bench.run --profile       # py-spy of one gateway worker under load
    python -m bench.run --llm only --scenarios stream,open --open-streams 5000   # issue 18's LLM load alone
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict

from infra import fdlimit

from . import compare, endpoints, fixture, llmload, load, profile, servers, soak
from .llmscen import DEFAULT as LLM_SCENARIOS
from .measure import Measured, measured, upstream_alone, warm
from .report import Row, fmt, ratio, recorded_quick_figure, render, verdict
from .sampler import Sampler


def _pair(upstream: servers.Running, gateway: servers.Running, fx: fixture.Fixture, connections: int,
          seconds: float) -> tuple[Measured, Measured]:
    direct = measured(upstream, connections, seconds)
    through = measured(gateway, connections, seconds, fx.key, fx.model)
    for name, m in (("direct", direct), ("gateway", through)):
        print(f"  {connections:>2} connections, {name:<7}: {m.run.rps:8,.0f} req/s  p50 {m.run.p50_ms:8.2f} ms  "
              f"p99 {m.run.p99_ms:8.2f} ms  CPU/req {m.cpu_ms_per_request:6.3f} ms  errors {m.run.errors}", flush=True)
    return direct, through


def targets(runs: dict[int, tuple[Measured, Measured]], sd: load.StreamStats, sg: load.StreamStats,
            memory: tuple[float, str, bool | None]) -> list[Row]:
    """One row per target of issue 8."""
    d1, g1 = runs[1]
    d16, g16 = runs[16]
    d64, g64 = runs[64]
    cpu = g64.cpu_ms_per_request
    added1 = g1.run.p50_ms - d1.run.p50_ms
    added16 = g16.run.p50_ms - d16.run.p50_ms
    tail = g64.run.p99_ms / g64.run.p50_ms if g64.run.p50_ms else float("nan")
    ttft = sg.ttft_p50_ms - sd.ttft_p50_ms
    stream_ratio = sg.total_p50_ms / sd.total_p50_ms
    rss, rss_note, rss_ok = memory
    errors = sum(m.run.errors for pair in runs.values() for m in pair) + sd.errors + sg.errors
    return [
        Row("CPU per request (64 conc., server processes)", "<= 1 ms (stretch < 0.7)", fmt(cpu, " ms", 3),
            fmt(d64.cpu_ms_per_request, " ms", 3), ratio(cpu, d64.cpu_ms_per_request), verdict(cpu <= 1.0)),
        Row("req/s at 64 concurrent", "> 1,600 (Portkey)", fmt(g64.run.rps, "", 0), fmt(d64.run.rps, "", 0),
            ratio(g64.run.rps, d64.run.rps), verdict(g64.run.rps > 1600)),
        Row("added p50 latency, 1 client", "<= 1.5 ms", fmt(added1, " ms"), fmt(d1.run.p50_ms, " ms"),
            ratio(g1.run.p50_ms, d1.run.p50_ms), verdict(added1 <= 1.5)),
        Row("added p50 latency, 16 concurrent", "<= 10 ms", fmt(added16, " ms"), fmt(d16.run.p50_ms, " ms"),
            ratio(g16.run.p50_ms, d16.run.p50_ms), verdict(added16 <= 10)),
        Row("p99 / p50 at 64 concurrent", "<= 5x", f"{tail:.2f}x ({fmt(g64.run.p99_ms, ' ms', 1)})",
            f"{d64.run.p99_ms / d64.run.p50_ms:.2f}x", "", verdict(tail <= 5)),
        Row("streaming: added TTFT p50, 16 concurrent", "<= 5 ms", fmt(ttft, " ms"), fmt(sd.ttft_p50_ms, " ms"),
            ratio(sg.ttft_p50_ms, sd.ttft_p50_ms), verdict(ttft <= 5)),
        Row("streaming: total stream time p50 vs direct", "<= 1.05x", fmt(sg.total_p50_ms, " ms", 1),
            fmt(sd.total_p50_ms, " ms", 1), f"{stream_ratio:.3f}x", verdict(stream_ratio <= 1.05)),
        Row(f"memory per worker (RSS, {rss_note})", "<= 150 MB, flat 50k->100k", fmt(rss, " MB", 1), "", "",
            verdict(rss_ok)),
        Row("errors (socket, timeout, non-2xx)", "0", str(errors), "", "", verdict(errors == 0)),
    ]


def full(args, upstream: servers.Running, fx: fixture.Fixture) -> None:
    alone = upstream_alone(upstream)
    gateway = servers.start_gateway(args.server, args.workers, fx.env)
    try:
        warm(gateway, fx)
        print(f"gateway: {gateway.name}, pids {gateway.pids}; closed loops of {args.seconds:g}s", flush=True)
        runs = {c: _pair(upstream, gateway, fx, c, args.seconds * (2 if c == 64 else 1)) for c in (1, 16, 64)}
        sd = load.streams(upstream.url, "", fx.model, 16, args.streams)
        sg = load.streams(gateway.url, fx.key, fx.model, 16, args.streams)
        print(f"  streams direct : {sd}\n  streams gateway: {sg}", flush=True)
        served = sum(r[1].run.requests for r in runs.values()) + sg.streams
        sampler = Sampler(gateway.pids)
        rss_now = max(sampler.snapshot().rss[pid] for pid in sampler.workers()) / 2**20
        memory = (rss_now, f"after ~{served:,} requests; --soak for 100k", None if rss_now <= 150 else False)
        if args.soak:
            memory = soak.run(gateway, fx, args.soak_requests)
        more = endpoints.run(gateway, fx, args.seconds, args.streams)  # after the memory row: see its docstring
    finally:
        gateway.stop()
    rows = targets(runs, sd, sg, memory) + more
    title = (f"gateway {gateway.name} (all features on: key auth, Redis rate limits + budget, PostgreSQL ledger, "
             f"metrics); fake upstream alone: {alone.run.rps:,.0f} req/s")
    table = render(rows, title)
    print("\n" + table)
    servers.OUT.mkdir(exist_ok=True)
    (servers.OUT / "last-table.md").write_text(table + "\n")
    (servers.OUT / "last-run.json").write_text(json.dumps(
        {"runs": {c: [asdict(m) for m in pair] for c, pair in runs.items()},
         "streams": {"direct": asdict(sd), "gateway": asdict(sg)}}, indent=1, default=str))


def llm(args, fx: fixture.Fixture) -> None:
    """Issue 18's LLM-load targets (bench/llmload.py), in their own table."""
    rows = llmload.run(fx, args.server, args.scenarios, args.open_streams, args.seconds)
    table = render(rows, "LLM load (issue 18): one gateway worker unless the row says otherwise; "
                         "direct = the same fake upstream without the gateway, same run")
    print("\n" + table)
    servers.OUT.mkdir(exist_ok=True)
    (servers.OUT / "last-llm-table.md").write_text(table + "\n")


def quick(args, fx: fixture.Fixture) -> None:
    gateway = servers.start_gateway(args.server, args.workers, fx.env)
    try:
        warm(gateway, fx, 1.0)
        result = measured(gateway, 64, 10, fx.key, fx.model)
    finally:
        gateway.stop()
    reference = recorded_quick_figure()
    versus = f"{reference:.3f} ms recorded in bench/README.md ({ratio(result.cpu_ms_per_request, reference)})" \
        if reference else "no figure recorded in bench/README.md yet"
    print(f"\nbench-quick ({gateway.name}, 64 connections, 10 s, {result.run.requests:,} requests, "
          f"{result.run.errors} errors, {result.run.rps:,.0f} req/s)")
    print(f"CPU per request: {result.cpu_ms_per_request:.3f} ms   vs   {versus}")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the gateway against a fast fake upstream on loopback.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="CPU per request only (under a minute)")
    mode.add_argument("--compare", action="store_true", help="Daphne, Uvicorn and Granian, 1 and 2 workers")
    mode.add_argument("--profile", action="store_true", help="py-spy of one worker under 64-connection load")
    parser.add_argument("--soak", action="store_true", help="also send --soak-requests and report RSS over time")
    parser.add_argument("--soak-requests", type=int, default=100_000)
    parser.add_argument("--server", choices=servers.SERVERS, default="granian",
                        help="granian: the measured production default (bench/README.md); daphne: make run's")
    parser.add_argument("--workers", type=int,
                        help="default: one per core, as the README's production command (--quick, --profile: 1)")
    parser.add_argument("--worker-counts", default="1,2", help="for --compare, e.g. 1,2,4")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each closed-loop run (64: twice)")
    parser.add_argument("--settings", help="DJANGO_SETTINGS_MODULE for the gateway, e.g. bench.whatif.lean_middleware")
    parser.add_argument("--streams", type=int, default=320, help="streams per side at 16 concurrent")
    parser.add_argument("--llm", choices=("also", "only", "skip"), default="also",
                        help="issue 18's LLM-load scenarios after the main table (also), alone (only), or not")
    parser.add_argument("--scenarios", default=",".join(LLM_SCENARIOS),
                        help=f"LLM scenarios to run, in order (default all: {','.join(LLM_SCENARIOS)})")
    parser.add_argument("--open-streams", type=int, default=5000, help="streams held open at once (scenario open)")
    args = parser.parse_args()
    args.scenarios = [name for name in args.scenarios.split(",") if name]
    unknown = set(args.scenarios) - set(LLM_SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {','.join(LLM_SCENARIOS)}")
    return args


def main() -> None:
    args = parse()
    fdlimit.raise_to_hard_limit()  # the open-streams client holds 5,000 sockets; the upstreams inherit the limit
    if args.workers is None:
        args.workers = 1 if (args.quick or args.profile) else (os.cpu_count() or 1)
    problems = fixture.preflight()
    if problems:
        raise SystemExit("bench cannot run:\n  " + "\n  ".join(problems))
    upstream = servers.start_upstream()
    try:
        fx = fixture.build(upstream.port)
        if args.settings:
            fx.env["DJANGO_SETTINGS_MODULE"] = args.settings
        if args.quick:
            quick(args, fx)
        elif args.compare:
            compare.run(upstream, fx, [int(n) for n in args.worker_counts.split(",")], args.seconds)
        elif args.profile:
            profile.run(args, upstream, fx)
        else:
            if args.llm != "only":
                full(args, upstream, fx)
            if args.llm != "skip":
                llm(args, fx)
    finally:
        upstream.stop()


if __name__ == "__main__":
    main()
