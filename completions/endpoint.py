"""What an endpoint supplies to the pipeline: its wire shape in and out, its cache rule, and the call it makes
(../shared/ARCHITECTURE.md).

Everything between parsing and rendering (authenticate, admit, cache, route and call with fallback,
account, observe) is completions/pipeline.py, written once; an endpoint only translates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

from infra.errors import GatewayError
from providers import routing
from providers.types import ChatChunk, ChatRequest, Request, Target


class StreamRenderer(Protocol):
    """One stream's events in the endpoint's wire format; may keep state (an event counter, open blocks)."""

    def chunk(self, chunk: ChatChunk) -> bytes | None:
        """A content chunk's event(s); None when it carries nothing to send."""

    def usage(self, chunk: ChatChunk) -> bytes:
        """The closing usage event, sent when the request asked for it."""

    def done(self) -> bytes:
        """What ends a complete stream."""

    def error(self, err: GatewayError) -> bytes:
        """An error after the stream began (the status line has gone)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    parse: Callable[[bytes, Any], Request]  # body and request headers (lower-case names)
    render: Callable[[dict], bytes]  # the call's payload (a chat.completion for chat), as the cache stores it
    stream: Callable[[ChatRequest], StreamRenderer] | None  # None: the endpoint never streams
    cacheable: Callable[[Request], bool]
    error_body: Callable[[GatewayError], bytes]
    stream_headers: tuple[tuple[str, str], ...] = (("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"))
    # The routes it serves (ModelRoute.mode): a model of another mode is refused with 400.
    mode: str = "chat"
    # The call along the route's chain, with fallback and breaker (a non-streamed answer; streams are chat's).
    call: Callable[[Request, tuple[Target, ...], str | None], Awaitable[routing.Answer]] = routing.complete
