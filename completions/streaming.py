"""Relay an upstream stream to the client as OpenAI Server-Sent Events, billing in `finally`."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import AsyncIterator, Callable

from opentelemetry.trace import Span, Status, StatusCode, use_span

from infra.errors import GatewayError
from providers import routing, tokens
from providers.routing import StreamAnswer
from providers.types import ChatChunk, ChatRequest, UpstreamError, Usage

from . import metrics
from .endpoint import StreamRenderer


@dataclass(slots=True)
class StreamResult:
    usage: Usage
    ttft_ms: int | None
    error_type: str
    disconnected: bool


class _Tally:
    """What went to the client: text for estimates, the provider's usage, timing."""

    def __init__(self, req: ChatRequest, started: float, renderer: StreamRenderer):
        self.req = req
        self.renderer = renderer
        self.started = started
        self.first_at: float | None = None
        self.parts: list[str] = []
        self.usage: Usage | None = None
        self.last: ChatChunk | None = None
        self.finish_reasons: list[str] = []

    def see(self, chunk: ChatChunk) -> bytes | None:
        """Note a chunk; return its event in the endpoint's shape, or None for a usage-only chunk (sent last, if asked)."""
        if chunk.usage is not None:
            self.usage = chunk.usage
        if not chunk.choices:
            return None
        if self.first_at is None:
            self.first_at = time.monotonic()
        self.last = chunk
        for choice in chunk.choices:
            if choice.finish_reason:
                self.finish_reasons.append(choice.finish_reason)
            content = choice.delta.get("content")
            if isinstance(content, str):
                self.parts.append(content)
            for call in choice.delta.get("tool_calls") or ():
                self.parts.append(str((call.get("function") or {}).get("arguments") or ""))
        return self.renderer.chunk(chunk)

    def final_usage(self) -> Usage:
        if self.usage is not None:
            return self.usage
        prompt = tokens.count_messages(self.req.messages)
        return Usage(prompt, tokens.count_text("".join(self.parts)), estimated=True)

    def usage_chunk(self) -> bytes:
        last = self.last
        chunk = ChatChunk(last.id if last else "", last.model if last else self.req.model,
                          last.created if last else int(time.time()), (), self.final_usage())
        return self.renderer.usage(chunk)

    def ttft_ms(self) -> int | None:
        return None if self.first_at is None else int((self.first_at - self.started) * 1000)

    def end_span(self, span: Span, result: StreamResult) -> None:
        """Close the attempt span, which covers the whole stream, with usage and time to first token."""
        if span.is_recording():
            if self.first_at is not None:
                at = time.time_ns() - int((time.monotonic() - self.first_at) * 1e9)
                span.add_event("gen_ai.first_token", timestamp=at)
                span.set_attribute("gateway.ttft_ms", result.ttft_ms)
            if result.disconnected:
                span.set_attribute("gateway.client_disconnected", True)
            elif result.error_type:
                span.set_attribute("error.type", result.error_type)
                span.set_status(Status(StatusCode.ERROR, result.error_type))
        output = [{"role": "assistant", "content": "".join(self.parts)}]
        routing.end_span(span, self.last.model if self.last else "", result.usage, self.finish_reasons, output)


class Relay:
    """The SSE relay as an async iterator whose aclose() closes the upstream and bills even when
    the client left before the first chunk was pulled (an unstarted generator never runs `finally`)."""

    def __init__(self, answer: StreamAnswer, req: ChatRequest, started: float, finish: Callable[[StreamResult], None],
                 renderer: StreamRenderer):
        self.began = self.abandoned = False
        self._gen = _relay(self, answer, req, started, finish, renderer)

    def __aiter__(self) -> "Relay":
        return self

    async def __anext__(self) -> bytes:
        self.began = True
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        if not self.began:
            self.began = self.abandoned = True
            try:
                await self._gen.__anext__()  # runs to the abandonment check, then `finally`
            except (asyncio.CancelledError, StopAsyncIteration):
                pass
        await self._gen.aclose()


def relay(answer: StreamAnswer, req: ChatRequest, started: float, finish: Callable[[StreamResult], None],
          renderer: StreamRenderer) -> Relay:
    """Forward chunks as they arrive, rendered by the endpoint; on any end (done, upstream error, disconnect) close and bill."""
    return Relay(answer, req, started, finish, renderer)


async def _relay(
    state: Relay, answer: StreamAnswer, req: ChatRequest, started: float, finish: Callable[[StreamResult], None],
    renderer: StreamRenderer,
) -> AsyncIterator[bytes]:
    tally = _Tally(req, started, renderer)
    error_type, disconnected = "", False
    metrics.OPEN_STREAMS.inc()
    try:
        if state.abandoned:
            for chunk in answer.first_chunks:  # received from the provider, so billed
                tally.see(chunk)
            tally.first_at = None  # nothing reached the client
            raise asyncio.CancelledError
        for chunk in answer.first_chunks:
            if (data := tally.see(chunk)) is not None:
                yield data
        async for event in answer.events:
            for chunk in answer.parser.feed(event):
                if (data := tally.see(chunk)) is not None:
                    yield data
        for chunk in answer.parser.finish():
            if (data := tally.see(chunk)) is not None:
                yield data
        if req.include_usage:
            yield tally.usage_chunk()
        yield renderer.done()
    except UpstreamError as err:
        error_type = f"upstream_{err.kind}"
        yield renderer.error(GatewayError(502, "upstream_error", f"The provider's stream failed: {err.message}",
                                          "stream_interrupted"))
    except (asyncio.CancelledError, GeneratorExit):
        disconnected, error_type = True, "client_disconnected"
        raise
    finally:
        metrics.OPEN_STREAMS.dec()
        try:
            await answer.upstream.aclose()  # may be cancelled itself, or fail: the stream is billed all the same
        finally:
            result = StreamResult(tally.final_usage(), tally.ttft_ms(), error_type, disconnected)
            with use_span(answer.span):  # the request's log line and attributes land on the stream's span
                finish(result)
        tally.end_span(answer.span, result)
