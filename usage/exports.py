"""CSV exports of the ledger: streamed in chunks, exact money, UTC times, formula-safe cells."""
from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Generator, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from itertools import islice

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from .reports import Group

CHUNK_ROWS = 2000  # rows per database fetch: bounds the export's memory
LINES_PER_SEND = 500  # lines joined per body chunk

# Header name → ledger field, in file order.
LEDGER_COLUMNS = (
    ("created_at", "created_at"),
    ("request_id", "request_id"),
    ("tenant", "tenant__slug"),
    ("key_prefix", "api_key__prefix"),
    ("model", "model"),
    ("provider", "provider"),
    ("upstream_model", "upstream_model"),
    ("status", "status"),
    ("error_type", "error_type"),
    ("prompt_tokens", "prompt_tokens"),
    ("completion_tokens", "completion_tokens"),
    ("cached_tokens", "cached_tokens"),
    ("cache_write_tokens", "cache_write_tokens"),
    ("reasoning_tokens", "reasoning_tokens"),
    ("tokens_estimated", "tokens_estimated"),
    ("input_price_per_mtok", "input_price_per_mtok"),
    ("output_price_per_mtok", "output_price_per_mtok"),
    ("cached_input_price_per_mtok", "cached_input_price_per_mtok"),
    ("cache_write_price_per_mtok", "cache_write_price_per_mtok"),
    ("cost_usd", "cost_usd"),
    ("cached", "cached"),
    ("streamed", "streamed"),
    ("client_disconnected", "client_disconnected"),
    ("latency_ms", "latency_ms"),
    ("ttft_ms", "ttft_ms"),
)
REPORT_COLUMNS = (
    "requests", "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "cache_write_tokens",
    "reasoning_tokens", "cost_usd", "cached_requests", "errors",
)

# A spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """Prefix an apostrophe to text a spreadsheet would evaluate."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# Formatting by exact type: one dict lookup per cell, the export's innermost loop.
_FORMATS = {
    type(None): lambda value: "",
    bool: lambda value: "true" if value else "false",
    int: str,
    Decimal: lambda value: format(value, "f"),  # fixed point: never an exponent, never a float
    datetime: _utc,
    date: date.isoformat,
    str: neutralise,
}


def cell(value) -> str:
    """One CSV cell: plain decimals, ISO-8601 UTC times, true/false, neutralised text."""
    formatter = _FORMATS.get(type(value))
    return formatter(value) if formatter else neutralise(str(value))


class _Line:
    """A file-like target that hands back what csv.writer writes."""

    def write(self, text: str) -> str:
        return text


def csv_lines(header: Iterable[str], rows: Iterable[Iterable]) -> Generator[str, None, None]:
    """The header, then one CSV line (CRLF-terminated) per row, produced lazily."""
    writer = csv.writer(_Line())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([cell(value) for value in row])


def ledger_csv(rows: QuerySet) -> Generator[str, None, None]:
    """Raw ledger rows as CSV lines, oldest first, fetched CHUNK_ROWS at a time."""
    fields = [field for _, field in LEDGER_COLUMNS]
    values = rows.order_by("created_at", "pk").values_list(*fields).iterator(chunk_size=CHUNK_ROWS)
    return csv_lines([name for name, _ in LEDGER_COLUMNS], values)


def report_csv(group_by: str, groups: list[Group]) -> Generator[str, None, None]:
    """A grouped report as CSV lines; money exact, as in the JSON report."""
    return csv_lines([group_by, *REPORT_COLUMNS], (_report_row(group) for group in groups))


def _report_row(group: Group) -> list:
    totals = group.totals.as_json()
    return [group.label, *(totals[name] for name in REPORT_COLUMNS)]


def _joined(lines: Generator[str, None, None]) -> Generator[str, None, None]:
    """Lines joined LINES_PER_SEND at a time: fewer, larger body chunks."""
    try:
        while batch := "".join(islice(lines, LINES_PER_SEND)):
            yield batch
    finally:
        lines.close()  # releases the database cursor


async def _from_worker_thread(chunks: Generator[str, None, None]) -> AsyncIterator[str]:
    """Advance the generator in Django's sync thread, one chunk per step, so ASGI never holds the file."""
    step = sync_to_async(partial(next, chunks, ""))
    try:
        while chunk := await step():
            yield chunk
    finally:
        # Close in the thread that opened the cursor (the client may have gone away mid-file).
        await sync_to_async(chunks.close)()


def csv_response(request, lines: Generator[str, None, None], filename: str) -> StreamingHttpResponse:
    """A streamed text/csv download; async under ASGI, where Django would buffer a sync iterator whole."""
    chunks = _joined(lines)
    content = _from_worker_thread(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
