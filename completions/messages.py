"""POST /v1/messages: Anthropic's Messages API on the one pipeline (../shared/INTERFACE.md "More endpoints").

The body becomes a ChatRequest whose `raw` is its chat-completions translation (what OpenAI-compatible
providers receive) and whose `native` is the body itself, which the anthropic adapter sends on as it came
(the route's model, `anthropic-beta` passed on), so fields the chat shape cannot hold (cache_control,
thinking, top_k, documents) reach Anthropic. Answers come back from the pipeline as chat completions and
are rendered as a Messages answer; streams in Anthropic's event order; errors in Anthropic's shape.
"""
from __future__ import annotations

from typing import Any

import orjson

from infra.errors import GatewayError, bad_request
from providers.types import ChatChunk, ChatRequest, Native, Usage

from . import cache
from .endpoint import Endpoint
from .translate import (
    arguments_object, calls, chat_request, data_url, event, finish_reason, function, limited, new_id, objects, said, text,
    typed, usage_of,
)
from .validation import _bool, _int, _number, parse_json

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                "content_filter": "refusal"}
# What the chat translation holds; a request with more (top_k, thinking, ...) is never answered from the
# cache, whose key is the translation.
TRANSLATED = frozenset({"model", "messages", "system", "max_tokens", "temperature", "top_p", "stop_sequences",
                        "stream", "tools", "tool_choice", "metadata"})
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 529: "overloaded_error"}
PASSED_HEADERS = ("anthropic-beta",)


# Request: the Messages body as a chat-completions body

def parse(body: bytes, headers=None) -> ChatRequest:
    data = parse_json(body)
    model = data.get("model")
    if model is None:
        raise bad_request("Missing required field 'model'.", param="model")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' must be a non-empty string.", param="model")
    max_tokens = _int(data, "max_tokens", 1)
    if max_tokens is None:
        raise bad_request("Missing required field 'max_tokens'.", param="max_tokens")
    _int(data, "top_k", 0)  # checked here, used by anthropic providers only
    chat: dict[str, Any] = {"model": model, "messages": _system(data.get("system")) + _conversation(data),
                            "max_completion_tokens": max_tokens}
    for name, high in (("temperature", 1), ("top_p", 1)):
        if (value := _number(data, name, 0, high)) is not None:
            chat[name] = value
    if (stop := data.get("stop_sequences")) is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise bad_request("'stop_sequences' must be an array of strings.", param="stop_sequences")
        if stop:
            chat["stop"] = stop
    if (user := _user_id(data.get("metadata"))) is not None:
        chat["user"] = user
    if data.get("tools") is not None:
        chat["tools"] = [_tool(t, f"tools[{i}]") for i, t in enumerate(objects(data["tools"], "tools"))]
    if data.get("tool_choice") is not None:
        chat.update(_tool_choice(data["tool_choice"]))
    passed = {name: headers.get(name) for name in PASSED_HEADERS if headers is not None and headers.get(name)}
    return chat_request(chat, stream=_bool(data, "stream"), native=Native("anthropic", data, passed))


def _system(system: Any) -> list[dict]:
    if system is None:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}] if system else []
    blocks = typed(system, "system")
    texts = [text(b.get("text"), f"system[{i}].text") for i, b in enumerate(blocks) if b["type"] == "text"]
    return [{"role": "system", "content": "\n".join(texts)}] if texts else []


def _conversation(data: dict) -> list[dict]:
    if "messages" not in data:
        raise bad_request("Missing required field 'messages'.", param="messages")
    items = data["messages"]
    if not isinstance(items, list) or not items:
        raise bad_request("'messages' must be a non-empty array.", param="messages")
    out: list[dict] = []
    for i, item in enumerate(limited(items, "messages")):
        where = f"messages[{i}]"
        if not isinstance(item, dict):
            raise bad_request(f"'{where}' must be an object.", param=where)
        role, content = item.get("role"), item.get("content")
        if role not in ("user", "assistant"):
            raise bad_request(f"'{where}.role' must be 'user' or 'assistant'.", param=f"{where}.role")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
        elif content == []:
            raise bad_request(f"'{where}.content' must not be empty.", param=f"{where}.content")
        elif role == "assistant":
            out.append(_assistant(typed(content, f"{where}.content"), f"{where}.content"))
        else:
            out.extend(_user(typed(content, f"{where}.content"), f"{where}.content"))
    return out


def _image(block: dict, where: str) -> dict:
    source = block.get("source")
    if not isinstance(source, dict):
        raise bad_request(f"'{where}.source' must be an object.", param=f"{where}.source")
    if source.get("type") == "base64":
        url = data_url(source.get("media_type"), source.get("data"), f"{where}.source")
    elif source.get("type") == "url":
        url = text(source.get("url"), f"{where}.source.url")
    else:
        raise bad_request(f"'{where}.source.type' must be 'base64' or 'url'.", param=f"{where}.source.type")
    return {"type": "image_url", "image_url": {"url": url}}


