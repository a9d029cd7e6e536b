"""What an endpoint supplies to the pipeline: its wire shape in and out, and its cache rule (../shared/ARCHITECTURE.md).

Everything between parsing and rendering (authenticate, admit, cache, route and call with fallback,
account, observe) is completions/pipeline.py, written once; an endpoint only translates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from infra.errors import GatewayError
from providers.types import ChatChunk, ChatRequest


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
    parse: Callable[[bytes, Any], ChatRequest]  # body and request headers (lower-case names)
    render: Callable[[dict], bytes]  # a chat.completion payload, as providers answer and the cache stores it
    stream: Callable[[ChatRequest], StreamRenderer]
    cacheable: Callable[[ChatRequest], bool]
    error_body: Callable[[GatewayError], bytes]
    stream_headers: tuple[tuple[str, str], ...] = (("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"))
