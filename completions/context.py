"""Per-request facts that travel with a request through the pipeline: its context, its outcome, its reply."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, AsyncIterator

from providers.types import Target, Usage


@dataclass(slots=True)
class Context:
    request_id: str
    started: float  # time.monotonic()
    started_at: datetime
    traceparent: str | None = None
    cache_control: str = ""
    headers: Any = None  # the request's headers, for endpoints that read their own (anthropic-version, anthropic-beta)

    @classmethod
    def new(cls, headers) -> "Context":
        return cls(
            request_id="req_" + uuid.uuid4().hex,
            started=time.monotonic(),
            started_at=datetime.now(timezone.utc),
            traceparent=headers.get("traceparent"),
            cache_control=headers.get("cache-control", "").lower(),
            headers=headers,
        )

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a request ended: what the ledger, the budget and the metrics are told (accounting, observe)."""

    model: str
    status: int
    target: Target | None = None
    usage: Usage | None = None
    error_type: str = ""
    cached: bool = False
    streamed: bool = False
    client_disconnected: bool = False
    ttft_ms: int | None = None


@dataclass(slots=True)
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None
