"""The heavier LLM-load scenarios: thousands of open streams, N workers against one, the copies of a big answer.

Split from bench/llmload.py, which runs them. Memory is the worker's RSS: idle (after the gateway's idle
release, IDLE_WAIT seconds after the last request), with every stream open, and idle again after they end.
Loop lag is the gateway's own gateway_event_loop_lag_seconds histogram (sampled every 10 ms in the bench),
read from /metrics before and after: its p99 is interpolated within the bucket that holds it.
"""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time

import uvloop

from . import fixture, rawclient, servers
from .llmscen import Upstream, stream_body
from .load import _pct
from .measure import measured
from .report import Row, fmt, ratio, verdict
from .sampler import Sampler

IDLE_WAIT = 7.0  # the gateway releases memory 1 s after its last request, at most every 5 s
# The streams open evenly over this long (250 a second for 5,000): all are open together for the last
# ~10 s of the first one's 30. BENCH_OPEN_RAMP changes it.
RAMP_SECONDS = float(os.environ.get("BENCH_OPEN_RAMP") or 20.0)
_BUCKET = re.compile(r'^gateway_event_loop_lag_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)$', re.M)


def gc_pauses(text: str) -> str:
    """The garbage collector's passes since the gateway started, by generation: count and total seconds."""
    out = []
    for generation in "012":
        count = re.search(rf'^gateway_gc_pause_seconds_count{{generation="{generation}"}} ([0-9.e+]+)$', text, re.M)
        total = re.search(rf'^gateway_gc_pause_seconds_sum{{generation="{generation}"}} ([0-9.e+]+)$', text, re.M)
        if count and total:
            out.append(f"gen{generation} {float(count[1]):.0f} passes {float(total[1]) * 1000:.0f} ms")
    return "GC " + ", ".join(out)


def lag_buckets(text: str) -> list[tuple[float, float]]:
    return [(float("inf") if le == "+Inf" else float(le), float(n)) for le, n in _BUCKET.findall(text)]


