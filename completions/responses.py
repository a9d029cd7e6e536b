"""POST /v1/responses: OpenAI's Responses API, stateless, on the one pipeline (../shared/INTERFACE.md "More endpoints").

`input` and `instructions` become a chat-completions body (the ChatRequest's `raw`); the chat answer comes
back as a Response object, a stream as the Responses API's typed events, each with its `sequence_number`.
Nothing is kept: `store` is accepted and ignored, `previous_response_id` is refused.
"""
from __future__ import annotations

import time
from typing import Any

import orjson

from infra.errors import GatewayError, bad_request
from providers.types import ChatChunk, ChatRequest, Usage

from . import cache
from .endpoint import Endpoint
from .messages import first_choice
from .translate import calls, chat_request, event, finish_reason, function, limited, new_id, objects, said, text, usage_of
from .validation import _bool, _int, _number, parse_json

INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


# Request: input items as chat messages

def parse(body: bytes, headers=None) -> ChatRequest:
    data = parse_json(body)
    if data.get("previous_response_id") is not None:
        raise bad_request("This gateway keeps no responses, so 'previous_response_id' cannot be used: send the whole "
                          "conversation in 'input'.", param="previous_response_id", code="unsupported_parameter")
    if data.get("background") is True:
        raise bad_request("This gateway keeps no responses, so 'background' cannot be used.", param="background",
                          code="unsupported_parameter")
    model = data.get("model")
    if model is None:
        raise bad_request("Missing required field 'model'.", param="model")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' must be a non-empty string.", param="model")
    messages = _instructions(data.get("instructions")) + _input(data)
    chat: dict[str, Any] = {"model": model, "messages": messages}
    if (max_tokens := _int(data, "max_output_tokens", 1)) is not None:
        chat["max_completion_tokens"] = max_tokens
    for name, high in (("temperature", 2), ("top_p", 1)):
        if (value := _number(data, name, 0, high)) is not None:
            chat[name] = value
    if data.get("tools") is not None:
        if tools := [_tool(t, i) for i, t in enumerate(objects(data["tools"], "tools"))]:
            chat["tools"] = tools
    if data.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(data["tool_choice"])
    if data.get("parallel_tool_calls") is not None:
        chat["parallel_tool_calls"] = _bool(data, "parallel_tool_calls")
    if (user := data.get("user")) is not None:
        chat["user"] = text(user, "user")
    if (format_ := _format(data.get("text"))) is not None:
        chat["response_format"] = format_
    if isinstance(reasoning := data.get("reasoning"), dict) and isinstance(reasoning.get("effort"), str):
        chat["reasoning_effort"] = reasoning["effort"]
    return chat_request(chat, stream=_bool(data, "stream"))


def _instructions(instructions: Any) -> list[dict]:
    if instructions is None or instructions == "":
        return []
    return [{"role": "system", "content": text(instructions, "instructions")}]


def _input(data: dict) -> list[dict]:
    if "input" not in data:
        raise bad_request("Missing required field 'input'.", param="input")
    items = data["input"]
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        raise bad_request("'input' must be a string or a non-empty array of items.", param="input")
    out: list[dict] = []
    for i, item in enumerate(limited(items, "input")):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise bad_request(f"'{where}' must be an object.", param=where)
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            out.append(_message(item, where))
        elif kind == "function_call":
            call = {"id": text(item.get("call_id"), f"{where}.call_id"), "type": "function",
                    "function": {"name": text(item.get("name"), f"{where}.name"),
                                 "arguments": text(item.get("arguments", "{}"), f"{where}.arguments")}}
            if out and out[-1]["role"] == "assistant":
                out[-1].setdefault("tool_calls", []).append(call)  # several calls of one turn, one assistant message
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            if isinstance(output, list):
                output = "".join(p.get("text", "") for p in objects(output, f"{where}.output") if isinstance(p.get("text"), str))
            out.append({"role": "tool", "tool_call_id": text(item.get("call_id"), f"{where}.call_id"),
                        "content": text(output, f"{where}.output")})
        elif kind == "reasoning":
            continue  # a model's earlier reasoning: nothing a chat provider takes back
        elif kind == "item_reference":
            raise bad_request(f"'{where}': this gateway keeps no responses, so items cannot be referenced; send them "
                              "whole.", param=where, code="unsupported_parameter")
        else:
            raise bad_request(f"'{where}.type' {kind!r} is not supported; use message, function_call or "
                              "function_call_output items.", param=f"{where}.type")
    if not out:
        raise bad_request("'input' holds nothing to answer: give at least one message.", param="input")
    return out


ROLES = ("user", "assistant", "system", "developer")


