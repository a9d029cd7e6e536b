"""Token counting with a real BPE (o200k_base), embedded in the package: no download."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import bpe_openai

from .types import Message

# OpenAI's chat format adds a few tokens per message and per reply.
PER_MESSAGE = 3
PER_REPLY = 3


@lru_cache(maxsize=1)
def _encoding():
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


def count_messages(messages: tuple[Message, ...] | list[Message]) -> int:
    """Prompt tokens of a chat, as OpenAI counts them (close enough for estimates)."""
    total = PER_REPLY
    for m in messages:
        total += PER_MESSAGE + count_text(_content_text(m.content))
        if m.name:
            total += 1
        if m.tool_calls:
            total += sum(count_text(str(call)) for call in m.tool_calls)
    return total
