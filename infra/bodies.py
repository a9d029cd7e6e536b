"""A request whose body never arrives in full gets the gateway's JSON 400, not a bare 500 from the server.

Granian hands the application `http.disconnect` in place of the rest of a body it cannot read: a
chunk larger or smaller than the bytes sent, a chunk size that is not hex (or overflows), no final
`0` chunk, a `Content-Length` longer than what came before the client half-closed. Django's
handler and the chat path (completions/asgi.py) then return without answering, and Granian answers
`500 Internal server error` in text/plain. Daphne never calls the application for such a request
(Twisted refuses it, or drops the connection), so under Daphne this never fires.

The 400 is not counted in the django_prometheus metrics: as with Twisted's refusals under
`python -m gateway_project.serve`, no view ran. A client that left mid-body gets the same 400, sent
into a closed connection.

A body that stops arriving for REQUEST_IDLE_SECONDS (a slow-body client holding a worker's
connection) gets 408 `request_timeout` the same way: Granian has no body timeout of its own, and
Twisted's (under the graceful command) drops such a connection before the application runs. The
timer is one `call_later` per read of an unfinished body, about 1.5 us.
"""
from __future__ import annotations

import asyncio

import orjson

from .env import envfloat

MALFORMED = orjson.dumps(
    {"error": {"message": "The HTTP request is malformed.", "type": "invalid_request_error", "code": "malformed_http_request"}}
)
_HEAD = {
    "type": "http.response.start",
    "status": 400,
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(MALFORMED)).encode())],
}


SLOW = orjson.dumps(
    {"error": {"message": "The request body stopped arriving.", "type": "invalid_request_error", "code": "request_timeout"}}
)
_SLOW_HEAD = {
    "type": "http.response.start",
    "status": 408,
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(SLOW)).encode()),
                (b"connection", b"close")],
}


class _Body:
    """The request's `receive`, noting whether a disconnect came before the body's last part, or the body stalled."""

    __slots__ = ("_receive", "_idle", "ended", "broken", "stalled")

    def __init__(self, receive, idle: float) -> None:
        self._receive = receive
        self._idle = idle
        self.ended = False
        self.broken = False
        self.stalled = False

    def _stall(self, task: asyncio.Task) -> None:
        self.stalled = True
        task.cancel()

    async def receive(self):
        if self.ended or self._idle <= 0:
            return self._track(await self._receive())
        task = asyncio.current_task()
        timer = asyncio.get_running_loop().call_later(self._idle, self._stall, task)
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            if not self.stalled:
                raise
            task.uncancel()
            self.ended = self.broken = True
            return {"type": "http.disconnect"}  # every reader returns unanswered; the wrapper answers 408
        finally:
            timer.cancel()
        return self._track(message)

    def _track(self, message):
        if not self.ended:
            if message["type"] == "http.disconnect":
                self.ended = self.broken = True
            elif not message.get("more_body", False):
                self.ended = True
        return message


def answering_broken_bodies(app):
    """The HTTP ASGI `app`, answering 400 `malformed_http_request` when the request's body broke off,
    408 `request_timeout` when it stalled for REQUEST_IDLE_SECONDS (0: no limit)."""
    idle = envfloat("REQUEST_IDLE_SECONDS", 30.0)

    async def application(scope, receive, send):
        body = _Body(receive, idle)
        await app(scope, body.receive, send)
        if body.broken:  # every reader returns unanswered on a disconnect mid-body (Django: RequestAborted)
            await send(_SLOW_HEAD if body.stalled else _HEAD)
            await send({"type": "http.response.body", "body": SLOW if body.stalled else MALFORMED})

    return application