def lag_p99_ms(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> float:
    """The 99th percentile of the samples taken between two scrapes, interpolated within its bucket."""
    counts = [(le, a - b) for (le, a), (_, b) in zip(after, before)]
    total = counts[-1][1] if counts else 0
    if not total:
        return float("nan")
    want, lower, below = 0.99 * total, 0.0, 0.0
    for le, cumulative in counts:
        if cumulative >= want:
            if le == float("inf"):
                return lower * 1000
            share = (want - below) / (cumulative - below) if cumulative > below else 1.0
            return (lower + share * (le - lower)) * 1000
        lower, below = le, cumulative
    return float("nan")


def open_streams(b, upstream: Upstream, count: int) -> list[Row]:
    body = stream_body(f"llm-{upstream.name}")
    timeout = (upstream.chunks + 2) * upstream.interval_ms / 1000 + RAMP_SECONDS + 60
    dport, dreq = b.request(body, False)
    direct = uvloop.run(rawclient.open_streams(dport, dreq, count, RAMP_SECONDS, timeout))
    time.sleep(IDLE_WAIT)
    idle = b.worker_rss_mb()
    lag_before = lag_buckets(b.metrics_text())
    peak: list[float] = []

    async def while_open() -> None:  # every stream is open from the end of the ramp for ~10 s
        await asyncio.sleep(3)
        peak.append(await asyncio.to_thread(b.worker_rss_mb))

    gport, greq = b.request(body, True)
    with b.profiled("open", int(RAMP_SECONDS + 20)):
        through = uvloop.run(rawclient.open_streams(gport, greq, count, RAMP_SECONDS, timeout, while_open))
    lag_after_text = b.metrics_text()
    lag_after = lag_buckets(lag_after_text)
    time.sleep(IDLE_WAIT)
    after = b.worker_rss_mb()
    lag = lag_p99_ms(lag_before, lag_after)
    gc2 = gc_pauses(lag_after_text)
    d_ok, g_ok = sum(r.ok for r in direct), sum(r.ok for r in through)
    failures = sorted({r.error for r in through if not r.ok and r.error})[:3]
    d99 = _pct([(r.first - r.started) * 1000 for r in direct if r.ok], 99)
    g99 = _pct([(r.first - r.started) * 1000 for r in through if r.ok], 99)
    per_stream_kb = (peak[0] - idle) * 1024 / count if peak else float("nan")
    back = after / idle if idle else float("nan")
    print(f"  open: {g_ok}/{count} through ({d_ok} direct), TTFT p99 {d99:.1f} / {g99:.1f} ms, lag p99 {lag:.1f} ms, "
          f"{gc2}; RSS idle {idle:.1f} MB, open {peak[0] if peak else float('nan'):.1f} MB, after {after:.1f} MB"
          + (f"; failures: {failures}" if failures else ""), flush=True)
    return [
        Row(f"LLM open streams: completed of {count:,} (30 s each)", "all", f"{g_ok:,}", f"{d_ok:,}", "",
            verdict(g_ok == count)),
        Row("LLM open streams: added TTFT p99", "<= 20 ms", fmt(g99 - d99, " ms", 1), fmt(d99, " ms", 1),
            ratio(g99, d99), verdict(g99 - d99 <= 20)),
        Row("LLM open streams: event-loop lag p99", "<= 50 ms", fmt(lag, " ms", 1), "", "", verdict(lag <= 50)),
        Row("LLM open streams: memory per open stream", "<= 100 KB", fmt(per_stream_kb, " KB", 1),
            f"idle {idle:.1f} MB", "", verdict(per_stream_kb <= 100)),
        Row("LLM open streams: RSS after they end vs idle", "<= 1.10x", f"{back:.2f}x ({after:.1f} MB)",
            f"idle {idle:.1f} MB", "", verdict(back <= 1.10)),
    ]


def _pin(pids: list[int], cores: set[int]) -> None:
    for pid in pids:
        for proc in Sampler([pid]).processes():
            try:
                os.sched_setaffinity(proc.pid, cores)
            except OSError:
                pass


def workers(b, seconds: float) -> list[Row]:
    """N workers (N = the cores, at most 16) against 1, both at 64 connections of small requests.

    Where the host has cores to spare (2N or more), the gateway is pinned to N of them and wrk, the upstream,
    PostgreSQL and Redis run on the rest, so that each worker has a core of its own: the method that holds on
    16 cores. On a smaller host they share the cores, and N workers cannot get N cores; the CPU per request of
    N workers against 1 then shows whether the workers contend with each other (flat) or merely for cores."""
    cores = sorted(os.sched_getaffinity(0))
    n = max(1, min(16, len(cores) // 2 if len(cores) >= 4 else len(cores)))
    pinned = len(cores) >= 2 * n and len(cores) >= 4
    figures = {}
    for count in (1, n):
        gateway = b.start_gateway(count)
        try:
            if pinned:
                _pin(gateway.pids, set(cores[:count]))
                os.sched_setaffinity(0, set(cores[n:]))  # wrk inherits it
            measured(gateway, 16, 2, b.fx.key, b.fx.model)  # warm every worker
            figures[count] = measured(gateway, 64, seconds * 2, b.fx.key, b.fx.model)
        finally:
            gateway.stop()
            b.gateway = None
            os.sched_setaffinity(0, set(cores))
    one, many = figures[1], figures[n]
    scale = many.run.rps / one.run.rps / n if one.run.rps else float("nan")
    cpu_ratio = many.cpu_ms_per_request / one.cpu_ms_per_request
    how = "pinned, a core each" if pinned else f"{len(cores)} shared cores, wrk and upstream on them too"
    print(f"  workers: 1 -> {one.run.rps:,.0f} req/s ({one.cpu_ms_per_request:.3f} ms CPU/req), {n} -> "
          f"{many.run.rps:,.0f} req/s ({many.cpu_ms_per_request:.3f} ms); {how}", flush=True)
    return [
        Row(f"LLM {n} workers vs 1: req/s / ({n} x one's)", ">= 0.9", f"{scale:.2f}",
            f"1 worker {one.run.rps:,.0f} req/s", f"{many.run.rps / one.run.rps:.2f}x", verdict(scale >= 0.9)),
        Row(f"LLM {n} workers vs 1: CPU per request ({how})", "flat (<= 1.1x)", fmt(many.cpu_ms_per_request, " ms", 3),
            fmt(one.cpu_ms_per_request, " ms", 3), f"{cpu_ratio:.2f}x", verdict(cpu_ratio <= 1.1)),
    ]


def answer_copies(fx: fixture.Fixture, port: int) -> float:
    """bench/copies.py in its own process: how many times one 1 MB answer is held in the gateway at once."""
    env = dict(fx.env, MALLOC_MMAP_THRESHOLD_="131072")  # every big buffer its own mapping (bench/copies.py)
    done = subprocess.run([sys.executable, "-m", "bench.copies", str(port), fx.key], cwd=servers.ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    if os.environ.get("BENCH_COPIES_TRACE"):
        print(done.stdout, flush=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("COPIES ")), None)
    if line is None:
        print(f"  bench.copies failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}", flush=True)
        return float("nan")
    return float(line.split()[1])
