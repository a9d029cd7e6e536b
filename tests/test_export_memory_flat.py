"""The ledger CSV export streams: its memory peak is the same for 200,000 rows as for 20,000 (tracemalloc)."""
import tracemalloc

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import AsyncRequestFactory, RequestFactory

from usage import exports, reports
from usage.models import UsageRecord

from .conftest import make_tenant
from .ledger_rows import row

# Committed rows, so the ASGI path's worker thread (its own connection) reads them too.
pytestmark = pytest.mark.django_db(transaction=True)

SMALL, COPIES, BATCH = 20_000, 10, 5_000


def add_rows(owner, count: int) -> None:
    for start in range(0, count, BATCH):
        UsageRecord.objects.bulk_create(
            [row(owner, f"2026-11-{1 + n % 28:02d} 12:00", request_id=f"mem-{n}", model=f"model-{n % 7}")
             for n in range(start, min(start + BATCH, count))]
        )


def copy_rows(copy: int) -> None:
    """Insert a copy of the mem- rows inside the database: far quicker than building them in Python."""
    quote = connection.ops.quote_name
    columns = [quote(f.column) for f in UsageRecord._meta.concrete_fields if not f.primary_key]
    request_id = quote("request_id")
    values = [f"'copy-{copy}-' || {request_id}" if c == request_id else c for c in columns]
    table = quote(UsageRecord._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {table} WHERE {request_id} LIKE 'mem-%%'"
        )


def peak_while(consume) -> tuple[int, int]:
    """(bytes allocated at the peak, bytes of CSV produced) while consume() runs."""
    tracemalloc.start()
    try:
        written = consume()
        return tracemalloc.get_traced_memory()[1], written
    finally:
        tracemalloc.stop()


def consume_sync() -> int:
    """What WSGI (and export_usage, which writes the same generator) does with the export."""
    response = exports.csv_response(RequestFactory().get("/"), exports.ledger_csv(reports.ledger()), "x.csv")
    return sum(len(part) for part in response)


async def _consume_asgi() -> int:
    response = exports.csv_response(AsyncRequestFactory().get("/"), exports.ledger_csv(reports.ledger()), "x.csv")
    return sum([len(part) async for part in response])  # as Django's ASGI handler iterates a response


def consume_asgi() -> int:
    return async_to_sync(_consume_asgi)()


def test_the_export_memory_does_not_grow_with_the_row_count():
    add_rows(make_tenant("acme"), SMALL)
    small = {path: peak_while(consume) for path, consume in (("sync", consume_sync), ("asgi", consume_asgi))}
    for copy in range(1, COPIES):
        copy_rows(copy)
    assert UsageRecord.objects.count() == SMALL * COPIES
    large = {path: peak_while(consume) for path, consume in (("sync", consume_sync), ("asgi", consume_asgi))}

    for path in ("sync", "asgi"):
        (small_peak, small_bytes), (large_peak, large_bytes) = small[path], large[path]
        assert large_bytes > 9 * small_bytes, path  # ten times the rows really went out...
        assert large_bytes > 5 * large_peak, path  # ...many times more than was ever held...
        assert large_peak < small_peak * 1.25 + 256 * 1024, (path, small_peak, large_peak)  # ...at the same peak
