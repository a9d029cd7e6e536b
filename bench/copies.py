"""How many copies of a 1 MB answer the gateway holds at once while relaying it (issue 18's "copied once").

`python -m bench.copies UPSTREAM_PORT KEY` (bench/llmopen.py runs it with the bench's environment): the
production ASGI application in this process, one non-streamed request to the llm-big route (its upstream
answers 1 MB of content), under tracemalloc. The figure is the peak of Python memory during the request,
above what was allocated before it, in answer sizes, minus one for the bytes received from the provider:
0 would be a relay that hands on the very bytes it received, 1 a relay that makes one copy (a parsed or
re-encoded body) while the received one is alive. The server's own copy into its socket buffer (Granian's,
in Rust) is not Python memory and is not counted.
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
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    size = await _one(application, key, body)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return size, (peak - base) / size - 1


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
    size, copies = uvloop.run(measure(sys.argv[2]))
    print(f"answer of {size:,} bytes")
    print(f"COPIES {copies:.2f}")


if __name__ == "__main__":
    main()
