"""Route a request along its chain: priority order, weights within a priority, breaker, fallback."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import AsyncIterator

from gateway_project.errors import GatewayError

from . import adapters, breaker, transport
from .types import ChatChunk, ChatRequest, ChatResponse, Target, UpstreamError, UpstreamRequest


@dataclass(frozen=True, slots=True)
class Attempt:
    provider: str
    outcome: str  # ok | timeout | connect | http | malformed | stream | skipped
    seconds: float
    status: int | None = None


@dataclass(slots=True)
class Answer:
    target: Target
    response: ChatResponse
    attempts: list[Attempt]


@dataclass(slots=True)
class StreamAnswer:
    """An upstream stream that has produced its first chunks; no fallback from here on."""

    target: Target
    first_chunks: list[ChatChunk]
    events: AsyncIterator
    parser: object  # the adapter's StreamParser
    upstream: object  # transport.UpstreamStream, closed by the caller
    attempts: list[Attempt] = field(default_factory=list)


def order(targets: tuple[Target, ...], rng: random.Random | None = None) -> list[Target]:
    """Lowest priority first; within a priority, a weighted random order."""
    rng = rng or random
    ordered: list[Target] = []
    for priority in sorted({t.priority for t in targets}):
        group = [t for t in targets if t.priority == priority]
        while group:
            pick = rng.choices(group, weights=[max(t.weight, 0) or 1e-9 for t in group])[0]
            ordered.append(pick)
            group.remove(pick)
    return ordered


def _with_trace(upstream: UpstreamRequest, traceparent: str | None) -> UpstreamRequest:
    if not traceparent:
        return upstream
    headers = dict(upstream.headers, traceparent=traceparent)
    return UpstreamRequest(upstream.method, upstream.url, headers, upstream.body, upstream.stream)


def caller_error(err: UpstreamError) -> GatewayError:
    """A provider's 4xx that is the caller's fault, passed back in OpenAI shape."""
    body = err.body or {}
    return GatewayError(
        err.status or 400,
        body.get("type") or "invalid_request_error",
        body.get("message") or err.message,
        code=body.get("code"),
    )


def all_failed(errors: list[UpstreamError]) -> GatewayError:
    if errors and all(e.kind == "timeout" for e in errors):
        return GatewayError(504, "timeout_error", "Every provider for this model timed out.", code="upstream_timeout")
    if not errors:
        return GatewayError(502, "upstream_error", "Every provider for this model is cooling down after failures.",
                            code="providers_unavailable")
    detail = "; ".join(sorted({f"{e.kind}{f' {e.status}' if e.status else ''}" for e in errors}))
    return GatewayError(502, "upstream_error", f"Every provider for this model failed ({detail}).", code="upstream_failed")


# A provider's 401/403/404 means the gateway's secret or route is wrong, not the caller's request.
_PROVIDER_FAULT_STATUSES = frozenset({401, 403, 404})


def _callers_fault(err: UpstreamError) -> bool:
    return err.kind == "http" and not err.retryable and err.status not in _PROVIDER_FAULT_STATUSES


def _failed(target: Target, err: UpstreamError, started: float, attempts: list[Attempt]) -> None:
    attempts.append(Attempt(target.provider, err.kind, time.monotonic() - started, err.status))
    if not _callers_fault(err):
        breaker.failure(target.provider)


async def complete(req: ChatRequest, targets: tuple[Target, ...], traceparent: str | None = None) -> Answer:
    """Call the chain until one provider answers; raise a GatewayError when none does."""
    errors: list[UpstreamError] = []
    attempts: list[Attempt] = []
    for target in order(targets):
        if not breaker.allow(target.provider):
            attempts.append(Attempt(target.provider, "skipped", 0.0))
            continue
        adapter = adapters.get(target.kind)
        started = time.monotonic()
        try:
            upstream = _with_trace(adapter.build_request(req, target, stream=False), traceparent)
            status, body = await transport.send(target, upstream)
            response = adapter.parse_response(status, body, target)
        except UpstreamError as err:
            _failed(target, err, started, attempts)
            if _callers_fault(err):
                raise caller_error(err) from None
            errors.append(err)
            continue
        breaker.success(target.provider)
        attempts.append(Attempt(target.provider, "ok", time.monotonic() - started, status))
        return Answer(target, response, attempts)
    raise all_failed(errors)


async def _first_chunks(adapter, target: Target, upstream_stream) -> tuple[list[ChatChunk], AsyncIterator, object]:
    """Read events until the stream yields its first chunks (fallback is still possible until then)."""
    if upstream_stream.status >= 300:
        body = await upstream_stream.read_body()
        adapter.parse_response(upstream_stream.status, body, target)  # raises UpstreamError
        raise UpstreamError("malformed", "stream answered without a success status", status=upstream_stream.status)
    parser = adapter.StreamParser(target)
    events = upstream_stream.events().__aiter__()
    while True:
        try:
            event = await events.__anext__()
        except StopAsyncIteration:
            chunks = parser.finish()
            if chunks:
                return chunks, events, parser
            raise UpstreamError("malformed", "stream ended before any chunk") from None
        chunks = parser.feed(event)
        if chunks:
            return chunks, events, parser


async def open_stream(req: ChatRequest, targets: tuple[Target, ...], traceparent: str | None = None) -> StreamAnswer:
    """Open a stream along the chain; fall back until the first chunk has arrived."""
    errors: list[UpstreamError] = []
    attempts: list[Attempt] = []
    for target in order(targets):
        if not breaker.allow(target.provider):
            attempts.append(Attempt(target.provider, "skipped", 0.0))
            continue
        adapter = adapters.get(target.kind)
        started = time.monotonic()
        upstream_stream = None
        try:
            upstream = _with_trace(adapter.build_request(req, target, stream=True), traceparent)
            upstream_stream = await transport.open_stream(target, upstream)
            chunks, events, parser = await _first_chunks(adapter, target, upstream_stream)
        except UpstreamError as err:
            if upstream_stream is not None:
                await upstream_stream.aclose()
            _failed(target, err, started, attempts)
            if _callers_fault(err):
                raise caller_error(err) from None
            errors.append(err)
            continue
        except BaseException:
            if upstream_stream is not None:
                await upstream_stream.aclose()
            raise
        breaker.success(target.provider)
        attempts.append(Attempt(target.provider, "ok", time.monotonic() - started, upstream_stream.status))
        return StreamAnswer(target, chunks, events, parser, upstream_stream, attempts)
    raise all_failed(errors)
