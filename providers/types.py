"""Typed shapes that cross layers: the parsed request, upstream calls, answers, chunks."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from . import tokens
from .tokens import PromptSize

if TYPE_CHECKING:
    from .bigstrings import Hollow


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
class Native:
    """A client's body in a provider kind's own wire format, with the headers to pass on to that kind."""

    kind: str  # "anthropic"
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


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
    # The body as the client sent it (after JSON parsing); an endpoint that translates (/v1/messages,
    # /v1/responses) puts its chat-completions translation here.
    raw: dict[str, Any] = field(default_factory=dict)
    # The request in one provider kind's own wire format, when the client spoke it: the adapter of that kind
    # sends it on as it came (model mapped) instead of translating `messages` back.
    native: Native | None = None

    def prompt_size(self) -> PromptSize:
        """The messages measured; tool definitions reach the model as prompt text, so they raise the upper bound."""
        size = tokens.measure(self.messages)
        if not self.tools:
            return size
        return replace(size, media_bound=size.media_bound + tokens.tools_upper_bound(self.tools))

    def output_ceiling(self, default: int) -> int:
        """The most output tokens the answer may use: max_tokens (else `default`) for each of n choices."""
        return (self.max_tokens or default) * (self.n or 1)


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    """A validated OpenAI embeddings request."""

    model: str
    input: tuple[str | tuple[int, ...], ...]  # texts, or token arrays
    encoding_format: str | None = None  # float | base64
    dimensions: int | None = None
    user: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    stream: ClassVar[bool] = False  # one answer, never a stream
    include_usage: ClassVar[bool] = False

    def prompt_size(self) -> PromptSize:
        return tokens.measure_inputs(self.input)

    def output_ceiling(self, default: int) -> int:
        return 0  # embeddings are billed on input tokens only


class Request(Protocol):
    """What the pipeline, admission and accounting read of any endpoint's request (ChatRequest, EmbeddingRequest)."""

    model: str
    stream: bool
    include_usage: bool
    raw: dict[str, Any]  # the body as sent: the cache key is made of it

    def prompt_size(self) -> PromptSize:
        """The input measured without a tokenizer, for rate-limit estimates and budget reservations."""

    def output_ceiling(self, default: int) -> int:
        """The most output tokens the answer may use; `default` when the request names no limit."""


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
    mode: str = "chat"  # chat | embeddings: which endpoints the route serves (ModelRoute.mode)


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
        out = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }
        if self.cache_write_tokens:  # no OpenAI field holds it; kept so /v1/messages can answer Anthropic's count
            out["prompt_tokens_details"]["cache_write_tokens"] = self.cache_write_tokens
        return out


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
    # Set when big strings were left as received (providers/bigstrings.py): markers stand in for them here,
    # the rendered answer must go through hollow.splice, and what reads the text must use filled().
    hollow: Hollow | None = field(default=None, compare=False, repr=False)

    def filled(self) -> ChatResponse:
        """This answer with its big strings decoded: for what reads the text (an estimate, traced content)."""
        hollow = self.hollow
        if hollow is None:
            return self
        choices = tuple(Choice(c.index, hollow.restore(c.message), hollow.restore(c.finish_reason)) for c in self.choices)
        return replace(self, id=hollow.restore(self.id), choices=choices,
                       system_fingerprint=hollow.restore(self.system_fingerprint), hollow=None)

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

    def estimated_usage(self, messages: tuple[Message, ...]) -> Usage:
        """The gateway's own count, for an answer that reported no usage: billed, marked estimated, never $0."""
        return Usage(tokens.count_messages(messages), tokens.answer_tokens(c.message for c in self.choices),
                     estimated=True)


@dataclass(frozen=True, slots=True)
class EmbeddingResponse:
    """An embeddings answer: one item per input, each {"object": "embedding", "index", "embedding"}."""

    model: str
    data: tuple[dict, ...]
    usage: Usage | None

    def to_openai(self) -> dict:
        usage = self.usage or Usage()
        return {
            "object": "list",
            "data": list(self.data),
            "model": self.model,
            "usage": {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.prompt_tokens},
        }


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
