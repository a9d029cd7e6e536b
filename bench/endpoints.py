"""Issue 16's rows: /v1/embeddings and a streamed /v1/messages (translated to the OpenAI upstream), each
as CPU per request against chat completions' measured by its side in the same run (target: within 1.3x).

Each kind runs ROUNDS times, alternating with its chat baseline so that a change in the shared host's load
falls on both; a kind's figure is its CPU seconds over its requests across the rounds. Runs after the
memory row (and the soak), which measures the chat path alone: a stream cut before its usage arrives is
billed with the o200k tokenizer (completions/streaming.final_usage), which loads ~130 MB into a worker.
These streams are read to their end, so none should be; the worker's RSS before and after is printed.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import uvloop

from . import fixture, load, servers
from .report import Row, fmt, verdict
from .sampler import Sampler

TARGET = 1.3  # at most this many times chat completions' CPU per request
ROUNDS = 2
EMBEDDINGS_LUA = Path(__file__).resolve().parent / "wrk" / "embeddings.lua"
MESSAGES_BODY = {
    "max_tokens": 64,
    "temperature": 0.7,
    "stream": True,
    "system": "You are a helpful assistant.",
    "messages": [{"role": "user", "content": "Count to twenty, one word per line."}],
}


@dataclass
class Tally:
    """CPU seconds and requests (or streams) of one kind, summed over the rounds."""

    cpu_seconds: float = 0.0
    requests: int = 0
    errors: int = 0

    @property
    def ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / self.requests if self.requests else float("nan")


def _cpu(gateway: servers.Running, tally: Tally, run) -> None:
    """Run `run()` -> (requests, errors) and add the gateway's CPU seconds around it (plus the ledger's flush)."""
    sampler = Sampler(gateway.pids)
    before = sampler.snapshot().cpu_seconds
    requests, errors = run()
    time.sleep(0.5)
    tally.cpu_seconds += sampler.snapshot().cpu_seconds - before
    tally.requests += requests
    tally.errors += errors


async def _one_stream(session: aiohttp.ClientSession, url: str, body: dict, headers: dict, end: bytes) -> bool:
    async with session.post(url, json=body, headers=headers) as resp:
        if resp.status != 200:
            await resp.read()
            return False
        tail = b""
        async for data in resp.content.iter_any():
            tail = (tail + data)[-64:]
            if end in tail:
                return True
    return False


async def _streams(url: str, body: dict, headers: dict, end: bytes, concurrency: int, total: int) -> tuple[int, int]:
    """`total` streams read to `end`, `concurrency` at a time: (completed, errors)."""
    done, errors, remaining = 0, 0, iter(range(total))
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout) as session:

        async def client() -> None:
            nonlocal done, errors
            for _ in remaining:
                try:
                    ok = await _one_stream(session, url, body, headers, end)
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    ok = False
                done, errors = done + ok, errors + (not ok)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return done, errors


def _chat_streams(gateway: servers.Running, fx: fixture.Fixture, total: int) -> tuple[int, int]:
    body = {**load.STREAM_BODY, "model": fx.model}
    headers = {"Authorization": f"Bearer {fx.key}"}
    return uvloop.run(_streams(gateway.url + load.PATH, body, headers, b"[DONE]", 16, total))


def _messages_streams(gateway: servers.Running, fx: fixture.Fixture, total: int) -> tuple[int, int]:
    body = {**MESSAGES_BODY, "model": fx.model}
    headers = {"x-api-key": fx.key, "anthropic-version": "2023-06-01"}
    return uvloop.run(_streams(gateway.url + "/v1/messages", body, headers, b"message_stop", 16, total))


def _wrk(gateway: servers.Running, fx: fixture.Fixture, seconds: float, embeddings: bool) -> tuple[int, int]:
    if embeddings:
        run = load.wrk(gateway.url, 64, seconds, fx.key, fixture.EMBEDDINGS_MODEL, script=EMBEDDINGS_LUA,
                       path="/v1/embeddings")
    else:
        run = load.wrk(gateway.url, 64, seconds, fx.key, fx.model)
    return run.requests, run.errors


def _worker_rss_mb(gateway: servers.Running) -> float:
    sampler = Sampler(gateway.pids)
    return max(sampler.snapshot().rss[pid] for pid in sampler.workers()) / 2**20


def run(gateway: servers.Running, fx: fixture.Fixture, seconds: float, streams: int) -> list[Row]:
    """The two rows; prints each round as it goes."""
    chat, embeddings, chat_streams, messages = Tally(), Tally(), Tally(), Tally()
    rss_before = _worker_rss_mb(gateway)
    _wrk(gateway, fx, 1, True)  # warm: the embeddings route, the translation's imports
    _messages_streams(gateway, fx, 32)
    for n in range(1, ROUNDS + 1):
        _cpu(gateway, chat, lambda: _wrk(gateway, fx, seconds, False))
        _cpu(gateway, embeddings, lambda: _wrk(gateway, fx, seconds, True))
        _cpu(gateway, chat_streams, lambda: _chat_streams(gateway, fx, streams))
        _cpu(gateway, messages, lambda: _messages_streams(gateway, fx, streams))
        print(f"  round {n}: CPU/req chat {chat.ms_per_request:.3f} ms, embeddings {embeddings.ms_per_request:.3f} ms; "
              f"per stream chat {chat_streams.ms_per_request:.3f} ms, messages {messages.ms_per_request:.3f} ms "
              f"(cumulative)", flush=True)
    print(f"  worker RSS before these runs {rss_before:.1f} MB, after {_worker_rss_mb(gateway):.1f} MB", flush=True)
    return [_row("/v1/embeddings: CPU per request vs chat (64 conc.)", embeddings, chat),
            _row("/v1/messages streamed, to OpenAI: CPU per stream vs chat's", messages, chat_streams)]


def _row(metric: str, measured: Tally, chat: Tally) -> Row:
    value = measured.ms_per_request / chat.ms_per_request if chat.requests else float("nan")
    errors = measured.errors + chat.errors
    gateway = fmt(measured.ms_per_request, " ms", 3) + (f" ({errors} errors)" if errors else "")
    return Row(metric, f"<= {TARGET}x chat", gateway, "chat " + fmt(chat.ms_per_request, " ms", 3), f"{value:.2f}x chat",
               verdict(value <= TARGET and errors == 0))
