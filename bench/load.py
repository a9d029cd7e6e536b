"""Load generators: wrk (closed loop, non-streaming) and an aiohttp client for streams."""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import uvloop

LUA = Path(__file__).resolve().parent / "wrk" / "chat.lua"
PATH = "/v1/chat/completions"
STREAM_BODY = {
    "temperature": 0.7,
    "max_tokens": 64,
    "stream": True,
    "messages": [{"role": "system", "content": "You are a helpful assistant."},
                 {"role": "user", "content": "Count to twenty, one word per line."}],
}


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int  # socket errors, timeouts and non-2xx answers
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk(base_url: str, connections: int, seconds: float, key: str = "", model: str = "bench-model",
        threads: int = 1, script: Path = LUA, path: str = PATH) -> WrkResult:
    """One closed-loop wrk run of `seconds` (chat completions unless another script and path are given)."""
    env = dict(os.environ, BENCH_KEY=key, BENCH_MODEL=model)
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--timeout", "10s",
           "-s", str(script), base_url + path]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    return WrkResult(data["requests"], data["duration_us"] / 1e6, errors, data["p50_us"] / 1000,
                     data["p90_us"] / 1000, data["p99_us"] / 1000, data["max_us"] / 1000)


@dataclass(frozen=True)
class StreamStats:
    streams: int
    errors: int
    ttft_p50_ms: float
    ttft_p99_ms: float
    total_p50_ms: float
    total_p99_ms: float


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def _one_stream(session: aiohttp.ClientSession, url: str, headers: dict) -> tuple[float, float]:
    """Seconds to the first `data:` bytes and to `[DONE]`."""
    started = time.perf_counter()
    first = None
    async with session.post(url, json=STREAM_BODY, headers=headers) as resp:
        if resp.status != 200:
            await resp.read()
            raise RuntimeError(f"status {resp.status}")
        tail = b""
        async for data in resp.content.iter_any():
            if first is None and b"data:" in data:
                first = time.perf_counter()
            tail = (tail + data)[-64:]
            if b"[DONE]" in tail:
                break
    if first is None or b"[DONE]" not in tail:
        raise RuntimeError("stream ended without data or [DONE]")
    return first - started, time.perf_counter() - started


async def _streams(url: str, key: str, model: str, concurrency: int, total: int, deadline: float) -> StreamStats:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    STREAM_BODY["model"] = model
    ttft, totals, errors = [], [], 0
    remaining = iter(range(total))
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout) as session:

        async def client() -> None:
            nonlocal errors
            for _ in remaining:
                if time.monotonic() > deadline:
                    return
                try:
                    first, whole = await _one_stream(session, url, headers)
                except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError):
                    errors += 1
                    continue
                ttft.append(first * 1000)
                totals.append(whole * 1000)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return StreamStats(len(ttft), errors, statistics.median(ttft) if ttft else float("nan"), _pct(ttft, 99),
                       statistics.median(totals) if totals else float("nan"), _pct(totals, 99))


def streams(base_url: str, key: str = "", model: str = "bench-model", concurrency: int = 16, total: int = 320,
            max_seconds: float = 60.0) -> StreamStats:
    """`total` streams, `concurrency` at a time, each a closed loop; stops early at `max_seconds`."""
    deadline = time.monotonic() + max_seconds
    return uvloop.run(_streams(base_url + PATH, key, model, concurrency, total, deadline))
