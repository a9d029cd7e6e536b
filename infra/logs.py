"""One structured JSON line per request on standard output: who, what, how it went. No secrets, no prompts."""
from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from decimal import Decimal
from operator import attrgetter

import orjson

# settings.LOGGING sends this logger, message only, to standard output.
log = logging.getLogger("gateway.requests")


@dataclass(frozen=True, slots=True)
class RequestLine:
    request_id: str
    tenant: str
    key_prefix: str  # the non-secret first characters of the key, as shown in the admin
    model: str
    provider: str
    status: int
    error_type: str
    prompt_tokens: int
    completion_tokens: int
    tokens_estimated: bool
    cost_usd: Decimal
    latency_ms: int
    ttft_ms: int | None
    cache: str  # HIT or MISS, as in the x-cache header
    streamed: bool
    client_disconnected: bool
    trace_id: str  # empty when the request was not traced
    # Parts of prompt_tokens and completion_tokens (README, "Usage ledger and reports").
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


_FIELDS = tuple(f.name for f in fields(RequestLine))
_values = attrgetter(*_FIELDS)


class StdoutHandler(logging.StreamHandler):
    """Writes to sys.stdout as it is at each line, not as it was when logging was configured."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass


_lock = threading.Lock()


def write(line: RequestLine) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    out = {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "event": "request",
           **dict(zip(_FIELDS, _values(line)))}  # asdict would deep-copy every value
    out["cost_usd"] = format(line.cost_usd, "f")
    text = orjson.dumps(out).decode()
    handlers = log.handlers
    if len(handlers) == 1 and type(handlers[0]) is StdoutHandler and not (log.filters or handlers[0].filters):
        # As configured: the line as the handler would write it, without a LogRecord and a caller lookup
        # for each request (three quarters of the cost of a line, bench/README.md).
        with _lock:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
    else:
        log.info(text)
