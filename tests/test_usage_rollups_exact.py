"""The rollups equal the ledger's sums to the last digit after a mixed workload, and reports read them."""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.db.models import Count, Q, Sum

from tenants import keys
from usage import ledger, reports, rollups
from usage.partitions import add_months
from usage.models import UsageDaily, UsageRecord

from .conftest import add_route, chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)


def entry(tk, key=True, **fields) -> ledger.LedgerEntry:
    """A ledger entry with every token class and an awkward price."""
    base = dict(
        request_id=f"req_{uuid.uuid4().hex}", tenant_id=tk.tenant.pk, api_key_id=tk.key.pk if key else None,
        model="claude-x", provider="anthropic", upstream_model="claude-x-1", prompt_tokens=1234, completion_tokens=567,
        cached_tokens=300, cache_write_tokens=200, reasoning_tokens=111, tokens_estimated=False,
        input_price_per_mtok=Decimal("3"), output_price_per_mtok=Decimal("15"), cost_usd=Decimal("0.012345678901"),
        status=200, error_type="", cached=False, streamed=False, client_disconnected=False, latency_ms=5, ttft_ms=None,
        created_at=datetime.now(timezone.utc),
    )
    return ledger.LedgerEntry(**{**base, **fields})


def ledger_sums(**where) -> dict:
    rows = UsageRecord.objects.filter(**where)
    return rows.aggregate(
        requests=Count("pk"), prompt_tokens=Sum("prompt_tokens"), completion_tokens=Sum("completion_tokens"),
        cached_tokens=Sum("cached_tokens"), cache_write_tokens=Sum("cache_write_tokens"),
        reasoning_tokens=Sum("reasoning_tokens"), cost_usd=Sum("cost_usd"),
        cached_requests=Count("pk", filter=Q(cached=True)), errors=Count("pk", filter=Q(status__gte=400)),
    )


def rollup_sums(**where) -> dict:
    return UsageDaily.objects.filter(**where).aggregate(**{c: Sum(c) for c in rollups.COUNTS})


async def gateway_traffic(client, upstream, acme, globex) -> None:
    """Plain, streamed, cached, failed and cache-token answers from OpenAI and Anthropic formats."""
    upstream.cached_tokens, upstream.reasoning_tokens, upstream.cache_write_tokens = 4, 3, 2
    for n in range(3):
        await post_chat(client, acme, chat_body("oa", f"plain {n}"))
    stream = await post_chat(client, globex, {**chat_body("oa", "s"), "stream": True,
                                              "stream_options": {"include_usage": True}})
    b"".join([chunk async for chunk in stream.streaming_content])
    await post_chat(client, acme, chat_body("an", "anthropic"))
    body = chat_body("oa", "cache me", temperature=0)
    await post_chat(client, globex, body)
    await asyncio.sleep(0.3)  # the answer is stored just after it is sent
    hit = await post_chat(client, globex, body)
    assert hit["x-cache"] == "HIT"
    upstream.set_mode("500")
    failed = await post_chat(client, acme, chat_body("oa", "fails"))
    assert failed.status_code >= 500
    upstream.set_mode("ok")


async def test_rollups_equal_the_ledger_to_the_last_digit_after_a_mixed_workload(async_client, upstream, settings):
    settings.GATEWAY = {**settings.GATEWAY, "CACHE_TTL": 60}
    acme, globex = await sync_to_async(make_tenant)("acme"), await sync_to_async(make_tenant)("globex")
    await sync_to_async(add_route)(upstream, "openai", "oa")
    await sync_to_async(add_route)(upstream, "anthropic", "an")
    await gateway_traffic(async_client, upstream, acme, globex)
    second_key = await sync_to_async(keys.issue)(acme.tenant, name="second")
    now = datetime.now(timezone.utc)
    direct = [
        entry(acme), entry(acme, key=False, cost_usd=Decimal("0.000000000001")),
        entry(acme, api_key_id=second_key.key.pk, model="other", cached=True, cost_usd=Decimal(0)),
        entry(globex, status=429, error_type="rate_limited", cost_usd=Decimal(0), prompt_tokens=0, completion_tokens=0,
              cached_tokens=0, cache_write_tokens=0, reasoning_tokens=0),
        entry(globex, created_at=now - timedelta(days=40), cost_usd=Decimal("1.000000000009")),  # an earlier month
        entry(globex, created_at=now.replace(hour=0, minute=0, second=0, microsecond=0)),  # midnight UTC
        entry(acme, created_at=now - timedelta(days=400), streamed=True),  # a month without a partition
    ]
    await sync_to_async(write)(*direct, direct[0], direct[1])  # the same requests twice in one batch
    await sync_to_async(write)(direct[2], entry(acme, model="late"))  # a retried batch with a new entry in it
    refused = replace(entry(globex), status=70_000)  # goes the one-by-one path, with a float cost beside it
    await sync_to_async(write)(refused, entry(globex, cost_usd=0.25), entry(acme, prompt_tokens="7"))

    def check():
        # 8 through the gateway, 10 written directly; SQLite takes the status PostgreSQL's smallint refuses
        assert UsageRecord.objects.count() == (18 if connection.vendor == "postgresql" else 19)
        assert rollups.differences() == []
        for where in ({}, {"tenant_id": acme.tenant.pk}, {"tenant_id": globex.tenant.pk}):
            assert ledger_sums(**where) == rollup_sums(**where)
        sums = ledger_sums()
        assert sums["cached_requests"] >= 2 and sums["errors"] >= 2 and sums["cache_write_tokens"] > 0
    await sync_to_async(check)()


