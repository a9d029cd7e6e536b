"""Token counts: cheap pre-request estimates, and a real BPE (o200k_base, embedded: no download) loaded on first use.

The BPE costs ~135 MB per process once loaded, so the request path never needs it: admission
uses `estimate` (OpenAI's own rate-limit heuristic) and budgets `upper_bound`. Only a stream
that reports no usage, a client that left before usage came, and the mock provider load it.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Protocol, Sequence

import orjson


class Message(Protocol):
    """What counting reads of a chat message (`providers.types.Message`, which builds on this module)."""

    content: Any
    name: str | None
    tool_calls: tuple[dict, ...] | None

# OpenAI's chat format adds a few tokens per message and per reply.
PER_MESSAGE = 3
PER_REPLY = 3
# The most one image can cost as input, over the providers we route to: OpenAI's high-detail tiles
# (up to ~1,100 tokens; ~2,500 for patch-based models), Anthropic's ~1,600 at its largest size.
# Any other non-text part (audio, a file) is bounded by its encoded bytes on top of this.
IMAGE_TOKENS_BOUND = 3_000


@lru_cache(maxsize=1)
def _encoding():
    import bpe_openai

    return bpe_openai.get_encoding("o200k_base")


def count_text(text: str) -> int:
    if not text:
        return 0
    return len(_encoding().encode(text, disallowed_special=()))


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def count_messages(messages: Sequence[Message]) -> int:
    """Prompt tokens of a chat, as OpenAI counts them (close enough for estimates)."""
    total = PER_REPLY
    for m in messages:
        total += PER_MESSAGE + count_text(_content_text(m.content))
        if m.name:
            total += 1
        if m.tool_calls:
            total += sum(count_text(str(call)) for call in m.tool_calls)
    return total


@dataclass(frozen=True, slots=True)
class PromptSize:
    """A prompt measured without a tokenizer: its text in characters and UTF-8 bytes, plus the chat format's tokens."""

    chars: int
    utf8_bytes: int
    overhead: int  # tokens known without counting: the chat format's, those of token arrays
    media_bound: int = 0  # images and other non-text parts, at their most: for the upper bound only

    def estimate(self) -> int:
        """OpenAI's rate-limit estimate: characters / 4, rounded up, plus the per-message tokens."""
        return -(-self.chars // 4) + self.overhead

    def upper_bound(self) -> int:
        """Never below the real count: every o200k token is at least one byte of the text."""
        return self.utf8_bytes + self.overhead + self.media_bound


def _media_bound(content: Any) -> int:
    """Tokens the non-text parts of a message's content may cost, at most."""
    if not isinstance(content, list):
        return 0
    bound = 0
    for part in content:
        if isinstance(part, dict) and not isinstance(part.get("text"), str):
            bound += IMAGE_TOKENS_BOUND
            if part.get("type") not in ("image_url", "image"):
                bound += len(orjson.dumps(part))
    return bound


def tools_upper_bound(tools: tuple[dict, ...] | None) -> int:
    """Tool definitions reach the model as prompt text: never more tokens than their JSON's bytes."""
    return len(orjson.dumps(list(tools))) if tools else 0


def measure(messages: Sequence[Message]) -> PromptSize:
    """The prompt's size in characters and bytes, its media bounded apart: one pass over the text, no tokenizer."""
    chars = size = media = 0
    overhead = PER_REPLY + PER_MESSAGE * len(messages)
    for m in messages:
        media += _media_bound(m.content)
        texts = [_content_text(m.content)]
        if m.name:
            overhead += 1
        if m.tool_calls:
            texts.extend(str(call) for call in m.tool_calls)
        for text in texts:
            chars += len(text)
            size += len(text) if text.isascii() else len(text.encode())
    return PromptSize(chars, size, overhead, media)


def answer_tokens(choices: Iterable[dict]) -> int:
    """The gateway's own count of an answer's tokens (its choices' messages: text and tool call arguments)."""
    parts = []
    for message in choices:
        parts.append(_content_text(message.get("content")))
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict):
                parts.append(str((call.get("function") or {}).get("arguments") or ""))
    return count_text("".join(parts))


def measure_inputs(inputs: tuple[str | tuple[int, ...], ...]) -> PromptSize:
    """Embeddings input measured as `measure` does: texts by characters and bytes, token arrays exactly."""
    chars = size = exact = 0
    for item in inputs:
        if isinstance(item, str):
            chars += len(item)
            size += len(item) if item.isascii() else len(item.encode())
        else:
            exact += len(item)
    return PromptSize(chars, size, exact)


def count_inputs(inputs: tuple[str | tuple[int, ...], ...]) -> int:
    """Embeddings input tokens, counted with the BPE (token arrays by their length)."""
    return sum(count_text(item) if isinstance(item, str) else len(item) for item in inputs)
