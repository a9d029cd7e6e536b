"""Anthropic Messages API: OpenAI chat requests translated in, answers and stream events translated out."""
from __future__ import annotations

import re
import time
from typing import Any

import orjson

from ..types import (
    ChatChunk, ChatRequest, ChatResponse, Choice, ChunkChoice, Message, SSEEvent, Target, UpstreamError,
    UpstreamRequest, Usage,
)
from . import common

VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; OpenAI clients often omit it.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
THINKING = ("thinking", "redacted_thinking")
_DATA_URL = re.compile(r"^data:([^;,]+);base64,(.*)$", re.DOTALL)


def build_request(req: ChatRequest, target: Target, *, stream: bool) -> UpstreamRequest:
    headers = common.json_headers(stream)
    if target.api_key:
        headers["x-api-key"] = target.api_key
    headers["anthropic-version"] = target.options.get("anthropic_version") or VERSION
    url = f"{target.base_url}/v1/messages"
    if req.native is not None and req.native.kind == "anthropic":
        headers.update(req.native.headers)  # anthropic-beta
        return UpstreamRequest("POST", url, headers, common.dumps(passed_through(req.native.body, target, stream)), stream)
    return UpstreamRequest("POST", url, headers, common.dumps(to_anthropic(req, target, stream=stream)), stream)


def passed_through(body: dict, target: Target, stream: bool) -> dict:
    """A Messages API body from a client of /v1/messages, as it came but for the route's model and streaming."""
    out = {**body, "model": target.upstream_model}
    if stream:
        out["stream"] = True
    else:
        out.pop("stream", None)
    return out


def to_anthropic(req: ChatRequest, target: Target, *, stream: bool) -> dict:
    """The Messages API body for an OpenAI chat request."""
    system, messages = _conversation(req.messages, target)
    out: dict[str, Any] = {"model": target.upstream_model, "max_tokens": req.max_tokens or DEFAULT_MAX_TOKENS}
    if system:
        out["system"] = system
    out["messages"] = messages
    if req.temperature is not None:
        out["temperature"] = min(req.temperature, 1.0)  # Anthropic's range is 0..1, OpenAI's 0..2
    if req.top_p is not None:
        out["top_p"] = req.top_p
    if req.stop:
        out["stop_sequences"] = list(req.stop)
    if req.user:
        out["metadata"] = {"user_id": req.user}
    if req.tools:
        out["tools"] = [_tool(t, target) for t in req.tools]
        choice = _tool_choice(req.tool_choice, req.extra.get("parallel_tool_calls"))
        if choice is not None:
            out["tool_choice"] = choice
    if stream:
        out["stream"] = True
    return out


def _unsupported(what: str, target: Target) -> UpstreamError:
    message = f"{what} is not supported by provider {target.provider}."
    return UpstreamError("http", message, status=400, retryable=False,
                         body={"message": message, "type": "invalid_request_error", "code": "unsupported_parameter"})


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return "\n".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


def _media(url: str, kind: str) -> dict:
    match = _DATA_URL.match(url)
    if match:
        return {"type": kind, "source": {"type": "base64", "media_type": match.group(1), "data": match.group(2)}}
    return {"type": kind, "source": {"type": "url", "url": url}}


def _part(part: dict, target: Target) -> dict | None:
    kind = part.get("type")
    if kind in ("text", "refusal"):
        text = part.get(kind)
        return {"type": "text", "text": text} if isinstance(text, str) and text else None
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if isinstance(url, str) and url:
            return _media(url, "image")
    if kind == "file":
        data = (part.get("file") or {}).get("file_data")
        if isinstance(data, str) and _DATA_URL.match(data):
            return _media(data, "document")
    raise _unsupported(f"Content part {kind!r}", target)


def _blocks(content: Any, target: Target) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        return []
    return [b for b in (_part(p, target) for p in content if isinstance(p, dict)) if b is not None]


