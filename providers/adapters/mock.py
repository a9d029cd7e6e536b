"""The built-in mock provider: OpenAI wire format, answered by pure functions instead of the network."""
from __future__ import annotations

import base64
import hashlib
import struct
import time
from dataclasses import dataclass
from typing import Any

import orjson

from .. import tokens
from ..types import ChatRequest, EmbeddingRequest, Message, Target, UpstreamRequest
from . import common, openai
from .openai import StreamParser, parse_embeddings_response, parse_response

__all__ = [
    "build_request", "parse_response", "StreamParser", "simulate", "simulate_stream", "build_embeddings_request",
    "parse_embeddings_response", "simulate_embeddings", "respond",
]

URL = "mock://local/chat/completions"
EMBEDDINGS_URL = "mock://local/embeddings"
DIMENSIONS = 256  # the mock's vector length when the request names no `dimensions`
MAX_DIMENSIONS = 3072  # text-embedding-3-large's
SNIPPET = 60
TAIL = "This answer comes from the gateway's built-in mock provider: deterministic text, real token counts, no network."


def build_request(req: ChatRequest, target: Target, *, stream: bool) -> UpstreamRequest:
    body = openai.body(req, target.upstream_model, stream=stream)
    return UpstreamRequest("POST", URL, common.json_headers(stream), body, stream)


def build_embeddings_request(req: EmbeddingRequest, target: Target) -> UpstreamRequest:
    return UpstreamRequest("POST", EMBEDDINGS_URL, common.json_headers(False), openai.embeddings_body(req, target.upstream_model))


def respond(upstream: UpstreamRequest) -> tuple[int, bytes]:
    """The answer the network would have given to a request this adapter built."""
    if upstream.url == EMBEDDINGS_URL:
        return simulate_embeddings(upstream.body)
    return simulate(upstream.body)


@dataclass(frozen=True, slots=True)
class Answer:
    id: str
    model: str
    words: tuple[str, ...]  # each word with its leading space, so joining gives the text
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.words)

    def usage(self) -> dict:
        total = self.prompt_tokens + self.completion_tokens
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens, "total_tokens": total,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}


def _messages(data: dict) -> tuple[Message, ...]:
    items = data.get("messages") if isinstance(data.get("messages"), list) else []
    return tuple(
        Message(role=str(m.get("role") or "user"), content=m.get("content"), name=m.get("name"))
        for m in items if isinstance(m, dict)
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return " ".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


def _limit(data: dict) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = data.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def answer(body: bytes) -> Answer:
    """The deterministic answer to a request body."""
    data = common.load_object(body) or {}
    messages = _messages(data)
    asked = next((m for m in reversed(messages) if m.role == "user"), messages[-1] if messages else None)
    snippet = " ".join(_text(asked.content if asked else "").split())[:SNIPPET]
    end = " " if snippet.endswith((".", "!", "?")) else ". "
    words = f"Mock response to: {snippet}{end}{TAIL}".split()
    words = tuple(w if i == 0 else f" {w}" for i, w in enumerate(words))
    finish_reason, limit = "stop", _limit(data)
    if limit is not None and tokens.count_text("".join(words)) > limit:
        # Keep whole words while they fit, as a real model stops mid-sentence at the limit.
        kept = 0
        while kept < len(words) and tokens.count_text("".join(words[: kept + 1])) <= limit:
            kept += 1
        words, finish_reason = words[:kept], "length"
    digest = hashlib.sha256(body).hexdigest()[:24]
    return Answer(f"chatcmpl-mock-{digest}", str(data.get("model") or "mock"), words, finish_reason,
                  tokens.count_messages(messages), tokens.count_text("".join(words)))


def simulate(body: bytes) -> tuple[int, bytes]:
    """A chat.completion for the body, as the network would have answered it."""
    a = answer(body)
    message = {"role": "assistant", "content": a.text, "refusal": None}
    return 200, orjson.dumps({
        "id": a.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": a.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": a.finish_reason}],
        "usage": a.usage(),
        "system_fingerprint": "fp_mock",
    })


def _pieces(words: tuple[str, ...]) -> list[str]:
    """Content deltas of one or two words, alternating, as a tokenizer would split them."""
    pieces, i = [], 0
    while i < len(words):
        step = 1 + (len(pieces) % 2)
        pieces.append("".join(words[i : i + step]))
        i += step
    return pieces


def simulate_stream(body: bytes) -> list[bytes]:
    """The same answer as the `data:` payloads of an OpenAI stream, ending with `[DONE]`."""
    data = common.load_object(body) or {}
    options = data.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    a = answer(body)
    created = int(time.time())

    def chunk(choices: list, usage: dict | None = None) -> bytes:
        out = {"id": a.id, "object": "chat.completion.chunk", "created": created, "model": a.model,
               "system_fingerprint": "fp_mock", "choices": choices}
        if include_usage:
            out["usage"] = usage
        return orjson.dumps(out)

    def delta(content: dict, finish_reason: str | None = None) -> list:
        return [{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish_reason}]

    events = [chunk(delta({"role": "assistant", "content": "", "refusal": None}))]
    events += [chunk(delta({"content": piece})) for piece in _pieces(a.words)]
    events.append(chunk(delta({}, a.finish_reason)))
    if include_usage:
        events.append(chunk([], a.usage()))
    events.append(b"[DONE]")
    return events


def vector(model: str, item: str | list, dimensions: int) -> list[float]:
    """A unit vector that depends only on the model, the input and the length: equal inputs, equal vectors."""
    seed = orjson.dumps([model, item])
    raw = hashlib.shake_256(seed).digest(4 * dimensions)
    values = [v / 2**31 - 1.0 for v in struct.unpack(f"<{dimensions}I", raw)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


def _refuse(message: str, param: str) -> tuple[int, bytes]:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    return 400, orjson.dumps({"error": error})


def simulate_embeddings(body: bytes) -> tuple[int, bytes]:
    """OpenAI's embeddings answer for the body: deterministic vectors from a hash of each input, real token counts."""
    data = common.load_object(body) or {}
    model, items = str(data.get("model") or "mock"), data.get("input")
    items = [items] if isinstance(items, str) or (isinstance(items, list) and items and isinstance(items[0], int)) else items
    if not isinstance(items, list) or not items:
        return _refuse("'input' must be a string or an array.", "input")
    dimensions = data.get("dimensions")
    if dimensions is None:
        dimensions = DIMENSIONS
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 1 <= dimensions <= MAX_DIMENSIONS:
        return _refuse(f"'dimensions' must be an integer from 1 to {MAX_DIMENSIONS} for this model.", "dimensions")
    as_base64 = data.get("encoding_format") == "base64"
    out, prompt_tokens = [], 0
    for index, item in enumerate(items):
        values = vector(model, item, dimensions)
        embedding = base64.b64encode(struct.pack(f"<{dimensions}f", *values)).decode() if as_base64 else values
        out.append({"object": "embedding", "index": index, "embedding": embedding})
        prompt_tokens += tokens.count_text(item) if isinstance(item, str) else len(item)
    usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    return 200, orjson.dumps({"object": "list", "data": out, "model": model, "usage": usage})