def _part(block: dict, where: str) -> dict | None:
    """A user content block as a chat content part; one the chat shape cannot hold goes as it is (a provider
    that cannot read it refuses the request; anthropic providers get the body as it came)."""
    kind = block["type"]
    if kind == "text":
        return {"type": "text", "text": text(block.get("text"), f"{where}.text")}
    if kind == "image":
        return _image(block, where)
    if kind == "document":
        source = block.get("source") if isinstance(block.get("source"), dict) else {}
        if source.get("type") == "base64":
            file = {"file_data": data_url(source.get("media_type"), source.get("data"), f"{where}.source")}
            return {"type": "file", "file": file}
        if source.get("type") == "text" and isinstance(source.get("data"), str):
            return {"type": "text", "text": source["data"]}
    if kind in ("thinking", "redacted_thinking"):
        return None
    return {k: v for k, v in block.items() if k != "cache_control"}


def _user(blocks: list[dict], where: str) -> list[dict]:
    """Tool results become tool messages (first: they answer the assistant turn before); the rest one user message."""
    results, parts = [], []
    for i, block in enumerate(blocks):
        at = f"{where}[{i}]"
        if block["type"] != "tool_result":
            if (part := _part(block, at)) is not None:
                parts.append(part)
            continue
        call_id = text(block.get("tool_use_id"), f"{at}.tool_use_id")
        content = block.get("content")
        if content is None or isinstance(content, str):
            results.append({"role": "tool", "tool_call_id": call_id, "content": content or ""})
            continue
        inner = [_part(b, f"{at}.content[{j}]") for j, b in enumerate(typed(content, f"{at}.content"))]
        texts = [p["text"] for p in inner if p and p["type"] == "text"]
        results.append({"role": "tool", "tool_call_id": call_id, "content": "\n".join(texts)})
        parts += [p for p in inner if p and p["type"] != "text"]  # images a tool returned, shown to the model after
    return results + ([{"role": "user", "content": parts}] if parts else [])


def _assistant(blocks: list[dict], where: str) -> dict:
    texts, uses = [], []
    for i, block in enumerate(blocks):
        at = f"{where}[{i}]"
        if block["type"] == "text":
            texts.append(text(block.get("text"), f"{at}.text"))
        elif block["type"] == "tool_use":
            arguments = block.get("input", {})
            if not isinstance(arguments, dict):
                raise bad_request(f"'{at}.input' must be an object.", param=f"{at}.input")
            uses.append({"id": text(block.get("id"), f"{at}.id"), "type": "function",
                          "function": {"name": text(block.get("name"), f"{at}.name"),
                                       "arguments": orjson.dumps(arguments).decode()}})
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not uses else None}
    if uses:
        out["tool_calls"] = uses
    return out


def _user_id(metadata: Any) -> str | None:
    return metadata.get("user_id") if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str) else None


def _tool(tool: dict, where: str) -> dict:
    if tool.get("type") not in (None, "custom"):
        return tool  # a server tool (web search, code execution): Anthropic's own
    name = text(tool.get("name"), f"{where}.name")
    schema = tool.get("input_schema", {"type": "object", "properties": {}})
    if not isinstance(schema, dict):
        raise bad_request(f"'{where}.input_schema' must be an object.", param=f"{where}.input_schema")
    function: dict[str, Any] = {"name": name, "parameters": schema}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> dict:
    if not isinstance(choice, dict):
        raise bad_request("'tool_choice' must be an object with a 'type'.", param="tool_choice")
    kind = choice.get("type")
    if kind == "tool":
        chosen: Any = {"type": "function", "function": {"name": text(choice.get("name"), "tool_choice.name")}}
    elif kind in ("auto", "any", "none"):
        chosen = {"auto": "auto", "any": "required", "none": "none"}[kind]
    else:
        raise bad_request("'tool_choice.type' must be one of auto, any, tool, none.", param="tool_choice.type")
    out = {"tool_choice": chosen}
    if choice.get("disable_parallel_tool_use") is True:
        out["parallel_tool_calls"] = False
    return out


def cacheable(req: ChatRequest) -> bool:
    return cache.cacheable(req) and req.native is not None and req.native.body.keys() <= TRANSLATED


# Answer: a chat completion as a Messages answer

def usage(counts: Usage) -> dict:
    return {"input_tokens": counts.uncached_tokens, "output_tokens": counts.completion_tokens,
            "cache_creation_input_tokens": counts.cache_write_tokens, "cache_read_input_tokens": counts.cached_tokens}


def _message_id(ident: Any) -> str:
    ident = str(ident or "")
    return ident if ident.startswith("msg_") else "msg_" + (ident or new_id(""))


def _tool_use(call: dict) -> dict:
    named = function(call)
    return {"type": "tool_use", "id": str(call.get("id") or new_id("toolu_")), "name": str(named.get("name") or ""),
            "input": arguments_object(named.get("arguments"))}


def _thinking(message: dict) -> list[dict]:
    """Thinking blocks (or fragments of them, in a stream) an anthropic provider sent, as its adapter keeps them."""
    found = message.get("thinking_blocks")
    return [b for b in found if isinstance(b, dict)] if isinstance(found, list) else []