def _message(item: dict, where: str) -> dict:
    role, content = item.get("role"), item.get("content")
    if role not in ROLES:
        raise bad_request(f"'{where}.role' must be one of {', '.join(ROLES)}.", param=f"{where}.role")
    if isinstance(content, str):
        return {"role": role, "content": content}
    parts = [_part(p, f"{where}.content[{j}]") for j, p in enumerate(objects(content, f"{where}.content"))]
    if role != "user" or all(p["type"] == "text" for p in parts):
        if not all(p["type"] == "text" for p in parts):
            raise bad_request(f"'{where}.content' of a {role} message may hold text only.", param=f"{where}.content")
        return {"role": role, "content": "".join(p["text"] for p in parts)}
    return {"role": role, "content": parts}


def _part(part: dict, where: str) -> dict:
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": text(part.get("text"), f"{where}.text")}
    if kind == "refusal":
        return {"type": "text", "text": text(part.get("refusal"), f"{where}.refusal")}
    if kind == "input_image":
        if part.get("image_url") is None:
            raise bad_request(f"'{where}.image_url' is required: this gateway stores no files, so 'file_id' cannot be "
                              "used.", param=f"{where}.image_url")
        image = {"url": text(part["image_url"], f"{where}.image_url")}
        if isinstance(part.get("detail"), str):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        if part.get("file_data") is None:
            raise bad_request(f"'{where}.file_data' is required: this gateway stores no files.",
                              param=f"{where}.file_data")
        file = {"file_data": text(part["file_data"], f"{where}.file_data")}
        if isinstance(part.get("filename"), str):
            file["filename"] = part["filename"]
        return {"type": "file", "file": file}
    raise bad_request(f"'{where}.type' must be input_text, input_image or input_file.", param=f"{where}.type")


def _tool(tool: dict, i: int) -> dict:
    if tool.get("type") != "function":
        raise bad_request(f"'tools[{i}].type' must be 'function': only function tools reach chat providers.",
                          param=f"tools[{i}].type")
    function: dict[str, Any] = {"name": text(tool.get("name"), f"tools[{i}].name")}
    for name in ("description", "parameters", "strict"):
        if tool.get(name) is not None:
            function[name] = tool[name]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": text(choice.get("name"), "tool_choice.name")}}
    raise bad_request("'tool_choice' must be auto, none, required or {\"type\": \"function\", \"name\": ...}.",
                      param="tool_choice")


def _format(options: Any) -> dict | None:
    """`text.format` as chat's `response_format`."""
    if not isinstance(options, dict) or not isinstance(options.get("format"), dict):
        return None
    format_ = options["format"]
    if format_.get("type") == "json_object":
        return {"type": "json_object"}
    if format_.get("type") == "json_schema":
        schema = {k: format_[k] for k in ("name", "schema", "strict", "description") if k in format_}
        return {"type": "json_schema", "json_schema": schema}
    return None


def cacheable(req: ChatRequest) -> bool:
    return cache.cacheable(req)


# Answer: a chat completion as a Response object

def usage(counts: Usage) -> dict:
    return {"input_tokens": counts.prompt_tokens, "input_tokens_details": {"cached_tokens": counts.cached_tokens},
            "output_tokens": counts.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": counts.reasoning_tokens},
            "total_tokens": counts.total_tokens}


def response(ident: str, created: int, model: str, status: str, output: list[dict], counts: Usage | None,
             finish_reason: str | None = None) -> dict:
    incomplete = INCOMPLETE.get(finish_reason or "") if status == "completed" else None
    return {
        "id": ident, "object": "response", "created_at": created, "status": "incomplete" if incomplete else status,
        "error": None, "incomplete_details": {"reason": incomplete} if incomplete else None, "instructions": None,
        "max_output_tokens": None, "model": model, "output": output, "parallel_tool_calls": True,
        "previous_response_id": None, "reasoning": {"effort": None, "summary": None}, "store": False,
        "temperature": None, "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": None,
        "truncation": "disabled", "metadata": {}, "usage": usage(counts) if counts is not None else None,
    }


def _text_item(ident: str, words: str, status: str = "completed") -> dict:
    content = [{"type": "output_text", "text": words, "annotations": [], "logprobs": []}] if status == "completed" else []
    return {"type": "message", "id": ident, "status": status, "role": "assistant", "content": content}


