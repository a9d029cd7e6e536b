"""A lean asyncio HTTP/1.1 client for the LLM-load bench: thousands of open streams from one process.

aiohttp's per-stream cost (a session, a response object, a StreamReader, ~40 us of CPU per read) would make the
load generator, on the same two cores, slower than the gateway it measures once 5,000 streams are open. Here a
stream is one asyncio Protocol on uvloop that writes a pre-encoded request and looks only at what it needs:
the time of the first `data:` bytes, how many events each read carried, and `[DONE]`. Closed-loop requests
(big prompts, big answers) parse their answer's framing with httptools, as the gateway's own client does.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httptools
import orjson


def encode(path: str, body: dict | bytes, key: str = "", port: int = 0) -> bytes:
    """One POST, keep-alive, with the bench key (when given) and a JSON body."""
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    head = [b"POST %s HTTP/1.1" % path.encode(), b"Host: 127.0.0.1:%d" % port, b"Content-Type: application/json",
            b"Content-Length: %d" % len(data)]
    if key:
        head.append(b"Authorization: Bearer " + key.encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + data


@dataclass
class StreamResult:
    started: float
    first: float | None = None  # perf_counter at the first `data:` bytes
    ended: float | None = None  # at `[DONE]`
    events_per_read: list[int] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.first is not None and self.ended is not None


class _Stream(asyncio.Protocol):
    """One streamed request on its own connection; closed at `[DONE]`."""

    def __init__(self, request: bytes, result: StreamResult, done: asyncio.Future):
        self.request, self.result, self.done = request, result, done
        self.transport = None
        self.tail = b""
        self.head_checked = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        result = self.result
        now = time.perf_counter()
        if not self.head_checked:
            self.head_checked = True
            if not data.startswith(b"HTTP/1.1 200"):
                return self._finish(f"status {data[:12]!r}")
        events = data.count(b"data:")
        if b'"error"' in data and result.error is None:  # the gateway's stream_interrupted event, say
            at = data.find(b'"error"')
            result.error = "error event: " + data[at:at + 160].decode("utf-8", "replace")
        if events:
            if result.first is None:
                result.first = now
            result.events_per_read.append(events)
        self.tail = (self.tail + data)[-32:]
        if b"[DONE]" in self.tail:
            result.ended = now
            self._finish(result.error)

    def _finish(self, error: str | None) -> None:
        if error is not None and self.result.error is None:
            self.result.error = error
        if not self.done.done():
            self.done.set_result(None)
        self.transport.close()

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.result.error = f"connection closed before [DONE] ({exc or 'EOF'})"
            self.done.set_result(None)


async def one_stream(port: int, request: bytes, timeout: float) -> StreamResult:
    loop = asyncio.get_running_loop()
    result = StreamResult(time.perf_counter())
    done = loop.create_future()
    try:
        async with asyncio.timeout(timeout):
            transport, _ = await loop.create_connection(lambda: _Stream(request, result, done), "127.0.0.1", port)
            try:
                await done
            finally:
                transport.close()
    except (OSError, TimeoutError) as exc:
        result.error = result.error or f"{type(exc).__name__}: {exc}"
    return result


async def open_streams(port: int, request: bytes, count: int, ramp_seconds: float, timeout: float,
                       on_all_open=None) -> list[StreamResult]:
    """`count` streams opened evenly over `ramp_seconds`, each on its own connection, all held to their end.

    `on_all_open` (a coroutine function) runs once every stream has been started, while they are open."""
    tasks = []
    gap = ramp_seconds / max(1, count)
    start = time.perf_counter()
    for i in range(count):
        tasks.append(asyncio.ensure_future(one_stream(port, request, timeout)))
        due = start + (i + 1) * gap
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
    side = asyncio.ensure_future(on_all_open()) if on_all_open else None
    results = await asyncio.gather(*tasks)
    if side is not None:
        await side
    return results


async def stream_loop(port: int, request: bytes, concurrency: int, total: int, timeout: float) -> list[StreamResult]:
    """`total` streams, `concurrency` at a time, each client opening its next when one ends (closed loop)."""
    remaining = iter(range(total))
    results: list[StreamResult] = []

    async def client() -> None:
        for _ in remaining:
            results.append(await one_stream(port, request, timeout))

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return results


class _Exchange(asyncio.Protocol):
    """Keep-alive requests on one connection, one at a time; each answer's framing parsed by httptools."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.size = 0
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.size += len(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(status)

    def connection_lost(self, exc) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"closed: {exc}"))

    async def ask(self, request: bytes) -> tuple[int, int]:
        self.size = 0
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        status = await self.waiter
        return status, self.size


async def request_loop(port: int, request: bytes, concurrency: int, total: int) -> tuple[list[float], int, int]:
    """`total` requests over `concurrency` keep-alive connections: (latencies in ms, errors, answer bytes)."""
    loop = asyncio.get_running_loop()
    remaining = iter(range(total))
    latencies: list[float] = []
    errors, size = 0, 0

    async def client() -> None:
        nonlocal errors, size
        transport, proto = await loop.create_connection(_Exchange, "127.0.0.1", port)
        try:
            for _ in remaining:
                started = time.perf_counter()
                try:
                    status, size = await asyncio.wait_for(proto.ask(request), 30)
                except (ConnectionError, TimeoutError):
                    errors += 1
                    return
                if status != 200:
                    errors += 1
                latencies.append((time.perf_counter() - started) * 1000)
        finally:
            transport.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, errors, size
