"""The usage ledger writer: requests queue entries in memory; a thread writes them in batches.

Nothing on the request path touches the database. A batch that fails to write stays
queued and is retried, so a database outage loses nothing the process survives; the
queue is flushed at exit: by atexit (Daphne stops its reactor on SIGTERM and SIGINT and the
interpreter exits normally), and by multiprocessing's finalizers in forked workers such as
Granian's, which end with os._exit() and skip atexit (infra/exiting.py). The
request id (with the row's time) is unique, so a retried batch cannot double-count; the rollups get
exactly the rows inserted, in the same transaction (usage/rollups.py). After each written batch, budget alerts
are checked (usage/alerts.py).
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from operator import attrgetter

from django.conf import settings
from django.db import DataError, IntegrityError, close_old_connections, transaction

from infra import exiting
from infra.hotsettings import hot

log = logging.getLogger("gateway.ledger")

# Rows per transaction at most: each commit pays its WAL flush and the foreign keys' checks, so bigger batches
# write more rows a second (bench/README.md, the ledger at 10 million rows). Every LEDGER_FLUSH_INTERVAL the
# writer takes what is queued: at 20,000 rows/s that is about 5,000; the cap matters when catching up.
BATCH_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    request_id: str
    tenant_id: int
    api_key_id: int | None
    model: str
    provider: str
    upstream_model: str
    prompt_tokens: int
    completion_tokens: int
    tokens_estimated: bool
    input_price_per_mtok: Decimal
    output_price_per_mtok: Decimal
    cost_usd: Decimal
    status: int
    error_type: str
    cached: bool
    streamed: bool
    client_disconnected: bool
    latency_ms: int
    ttft_ms: int | None
    created_at: datetime
    # Parts of prompt_tokens and completion_tokens, and the prices the cache classes were billed at.
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cached_input_price_per_mtok: Decimal = Decimal(0)
    cache_write_price_per_mtok: Decimal = Decimal(0)


_FIELDS = tuple(f.name for f in fields(LedgerEntry))
_values = attrgetter(*_FIELDS)

_queue: deque[LedgerEntry] = deque()
_flush_lock = threading.Lock()
_start_lock = threading.Lock()
_wake = threading.Event()
_writer: threading.Thread | None = None
_last_used_written: dict[int, float] = {}
# Called with each written batch (the admin's live feed, usage/live.py); a failing one loses nothing.
publishers: list[Callable[[list[LedgerEntry]], None]] = []


def record(entry: LedgerEntry) -> None:
    """Queue one entry; never blocks and never touches the database."""
    _queue.append(entry)
    if hot.GATEWAY["LEDGER_WRITER"]:
        _ensure_writer()


def pending() -> int:
    return len(_queue)


def writes_held():
    """Hold the writer between batches (a budget reseed reads the queue and the table as one)."""
    return _flush_lock


def unwritten_cost(tenant_id: int, start, end) -> Decimal:
    """What this process has queued for the tenant in [start, end) and not written yet; call with writes_held()."""
    return sum((e.cost_usd for e in list(_queue) if e.tenant_id == tenant_id and start <= e.created_at < end), Decimal(0))


def discard() -> None:
    """Drop everything queued, and what alerts remember of tenants' spend (tests only)."""
    from . import alerts

    _queue.clear()
    alerts.forget()


def _row(entry: LedgerEntry):
    """A UsageRecord from the entry's fields as they are (dataclasses.asdict would deep-copy each value)."""
    from .models import UsageRecord

    return UsageRecord(**dict(zip(_FIELDS, _values(entry))))


def _take(limit: int) -> list[LedgerEntry]:
    batch = []
    while _queue and len(batch) < limit:
        batch.append(_queue.popleft())
    return batch


_UNIQUE = ("request_id", "created_at")


def _write(batch: list[LedgerEntry]) -> None:
    """One transaction for the batch and its rollups: COPY on PostgreSQL (usage/ledger_copy.py), bulk_create elsewhere.

    The month's partition (and the next's) is made first, outside the batch's transaction."""
    from . import ledger_copy, partitions, rollups
    from .models import UsageRecord

    partitions.ensure_ahead()
    then = (rollups.SOURCE_COLUMNS, rollups.after_insert_sql())
    try:
        if not ledger_copy.insert(UsageRecord, _FIELDS, map(_values, batch), unique=_UNIQUE, then=then):
            with transaction.atomic():
                _insert_new(batch)
    except (IntegrityError, DataError):
        _write_one_by_one(batch)
    _touch_keys(batch)