def _call_item(ident: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict:
    return {"type": "function_call", "id": ident, "call_id": call_id, "name": name, "arguments": arguments,
            "status": status}


def answer(payload: dict) -> dict:
    choice, message = first_choice(payload)
    words = said(message)
    output = [_text_item(new_id("msg_"), words)] if words else []
    for call in calls(message):
        named = function(call)
        output.append(_call_item(new_id("fc_"), str(call.get("id") or new_id("call_")), str(named.get("name") or ""),
                                 str(named.get("arguments") or "")))
    created = payload.get("created") if isinstance(payload.get("created"), int) else int(time.time())
    return response(new_id("resp_"), created, str(payload.get("model") or ""), "completed", output,
                    usage_of(payload.get("usage")), finish_reason(choice))


def render(payload: dict) -> bytes:
    return orjson.dumps(answer(payload))


class ResponsesStream:
    """Chat chunks as the Responses API's events: response.created and .in_progress, then per output item
    .output_item.added, its content (.content_part.added, .output_text.delta / .function_call_arguments.delta),
    its .done events, and response.completed with the usage."""

    def __init__(self, req: ChatRequest):
        self.model = req.model
        self.id = new_id("resp_")
        self.created = int(time.time())
        self.sequence = 0
        self.started = False
        self.output: list[dict] = []  # finished items
        self.item: dict | None = None  # the open item
        self.call_index: Any = None  # the chat tool call the open function_call item is
        self.parts: list[str] = []  # the open item's text or arguments so far
        self.finish_reason: str | None = None

    def _event(self, kind: str, payload: dict) -> bytes:
        out = event(kind, {"type": kind, **payload, "sequence_number": self.sequence})
        self.sequence += 1
        return out

    def _start(self) -> bytes:
        self.started = True
        state = response(self.id, self.created, self.model, "in_progress", [], None)
        return self._event("response.created", {"response": state}) + self._event("response.in_progress",
                                                                                    {"response": state})

    def _where(self) -> dict:
        return {"item_id": self.item["id"], "output_index": len(self.output)}

    def _open(self, item: dict) -> bytes:
        closed = self._close()
        self.item, self.parts = item, []
        out = self._event("response.output_item.added", {"output_index": len(self.output), "item": item})
        if item["type"] == "message":
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            out += self._event("response.content_part.added", {**self._where(), "content_index": 0, "part": part})
        return closed + out

    def _close(self) -> bytes:
        item = self.item
        if item is None:
            return b""
        joined, where = "".join(self.parts), self._where()
        if item["type"] == "message":
            done = _text_item(item["id"], joined)
            out = self._event("response.output_text.done", {**where, "content_index": 0, "text": joined,
                                                            "logprobs": []})
            out += self._event("response.content_part.done", {**where, "content_index": 0,
                                                              "part": done["content"][0]})
        else:
            done = _call_item(item["id"], item["call_id"], item["name"], joined)
            out = self._event("response.function_call_arguments.done", {**where, "name": item["name"],
                                                                        "arguments": joined})
        out += self._event("response.output_item.done", {"output_index": len(self.output), "item": done})
        self.output.append(done)
        self.item = self.call_index = None
        return out

    def chunk(self, chunk: ChatChunk) -> bytes | None:
        out = [] if self.started else [self._start()]
        for choice in chunk.choices:
            if choice.index:
                continue  # a Response has one answer
            if words := said(choice.delta):
                if self.item is None or self.item["type"] != "message":
                    out.append(self._open(_text_item(new_id("msg_"), "", "in_progress")))
                self.parts.append(words)
                out.append(self._event("response.output_text.delta", {**self._where(), "content_index": 0,
                                                                      "delta": words, "logprobs": []}))
            for call in calls(choice.delta):
                named = function(call)
                if self.item is None or self.item["type"] != "function_call" or self.call_index != call.get("index", 0):
                    out.append(self._open(_call_item(new_id("fc_"), str(call.get("id") or new_id("call_")),
                                                     str(named.get("name") or ""), "", "in_progress")))
                    self.call_index = call.get("index", 0)
                if isinstance(arguments := named.get("arguments"), str) and arguments:
                    self.parts.append(arguments)
                    out.append(self._event("response.function_call_arguments.delta", {**self._where(),
                                                                                       "delta": arguments}))
            if isinstance(choice.finish_reason, str):
                self.finish_reason = choice.finish_reason
        return b"".join(out) or None

    def usage(self, chunk: ChatChunk) -> bytes:
        out = (b"" if self.started else self._start()) + self._close()
        final = response(self.id, self.created, self.model, "completed", self.output, chunk.usage or Usage(),
                         self.finish_reason)
        kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        return out + self._event(kind, {"response": final})

    def done(self) -> bytes:
        return b""

    def error(self, err: GatewayError) -> bytes:
        """An `error` event, then `response.failed` (the SDK's stream ends there without a final response)."""
        out = b"" if self.started else self._start()
        code = err.code or err.type
        out += self._event("error", {"code": code, "message": err.message, "param": None})
        failed = response(self.id, self.created, self.model, "failed", self.output, None)
        failed["error"] = {"code": code, "message": err.message}
        return out + self._event("response.failed", {"response": failed})


def error_body(err: GatewayError) -> bytes:
    return orjson.dumps(err.payload())


RESPONSES = Endpoint(
    name="responses",
    parse=parse,
    render=render,
    stream=ResponsesStream,
    cacheable=cacheable,
    error_body=error_body,
)
