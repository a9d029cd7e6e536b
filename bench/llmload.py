"""The LLM-load scenarios of issue 18 (bench/llmscen.py), each straight at its fake upstream and then through
one gateway worker in the same run; a row per target with the gateway's figure and the direct upstream's.

`python -m bench.run --llm only --scenarios stream,open --open-streams 5000`. The streams and requests come
from bench/rawclient.py (5,000 aiohttp streams would cost the shared cores more than the gateway does).
"""
from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
import urllib.request

import uvloop

from . import fixture, llmopen, profile, rawclient, servers
from .llmscen import BIG, PACED, SLOW, UPSTREAMS, big_prompt_body, small_body, stream_body
from .measure import measured
from .report import Row, fmt, ratio, verdict
from .sampler import Sampler

PATH = "/v1/chat/completions"


class Bench:
    """The fake upstreams, their routes, and one gateway worker with the loop-lag sampler at 10 ms."""

    def __init__(self, fx: fixture.Fixture, server: str):
        self.fx, self.server = fx, server
        self.upstreams = {u.name: servers.start_upstream(u.chunks, u.interval_ms, u.answer_bytes, f"upstream-{u.name}")
                          for u in UPSTREAMS}
        pairs = [f"{name}={up.port}" for name, up in self.upstreams.items()]
        done = subprocess.run([sys.executable, "-m", "bench.llmprovision", *pairs], cwd=servers.ROOT, env=fx.env,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            self.stop()
            raise SystemExit(f"provisioning the LLM routes failed:\n{done.stdout}\n{done.stderr}")
        self.env = dict(fx.env, LOOP_LAG_SAMPLE_MS="10")
        self.gateway: servers.Running | None = None

    def start_gateway(self, workers: int = 1) -> servers.Running:
        self.gateway = servers.start_gateway(self.server, workers, self.env)
        return self.gateway

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        for up in self.upstreams.values():
            up.stop()

    def port(self, name: str) -> int:
        return self.upstreams[name].port

    def request(self, body: dict, through: bool) -> tuple[int, bytes]:
        """The (port, encoded request) for the direct upstream or the gateway."""
        port = self.gateway.port if through else self.port(body["model"].removeprefix("llm-"))
        return port, rawclient.encode(PATH, body, self.fx.key if through else "", port)

    def worker_rss_mb(self) -> float:
        sampler = Sampler(self.gateway.pids)
        snap = sampler.snapshot()
        return max(snap.rss[pid] for pid in sampler.workers()) / 2**20

    def profiled(self, scenario: str, seconds: int):
        return profiled(self, scenario, seconds)

    def metrics_text(self) -> str:
        with urllib.request.urlopen(self.gateway.url + "/metrics", timeout=10) as resp:
            return resp.read().decode()


@contextlib.contextmanager
def profiled(b: Bench, scenario: str, seconds: int):
    """With BENCH_PROFILE=1, py-spy on the gateway worker for `seconds` of the scenario's gateway side; the top
    frames land in bench/out/profile-llm-<scenario>-top.txt (as `--profile` does for small requests)."""
    if not os.environ.get("BENCH_PROFILE") or b.gateway is None:
        yield
        return
    pid = Sampler(b.gateway.pids).workers()[0]
    raw = servers.OUT / f"profile-llm-{scenario}.txt"
    spy = subprocess.Popen([str(profile.PY_SPY), "record", "--pid", str(pid), "--duration", str(seconds), "--rate",
                            "200", "--gil", "--nonblocking", "--format", "raw", "--output", str(raw)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.wait(seconds + 60)
        if raw.exists():
            top = servers.OUT / f"profile-llm-{scenario}-top.txt"
            top.write_text(profile.top_frames(raw) + "\n")
            print(f"  profile: {top}", flush=True)


def _ms(results, attr: str) -> list[float]:
    return [(getattr(r, attr) - r.started) * 1000 for r in results if r.ok]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _coalesced(results) -> float:
    """The share of reads that carried more than one event: 0 when every event came on its own."""
    reads = [n for r in results if r.ok for n in r.events_per_read]
    return sum(1 for n in reads if n > 1) / len(reads) if reads else float("nan")


def streams(b: Bench, concurrency: int = 16, total: int = 320) -> list[Row]:
    body = stream_body(f"llm-{PACED.name}")
    sides = {}
    for through in (False, True):
        port, req = b.request(body, through)
        with profiled(b, "stream", 5) if through else contextlib.nullcontext():
            sides[through] = uvloop.run(rawclient.stream_loop(port, req, concurrency, total, 30))
    d, g = sides[False], sides[True]
    errors = sum(not r.ok for r in d + g)
    dt, gt = _median(_ms(d, "first")), _median(_ms(g, "first"))
    dw, gw = _median(_ms(d, "ended")), _median(_ms(g, "ended"))
    dc, gc = _coalesced(d), _coalesced(g)
    print(f"  stream: TTFT p50 {dt:.2f} / {gt:.2f} ms, whole {dw:.1f} / {gw:.1f} ms, reads with >1 event "
          f"{dc:.1%} / {gc:.1%}, errors {errors}", flush=True)
    return [
        Row("LLM stream: added TTFT p50, 16 conc. 24 events", "<= 3 ms", fmt(gt - dt, " ms"), fmt(dt, " ms"),
            ratio(gt, dt), verdict(gt - dt <= 3 and not errors)),
        Row("LLM stream: whole stream p50 vs direct", "<= 1.02x", fmt(gw, " ms", 1), fmt(dw, " ms", 1),
            f"{gw / dw:.3f}x", verdict(gw / dw <= 1.02 and not errors)),
        Row("LLM stream: reads carrying >1 event (as they arrive)", "<= direct + 2 pts", f"{gc:.1%}", f"{dc:.1%}",
            "", verdict(gc <= dc + 0.02)),
    ]


def cached(b: Bench, total: int = 100) -> list[Row]:
    body = stream_body(f"llm-{PACED.name}", temperature=0)
    port, req = b.request(body, True)
    filled = uvloop.run(rawclient.stream_loop(port, req, 1, 1, 30))[0]  # the miss that fills the cache
    time.sleep(0.5)
    g = uvloop.run(rawclient.stream_loop(port, req, 1, total, 30))
    dport, dreq = b.request(body, False)
    d = uvloop.run(rawclient.stream_loop(dport, dreq, 1, total, 30))
    dt, gt = _median(_ms(d, "first")), _median(_ms(g, "first"))
    errors = sum(not r.ok for r in d + g) + (not filled.ok)
    print(f"  cached: TTFT p50 direct {dt:.2f} ms, from cache {gt:.2f} ms, errors {errors}", flush=True)
    return [Row("LLM cached stream: added TTFT p50", "<= 2 ms", fmt(gt - dt, " ms"), fmt(dt, " ms"), ratio(gt, dt),
                verdict(gt - dt <= 2 and not errors))]


def _closed(b: Bench, body: dict, total: int) -> tuple[list[float], list[float], int, int]:
    sides = {}
    for through in (False, True):
        port, req = b.request(body, through)
        uvloop.run(rawclient.request_loop(port, req, 1, 3))  # warm the connection, the route, the tokenizer
        sides[through] = uvloop.run(rawclient.request_loop(port, req, 1, total))
    (d, de, _), (g, ge, size) = sides[False], sides[True]
    return d, g, de + ge, size


def prompt(b: Bench, total: int = 40) -> list[Row]:
    d, g, errors, _ = _closed(b, big_prompt_body(f"llm-{PACED.name}"), total)
    dp, gp = _median(d), _median(g)
    print(f"  prompt: p50 direct {dp:.2f} ms, gateway {gp:.2f} ms, errors {errors}", flush=True)
    return [Row("LLM 1 MB prompt (200 messages): added p50", "<= 5 ms", fmt(gp - dp, " ms"), fmt(dp, " ms"),
                ratio(gp, dp), verdict(gp - dp <= 5 and not errors))]


def answer(b: Bench, total: int = 40) -> list[Row]:
    body = small_body(f"llm-{BIG.name}")
    d, g, errors, size = _closed(b, body, total)
    dp, gp = _median(d), _median(g)
    copies = llmopen.answer_copies(b.fx, b.port(BIG.name))
    print(f"  answer: p50 direct {dp:.2f} ms, gateway {gp:.2f} ms ({size:,} bytes), errors {errors}; "
          f"copies {copies}", flush=True)
    return [
        Row("LLM 1 MB answer: added p50", "(no target)", fmt(gp - dp, " ms"), fmt(dp, " ms"), ratio(gp, dp),
            verdict(None if not errors else False)),
        Row("LLM 1 MB answer: copies of the body in the gateway", "<= 1", fmt(copies, "", 1), "", "",
            verdict(copies <= 1.05 if copies == copies else None)),
    ]


def cpu(b: Bench, seconds: float = 10.0) -> list[Row]:
    with profiled(b, "cpu", int(seconds) - 2):
        m = measured(b.gateway, 64, seconds, b.fx.key, b.fx.model)
    print(f"  cpu: {m.cpu_ms_per_request:.3f} ms per request, {m.run.rps:,.0f} req/s, errors {m.run.errors}",
          flush=True)
    return [Row("LLM CPU per small request, 64 conc., 1 worker", "<= 0.4 ms", fmt(m.cpu_ms_per_request, " ms", 3),
                "", "", verdict(m.cpu_ms_per_request <= 0.4 and not m.run.errors))]


def run(fx: fixture.Fixture, server: str, scenarios: list[str], open_streams: int, seconds: float) -> list[Row]:
    """The chosen scenarios in order; one worker for all but `workers`, which starts its own."""
    b = Bench(fx, server)
    rows: list[Row] = []
    load = os.getloadavg()
    print(f"LLM load: scenarios {','.join(scenarios)}; host load average {load[0]:.1f} {load[1]:.1f}", flush=True)
    try:
        if set(scenarios) - {"workers"}:
            b.start_gateway(1)
            uvloop.run(rawclient.stream_loop(b.gateway.port, b.request(stream_body(f"llm-{PACED.name}"), True)[1],
                                             16, 32, 30))  # warm: pools, routes, lazy imports
            steps = {"stream": streams, "cached": cached, "prompt": prompt, "answer": answer, "cpu": cpu,
                     "open": lambda b: llmopen.open_streams(b, SLOW, open_streams)}
            for name in scenarios:
                if name in steps:
                    rows += steps[name](b)
            b.gateway.stop()
            b.gateway = None
        if "workers" in scenarios:
            rows += llmopen.workers(b, seconds)
    finally:
        b.stop()
    after = os.getloadavg()
    print(f"LLM load done; host load average {after[0]:.1f} {after[1]:.1f}", flush=True)
    return rows
