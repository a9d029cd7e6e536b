"""Wire formats of the fake provider: what OpenAI, Azure and Anthropic really send."""
from __future__ import annotations

import base64
import hashlib
import json
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .upstream import FakeUpstream, Recorded


@dataclass(frozen=True)
class Call:
    flavor: str  # openai | azure | anthropic
    model: str
    stream: bool
    include_usage: bool
    tool: str | None = None  # answer with a call to this tool (FakeUpstream.tool_arguments)
    thinking: bool = False  # Anthropic: lead with a thinking block (the request enabled thinking)
    operation: str = "chat"  # chat | embeddings


def dumps(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _openai_error(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _anthropic_error(type_: str, message: str) -> dict:
    return {"type": "error", "error": {"type": type_, "message": message}}


def refusal(flavor: str, request: Recorded, api_key: str | None, operation: str = "chat") -> tuple[int, dict] | None:
    """The 400/401 a real provider gives for a missing header, a wrong key or a body it cannot read."""
    headers, body = request.headers, request.body
    if flavor == "anthropic":
        if "anthropic-version" not in headers:
            return 400, _anthropic_error("invalid_request_error", "anthropic-version: header is required")
        if api_key is not None and headers.get("x-api-key") != api_key:
            return 401, _anthropic_error("authentication_error", "invalid x-api-key")
        if body is None or not isinstance(body.get("messages"), list) or "max_tokens" not in body:
            return 400, _anthropic_error("invalid_request_error", "messages and max_tokens: Field required")
        return None
    if flavor == "azure":
        if "api-version" not in request.query:
            return 404, {"error": {"code": "404", "message": "Resource not found"}}
        if api_key is not None and headers.get("api-key") != api_key:
            return 401, {"error": {"code": "401", "message": "Access denied due to invalid subscription key."}}
    elif api_key is not None and headers.get("authorization") != f"Bearer {api_key}":
        return 401, _openai_error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
    needed = "input" if operation == "embeddings" else "messages"
    if body is None or needed not in body or (flavor == "openai" and "model" not in body):
        return 400, _openai_error("We could not parse the JSON body of your request.", "invalid_request_error")
    if operation == "chat" and not isinstance(body.get("messages"), list):
        return 400, _openai_error("We could not parse the JSON body of your request.", "invalid_request_error")
    return None


def error_body(flavor: str, status: int) -> dict:
    """The error a provider sends with a 500, a 429 or a caller-fault 400."""
    if flavor == "anthropic":
        return {
            500: _anthropic_error("api_error", "Internal server error"),
            429: _anthropic_error("rate_limit_error", "Number of request tokens has exceeded your rate limit."),
            400: _anthropic_error("invalid_request_error", "temperature: range: 0..1"),
        }[status]
    if flavor == "azure" and status == 429:
        return {"error": {"code": "429", "message": "Requests have exceeded the call rate limit. Retry after 1 second."}}
    return {
        500: _openai_error("The server had an error while processing your request.", "server_error"),
        429: _openai_error("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
        400: _openai_error("Invalid value for 'temperature': must be between 0 and 2.", "invalid_request_error",
                           "invalid_value", "temperature"),
    }[status]


def _text(call: Call, fake: FakeUpstream) -> str:
    return fake.reply if fake.reply is not None else f"Hello from fake-{call.flavor}"


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [words[0]] + [f" {w}" for w in words[1:]]


LOOKING = "Let me look that up."
THOUGHT = "The user wants a greeting."
SIGNATURE = "sig-fake"


def _call_id(call: Call, fake: FakeUpstream) -> str:
    return f"toolu_fake{fake.calls:04d}" if call.flavor == "anthropic" else f"call_fake{fake.calls:04d}"


def _ident(call: Call, fake: FakeUpstream) -> str:
    return f"msg_fake{fake.calls:04d}" if call.flavor == "anthropic" else f"chatcmpl-fake{fake.calls:04d}"


def openai_usage(fake: FakeUpstream) -> dict:
    """OpenAI's usage object: prompt_tokens include the cached ones, completion_tokens the reasoning."""
    return {
        "prompt_tokens": fake.prompt_tokens, "completion_tokens": fake.completion_tokens,
        "total_tokens": fake.prompt_tokens + fake.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": fake.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": fake.reasoning_tokens, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }


def anthropic_usage(fake: FakeUpstream, output_tokens: int) -> dict:
    """Anthropic's usage object: input_tokens leave out the tokens read from or written to the cache."""
    return {
        "input_tokens": fake.prompt_tokens - fake.cached_tokens - fake.cache_write_tokens,
        "cache_creation_input_tokens": fake.cache_write_tokens,
        "cache_read_input_tokens": fake.cached_tokens,
        "output_tokens": output_tokens,
    }


def completion(call: Call, fake: FakeUpstream) -> dict:
    """A whole, non-streamed answer."""
    text = _text(call, fake)
    if call.flavor == "anthropic":
        content = [{"type": "text", "text": text}]
        if call.tool:
            content = [{"type": "text", "text": LOOKING}, {"type": "tool_use", "id": _call_id(call, fake),
                                                           "name": call.tool, "input": fake.tool_arguments}]
        if call.thinking:
            content = [{"type": "thinking", "thinking": THOUGHT, "signature": SIGNATURE}, *content]
        out = {
            "id": _ident(call, fake), "type": "message", "role": "assistant", "model": call.model,
            "content": content, "stop_reason": "tool_use" if call.tool else "end_turn", "stop_sequence": None,
            "usage": anthropic_usage(fake, fake.completion_tokens),
        }
    else:
        message = {"role": "assistant", "content": text, "refusal": None}
        if call.tool:
            message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
                {"id": _call_id(call, fake), "type": "function",
                 "function": {"name": call.tool, "arguments": json.dumps(fake.tool_arguments)}}]}
        out = {
            "id": _ident(call, fake), "object": "chat.completion", "created": int(time.time()), "model": call.model,
            "choices": [{"index": 0, "message": message,
                         "logprobs": None, "finish_reason": "tool_calls" if call.tool else "stop"}],
            "usage": openai_usage(fake),
            "system_fingerprint": "fp_fake",
        }
    if not fake.send_usage:
        del out["usage"]
    return out


def _frame(payload: dict, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + dumps(payload) + b"\n\n"


def stream_frames(call: Call, fake: FakeUpstream) -> tuple[list[bytes], int]:
    """Every SSE frame of a streamed answer, and the index of the first frame with text."""
    if call.flavor == "anthropic":
        return _anthropic_frames(call, fake)
    ident, created = _ident(call, fake), int(time.time())

    def chunk(choices: list, **extra) -> bytes:
        out = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": call.model,
               "system_fingerprint": "fp_fake", "choices": choices}
        if call.include_usage:
            out["usage"] = None
        return _frame({**out, **extra})

    def delta(content: dict, finish_reason: str | None = None) -> list:
        return [{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish_reason}]

    frames = []
    if call.flavor == "azure":  # Azure leads with a choice-less content-filter chunk
        frames.append(_frame({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                              "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}))
    frames.append(chunk(delta({"role": "assistant", "content": "", "refusal": None})))
    first_text = len(frames)
    if call.tool:
        arguments = json.dumps(fake.tool_arguments)
        half = len(arguments) // 2
        opened = {"index": 0, "id": _call_id(call, fake), "type": "function",
                  "function": {"name": call.tool, "arguments": ""}}
        frames.append(chunk(delta({"tool_calls": [opened]})))
        frames += [chunk(delta({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}))
                   for part in (arguments[:half], arguments[half:])]
        frames.append(chunk(delta({}, "tool_calls")))
    else:
        frames += [chunk(delta({"content": piece})) for piece in _pieces(_text(call, fake))]
        frames.append(chunk(delta({}, "stop")))
    if call.include_usage and fake.send_usage:
        frames.append(chunk([], usage=openai_usage(fake)))
    frames.append(b"data: [DONE]\n\n")
    return frames, first_text


def _anthropic_frames(call: Call, fake: FakeUpstream) -> tuple[list[bytes], int]:
    message = {"id": _ident(call, fake), "type": "message", "role": "assistant", "model": call.model,
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": anthropic_usage(fake, 1)}
    if not fake.send_usage:
        del message["usage"]
    final = {"output_tokens": fake.completion_tokens} if fake.send_usage else None
    frames = [_frame({"type": "message_start", "message": message}, "message_start")]
    text_at = 1 if call.thinking else 0  # the text block's index
    if call.thinking:
        frames.append(_frame({"type": "content_block_start", "index": 0,
                              "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
                             "content_block_start"))
        frames += [_frame({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta") for delta in
                   ({"type": "thinking_delta", "thinking": THOUGHT}, {"type": "signature_delta", "signature": SIGNATURE})]
        frames.append(_frame({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    frames += [
        _frame({"type": "content_block_start", "index": text_at, "content_block": {"type": "text", "text": ""}},
               "content_block_start"),
        _frame({"type": "ping"}, "ping"),
    ]
    first_text = len(frames)
    said = LOOKING if call.tool else _text(call, fake)
    frames += [_frame({"type": "content_block_delta", "index": text_at,
                       "delta": {"type": "text_delta", "text": piece}}, "content_block_delta") for piece in _pieces(said)]
    frames.append(_frame({"type": "content_block_stop", "index": text_at}, "content_block_stop"))
    if call.tool:
        arguments = json.dumps(fake.tool_arguments)
        half, at = len(arguments) // 2, text_at + 1
        block = {"type": "tool_use", "id": _call_id(call, fake), "name": call.tool, "input": {}}
        frames.append(_frame({"type": "content_block_start", "index": at, "content_block": block}, "content_block_start"))
        frames += [_frame({"type": "content_block_delta", "index": at,
                           "delta": {"type": "input_json_delta", "partial_json": part}}, "content_block_delta")
                   for part in (arguments[:half], arguments[half:])]
        frames.append(_frame({"type": "content_block_stop", "index": at}, "content_block_stop"))
    frames += [
        _frame({"type": "message_delta", "delta": {"stop_reason": "tool_use" if call.tool else "end_turn",
                                                   "stop_sequence": None},
                "usage": final}, "message_delta"),
        _frame({"type": "message_stop"}, "message_stop"),
    ]
    return frames, first_text


def error_frame(flavor: str) -> bytes:
    """The error event a provider sends when it fails mid-stream."""
    if flavor == "anthropic":
        return _frame(_anthropic_error("overloaded_error", "Overloaded"), "error")
    return _frame(_openai_error("The server had an error while processing your request.", "server_error"))


def embeddings(call: Call, fake: FakeUpstream, body: dict) -> dict:
    """OpenAI's embeddings answer: a small deterministic vector per input, in the encoding asked for."""
    items = body.get("input")
    if isinstance(items, str) or (isinstance(items, list) and items and isinstance(items[0], int)):
        items = [items]
    dimensions = body.get("dimensions") if isinstance(body.get("dimensions"), int) else 8
    data = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        raw = hashlib.sha256(json.dumps(item).encode()).digest() * (dimensions // 8 + 1)
        vector = [b / 255 - 0.5 for b in raw[:dimensions]]
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    out = {"object": "list", "data": data, "model": call.model}
    if fake.embeddings_usage:
        out["usage"] = {"prompt_tokens": fake.prompt_tokens, "total_tokens": fake.prompt_tokens}
    return out
