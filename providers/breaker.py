"""A per-process circuit breaker: a provider that keeps failing is skipped for a cool-down."""
from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from infra.hotsettings import hot


@dataclass(slots=True)
class _State:
    failures: int = 0
    open_until: float = 0.0
    trial_in_flight: bool = False


_states: dict[str, _State] = {}


def _state(provider: str) -> _State:
    state = _states.get(provider)
    if state is None:
        state = _states[provider] = _State()
    return state


def allow(provider: str) -> bool:
    """Closed: yes. Open: no, until the cool-down ends; then one trial call (half-open)."""
    state = _state(provider)
    if state.failures < settings.GATEWAY["BREAKER_THRESHOLD"]:
        return True
    if time.monotonic() < state.open_until or state.trial_in_flight:
        return False
    state.trial_in_flight = True
    return True


def success(provider: str) -> None:
    state = _state(provider)
    state.failures, state.open_until, state.trial_in_flight = 0, 0.0, False


def failure(provider: str) -> None:
    state = _state(provider)
    state.failures += 1
    state.trial_in_flight = False
    if state.failures >= settings.GATEWAY["BREAKER_THRESHOLD"]:
        state.open_until = time.monotonic() + settings.GATEWAY["BREAKER_COOLDOWN"]


def state(provider: str) -> str:
    """closed, open or half_open: for metrics and the admin."""
    current = _states.get(provider)
    if current is None or current.failures < hot.GATEWAY["BREAKER_THRESHOLD"]:
        return "closed"
    return "open" if time.monotonic() < current.open_until else "half_open"


def reset() -> None:
    _states.clear()