def _insert_new(batch: list[LedgerEntry]) -> None:
    """The ORM's path: the entries not in the ledger yet, inserted and added to the rollups (call in a transaction)."""
    from . import rollups
    from .models import UsageRecord

    ids = {e.request_id for e in batch}
    seen = set(UsageRecord.objects.filter(request_id__in=ids).values_list("request_id", "created_at"))
    new = []
    for entry in batch:
        if (entry.request_id, entry.created_at) not in seen:
            seen.add((entry.request_id, entry.created_at))
            new.append(entry)
    UsageRecord.objects.bulk_create([_row(e) for e in new])
    rollups.add_entries(new)


def _write_one_by_one(batch: list[LedgerEntry]) -> None:
    """A row the database refuses for good (e.g. its tenant was deleted) must not hold up the queue."""
    for entry in batch:
        try:
            with transaction.atomic():
                _insert_new([entry])
        except (IntegrityError, DataError):
            log.error("ledger: dropping an entry the database refuses: %r", entry, exc_info=True)


def _after_write(batch: list[LedgerEntry]) -> None:
    from . import alerts

    try:
        alerts.check(alerts.worth_checking(batch))
    except Exception:  # alerts are retried with the next batch of the tenant; the ledger goes on
        log.warning("budget alert check failed", exc_info=True)


def _publish(batch: list[LedgerEntry]) -> None:
    for publisher in publishers:
        try:
            publisher(batch)
        except Exception:
            log.warning("ledger publisher %r failed", publisher, exc_info=True)


def _touch_keys(batch: list[LedgerEntry]) -> None:
    """Keep ApiKeyLastUsed current, writing each key at most once per interval."""
    from tenants.models import ApiKeyLastUsed

    interval = settings.GATEWAY["LAST_USED_FLUSH_INTERVAL"]
    now = time.monotonic()
    latest: dict[int, datetime] = {}
    for e in batch:
        if e.api_key_id is not None and now - _last_used_written.get(e.api_key_id, float("-inf")) >= interval:
            latest[e.api_key_id] = max(latest.get(e.api_key_id, e.created_at), e.created_at)
    if not latest:
        return
    rows = [ApiKeyLastUsed(key_id=k, last_used_at=t) for k, t in latest.items()]
    ApiKeyLastUsed.objects.bulk_create(rows, update_conflicts=True, unique_fields=["key"], update_fields=["last_used_at"])
    for key_id in latest:
        _last_used_written[key_id] = now


def flush() -> int:
    """Write what is queued now, in the calling thread; returns rows written. Raises on failure.

    Entries queued while it writes wait for the next flush: chasing them would write a
    trickle of one- or two-row batches back to back, each paying the transaction's round trips.
    """
    with _flush_lock:
        return _flush_held(len(_queue))


def _flush_held(left: int) -> int:
    """flush() with _flush_lock held: up to `left` entries, in batches."""
    written = 0
    while _queue and left > 0:
        batch = _take(min(BATCH_SIZE, left))
        left -= len(batch)
        try:
            _write(batch)
        except Exception:
            _queue.extendleft(reversed(batch))  # keep order; retried next time
            raise
        _after_write(batch)
        _publish(batch)
        written += len(batch)
    return written


def _run() -> None:
    backoff = 0.0
    interval = settings.GATEWAY["LEDGER_FLUSH_INTERVAL"]
    while True:
        _wake.wait(max(interval, backoff))
        _wake.clear()
        if not settings.GATEWAY["LEDGER_WRITER"]:  # turned off (tests flush by hand): stop writing
            return
        try:
            flush()
            backoff = 0.0
        except Exception:
            backoff = min(max(backoff * 2, 0.5), 10.0)
            log.warning("ledger write failed; %d entries kept for retry in %.1fs", len(_queue), backoff, exc_info=True)
            close_old_connections()


def _ensure_writer() -> None:
    global _writer
    if _writer is None or not _writer.is_alive():
        with _start_lock:  # not _flush_lock: a slow write must not stall the request that starts the writer
            if _writer is None or not _writer.is_alive():
                _writer = threading.Thread(target=_run, name="ledger-writer", daemon=True)
                _writer.start()
                exiting.on_exit(_flush_at_exit)  # here, in the serving process: forked workers skip atexit


@atexit.register
def _flush_at_exit() -> None:
    """Everything queued, written before the process ends; the lock first, so that a batch the writer
    thread has taken but not yet committed lands (or comes back to the queue) before the queue is read."""
    try:
        with _flush_lock:
            while _queue:
                _flush_held(len(_queue))
    except Exception:
        log.error("ledger: %d entries could not be written at exit", len(_queue), exc_info=True)
