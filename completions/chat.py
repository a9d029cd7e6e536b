"""POST /v1/chat/completions: OpenAI's chat wire shape on the one pipeline; translation only."""
from __future__ import annotations

from functools import partial

import orjson

from infra.errors import GatewayError
from providers import routing
from providers.types import ChatChunk, ChatRequest

from . import cache
from .endpoint import Endpoint
from .validation import parse_chat_request, parse_json

DONE = b"data: [DONE]\n\n"


def sse(payload: dict) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


class ChatStream:
    """Chat completion chunks as Server-Sent Events, ending `data: [DONE]`."""

    def __init__(self, req: ChatRequest):
        pass

    def chunk(self, chunk: ChatChunk) -> bytes | None:
        if not chunk.choices:
            return None
        payload = chunk.to_openai()
        payload.pop("usage", None)  # usage goes in its own chunk, last, when asked
        return sse(payload)

    def usage(self, chunk: ChatChunk) -> bytes:
        return sse(chunk.to_openai())

    def done(self) -> bytes:
        return DONE

    def error(self, err: GatewayError) -> bytes:
        return sse(err.payload())


def _parse(body: bytes, headers=None) -> ChatRequest:
    return parse_chat_request(parse_json(body))


def _error_body(err: GatewayError) -> bytes:
    return orjson.dumps(err.payload())


CHAT = Endpoint(
    name="chat.completions",
    parse=_parse,
    render=orjson.dumps,
    stream=ChatStream,
    cacheable=cache.cacheable,
    error_body=_error_body,
    call=partial(routing.complete, hollow=True),  # its render is OpenAI's JSON: a big answer's strings are spliced back
)