def write(*entries) -> None:
    for e in entries:
        ledger.record(e)
    ledger.flush()


async def test_the_usage_report_reads_the_rollups_and_matches_the_raw_rows(async_client, acme):
    now = datetime.now(timezone.utc)
    entries = [entry(acme, model=m, created_at=now - timedelta(days=d), cost_usd=Decimal(f"0.00000{d}7"))
               for m in ("a", "b") for d in range(0, 3)]
    await sync_to_async(write)(*entries)
    start = (now - timedelta(days=2)).date()
    for group_by in ("model", "day", "key"):
        answer = await async_client.get("/v1/usage", {"start": start.isoformat(), "end": now.date().isoformat(),
                                                      "group_by": group_by}, headers=acme.headers)
        assert answer.status_code == 200
        total = orjson.loads(answer.content)["total"]
        expected = await sync_to_async(ledger_sums)(tenant_id=acme.tenant.pk)
        assert total["requests"] == expected["requests"] == 6
        assert Decimal(total["cost_usd"]) == expected["cost_usd"]
        assert sum(Decimal(row["cost_usd"]) for row in orjson.loads(answer.content)["data"]) == expected["cost_usd"]


def test_rebuild_recomputes_what_the_rollups_lost(acme):
    write(entry(acme), entry(acme, model="b"))
    UsageDaily.objects.filter(model="b").delete()
    assert rollups.differences()
    rollups.rebuild()
    assert rollups.differences() == []


def test_every_kind_of_period_sums_the_rows_it_covers(acme):
    """Whole months, month ends covered mostly or a little, open ends: models and keys from the rollups equal
    the raw rows of the period."""
    first = (datetime.now(timezone.utc) - timedelta(days=75)).replace(hour=12, minute=0, second=0, microsecond=0)
    write(*[entry(acme, model=f"m{n % 3}", created_at=first + timedelta(days=n, hours=n % 11),
                  cost_usd=Decimal(n + 1) / 10**12, key=n % 4 != 0) for n in range(76)])
    day = first.date()
    month1 = day.replace(day=1)
    periods = [(month1, None), (None, None), (day, day), (day + timedelta(days=3), day + timedelta(days=40)),
               (add_months(month1, 1), add_months(month1, 2) - timedelta(days=1)),  # a whole month
               (add_months(month1, 1) + timedelta(days=2), add_months(month1, 2) + timedelta(days=1)),
               (add_months(month1, 1) + timedelta(days=20), add_months(month1, 3) - timedelta(days=2)),
               (day + timedelta(days=10), None)]
    for start, end in periods:
        selection = reports.Selection(start, end, acme.tenant.pk)
        rows = reports.ledger(start, end, acme.tenant.pk)
        for by, field in (("model", "model"), ("key", "api_key__prefix")):
            got = {g.value: (g.totals.requests, g.totals.cost_usd) for g in reports.grouped(selection, by)}
            want = {r[field]: (r["n"], r["c"]) for r in rows.values(field).annotate(n=Count("pk"), c=Sum("cost_usd"))}
            assert got == want, (start, end, by)
        assert reports.totals(selection).cost_usd == (rows.aggregate(c=Sum("cost_usd"))["c"] or 0), (start, end)
