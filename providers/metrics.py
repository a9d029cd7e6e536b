"""Provider metrics: attempt timings, fallbacks and each provider's circuit breaker."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from infra.metrics import LLM_BUCKETS, child, on_sample

from . import breaker

ATTEMPT_SECONDS = Histogram(
    "gateway_upstream_attempt_duration_seconds",
    "One call to a provider, until its answer (or first stream chunk) or failure.",
    ["provider", "outcome"], buckets=LLM_BUCKETS,
)
FALLBACKS = Counter(
    "gateway_fallbacks", "Attempts at a provider after an earlier one in the chain failed or was skipped.",
    ["model", "provider"],
)
BREAKER_STATE = Gauge(
    "gateway_breaker_state", "Circuit breaker per provider: 0 closed, 1 half-open, 2 open (worst process).",
    ["provider"], multiprocess_mode="livemax",
)

_BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}
_breakers_seen: set[str] = set()


def note_breaker(provider: str) -> None:
    """Publish a provider's breaker state after routing touched it."""
    _breakers_seen.add(provider)
    child(BREAKER_STATE, provider).set(_BREAKER_VALUES[breaker.state(provider)])


def _sample_breakers() -> None:
    """An open breaker half-opens with time, without a request to notice: refresh every one seen."""
    for provider in tuple(_breakers_seen):
        BREAKER_STATE.labels(provider).set(_BREAKER_VALUES[breaker.state(provider)])


on_sample(_sample_breakers)
