"""Write ledger rows on PostgreSQL with COPY, through a temporary staging table.

bulk_create builds a model instance per row and Django sends UNNEST arrays whose values
psycopg dumps one by one in Python; COPY with declared column types formats whole rows in
psycopg's C code. The rows go into a session-local temporary table, then one statement
moves them into the ledger with ON CONFLICT (request_id, created_at) DO NOTHING, so a retried batch
still cannot double-count. It all happens in one transaction: a failure leaves nothing
written and nothing staged.

COPY is in text format, so the server parses and range-checks every value as an INSERT
would (binary COPY silently wraps an int too large for its column). A value COPY cannot
send raises DataError, so the caller's one-by-one ORM path decides about it as before.
The staging table is created, if missing, in the same transaction (so it also works through
a transaction-pooling proxy) and is emptied at commit. A database role that may not create
temporary tables gets the caller's bulk_create instead, for the rest of the process.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from functools import cache

from django.db import DataError, ProgrammingError, connections, router, transaction
from psycopg.errors import InsufficientPrivilege

log = logging.getLogger("gateway.ledger")

_refused = False  # the database refused us temporary tables: leave it to the caller


class _Refused(Exception):
    pass


@cache
def _statements(model, names: tuple[str, ...], unique: tuple[str, ...], then: tuple[tuple[str, ...], str] | None,
                ) -> tuple[str, str, str, list[str]]:
    """CREATE the staging table, COPY into it, move its rows into the table; and the COPY types.

    `then`: columns the move returns as `moved` (the rows really inserted) and the SQL that follows
    reading them (CTEs then a statement), run as part of the same statement."""
    meta = model._meta
    conn = connections[router.db_for_write(model)]
    quote = conn.ops.quote_name
    fields = [meta.get_field(name) for name in names]  # attnames (tenant_id) resolve too
    table = quote(meta.db_table)
    staging = "pg_temp." + quote(f"{meta.db_table}_staging")
    columns = ", ".join(quote(f.column) for f in fields)
    definitions = [f"{quote(f.column)} {f.db_type(conn)}" for f in fields]
    # Django refuses NaN for a DecimalField though a numeric column takes it: so does staging.
    definitions += [f"CHECK ({quote(f.column)} <> 'NaN')" for f in fields if f.get_internal_type() == "DecimalField"]
    create = f"CREATE TEMP TABLE IF NOT EXISTS {staging} ({', '.join(definitions)}) ON COMMIT DELETE ROWS"
    copy = f"COPY {staging} ({columns}) FROM STDIN"
    # Deleting what it moves keeps staging empty even when an outer transaction goes on.
    conflict = ", ".join(quote(meta.get_field(name).column) for name in unique)
    insert = f"INSERT INTO {table} ({columns}) SELECT {columns} FROM staged ON CONFLICT ({conflict}) DO NOTHING"
    staged = f"WITH staged AS (DELETE FROM {staging} RETURNING {columns})"
    if then is None:
        move = f"{staged} {insert}"
    else:
        returned, rest = then
        move = f"{staged}, moved AS ({insert} RETURNING {', '.join(quote(c) for c in returned)}) {rest}"
    types = [f.db_type(conn).partition("(")[0] for f in fields]  # numeric(24, 12) -> numeric
    return create, copy, move, types


def insert(model, names: tuple[str, ...], rows: Iterable[Sequence], unique: tuple[str, ...],
           then: tuple[tuple[str, ...], str] | None = None) -> bool:
    """Insert rows (values in the order of names), skipping those whose unique fields exist; `then` as _statements.

    Returns False, writing nothing, when COPY cannot be used (not PostgreSQL, or temporary
    tables refused). Raises Django's database errors, IntegrityError and DataError included.
    """
    global _refused
    alias = router.db_for_write(model)
    conn = connections[alias]
    if conn.vendor != "postgresql" or _refused:
        return False
    create, copy, move, types = _statements(model, names, unique, then)
    try:
        with transaction.atomic(using=alias), conn.cursor() as cursor:
            try:
                cursor.execute(create)
            except ProgrammingError as e:
                if isinstance(e.__cause__, InsufficientPrivilege):
                    raise _Refused from e
                raise
            with conn.wrap_database_errors, cursor.cursor.copy(copy) as out:
                out.set_types(types)
                try:
                    for row in rows:
                        out.write_row(row)
                except (TypeError, ValueError, OverflowError) as e:
                    raise DataError(f"a value COPY cannot send: {e}") from e
            cursor.execute(move)
    except _Refused:
        _refused = True
        log.warning("ledger: this database role may not create temporary tables; using bulk_create", exc_info=True)
        return False
    return True
