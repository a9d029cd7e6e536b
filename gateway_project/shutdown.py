"""Graceful shutdown: on SIGTERM refuse new requests (503), let open ones finish, flush the ledger, stop.

`releasing_when_idle(app)`, which every serving command runs (gateway_project/asgi.py), counts the HTTP
requests in flight (`Idle`). That one count tells when the process is idle: a second after the last
request ends (and at most every 5 s) `release_memory()` collects garbage cycles and trims the C heap, so
memory does not creep up from one burst of requests (or thousands of streams) to the next. It also tells
the drain when open requests are done: `graceful(app)` answers 503 while draining, and `Drain.begin()`
calls `stop` once nothing is in flight or DRAIN_SECONDS have passed. The Daphne wiring (signals, the
Twisted reactor) lives in gateway_project/serve.py.
"""
from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import time
from collections.abc import Callable
from functools import partial

import orjson

from infra.env import envfloat

log = logging.getLogger("gateway.shutdown")

_CUT_GRACE = 3.0  # seconds cut requests get to record their usage
IDLE_SECONDS = 1.0  # quiet time after the last request before release_memory()
RELEASE_EVERY = 5.0  # at most this often: a full collection holds the event loop for tens of milliseconds

_REFUSAL = orjson.dumps(
    {"error": {"message": "The gateway is shutting down; retry on another replica.", "type": "service_unavailable",
               "code": "shutting_down"}}
)


class Idle:
    """Requests in flight in this process; release_memory() once none has been for IDLE_SECONDS."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.timer: asyncio.TimerHandle | None = None  # release_memory(), due once nothing is in flight
        self.released = float("-inf")  # loop time of the last release_memory()

    def enter(self) -> None:
        self.in_flight += 1
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def leave(self) -> None:
        self.in_flight -= 1
        if not self.in_flight:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(max(IDLE_SECONDS, self.released + RELEASE_EVERY - loop.time()), self._release)

    def _release(self) -> None:
        self.timer = None
        self.released = asyncio.get_running_loop().time()
        release_memory()


class Drain:
    """Whether new requests are refused; the requests in flight are Idle's count (the application counts them,
    under every serving command: gateway_project/asgi.py), not a second one."""

    def __init__(self, requests: Idle) -> None:
        self.requests = requests
        self.draining = False
        self.cut = asyncio.Event()  # set at the drain timeout: open requests see a client disconnect
        self.task: asyncio.Task | None = None  # the drain, held so it is not garbage-collected

    @property
    def in_flight(self) -> int:
        return self.requests.in_flight

    def begin(self, stop: Callable[[], None], seconds: float | None = None) -> asyncio.Task | None:
        """Refuse new requests; call `stop` when the open ones are done (or the time is up)."""
        if self.draining:
            return None
        self.draining = True
        seconds = envfloat("DRAIN_SECONDS", 20.0) if seconds is None else seconds
        log.warning("draining: %d requests in flight, waiting up to %.0fs", self.in_flight, seconds)
        self.task = asyncio.get_running_loop().create_task(self._finish(stop, seconds))
        return self.task

    async def _finish(self, stop: Callable[[], None], seconds: float) -> None:
        await self._settle(seconds)
        if self.in_flight:
            # As if their clients had left: Django cancels the views, and streams bill in `finally`.
            log.warning("drain timeout: cutting %d open requests", self.in_flight)
            self.cut.set()
            await self._settle(_CUT_GRACE)
        await asyncio.to_thread(flush_ledger)
        await close_provider_connections()
        stop()

    async def _settle(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def receive(self, receive):
        """The next ASGI event, or a disconnect once open requests are cut."""
        if self.cut.is_set():
            return {"type": "http.disconnect"}
        message = asyncio.ensure_future(receive())
        cut = asyncio.ensure_future(self.cut.wait())
        try:
            await asyncio.wait((message, cut), return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when Django cancels its disconnect listener: leave no waiter behind
            cut.cancel()
            received = message.done()
            if not received:
                message.cancel()
        return message.result() if received else {"type": "http.disconnect"}


def _malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


_trim = _malloc_trim()


def release_memory() -> None:
    """Free garbage cycles, then hand free C-heap pages back to the OS (glibc keeps them otherwise)."""
    gc.collect()
    if _trim is not None:
        _trim(0)


async def close_provider_connections() -> None:
    """Close the pooled provider connections, so providers see them end rather than reset."""
    from providers import http

    try:
        await http.close_all()
    except Exception:
        log.warning("closing provider connections at shutdown failed", exc_info=True)


def flush_ledger() -> None:
    """Write every queued usage entry now; what fails stays queued for the exit flush."""
    from usage import ledger

    try:
        written = ledger.flush()
        log.warning("drained: %d ledger entries written", written)
    except Exception:
        log.error("ledger flush at shutdown failed; %d entries left for the exit flush", ledger.pending(), exc_info=True)


idle = Idle()
drain = Drain(idle)


async def _refuse(send) -> None:
    await send({
        "type": "http.response.start",
        "status": 503,
        "headers": [(b"content-type", b"application/json"), (b"retry-after", b"1"), (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": _REFUSAL})


def graceful(app, state: Drain = drain):
    """The ASGI app (which counts its HTTP requests in flight: releasing_when_idle), answering 503 while draining."""

    async def application(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        if state.draining:
            return await _refuse(send)
        return await app(scope, partial(state.receive, receive), send)

    return application


def releasing_when_idle(app, state: Idle = idle):
    """The ASGI app, counting HTTP requests in flight, to release memory once none is (Granian has no hook of
    its own: after 5,000 streams a worker kept 2.5x its idle size, bench/README.md "Issue 18")."""

    async def application(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        state.enter()
        try:
            return await app(scope, receive, send)
        finally:
            state.leave()

    return application
