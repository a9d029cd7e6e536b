"""Django's AsyncClient, but every request goes through the ASGI application production serves.

Django's own test handler calls the URL resolver directly, past `gateway_project.asgi.application`
and its dispatch (the raw chat endpoint, the lean API handler, the admin's full stack): a test
through it would not test the path Granian runs. This handler speaks ASGI to that application
instead, and turns what it sends back into Django response objects, so tests keep
`response.status_code`, `.json()`, `.headers` and `.streaming_content`. A streamed answer is
relayed as it comes (SSE and CSV answers are StreamingHttpResponses); closing
`streaming_content` early is the client leaving (`http.disconnect`).
"""
from __future__ import annotations

import asyncio
import os
from types import SimpleNamespace

from django.http import HttpResponse, StreamingHttpResponse
from django.test import AsyncClient


def application():
    """The production ASGI application, imported once; the GC tuning meant for servers is left out."""
    previous = os.environ.get("GC_GEN0_THRESHOLD")
    os.environ["GC_GEN0_THRESHOLD"] = "0"
    try:
        from gateway_project.asgi import application as app
    finally:
        if previous is None:
            os.environ.pop("GC_GEN0_THRESHOLD", None)
        else:
            os.environ["GC_GEN0_THRESHOLD"] = previous
    return app


# The kinds of answer the gateway streams (SSE, CSV exports): the tests read them as streaming_content.
_STREAMED = ("text/event-stream", "text/csv")


class _Exchange:
    """One request's ASGI conversation: its body in, the messages the application sends out."""

    def __init__(self, app, scope: dict, body: bytes):
        self._body = body
        self._sent_body = False
        self._left = asyncio.Event()
        self._out: asyncio.Queue = asyncio.Queue(maxsize=1)  # back-pressure: a stream waits for its reader, as on a socket
        self.task = asyncio.ensure_future(app(scope, self._receive, self._out.put))

    async def _receive(self) -> dict:
        if not self._sent_body:
            self._sent_body = True
            return {"type": "http.request", "body": self._body, "more_body": False}
        await self._left.wait()
        return {"type": "http.disconnect"}

    async def next(self) -> dict | None:
        """The next message the application sent, or None once it returned without more."""
        getting = asyncio.ensure_future(self._out.get())
        await asyncio.wait([getting, self.task], return_when=asyncio.FIRST_COMPLETED)
        if getting.done():
            return getting.result()
        getting.cancel()
        if not self._out.empty():
            return self._out.get_nowait()
        self.task.result()  # the application's own exception, if it raised
        return None

    async def leave(self) -> None:
        """The client is gone: the application hears http.disconnect; wait until it returns."""
        self._left.set()
        await asyncio.gather(self.task, return_exceptions=True)


def _as_server_sends(scope: dict) -> dict:
    """Django's test scope as a server would send it: a bytes query string, a raw path, a Host header."""
    query = scope.get("query_string", b"")
    headers = list(scope.get("headers", []))
    if not any(name.lower() == b"host" for name, _ in headers):
        headers.append((b"host", scope["server"][0].encode()))
    return {
        **scope, "query_string": query.encode("latin-1") if isinstance(query, str) else query,
        "raw_path": scope["path"].encode(), "headers": headers,
    }


class ASGIAppHandler:
    """Plays the ASGI server for AsyncClient: the scope it builds goes to the application."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope: dict):
        body_file = scope.pop("_body_file", None)
        body = body_file.read() if body_file is not None else b""
        exchange = _Exchange(self.app, _as_server_sends(scope), body)
        start = await exchange.next()
        if start is None or start["type"] != "http.response.start":
            await exchange.leave()
            raise AssertionError(f"the application answered without a response start: {start!r}")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start.get("headers", [])]
        kind = next((v for k, v in headers if k.lower() == "content-type"), "")
        if not kind.startswith(_STREAMED):  # a whole body, maybe in several messages
            parts = []
            while (message := await exchange.next()) is not None:
                parts.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            await exchange.leave()
            return _with_headers(HttpResponse(b"".join(parts), status=start["status"]), headers)
        first = await exchange.next() or {"body": b""}
        return _with_headers(
            StreamingHttpResponse(_relay(exchange, first.get("body", b"")), status=start["status"]), headers,
        )


async def _relay(exchange: _Exchange, first: bytes):
    try:
        if first:
            yield first
        while (message := await exchange.next()) is not None:
            if message.get("body"):
                yield message["body"]
            if not message.get("more_body", False):
                break
    finally:
        await exchange.leave()


def _with_headers(response, headers: list[tuple[str, str]]):
    response.asgi_request = SimpleNamespace()  # AsyncClient reads its urlconf (none: the project's)
    del response["Content-Type"]
    for name, value in headers:
        response[name] = value if name.lower() not in response else f"{response[name]}, {value}"
    return response


class ASGIClient(AsyncClient):
    """AsyncClient whose requests are served by the production ASGI application.

    The application enforces CSRF on the admin, as in production; the client sends a matching
    cookie and header, as a browser with the admin's form would (Django's own test handler skips the check)."""

    CSRF_TOKEN = "t" * 32

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.handler = ASGIAppHandler(application())
        self.cookies["csrftoken"] = self.CSRF_TOKEN

    def _base_scope(self, **request):
        scope = super()._base_scope(**request)
        scope["headers"].append((b"x-csrftoken", self.CSRF_TOKEN.encode()))
        return scope
