"""The API's ASGI application: the pipeline's endpoints in raw ASGI, the rest of /v1/ through a short async middleware stack.

Django's full stack runs every MiddlewareMixin hook through `sync_to_async` (a thread hop per hook
per request, about half the CPU of a request in bench/README.md). The API needs none of the
session, CSRF, auth or message middleware; the admin and everything else keep Django's handler.
There is one chat path, served in production and in the tests alike (tests/asgi_client.py); with
tracing on, OpenTelemetry's ASGI middleware wraps the same application (`dispatch`).
"""
from __future__ import annotations

import asyncio
import functools
import logging
from contextlib import aclosing

import orjson

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response
from django.core.signals import setting_changed
from django.middleware.security import SecurityMiddleware
from django.utils.module_loading import import_string
from django_prometheus.middleware import Metrics, PrometheusAfterMiddleware, PrometheusBeforeMiddleware

from infra import looplag, metrics, telemetry
from infra.errors import GatewayError, method_not_allowed, too_large
from infra.hotsettings import hot
from infra.clients import client_address

from . import pipeline
from .chat import CHAT
from .embeddings import EMBEDDINGS
from .context import Reply
from .endpoint import Endpoint
from .messages import MESSAGES
from .responses import RESPONSES

log = logging.getLogger("gateway.errors")

CHAT_PATH = "/v1/chat/completions"
# The endpoints on the one pipeline, served in raw ASGI: each only translates its wire shape.
ENDPOINTS: dict[str, Endpoint] = {
    CHAT_PATH: CHAT, "/v1/embeddings": EMBEDDINGS, "/v1/messages": MESSAGES, "/v1/responses": RESPONSES,
}


def is_api(path: str) -> bool:
    return path.startswith("/v1/") or path in ("/health", "/metrics")


class _Inline:
    """A MiddlewareMixin whose hooks only count or set headers, run on the event loop instead of a thread."""

    async def __call__(self, request):
        response = self.process_request(request) if hasattr(self, "process_request") else None
        response = response or await self.get_response(request)
        return self.process_response(request, response) if hasattr(self, "process_response") else response


class PrometheusBefore(_Inline, PrometheusBeforeMiddleware):
    pass


class PrometheusAfter(_Inline, PrometheusAfterMiddleware):
    async def process_view(self, request, view_func, *args):
        return super().process_view(request, view_func, *args)


class Security(_Inline, SecurityMiddleware):
    pass


_INLINE = {
    "django_prometheus.middleware.PrometheusBeforeMiddleware": f"{__name__}.PrometheusBefore",
    "django.middleware.security.SecurityMiddleware": f"{__name__}.Security",
    "django_prometheus.middleware.PrometheusAfterMiddleware": f"{__name__}.PrometheusAfter",
}


def api_middleware() -> list[str]:
    """settings.MIDDLEWARE cut to what the API uses, in its order."""
    keep = ("completions.middleware.JsonErrorsMiddleware",)
    return [_INLINE.get(p, p) for p in settings.MIDDLEWARE if p in _INLINE or p in keep]


class ApiHandler(ASGIHandler):
    """Django's ASGI handler with the API's middleware only: all async but OpenTelemetry's, adapted as Django does."""

    def load_middleware(self, is_async=False):
        self._view_middleware, self._template_response_middleware, self._exception_middleware = [], [], []
        handler, handler_is_async = convert_exception_to_response(self._get_response_async), True
        for path in reversed(api_middleware()):
            factory = import_string(path)
            middleware_is_async = getattr(factory, "async_capable", False)
            handler = self.adapt_method_mode(middleware_is_async, handler, handler_is_async)
            middleware = factory(handler)
            if hasattr(middleware, "process_view"):
                self._view_middleware.insert(0, self.adapt_method_mode(True, middleware.process_view))
            if hasattr(middleware, "process_template_response"):
                self._template_response_middleware.append(self.adapt_method_mode(True, middleware.process_template_response))
            if hasattr(middleware, "process_exception"):
                self._exception_middleware.append(middleware.process_exception)
            handler, handler_is_async = convert_exception_to_response(middleware), middleware_is_async
        self._middleware_chain = self.adapt_method_mode(True, handler, handler_is_async)


class Headers(dict):
    """Request headers by lower-case name, as Django's request.headers answers `get`."""

    @classmethod
    def of(cls, scope) -> "Headers":
        headers = cls()
        for name, value in scope["headers"]:
            key, text = name.decode("latin-1").lower(), value.decode("latin-1")
            headers[key] = f"{headers[key]},{text}" if key in headers else text
        return headers

    def get(self, name: str, default=None):
        return super().get(name.lower(), default)


