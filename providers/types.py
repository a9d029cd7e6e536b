"""Typed shapes that cross layers: the parsed request, upstream calls, answers, chunks."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # system | developer | user | assistant | tool
    content: Any  # str, list of content parts (dicts), or None
    name: str | None = None
    tool_calls: tuple[dict, ...] | None = None
    tool_call_id: str | None = None

    def to_openai(self) -> dict:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name is not None:
            out["name"] = self.name
        if self.tool_calls is not None:
            out["tool_calls"] = list(self.tool_calls)
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated OpenAI chat-completions request."""

    model: str
    messages: tuple[Message, ...]
    stream: bool = False
    include_usage: bool = False
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None  # max_tokens or max_completion_tokens, whichever was given
    stop: tuple[str, ...] | None = None
    n: int | None = None
    seed: int | None = None
    tools: tuple[dict, ...] | None = None
    tool_choice: Any = None
    response_format: dict | None = None
    user: str | None = None
    # Fields we do not model, passed through to OpenAI-compatible providers untouched.
    extra: dict[str, Any] = field(default_factory=dict)
    # The body as the client sent it (after JSON parsing).
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Target:
    """One route resolved for a call: provider settings plus the upstream model and prices."""

    provider: str
    kind: str
    base_url: str
    api_key: str  # resolved from the provider's environment variable; "" when none
    timeout: float
    upstream_model: str
    public_model: str
    input_price_per_mtok: Decimal = Decimal(0)
    output_price_per_mtok: Decimal = Decimal(0)
    # None: billed at the input price (../shared/INTERFACE.md "Tokens and money").
    cached_input_price_per_mtok: Decimal | None = None
    cache_write_price_per_mtok: Decimal | None = None
    priced: bool = True  # False when nobody set this route's prices: its requests cost $0 and are counted
    priority: int = 0
    weight: int = 1
    options: dict[str, Any] = field(default_factory=dict)
    misconfigured: str = ""  # why routing must skip this provider (its key variable's name is refused); "" when usable


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    stream: bool = False


# The most a ledger token column holds (PostgreSQL integer); a provider claiming more is malformed.
MAX_TOKENS = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Usage:
    """Token classes in OpenAI's vocabulary (../shared/INTERFACE.md "Tokens and money").

    `prompt_tokens` counts every input token, cached and cache-written ones included;
    `completion_tokens` every output token, reasoning included."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False
    cached_tokens: int = 0  # read from the provider's prompt cache
    cache_write_tokens: int = 0  # written to the provider's prompt cache
    reasoning_tokens: int = 0  # the reasoning part of completion_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def uncached_tokens(self) -> int:
        """Input tokens billed at the plain input price."""
        return max(self.prompt_tokens - self.cached_tokens - self.cache_write_tokens, 0)

    def to_openai(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }


@dataclass(frozen=True, slots=True)
class Choice:
    index: int
    message: dict  # OpenAI assistant message: role, content, tool_calls, ...
    finish_reason: str | None


@dataclass(frozen=True, slots=True)
class ChatResponse:
    id: str
    model: str
    created: int
    choices: tuple[Choice, ...]
    usage: Usage | None
    system_fingerprint: str | None = None

    def to_openai(self) -> dict:
        out = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"index": c.index, "message": c.message, "finish_reason": c.finish_reason, "logprobs": None}
                for c in self.choices
            ],
        }
        if self.usage is not None:
            out["usage"] = self.usage.to_openai()
        if self.system_fingerprint is not None:
            out["system_fingerprint"] = self.system_fingerprint
        return out


@dataclass(frozen=True, slots=True)
class ChunkChoice:
    index: int
    delta: dict  # role, content, tool_calls fragments
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """One chat.completion.chunk; a usage-only chunk has no choices."""

    id: str
    model: str
    created: int
    choices: tuple[ChunkChoice, ...]
    usage: Usage | None = None

    def to_openai(self) -> dict:
        out: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"index": c.index, "delta": c.delta, "finish_reason": c.finish_reason, "logprobs": None}
                for c in self.choices
            ],
        }
        if self.usage is not None:
            out["usage"] = self.usage.to_openai()
        return out


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One Server-Sent Event as read off the wire."""

    data: str
    event: str | None = None


class UpstreamError(Exception):
    """A provider call failed. `retryable` tells routing whether another route may help."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = True,
        body: dict | None = None,
    ):
        super().__init__(message)
        self.kind = kind  # "timeout" | "connect" | "http" | "malformed" | "stream"
        self.message = message
        self.status = status
        self.retryable = retryable
        self.body = body  # the provider's error object, stripped, when passed back to the caller
