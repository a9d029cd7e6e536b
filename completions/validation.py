"""Parse a chat-completions body into a ChatRequest, naming the field on any error."""
from __future__ import annotations

import math
from typing import Any

import orjson
from django.conf import settings

from infra.errors import bad_request
from providers.types import ChatRequest, Message

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
KNOWN = frozenset(
    {
        "model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens",
        "max_completion_tokens", "stop", "n", "seed", "tools", "tool_choice", "response_format", "user",
    }
)


# orjson parses up to 1024 levels but serialises far fewer, and the body is passed on inside
# other objects (the cache key, provider bodies): refuse what could not be sent on.
MAX_DEPTH = 128


def _serialisable_depth() -> int:
    """How many levels of nested arrays orjson serialises (255 in orjson 3), found once by trying."""
    levels, nested = 1, [0]
    while levels < 10_000:
        try:
            orjson.dumps(nested)
        except TypeError:
            return levels - 1
        levels, nested = levels + 1, [nested]
    return levels


# Wrapped in this many arrays, a body deeper than MAX_DEPTH can no longer be serialised.
_PADDING = _serialisable_depth() - MAX_DEPTH


def _depth_within(data: Any) -> bool:
    """Whether the parsed body nests at most MAX_DEPTH objects and arrays deep: one serialisation in C, no Python walk."""
    for _ in range(_PADDING):
        data = [data]
    try:
        orjson.dumps(data)
    except TypeError:  # parsed JSON always serialises, so this is the depth limit
        return False
    return True


def parse_json(body: bytes) -> dict[str, Any]:
    if not body:
        raise bad_request("Request body is empty; expected a JSON object.")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise bad_request("Request body must be a JSON object.")
    # Nesting needs brackets: counting them (in C) spares the walk for nearly every body.
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH and not _depth_within(data):
        raise bad_request(f"Request body nests objects and arrays more than {MAX_DEPTH} levels deep.")
    return data


def _number(data: dict, name: str, low: float, high: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad_request(f"'{name}' must be a number.", param=name)
    if not low <= value <= high:
        raise bad_request(f"'{name}' must be between {low:g} and {high:g}.", param=name)
    return float(value)


def _int(data: dict, name: str, low: int, high: int = 2**53) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"'{name}' must be an integer.", param=name)
    if not low <= value <= high:
        raise bad_request(f"'{name}' must be between {low} and {high}.", param=name)
    return value


def _bool(data: dict, name: str) -> bool:
    value = data.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"'{name}' must be a boolean.", param=name)
    return value


def _content(value: Any, where: str) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        for j, part in enumerate(value):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise bad_request(f"'{where}[{j}]' must be a content part object with a 'type'.", param=where)
        return value
    raise bad_request(f"'{where}' must be a string or an array of content parts.", param=where)


def _message(item: Any, i: int) -> Message:
    where = f"messages[{i}]"
    if not isinstance(item, dict):
        raise bad_request(f"'{where}' must be an object.", param=where)
    role = item.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise bad_request(f"'{where}.role' must be one of {', '.join(sorted(ROLES))}.", param=f"{where}.role")
    content = _content(item.get("content"), f"{where}.content")
    tool_calls = item.get("tool_calls")
    if tool_calls is not None and (not isinstance(tool_calls, list) or not all(isinstance(t, dict) for t in tool_calls)):
        raise bad_request(f"'{where}.tool_calls' must be an array of objects.", param=f"{where}.tool_calls")
    if content is None and role != "assistant":
        raise bad_request(f"'{where}.content' is required for role '{role}'.", param=f"{where}.content")
    for name in ("name", "tool_call_id"):
        if item.get(name) is not None and not isinstance(item[name], str):
            raise bad_request(f"'{where}.{name}' must be a string.", param=f"{where}.{name}")
    return Message(
        role=role,
        content=content,
        name=item.get("name"),
        tool_calls=tuple(tool_calls) if tool_calls is not None else None,
        tool_call_id=item.get("tool_call_id"),
    )


def _messages(data: dict) -> tuple[Message, ...]:
    if "messages" not in data:
        raise bad_request("Missing required field 'messages'.", param="messages")
    items = data["messages"]
    if not isinstance(items, list) or not items:
        raise bad_request("'messages' must be a non-empty array.", param="messages")
    limit = settings.GATEWAY["MAX_MESSAGES"]
    if len(items) > limit:
        raise bad_request(f"'messages' may hold at most {limit} items.", param="messages")
    return tuple(_message(item, i) for i, item in enumerate(items))


def _stop(data: dict) -> tuple[str, ...] | None:
    stop = data.get("stop")
    if stop is None:
        return None
    if isinstance(stop, str):
        return (stop,)
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop) and len(stop) <= 4:
        return tuple(stop)
    raise bad_request("'stop' must be a string or an array of up to 4 strings.", param="stop")


def _tools(data: dict) -> tuple[dict, ...] | None:
    tools = data.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise bad_request("'tools' must be an array of objects.", param="tools")
    return tuple(tools)


def _include_usage(data: dict) -> bool:
    options = data.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise bad_request("'stream_options' must be an object.", param="stream_options")
    return _bool(options, "include_usage")


def _object(data: dict, name: str) -> dict | None:
    value = data.get(name)
    if value is not None and not isinstance(value, dict):
        raise bad_request(f"'{name}' must be an object.", param=name)
    return value


def _string(data: dict, name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"'{name}' must be a string.", param=name)
    return value


def parse_chat_request(data: dict[str, Any]) -> ChatRequest:
    model = data.get("model")
    if model is None:
        raise bad_request("Missing required field 'model'.", param="model")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' must be a non-empty string.", param="model")
    max_tokens = _int(data, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _int(data, "max_tokens", 1)
    tool_choice = data.get("tool_choice")
    if tool_choice is not None and not isinstance(tool_choice, (str, dict)):
        raise bad_request("'tool_choice' must be a string or an object.", param="tool_choice")
    return ChatRequest(
        model=model,
        messages=_messages(data),
        stream=_bool(data, "stream"),
        include_usage=_include_usage(data),
        temperature=_number(data, "temperature", 0, 2),
        top_p=_number(data, "top_p", 0, 1),
        max_tokens=max_tokens,
        stop=_stop(data),
        n=_int(data, "n", 1, 128),
        seed=_int(data, "seed", -(2**63), 2**63 - 1),
        tools=_tools(data),
        tool_choice=tool_choice,
        response_format=_object(data, "response_format"),
        user=_string(data, "user"),
        extra={k: v for k, v in data.items() if k not in KNOWN},
        raw=data,
    )