class _Peer:
    """What infra.clients.client_address reads from a request."""

    def __init__(self, headers: Headers, scope):
        self.headers = headers
        self.META = {"REMOTE_ADDR": (scope.get("client") or ("",))[0]}


class _Disconnected(Exception):
    pass


def _secure(scope, headers: Headers) -> bool:
    proxy = hot.SECURE_PROXY_SSL_HEADER
    given = headers.get(proxy[0].removeprefix("HTTP_").replace("_", "-")) if proxy else None
    if given is not None:
        return given.split(",")[0].strip() == proxy[1]
    return scope.get("scheme") == "https"


@functools.cache
def _security_headers(secure: bool) -> tuple[tuple[bytes, bytes], ...]:
    """The headers SecurityMiddleware adds to an API answer (kept until a setting changes, in tests)."""
    out = []
    if settings.SECURE_HSTS_SECONDS and secure:
        sts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        sts += "; includeSubDomains" if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS else ""
        sts += "; preload" if settings.SECURE_HSTS_PRELOAD else ""
        out.append((b"strict-transport-security", sts.encode()))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        out.append((b"x-content-type-options", b"nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        out.append((b"referrer-policy", (policy if isinstance(policy, str) else ",".join(policy)).encode()))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        out.append((b"cross-origin-opener-policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY.encode()))
    return tuple(out)


setting_changed.connect(lambda **_: _security_headers.cache_clear(), weak=False)


async def _read_body(receive, limit: int | None) -> bytes | None:
    """The request body, or None when it is over `limit` bytes (read to its end either way)."""
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is None or size <= limit:
            parts.append(chunk)
        if not message.get("more_body", False):
            break
    if limit is not None and size > limit:
        return None
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _declared_length(scope) -> int | None:
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _read_within(receive, limit: int) -> bytes | None:
    """The body, or None as soon as it passes `limit` (the rest is never read, let alone spooled)."""
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def limit_bodies(app):
    """MAX_REQUEST_BYTES on every path, before Django's handler would spool a body to a temporary file.

    A declared Content-Length over the limit is refused before a byte of the body is read; a chunked
    body is counted as it comes and refused once it passes the limit. Within the limit, the body is
    handed to `app` as one message (at most the limit in memory)."""

    async def limited(scope, receive, send):
        limit = hot.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is None:
            return await app(scope, receive, send)
        declared = _declared_length(scope)
        try:
            body = None if declared is not None and declared > limit else await _read_within(receive, limit)
        except _Disconnected:
            return
        if body is None:
            secure = _secure(scope, Headers.of(scope))
            endpoint, err = ENDPOINTS.get(scope["path"]), too_large(limit)  # in the endpoint's error shape
            reply = Reply(413, {"Connection": "close"}, body=endpoint.error_body(err) if endpoint else orjson.dumps(err.payload()))
            _count(scope["method"], secure, 413, False)
            return await _send(reply, send, secure)
        given = False

        async def replay():
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await app(scope, replay, send)

    return limited


def _count(method: str, secure: bool, status: int, streaming: bool) -> None:
    """The django_prometheus request counters the normal stack would have moved."""
    m = Metrics.get_instance()
    m.requests_total.inc()
    metrics.child(m.requests_by_method, method).inc()
    metrics.child(m.requests_by_transport, "https" if secure else "http").inc()
    m.responses_total.inc()
    metrics.child(m.responses_by_status, str(status)).inc()
    if streaming:
        m.responses_streaming.inc()


async def _answer(endpoint: Endpoint, scope, headers: Headers, body: bytes | None, send, secure: bool) -> None:
    def read_body() -> bytes:
        if body is None:
            raise too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        return body

    try:
        reply = await pipeline.serve(endpoint, headers, client_address(_Peer(headers, scope)), read_body)
    except Exception:
        log.exception("unhandled error on POST %s", scope["path"])
        err = GatewayError(500, "server_error", "The gateway failed to handle this request.", "internal_error")
        reply = pipeline.error_reply(endpoint, err)
    _count("POST", secure, reply.status, reply.stream is not None)
    await _send(reply, send, secure)


async def _send(reply: Reply, send, secure: bool) -> None:
    kind = b"text/event-stream" if reply.stream is not None else b"application/json"
    head = [(b"content-type", kind), *_security_headers(secure)]
    head += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
    if reply.stream is None:
        head.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": head})
        await send({"type": "http.response.body", "body": reply.body})
        return
    async with aclosing(reply.stream) as stream:
        await send({"type": "http.response.start", "status": reply.status, "headers": head})
        async for part in stream:
            await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body"})