def _matched(message: dict) -> str | None:
    """The stop sequence an anthropic provider said it stopped at (its adapter keeps it), else None."""
    matched = message.get("stop_sequence")
    return matched if isinstance(matched, str) else None


def first_choice(payload: dict) -> tuple[dict, dict]:
    """The first choice of a chat completion and its message."""
    choices = payload.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    return choice, message if isinstance(message, dict) else {}


def answer(payload: dict) -> dict:
    choice, message = first_choice(payload)
    words = said(message)
    content = [b for b in _thinking(message) if isinstance(b.get("type"), str)]  # an anthropic provider's, first
    content += [{"type": "text", "text": words}] if words else []
    content += [_tool_use(call) for call in calls(message)]
    matched = _matched(message)
    stop_reason = "stop_sequence" if matched is not None else STOP_REASONS.get(finish_reason(choice), "end_turn")
    return {"id": _message_id(payload.get("id")), "type": "message", "role": "assistant",
            "model": str(payload.get("model") or ""), "content": content,
            "stop_reason": stop_reason, "stop_sequence": matched,
            "usage": usage(usage_of(payload.get("usage")))}


def render(payload: dict) -> bytes:
    return orjson.dumps(answer(payload))


class MessagesStream:
    """Chat chunks as Anthropic's stream: message_start, per block content_block_start / _delta / _stop,
    message_delta with the stop reason and usage, message_stop."""

    def __init__(self, req: ChatRequest):
        self.model = req.model
        self.started = False
        self.index = -1  # the newest content block
        self.open: Any = None  # the open block: "text", or ("tool", the chat tool call's index)
        self.stop_reason = "end_turn"
        self.stop_sequence: str | None = None

    def _start(self, chunk: ChatChunk) -> bytes:
        self.started = True
        message = {"id": _message_id(chunk.id), "type": "message", "role": "assistant", "model": self.model,
                   "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": 0, "output_tokens": 0}}
        return event("message_start", {"type": "message_start", "message": message})

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        self.open = None
        return event("content_block_stop", {"type": "content_block_stop", "index": self.index})

    def _open(self, block: dict, which: Any) -> bytes:
        closed = self._close()
        self.index += 1
        self.open = which
        return closed + event("content_block_start", {"type": "content_block_start", "index": self.index,
                                                      "content_block": block})

    def _delta(self, delta: dict) -> bytes:
        return event("content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": delta})

    def chunk(self, chunk: ChatChunk) -> bytes | None:
        out = [] if self.started else [self._start(chunk)]
        for choice in chunk.choices:
            if choice.index:
                continue  # Messages answers have one choice
            for fragment in _thinking(choice.delta):
                which = ("thinking", fragment.get("index"))
                if self.open != which:
                    block = {k: v for k, v in fragment.items() if k != "index"}
                    if block.get("type") != "redacted_thinking":
                        block = {"type": "thinking", "thinking": "", "signature": ""}
                    out.append(self._open(block, which))
                if isinstance(thought := fragment.get("thinking"), str) and thought:
                    out.append(self._delta({"type": "thinking_delta", "thinking": thought}))
                if isinstance(signature := fragment.get("signature"), str) and signature:
                    out.append(self._delta({"type": "signature_delta", "signature": signature}))
            if words := said(choice.delta):
                if self.open != "text":
                    out.append(self._open({"type": "text", "text": ""}, "text"))
                out.append(self._delta({"type": "text_delta", "text": words}))
            for call in calls(choice.delta):
                which, named = ("tool", call.get("index", 0)), function(call)
                if self.open != which:
                    block = {"type": "tool_use", "id": str(call.get("id") or new_id("toolu_")),
                             "name": str(named.get("name") or ""), "input": {}}
                    out.append(self._open(block, which))
                if isinstance(arguments := named.get("arguments"), str) and arguments:
                    out.append(self._delta({"type": "input_json_delta", "partial_json": arguments}))
            if isinstance(choice.finish_reason, str):
                self.stop_reason = STOP_REASONS.get(choice.finish_reason, "end_turn")
            if (matched := _matched(choice.delta)) is not None:
                self.stop_reason, self.stop_sequence = "stop_sequence", matched
        return b"".join(out) or None

    def usage(self, chunk: ChatChunk) -> bytes:
        opened = b"" if self.started else self._start(chunk)
        delta = {"type": "message_delta", "delta": {"stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence},
                 "usage": usage(chunk.usage or Usage())}
        return opened + self._close() + event("message_delta", delta)

    def done(self) -> bytes:
        return event("message_stop", {"type": "message_stop"})

    def error(self, err: GatewayError) -> bytes:
        return event("error", error_payload(err))


def error_payload(err: GatewayError) -> dict:
    kind = ERROR_TYPES.get(err.status, "api_error" if err.status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": err.message}}


def error_body(err: GatewayError) -> bytes:
    return orjson.dumps(error_payload(err))


MESSAGES = Endpoint(
    name="messages",
    parse=parse,
    render=render,
    stream=MessagesStream,
    cacheable=cacheable,
    error_body=error_body,
)
