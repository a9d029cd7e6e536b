"""Route a request along its chain: priority order, weights within a priority, breaker, fallback."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from typing import AsyncIterator

import orjson
from django.conf import settings
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from infra import telemetry
from infra.metrics import child
from infra.errors import GatewayError

from . import adapters, bigstrings, breaker, http, metrics, tokens
from .adapters import common as adapter_common
from .adapters import openai as adapter_openai
from .types import (
    ChatChunk, ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, Target, UpstreamError, UpstreamRequest,
    Usage,
)


@dataclass(frozen=True, slots=True)
class Attempt:
    provider: str
    outcome: str  # ok | timeout | connect | http | malformed | stream | skipped | misconfigured
    seconds: float
    status: int | None = None


@dataclass(slots=True)
class Answer:
    target: Target
    response: ChatResponse | EmbeddingResponse  # what the endpoint's call asked for
    attempts: list[Attempt]


@dataclass(slots=True)
class StreamAnswer:
    """An upstream stream that has produced its first chunks; no fallback from here on."""

    target: Target
    first_chunks: list[ChatChunk]
    events: AsyncIterator
    parser: object  # the adapter's StreamParser
    upstream: object  # http.UpstreamStream, closed by the caller
    attempts: list[Attempt] = field(default_factory=list)
    span: trace.Span = trace.INVALID_SPAN  # the attempt's span, ended by the relay with the stream


def order(targets: tuple[Target, ...], rng: random.Random | None = None) -> list[Target]:
    """Lowest priority first; within a priority, a weighted random order."""
    if len(targets) == 1:
        return list(targets)
    rng = rng or random
    ordered: list[Target] = []
    for priority in sorted({t.priority for t in targets}):
        group = [t for t in targets if t.priority == priority]
        while group:
            pick = rng.choices(group, weights=[max(t.weight, 0) or 1e-9 for t in group])[0]
            ordered.append(pick)
            group.remove(pick)
    return ordered


# OpenTelemetry GenAI names per provider kind: (gen_ai.provider.name, the older gen_ai.system).
_GENAI_NAMES = {"azure": ("azure.ai.openai", "az.ai.openai")}


def _request_attributes(req: ChatRequest | EmbeddingRequest, target: Target, index: int) -> dict:
    provider_name, system = _GENAI_NAMES.get(target.kind, (target.kind, target.kind))
    attributes = {
        "gen_ai.operation.name": _operation(req),
        "gen_ai.provider.name": provider_name,
        "gen_ai.system": system,
        "gen_ai.request.model": target.upstream_model,
        "gateway.route": target.public_model,
        "gateway.provider": target.provider,
        "gateway.cache": "miss",  # a cache hit never reaches a provider
        "gateway.fallback_index": index,
        "gateway.stream": req.stream,
    }
    if (scope := telemetry.scope()) is not None:
        attributes["gateway.tenant"] = scope.tenant
        attributes["gateway.request_id"] = scope.request_id
    if isinstance(req, EmbeddingRequest):
        attributes["gen_ai.request.encoding_formats"] = [req.encoding_format or "float"]
        if req.dimensions is not None:
            attributes["gen_ai.embeddings.dimension.count"] = req.dimensions
        return attributes
    if req.max_tokens is not None:
        attributes["gen_ai.request.max_tokens"] = req.max_tokens
    if req.temperature is not None:
        attributes["gen_ai.request.temperature"] = req.temperature
    if settings.TRACE_CONTENT:
        attributes["gen_ai.input.messages"] = orjson.dumps([m.to_openai() for m in req.messages]).decode()
    return attributes


def _operation(req: ChatRequest | EmbeddingRequest) -> str:
    """The GenAI operation name, which also names the attempt's span."""
    return "embeddings" if isinstance(req, EmbeddingRequest) else "chat"


def end_span(span: trace.Span, model: str, usage: Usage | None, finish_reasons: list[str], output: list[dict]) -> None:
    """Close an attempt span with what the provider answered (GenAI response attributes)."""
    if span.is_recording():
        attributes: dict = {"gen_ai.response.finish_reasons": finish_reasons}
        if model:
            attributes["gen_ai.response.model"] = model
        if usage is not None:
            attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
            attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
        if settings.TRACE_CONTENT and output:
            attributes["gen_ai.output.messages"] = orjson.dumps(output).decode()
        span.set_attributes(attributes)
    span.end()