def _arguments(raw: Any) -> dict:
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw or "{}")
    except (orjson.JSONDecodeError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def _tool_use(call: dict) -> dict:
    function = call.get("function") or {}
    return {"type": "tool_use", "id": call.get("id") or "", "name": function.get("name") or "",
            "input": _arguments(function.get("arguments"))}


def _turn(message: Message, target: Target) -> tuple[str, list[dict]]:
    """One OpenAI message as an Anthropic role and content blocks."""
    if message.role in ("tool", "function"):
        content = message.content if isinstance(message.content, str) else _blocks(message.content, target)
        result = {"type": "tool_result", "tool_use_id": message.tool_call_id or message.name or "", "content": content}
        return "user", [result]
    blocks = _blocks(message.content, target)
    if message.role == "assistant":
        return "assistant", blocks + [_tool_use(c) for c in message.tool_calls or ()]
    return "user", blocks


def _conversation(messages: tuple[Message, ...], target: Target) -> tuple[str, list[dict]]:
    """System text and alternating user/assistant turns (Anthropic rejects two turns of one role in a row)."""
    system: list[str] = []
    turns: list[dict] = []
    for message in messages:
        if message.role in ("system", "developer"):
            system.append(_text_of(message.content))
            continue
        role, blocks = _turn(message, target)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        # Tool results must lead a user turn; sort is stable, so order within each kind holds.
        turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    return "\n\n".join(s for s in system if s), turns


def _tool(tool: dict, target: Target) -> dict:
    function = tool.get("function")
    if tool.get("type", "function") != "function" or not isinstance(function, dict) or not function.get("name"):
        raise _unsupported(f"Tool type {tool.get('type')!r}", target)
    out = {"name": function["name"], "input_schema": function.get("parameters") or {"type": "object", "properties": {}}}
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict | None:
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        out = {"type": "tool", "name": name} if name else {"type": "auto"}
    elif choice in ("none", "required"):
        out = {"type": "none" if choice == "none" else "any"}
    elif choice is None and parallel is not False:
        return None
    else:
        out = {"type": "auto"}
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


def _usage(counts: dict) -> Usage:
    """OpenAI's classes from Anthropic's: input_tokens excludes the cache reads and writes, prompt_tokens does not."""
    read = common.as_int(counts.get("cache_read_input_tokens"))
    write = common.as_int(counts.get("cache_creation_input_tokens"))
    prompt = common.as_int(counts.get("input_tokens")) + read + write
    return common.usage(prompt, common.as_int(counts.get("output_tokens")), cached=read, cache_write=write)


def _tool_call(block: dict) -> dict:
    arguments = orjson.dumps(block.get("input") or {}).decode()
    return {"id": block.get("id") or "", "type": "function",
            "function": {"name": block.get("name") or "", "arguments": arguments}}


def parse_response(status: int, body: bytes, target: Target) -> ChatResponse:
    if not common.is_success(status):
        raise common.http_error(status, body, target)
    data = common.load_object(body)
    content = data.get("content") if data else None
    if not isinstance(content, list):
        raise common.malformed(status, f"{target.provider} answered without content")
    blocks = [b for b in content if isinstance(b, dict)]
    texts = [b.get("text") or "" for b in blocks if b.get("type") == "text"]
    calls = [_tool_call(b) for b in blocks if b.get("type") == "tool_use"]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    if thinking := [b for b in blocks if b.get("type") in THINKING]:
        message["thinking_blocks"] = thinking  # /v1/messages gives them back (with tools, Anthropic wants them again)
    if data.get("stop_reason") == "stop_sequence" and isinstance(data.get("stop_sequence"), str):
        message["stop_sequence"] = data["stop_sequence"]  # which one matched, for /v1/messages
    usage = data.get("usage")
    return ChatResponse(
        id=str(data.get("id") or ""),
        model=target.public_model,
        created=int(time.time()),
        choices=(Choice(0, message, FINISH_REASONS.get(data.get("stop_reason"), "stop")),),
        usage=_usage(usage) if isinstance(usage, dict) else None,
    )


class StreamParser:
    """Messages stream events in, OpenAI chat.completion.chunks out."""

    def __init__(self, target: Target):
        self.target = target
        self.done = False
        self.usage: Usage | None = None
        self._id = ""
        self._created = int(time.time())
        self._counts: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # Anthropic content block index → OpenAI tool_calls index

    def _chunk(self, delta: dict, finish_reason: str | None = None) -> list[ChatChunk]:
        choice = ChunkChoice(0, delta, finish_reason)
        return [ChatChunk(self._id, self.target.public_model, self._created, (choice,))]

    def _count(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self._counts.update({k: v for k, v in usage.items() if v is not None})

    def feed(self, event: SSEEvent) -> list[ChatChunk]:
        data = common.load_object(event.data)
        if data is None:
            raise common.malformed(None, f"{self.target.provider} sent a stream event that is not a JSON object")
        kind = data.get("type") or event.event
        if kind == "error":
            raise common.stream_error(data.get("error"), self.target)
        handler = getattr(self, f"_on_{kind}", None) if kind in EVENTS else None
        return handler(data) if handler else []

    def _on_message_start(self, data: dict) -> list[ChatChunk]:
        message = data.get("message") or {}
        self._id = str(message.get("id") or "")
        self._count(message.get("usage"))
        return self._chunk({"role": "assistant", "content": ""})

    def _on_content_block_start(self, data: dict) -> list[ChatChunk]:
        block = data.get("content_block") or {}
        if block.get("type") in THINKING:
            return self._chunk({"thinking_blocks": [{**block, "index": data.get("index")}]})
        if block.get("type") == "tool_use":
            index = self._tools.setdefault(data.get("index"), len(self._tools))
            call = {"index": index, "id": block.get("id") or "", "type": "function",
                    "function": {"name": block.get("name") or "", "arguments": ""}}
            return self._chunk({"tool_calls": [call]})
        if block.get("type") == "text" and block.get("text"):
            return self._chunk({"content": block["text"]})
        return []

    def _on_content_block_delta(self, data: dict) -> list[ChatChunk]:
        delta = data.get("delta") or {}
        if delta.get("type") == "text_delta" and delta.get("text"):
            return self._chunk({"content": delta["text"]})
        index = self._tools.get(data.get("index"))
        if delta.get("type") == "input_json_delta" and delta.get("partial_json") and index is not None:
            return self._chunk({"tool_calls": [{"index": index, "function": {"arguments": delta["partial_json"]}}]})
        if delta.get("type") in ("thinking_delta", "signature_delta"):
            # Fragments of the thinking block at `index`, for /v1/messages (chat clients see an extra delta field)
            fragment = {k: v for k, v in delta.items() if k in ("thinking", "signature")}
            return self._chunk({"thinking_blocks": [{"type": "thinking", "index": data.get("index"), **fragment}]})
        return []  # citations: nothing OpenAI-shaped to say

    def _on_message_delta(self, data: dict) -> list[ChatChunk]:
        self._count(data.get("usage"))  # cumulative counts: output so far, sometimes input too
        self.usage = _usage(self._counts) if self._counts else None
        delta = data.get("delta") or {}
        stop, matched = delta.get("stop_reason"), delta.get("stop_sequence")
        said = {"stop_sequence": matched} if stop == "stop_sequence" and isinstance(matched, str) else {}
        return self._chunk(said, FINISH_REASONS.get(stop, "stop")) if stop else []

    def _on_message_stop(self, data: dict) -> list[ChatChunk]:
        self.done = True
        if not self._counts:
            return []  # no usage at all: the gateway counts the tokens itself
        self.usage = _usage(self._counts)
        return [ChatChunk(self._id, self.target.public_model, self._created, (), self.usage)]

    def finish(self) -> list[ChatChunk]:
        return []


EVENTS = frozenset({"message_start", "content_block_start", "content_block_delta", "message_delta", "message_stop"})
