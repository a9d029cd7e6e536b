"""Adapter registry: one pure-translation module per provider kind."""
from __future__ import annotations

from types import ModuleType

from . import anthropic, azure, mock, ollama, openai

ADAPTERS: dict[str, ModuleType] = {
    "openai": openai,
    "azure": azure,
    "anthropic": anthropic,
    "ollama": ollama,
    "mock": mock,
}


def get(kind: str) -> ModuleType:
    """The adapter module for a provider kind."""
    try:
        return ADAPTERS[kind]
    except KeyError:
        raise ValueError(f"Unknown provider kind {kind!r}; expected one of {', '.join(ADAPTERS)}.") from None
