"""What the translating endpoints (/v1/messages, /v1/responses) share: a ChatRequest from a chat body they built,
named SSE events, tool arguments as objects, fresh ids."""
from __future__ import annotations

import os
from typing import Any

import orjson
from django.conf import settings

from infra.errors import bad_request
from providers.types import ChatRequest, Message, Native, Usage


def event(name: str, payload: dict) -> bytes:
    """One Server-Sent Event with its name, as Anthropic and the Responses API send them."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def new_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()  # a tenth of uuid4's cost


def arguments_object(arguments: Any) -> dict:
    """Tool-call arguments (a JSON string in chat completions) as an object; {} when they are not one."""
    if isinstance(arguments, dict):
        return arguments
    try:
        value = orjson.loads(arguments or "{}")
    except (orjson.JSONDecodeError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def data_url(media_type: Any, data: Any, where: str) -> str:
    if not isinstance(media_type, str) or not media_type or not isinstance(data, str) or not data:
        raise bad_request(f"'{where}' needs a 'media_type' and base64 'data' strings.", param=where)
    return f"data:{media_type};base64,{data}"


def objects(value: Any, where: str, *, what: str = "objects") -> list[dict]:
    """A JSON array of objects (each with a string 'type' when `what` says blocks), or a 400 naming the field."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise bad_request(f"'{where}' must be an array of {what}.", param=where)
    return value


def typed(value: Any, where: str) -> list[dict]:
    items = objects(value, where, what="objects with a 'type'")
    for i, item in enumerate(items):
        if not isinstance(item.get("type"), str):
            raise bad_request(f"'{where}[{i}].type' must be a string.", param=f"{where}[{i}].type")
    return items


def limited(items: list, where: str) -> list:
    limit = settings.GATEWAY["MAX_MESSAGES"]
    if len(items) > limit:
        raise bad_request(f"'{where}' may hold at most {limit} items.", param=where)
    return items


def text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise bad_request(f"'{where}' must be a string.", param=where)
    return value


def message(chat: dict) -> Message:
    calls = chat.get("tool_calls")
    return Message(chat["role"], chat.get("content"), tool_calls=tuple(calls) if calls else None,
                   tool_call_id=chat.get("tool_call_id"))


def chat_request(chat: dict, *, stream: bool, native: Native | None = None) -> ChatRequest:
    """The pipeline's request from a chat-completions body an endpoint translated (its `raw`, what
    OpenAI-compatible providers receive). Streams always end with usage: both wire shapes carry it."""
    known = {"model", "messages", "stream", "temperature", "top_p", "max_completion_tokens", "stop", "tools",
             "tool_choice", "response_format", "user"}
    return ChatRequest(
        model=chat["model"],
        messages=tuple(message(m) for m in chat["messages"]),
        stream=stream,
        include_usage=stream,
        temperature=chat.get("temperature"),
        top_p=chat.get("top_p"),
        max_tokens=chat.get("max_completion_tokens"),
        stop=tuple(chat["stop"]) if chat.get("stop") else None,
        tools=tuple(chat["tools"]) if chat.get("tools") else None,
        tool_choice=chat.get("tool_choice"),
        response_format=chat.get("response_format"),
        user=chat.get("user"),
        extra={k: v for k, v in chat.items() if k not in known},
        raw=chat,
        native=native,
    )


def calls(message: dict) -> list[dict]:
    """The tool calls of a chat message or delta, as objects (a provider's odd shapes skipped, never a 500)."""
    found = message.get("tool_calls")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def function(call: dict) -> dict:
    found = call.get("function")
    return found if isinstance(found, dict) else {}


def said(message: dict) -> str:
    """A chat message's (or delta's) text: its content, else its refusal; '' when neither is a string."""
    for name in ("content", "refusal"):
        if isinstance(value := message.get(name), str) and value:
            return value
    return ""


def count(value: Any) -> int:
    """A token count from a chat payload; 0 for anything but a non-negative integer."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def usage_of(payload: Any) -> Usage:
    """The Usage in a chat.completion's usage object (token details included), as the pipeline rendered it."""
    data = payload if isinstance(payload, dict) else {}
    prompt = data.get("prompt_tokens_details") if isinstance(data.get("prompt_tokens_details"), dict) else {}
    completion = data.get("completion_tokens_details") if isinstance(data.get("completion_tokens_details"), dict) else {}
    return Usage(count(data.get("prompt_tokens")), count(data.get("completion_tokens")),
                 cached_tokens=count(prompt.get("cached_tokens")), cache_write_tokens=count(prompt.get("cache_write_tokens")),
                 reasoning_tokens=count(completion.get("reasoning_tokens")))


def finish_reason(choice: dict) -> str | None:
    value = choice.get("finish_reason")
    return value if isinstance(value, str) else None
