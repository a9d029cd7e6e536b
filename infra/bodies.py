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
"""
from __future__ import annotations

import orjson

MALFORMED = orjson.dumps(
    {"error": {"message": "The HTTP request is malformed.", "type": "invalid_request_error", "code": "malformed_http_request"}}
)
_HEAD = {
    "type": "http.response.start",
    "status": 400,
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(MALFORMED)).encode())],
}


class _Body:
    """The request's `receive`, noting whether a disconnect came before the body's last part."""

    __slots__ = ("_receive", "ended", "broken")

    def __init__(self, receive) -> None:
        self._receive = receive
        self.ended = False
        self.broken = False

    async def receive(self):
        message = await self._receive()
        if not self.ended:
            if message["type"] == "http.disconnect":
                self.ended = self.broken = True
            elif not message.get("more_body", False):
                self.ended = True
        return message


def answering_broken_bodies(app):
    """The HTTP ASGI `app`, answering 400 `malformed_http_request` when the request's body broke off."""

    async def application(scope, receive, send):
        body = _Body(receive)
        await app(scope, body.receive, send)
        if body.broken:  # every reader returns unanswered on a disconnect mid-body (Django: RequestAborted)
            await send(_HEAD)
            await send({"type": "http.response.body", "body": MALFORMED})

    return application