class _Listener:
    """Cancels the request's task when its client disconnects before the answer is done."""

    def __init__(self, receive) -> None:
        self.answered = False
        self._task = asyncio.current_task()
        self._listening = asyncio.create_task(self._listen(receive))

    async def _listen(self, receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if not self.answered:
            self._task.cancel()

    def left(self) -> bool:
        """Whether a cancellation came from the client leaving (not from the server stopping)."""
        listening = self._listening
        return listening is not None and listening.done() and not listening.cancelled()

    def stop(self) -> None:
        """Stop listening, and let go of the task: cancelled, it keeps its CancelledError, whose traceback holds
        _listen's frame and so this listener; holding the task here made a cycle per request (issue 18)."""
        listening, self._listening, self._task = self._listening, None, None
        listening.cancel()


async def serve_endpoint(endpoint: Endpoint, scope, receive, send) -> None:
    """POST to an endpoint straight to the pipeline; a client that leaves cancels the work (streams bill in `finally`).

    The answer runs in the request's own task and one listener task waits for the disconnect: a task
    and an asyncio.wait fewer per request than racing two tasks (bench/README.md).
    """
    if scope["method"] != "POST" or _must_redirect(scope):
        return await _refuse(endpoint, scope, receive, send)
    try:
        body = await _read_body(receive, hot.DATA_UPLOAD_MAX_MEMORY_SIZE)
    except _Disconnected:
        return
    headers = Headers.of(scope)
    listener = _Listener(receive)
    try:
        await _answer(endpoint, scope, headers, body, send, _secure(scope, headers))
        listener.answered = True
    except asyncio.CancelledError:
        if not listener.left():
            raise
        asyncio.current_task().uncancel()  # the client left: the work is cancelled and billed, the request is over
    finally:
        listener.stop()


def _must_redirect(scope) -> bool:
    return hot.SECURE_SSL_REDIRECT and not _secure(scope, Headers.of(scope))


async def _refuse(endpoint: Endpoint, scope, receive, send) -> None:
    """A wrong method (405 JSON), or plain HTTP where SECURE_SSL_REDIRECT asks for HTTPS (301, as SecurityMiddleware)."""
    headers = Headers.of(scope)
    secure = _secure(scope, headers)
    if scope["method"] != "POST":
        reply = pipeline.error_reply(endpoint, method_not_allowed(scope["method"]))
        reply.headers["Allow"] = "POST"
    else:
        host = settings.SECURE_SSL_HOST or headers.get("host", "")
        query = scope.get("query_string", b"").decode("latin-1")
        reply = Reply(301, {"Location": f"https://{host}{scope['path']}" + (f"?{query}" if query else "")}, body=b"")
    _count(scope["method"], secure, reply.status, False)
    await _send(reply, send, secure)


def _span_details(scope) -> tuple[str, dict]:
    """The API's paths name their server spans, but only its fixed ones: a path with an id would make a name per id."""
    method, path = scope.get("method", "HTTP"), scope.get("path", "")
    return (f"{method} {path}" if path.count("/") <= 3 and not path.startswith("/v1/admin/") else method), {}


def _traced(app):
    """`app` under OpenTelemetry's ASGI middleware, one per tracer provider (tests enable and disable tracing)."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    built: dict[int, object] = {}

    def for_provider():
        provider = telemetry.provider()
        if id(provider) not in built:
            built.clear()
            built[id(provider)] = OpenTelemetryMiddleware(
                app, default_span_details=_span_details, tracer_provider=provider, exclude_spans=["receive", "send"],
            )
        return built[id(provider)]

    return for_provider


def dispatch(django_app):
    """HTTP for the API to the lean paths (traced by OpenTelemetry's ASGI middleware when tracing is on),
    everything else (admin, static) to `django_app`; every path's body within MAX_REQUEST_BYTES."""
    api = limit_bodies(ApiHandler())
    django_app = limit_bodies(django_app)

    async def serve_api(scope, receive, send):
        endpoint = ENDPOINTS.get(scope["path"])
        if endpoint is not None:
            return await serve_endpoint(endpoint, scope, receive, send)
        return await api(scope, receive, send)

    traced = _traced(serve_api)

    async def app(scope, receive, send):
        looplag.ensure_started()
        if not is_api(scope["path"]):
            return await django_app(scope, receive, send)
        if telemetry.enabled():
            return await traced()(scope, receive, send)
        return await serve_api(scope, receive, send)

    return app