class _Call:
    """One provider attempt: its span (whose context goes upstream as traceparent), timing and metrics."""

    def __init__(self, req: ChatRequest | EmbeddingRequest, target: Target, index: int):
        self.target = target
        self.started = time.monotonic()
        self.span = telemetry.tracer().start_span(f"{_operation(req)} {target.upstream_model}", kind=SpanKind.CLIENT)
        if self.span.is_recording():
            self.span.set_attributes(_request_attributes(req, target, index))
        if index:
            metrics.FALLBACKS.labels(target.public_model, target.provider).inc()

    def prepare(self, upstream: UpstreamRequest, callers_traceparent: str | None) -> UpstreamRequest:
        traceparent = telemetry.traceparent_for(self.span, callers_traceparent)
        if not traceparent:
            return upstream
        headers = dict(upstream.headers, traceparent=traceparent)
        return UpstreamRequest(upstream.method, upstream.url, headers, upstream.body, upstream.stream)

    def _attempt(self, outcome: str, status: int | None) -> Attempt:
        seconds = time.monotonic() - self.started
        child(metrics.ATTEMPT_SECONDS, self.target.provider, outcome).observe(seconds)
        metrics.note_breaker(self.target.provider)
        return Attempt(self.target.provider, outcome, seconds, status)

    def failed(self, err: UpstreamError) -> Attempt:
        if not _callers_fault(err):
            breaker.failure(self.target.provider)
        if self.span.is_recording():
            self.span.set_attribute("error.type", err.kind if err.status is None else str(err.status))
            self.span.set_status(Status(StatusCode.ERROR, err.message))
        self.span.end()
        return self._attempt(err.kind, err.status)

    def abandoned(self) -> None:
        """The attempt ended with neither an answer nor an upstream error: the caller went away."""
        if self.span.is_recording():
            self.span.set_attribute("error.type", "cancelled")
        self.span.end()
        self._attempt("cancelled", None)

    def succeeded(self, status: int) -> Attempt:
        breaker.success(self.target.provider)
        return self._attempt("ok", status)


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
    if errors and all(e.kind == "misconfigured" for e in errors):
        detail = "; ".join(e.message for e in errors)
        return GatewayError(502, "upstream_error", f"No provider for this model is usable: {detail}. An operator must fix it.",
                            code="provider_misconfigured")
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


def _allowed(target: Target, attempts: list[Attempt], errors: list[UpstreamError]) -> bool:
    if target.misconfigured:
        attempts.append(Attempt(target.provider, "misconfigured", 0.0))
        errors.append(UpstreamError("misconfigured", f"provider '{target.provider}' is misconfigured: {target.misconfigured}"))
        return False
    if breaker.allow(target.provider):
        return True
    attempts.append(Attempt(target.provider, "skipped", 0.0))
    return False


def _response_output(response: ChatResponse, span: trace.Span) -> tuple[list[str], list[dict]]:
    if response.hollow is not None and settings.TRACE_CONTENT and span.is_recording():
        response = response.filled()
    reasons = [c.finish_reason for c in response.choices if c.finish_reason]
    return reasons, [c.message for c in response.choices]


async def complete(req: ChatRequest, targets: tuple[Target, ...], traceparent: str | None = None, *,
                   hollow: bool = False) -> Answer:
    """Call the chain until one provider answers; raise a GatewayError when none does.

    With `hollow`, an OpenAI-shaped answer's big strings stay as received (providers/bigstrings.py): for a
    caller that renders the answer as OpenAI JSON and splices them back."""
    answer = await _along(req, targets, traceparent, _chat_hollow if hollow else _chat)
    response = answer.response
    end_span(answer.span, response.model, response.usage, *_response_output(response, answer.span))
    return answer.answer


