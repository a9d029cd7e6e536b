"""Synthetic ledger rows for benchmarks: millions of rows in SQL, with their rollups (PostgreSQL only).

Rows are made by INSERT ... SELECT over generate_series, so no row passes through Python;
each chunk's statement adds its rows to the rollups exactly as the ledger writer's does
(usage/rollups.py), so the rollups equal the ledger afterwards. Values are spread by a
multiplicative hash of the row number: deterministic for a given run name, varied enough
for the planner (every token class, errors, cache hits, many tenants, keys and models).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

from . import partitions, rollups

_COLUMNS = ("request_id", "tenant_id", "api_key_id", "model", "provider", "upstream_model", "prompt_tokens",
            "completion_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens", "tokens_estimated",
            "input_price_per_mtok", "output_price_per_mtok", "cached_input_price_per_mtok", "cache_write_price_per_mtok",
            "cost_usd", "status", "error_type", "cached", "streamed", "client_disconnected", "latency_ms", "ttft_ms",
            "created_at")
# h: a hash of the row number; the row's time runs evenly from `start` to `end` in row order.
_VALUES = """
    %(run)s || '-' || g,
    (%(tenants)s::bigint[])[1 + h %% %(t)s],
    (%(keys)s::bigint[])[1 + (h %% %(t)s) * %(k)s + (h / 7) %% %(k)s],
    'gen-model-' || ((h / 13) %% %(m)s), 'gen', 'gen-upstream-' || ((h / 13) %% %(m)s),
    50 + h %% 2000, 10 + (h / 17) %% 800, (50 + h %% 2000) * ((h / 19) %% 3) / 4, ((h / 23) %% 5) * 10,
    ((h / 29) %% 4) * 25, false, 3, 15, 0.3, 3.75,
    ((50 + h %% 2000) * 3 + (10 + (h / 17) %% 800) * 15)::numeric / 1000000 + (h %% 997)::numeric / 1000000000000,
    CASE WHEN h %% 53 = 0 THEN 429 WHEN h %% 97 = 0 THEN 502 ELSE 200 END,
    CASE WHEN h %% 53 = 0 THEN 'rate_limited' WHEN h %% 97 = 0 THEN 'upstream_error' ELSE '' END,
    h %% 20 = 0, h %% 3 = 0, false, 100 + h %% 5000, NULL,
    %(start)s::timestamptz + (%(span)s::interval * ((g - 1)::float8 / %(n)s)) + ((h %% 1000) * interval '1 millisecond')
"""


@dataclass(frozen=True)
class Shape:
    rows: int
    days: int
    tenants: int
    keys_per_tenant: int = 2
    models: int = 5


def tenants_and_keys(shape: Shape) -> tuple[list[int], list[int]]:
    """gen-NNNNN tenants and their keys (made when missing): ids, keys tenant by tenant."""
    from tenants.models import ApiKey, Tenant

    slugs = [f"gen-{n:05d}" for n in range(shape.tenants)]
    have = set(Tenant.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    Tenant.objects.bulk_create([Tenant(slug=s, name=s) for s in slugs if s not in have])
    ids = dict(Tenant.objects.filter(slug__in=slugs).values_list("slug", "pk"))
    tenant_ids, key_ids = [ids[s] for s in slugs], []
    prefixes = [f"g{n:05d}k{j:02d}" for n in range(shape.tenants) for j in range(shape.keys_per_tenant)]
    have = set(ApiKey.objects.filter(prefix__in=prefixes).values_list("prefix", flat=True))
    ApiKey.objects.bulk_create([
        ApiKey(tenant_id=ids[f"gen-{int(p[1:6]):05d}"], prefix=p, name="generated",
               digest=hashlib.sha256(p.encode()).hexdigest()) for p in prefixes if p not in have
    ])
    keys = dict(ApiKey.objects.filter(prefix__in=prefixes).values_list("prefix", "pk"))
    key_ids = [keys[p] for p in prefixes]
    return tenant_ids, key_ids


def generate(shape: Shape, run: str, end: datetime | None = None, chunk: int = 500_000, progress=None) -> int:
    """Insert shape.rows rows spread over the shape.days days before `end`, with their rollups; returns rows made."""
    if connection.vendor != "postgresql":
        raise RuntimeError("generate_usage needs PostgreSQL")
    end = end or datetime.now(UTC)
    start = end - timedelta(days=shape.days)
    month, months = partitions.month_start(start), []
    while month <= partitions.month_start(end):
        months.append(month)
        month = partitions.add_months(month, 1)
    partitions.ensure(months)
    tenant_ids, key_ids = tenants_and_keys(shape)
    columns = ", ".join(_COLUMNS)
    insert = (f"WITH moved AS (INSERT INTO {rollups.LEDGER} ({columns})"
              f" SELECT {_VALUES} FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g,"
              f" LATERAL (SELECT (g * 2654435761) %% 4294967291 AS h) x"
              f" RETURNING {', '.join(rollups.SOURCE_COLUMNS)}){rollups.after_insert_sql()}")
    params = {"run": run, "tenants": tenant_ids, "keys": key_ids, "t": shape.tenants, "k": shape.keys_per_tenant,
              "m": shape.models, "start": start, "span": timedelta(days=shape.days), "n": shape.rows}
    made = 0
    for lo in range(1, shape.rows + 1, chunk):
        hi = min(lo + chunk - 1, shape.rows)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(insert, {**params, "lo": lo, "hi": hi})
        made += hi - lo + 1
        if progress:
            progress(made)
    return made
