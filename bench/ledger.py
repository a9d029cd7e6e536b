"""The ledger at scale (issue 17, part 2): reports over 10 million rows, and the writer's sustained rate.

    python -m bench.ledger [--rows 10000000] [--days 90] [--tenants 1000] [--db bench_ledger] [--fresh]

Fills a separate PostgreSQL database (never the gateway's) with `generate_usage`, unless it
already holds the rows, then times, in this process through Django's test client (the whole
view: authentication, query parsing, the rollup queries, JSON):
  - /v1/usage for one tenant's last full month (and its month to date), target < 100 ms;
  - the admin usage report (HTML: days, tenants, models, totals) for all tenants' last full
    month (and month to date), target < 100 ms;
  - the ledger writer: entries queued then flushed in batches (COPY, the rollups in the same
    statement), rows/s, target >= 20,000.
Not a test: timings never go into the tests. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

TARGET_MS = 100.0
TARGET_ROWS_S = 20_000


def _database(name: str, fresh: bool) -> None:
    base = ["-h", "127.0.0.1", "-U", "postgres"]
    if fresh:
        subprocess.run(["dropdb", *base, "--if-exists", name], check=True)
    exists = subprocess.run(["psql", *base, "-Atc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
                            capture_output=True, text=True, check=True).stdout.strip()
    if not exists:
        subprocess.run(["createdb", *base, name], check=True)


def _setup(args) -> None:
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", "--verbosity", "0")


def _fill(args) -> int:
    from django.db import connection

    from usage import generate

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM usage_usagerecord WHERE request_id LIKE 'bench-%%'")
        have = cursor.fetchone()[0]
    if have < args.rows:
        print(f"generating {args.rows - have:,} rows ({have:,} there)...", flush=True)
        began = time.monotonic()
        shape = generate.Shape(args.rows - have, args.days, args.tenants)
        generate.generate(shape, f"bench-{uuid.uuid4().hex[:6]}", progress=lambda n: print(f"  {n:,}", flush=True))
        print(f"generated in {time.monotonic() - began:.0f} s", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return max(have, args.rows)


def _timed(get, n: int) -> list[float]:
    """Milliseconds of n calls after two warm-ups; each must answer 200."""
    times = []
    for i in range(n + 2):
        began = time.perf_counter()
        response = get()
        elapsed = (time.perf_counter() - began) * 1000
        assert response.status_code == 200, (response.status_code, response.content[:300])
        if i >= 2:
            times.append(elapsed)
    return times


def _months() -> tuple[datetime, datetime]:
    today = datetime.now(UTC).date()
    last_month_end = today.replace(day=1) - timedelta(days=1)
    return last_month_end.replace(day=1), last_month_end


def reads(n: int) -> list[tuple[str, list[float]]]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from tenants import keys
    from tenants.models import Tenant

    tenant = Tenant.objects.get(slug="gen-00000")
    raw = keys.issue(tenant, name="bench-ledger").raw
    user, _ = get_user_model().objects.get_or_create(username="bench-ledger", defaults={"is_superuser": True,
                                                                                        "is_staff": True})
    api, admin = Client(HTTP_HOST="localhost"), Client(HTTP_HOST="localhost")
    admin.force_login(user)
    start, end = _months()
    month = {"start": start.isoformat(), "end": end.isoformat()}
    results = []
    for group_by in ("model", "day"):
        results.append((f"/v1/usage, one tenant, last month, group_by={group_by}",
                        _timed(lambda: api.get("/v1/usage", {**month, "group_by": group_by}, HTTP_X_API_KEY=raw), n)))
    results.append(("/v1/usage, one tenant, month to date", _timed(lambda: api.get("/v1/usage", HTTP_X_API_KEY=raw), n)))
    results.append(("admin usage report (HTML), all tenants, last month",
                    _timed(lambda: admin.get("/admin/usage/report/", month), n)))
    results.append(("admin usage report (HTML), all tenants, month to date",
                    _timed(lambda: admin.get("/admin/usage/report/"), n)))
    return results


def _entries(count: int, tenant_ids: list[int], key_ids: list[list[int]]) -> list:
    from usage.ledger import LedgerEntry

    now, run = datetime.now(UTC), uuid.uuid4().hex[:8]
    out = []
    for n in range(count):
        t = n * 7919 % len(tenant_ids)
        out.append(LedgerEntry(
            request_id=f"w-{run}-{n}", tenant_id=tenant_ids[t], api_key_id=key_ids[t][n % len(key_ids[t])],
            model=f"gen-model-{n % 5}", provider="gen", upstream_model="gen-upstream", prompt_tokens=100 + n % 900,
            completion_tokens=20 + n % 300, cached_tokens=n % 50, cache_write_tokens=n % 7, reasoning_tokens=n % 11,
            tokens_estimated=False, input_price_per_mtok=Decimal("3"), output_price_per_mtok=Decimal("15"),
            cost_usd=Decimal(100 + n % 900) * 3 / 1_000_000 + Decimal(n % 997) / 10**12, status=200 if n % 50 else 429,
            error_type="" if n % 50 else "rate_limited", cached=n % 20 == 0, streamed=n % 3 == 0,
            client_disconnected=False, latency_ms=100 + n % 500, ttft_ms=None, created_at=now + timedelta(microseconds=n),
        ))
    return out


def writer(total: int, batch_sizes: list[int]) -> list[tuple[int, float, float]]:
    """Rows/s of ledger.flush() writing `total` queued entries, for each batch size: as the gateway writes
    (rollups in the same statement), then the ledger alone in the same run (the host's load shifts the
    figures; the ratio says what the rollups cost)."""
    from tenants.models import ApiKey, Tenant
    from usage import ledger, ledger_copy, rollups

    tenant_ids = list(Tenant.objects.filter(slug__startswith="gen-").order_by("pk").values_list("pk", flat=True))
    by_tenant: dict[int, list[int]] = {}
    for key_id, tenant_id in ApiKey.objects.filter(tenant_id__in=tenant_ids).values_list("pk", "tenant_id"):
        by_tenant.setdefault(tenant_id, []).append(key_id)
    key_ids = [by_tenant[t] for t in tenant_ids]
    results = []
    ledger.flush()
    with_rollups = rollups.after_insert_sql

    def rate(size: int) -> float:
        ledger.BATCH_SIZE = size
        for e in _entries(total, tenant_ids, key_ids):
            ledger._queue.append(e)  # record() would start the writer thread; here the flush is timed alone
        began = time.perf_counter()
        return ledger.flush() / (time.perf_counter() - began)

    for size in batch_sizes:
        full = rate(size)
        rollups.after_insert_sql = lambda: " SELECT count(*) FROM moved"
        ledger_copy._statements.cache_clear()
        alone = rate(size)
        rollups.after_insert_sql = with_rollups
        ledger_copy._statements.cache_clear()
        results.append((size, full, alone))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--db", default="bench_ledger")
    parser.add_argument("--fresh", action="store_true", help="Drop the database first.")
    parser.add_argument("--repeat", type=int, default=20, help="Timed calls per report.")
    parser.add_argument("--writer-rows", type=int, default=100_000)
    parser.add_argument("--batch-sizes", default="1000,5000,10000")
    parser.add_argument("--only", choices=("reads", "writer"), help="Time only the reports, or only the writer.")
    args = parser.parse_args()
    if args.db in {"gateway", "postgres", "test", "h2"}:
        parser.error("use a database of its own (--db bench_ledger)")
    _database(args.db, args.fresh)
    _setup(args)
    rows = _fill(args)
    print(f"\n### Ledger at {rows:,} rows over {args.days} days, {args.tenants:,} tenants "
          f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f})\n")
    if args.only != "writer":
        print("| what | median ms | p95 ms | target |\n|---|---|---|---|")
        for name, times in reads(args.repeat):
            p95 = sorted(times)[int(len(times) * 0.95) - 1]
            print(f"| {name} | {statistics.median(times):.1f} | {p95:.1f} | < {TARGET_MS:.0f} ms |", flush=True)
    if args.only != "reads":
        print("\n| ledger writer batch size | rows/s | the ledger alone, same run | ratio | target |"
              "\n|---|---|---|---|---|")
        sizes = [int(s) for s in args.batch_sizes.split(",")]
        for size, full, alone in writer(args.writer_rows, sizes):
            print(f"| {size} | {full:,.0f} | {alone:,.0f} | {full / alone:.2f} | >= {TARGET_ROWS_S:,} |", flush=True)


if __name__ == "__main__":
    main()
