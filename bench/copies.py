"""How many copies of a 1 MB answer the gateway holds at once while relaying it (issue 18's "copied once").

`python -m bench.copies UPSTREAM_PORT KEY` (bench/llmopen.py runs it with the bench's environment): the
production ASGI application in this process, one non-streamed request to the llm-big route (its upstream
answers 1 MB of content). The figure is the peak resident memory during the request (VmHWM, reset through
/proc/self/clear_refs just before) above the resident memory before it, in answer sizes, minus one for the
bytes received from the provider: 0 would be a relay that hands on the very bytes it received, 1 a relay
that holds one more copy (a parsed or re-encoded body) while the received one is alive. glibc is told to
serve every allocation of 128 KB or more from its own mapping (MALLOC_MMAP_THRESHOLD_), so each big buffer
shows in the resident size while it lives and leaves it when freed. (tracemalloc is no help: it counts the
8x buffer orjson reserves for a 1 MB string, which the resident size shows orjson hands back.) The server's
own copy into its socket buffer (Granian's, in Rust) is not the application's and is not counted.
BENCH_COPIES_TRACE=1 also lists, under tracemalloc, where what is alive as the answer leaves was allocated.
"""
from __future__ import annotations

import asyncio
import gc
import os
import sys
import tracemalloc

import orjson
import uvloop

from .llmscen import BIG, small_body

TRACE = bool(os.environ.get("BENCH_COPIES_TRACE"))  # print where the live memory was allocated as the answer leaves


def _scope(key: str) -> dict:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions", "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                        (b"authorization", f"Bearer {key}".encode())]}


async def _one(app, key: str, body: bytes) -> int:
    given, left = False, asyncio.Event()
    size = 0

    async def receive():
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal size
        if message["type"] == "http.response.body":
            size += len(message.get("body", b""))
            if TRACE and tracemalloc.is_tracing():  # what is alive as the answer leaves
                for stat in tracemalloc.take_snapshot().statistics("traceback")[:6]:
                    print(f"{stat.size / 1e6:.2f} MB in {stat.count} blocks:\n  " + "\n  ".join(stat.traceback.format()[-8:]))

    await app(_scope(key), receive, send)
    left.set()
    return size


async def measure(key: str) -> tuple[int, float]:
    from gateway_project.asgi import application

    body = orjson.dumps(small_body(f"llm-{BIG.name}"))
    for _ in range(3):  # pools, routes, caches, lazy imports
        await _one(application, key, body)
    await asyncio.sleep(0.5)
    gc.collect()
    if TRACE:
        tracemalloc.start(16)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the current resident size
    base = _status_kb("VmRSS")
    size = await _one(application, key, body)
    peak = _status_kb("VmHWM")
    tracemalloc.stop()
    return size, (peak - base) * 1024 / size - 1


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
    size, copies = uvloop.run(measure(sys.argv[2]))
    print(f"answer of {size:,} bytes")
    print(f"COPIES {copies:.2f}")


if __name__ == "__main__":
    main()