async def embed(req: EmbeddingRequest, targets: tuple[Target, ...], traceparent: str | None = None) -> Answer:
    """Embeddings along the chain, as `complete`; an answer without usage carries the gateway's count, marked estimated."""
    answer = await _along(req, targets, traceparent, _embeddings)
    response = answer.response
    if response.usage is None:
        response = EmbeddingResponse(response.model, response.data, Usage(tokens.count_inputs(req.input), 0, estimated=True))
    end_span(answer.span, response.model, response.usage, [], [])
    return Answer(answer.answer.target, response, answer.answer.attempts)


def _chat(adapter, req: ChatRequest, target: Target) -> tuple[UpstreamRequest, object]:
    return adapter.build_request(req, target, stream=False), adapter.parse_response


def _chat_hollow(adapter, req: ChatRequest, target: Target) -> tuple[UpstreamRequest, object]:
    built, parse = _chat(adapter, req, target)
    if parse is not adapter_openai.parse_response:  # an adapter that rebuilds the strings cannot splice them
        return built, parse

    def parse_hollow(status: int, body: bytes, target: Target) -> ChatResponse:
        if not adapter_common.is_success(status):
            return parse(status, body, target)
        skeleton, hollow = bigstrings.cut(body)
        response = parse(status, skeleton, target)
        return response if hollow is None else replace(response, hollow=hollow)

    return built, parse_hollow


def _embeddings(adapter, req: EmbeddingRequest, target: Target) -> tuple[UpstreamRequest, object]:
    if not hasattr(adapter, "build_embeddings_request"):  # ModelRoute.clean refuses such a route
        raise UpstreamError("malformed", f"{target.kind} providers serve no embeddings", retryable=True)

    def parse(status: int, body: bytes, target: Target) -> EmbeddingResponse:
        response = adapter.parse_embeddings_response(status, body, target)
        if len(response.data) != len(req.input):
            raise UpstreamError("malformed", f"{target.provider} answered {len(response.data)} embeddings "
                                             f"for {len(req.input)} inputs")
        if req.encoding_format == "base64":  # a provider that ignored the format still answers in the one asked for
            return adapter_common.as_base64(response, target)
        return response

    return adapter.build_embeddings_request(req, target), parse


@dataclass(slots=True)
class _Done:
    answer: Answer
    span: trace.Span  # the successful attempt's span, ended by the caller with what it answered

    @property
    def response(self):
        return self.answer.response


async def _along(req, targets: tuple[Target, ...], traceparent: str | None, translate) -> _Done:
    """Call the chain until one provider answers; raise a GatewayError when none does.

    `translate(adapter, req, target)` gives the upstream request and the adapter's parser for its answer."""
    errors: list[UpstreamError] = []
    attempts: list[Attempt] = []
    for index, target in enumerate(order(targets)):
        if not _allowed(target, attempts, errors):
            continue
        adapter = adapters.get(target.kind)
        call = _Call(req, target, index)
        try:
            built, parse = translate(adapter, req, target)
            upstream = call.prepare(built, traceparent)
            status, body = await http.send(target, upstream)
            response = parse(status, body, target)
        except UpstreamError as err:
            attempts.append(call.failed(err))
            if _callers_fault(err):
                raise caller_error(err) from None
            errors.append(err)
            continue
        except BaseException:
            call.abandoned()
            raise
        attempts.append(call.succeeded(status))
        return _Done(Answer(target, response, attempts), call.span)
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
    for index, target in enumerate(order(targets)):
        if not _allowed(target, attempts, errors):
            continue
        adapter = adapters.get(target.kind)
        call = _Call(req, target, index)
        upstream_stream = None
        try:
            upstream = call.prepare(adapter.build_request(req, target, stream=True), traceparent)
            upstream_stream = await http.open_stream(target, upstream)
            chunks, events, parser = await _first_chunks(adapter, target, upstream_stream)
        except UpstreamError as err:
            if upstream_stream is not None:
                await upstream_stream.aclose()
            attempts.append(call.failed(err))
            if _callers_fault(err):
                raise caller_error(err) from None
            errors.append(err)
            continue
        except BaseException:
            call.abandoned()
            if upstream_stream is not None:
                await upstream_stream.aclose()
            raise
        attempts.append(call.succeeded(upstream_stream.status))
        return StreamAnswer(target, chunks, events, parser, upstream_stream, attempts, call.span)
    raise all_failed(errors)
