"""A mixed workload through the HTTP API: every report surface agrees with a sum over the ledger rows, to the last digit.

Plain, cached-prompt, reasoning, streamed, cache-hit, provider-error, client-disconnect and refused requests,
two tenants, two days. /v1/usage (JSON and CSV, each group_by), export_usage, the admin report and its CSV
are compared with sums computed here from the rows themselves; each row's cost with its token classes
times its frozen prices.
"""
from __future__ import annotations

import asyncio
import csv
import io
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from io import StringIO

import orjson
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.urls import reverse

from providers.models import ModelRoute
from usage import ledger, rollups
from usage.cost import exact
from usage.models import UsageRecord

from .asgi_client import application
from .conftest import add_route, chat_body, make_tenant, post_chat

pytestmark = pytest.mark.django_db(transaction=True)

NOVEMBER = {"start": "2026-11-01", "end": "2026-11-30"}
DAYS = (datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc), datetime(2026, 11, 3, 17, 45, tzinfo=timezone.utc))
# Prices with awkward digits, so any rounding anywhere shows.
PRICES = {
    "gpt": ("gpt-4o-mini", "openai", "0.15", "0.6", "0.075", None),
    "o3": ("o3-mini", "openai", "1.1", "4.4", "0.55", None),
    "claude": ("claude-x", "anthropic", "3", "15", "0.3", "3.75"),
}
COUNTED = ("prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens")


def routes(upstream) -> None:
    for public, (model, kind, *prices) in PRICES.items():
        route = add_route(upstream, kind, public, name=kind, upstream_model=model)
        values = [Decimal(p) if p is not None else None for p in prices]
        ModelRoute.objects.filter(pk=route.pk).update(
            input_price_per_mtok=values[0], output_price_per_mtok=values[1],
            cached_input_price_per_mtok=values[2], cache_write_price_per_mtok=values[3], price_source="manual",
        )


def counts(upstream, prompt=12, completion=7, cached=0, write=0, reasoning=0) -> None:
    upstream.prompt_tokens, upstream.completion_tokens = prompt, completion
    upstream.cached_tokens, upstream.cache_write_tokens, upstream.reasoning_tokens = cached, write, reasoning


async def drain(response) -> bytes:
    return b"".join([part async for part in response.streaming_content]) if response.streaming else response.content


async def leave_mid_stream(tenant, body: dict) -> str:
    """A streamed request to the production ASGI application whose client leaves after the first chunk; its request id."""
    sent, first = [], asyncio.Event()
    pending = [{"type": "http.request", "body": orjson.dumps(body), "more_body": False}]

    async def receive():
        if pending:
            return pending.pop()
        await first.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if b"data: {" in message.get("body", b""):
            first.set()

    headers = [(b"content-type", b"application/json"), (b"x-api-key", tenant.raw.encode()), (b"host", b"testserver")]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions", "query_string": b"",
             "headers": headers, "scheme": "http", "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    await asyncio.wait_for(application()(scope, receive, send), timeout=30)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return dict(start["headers"])[b"x-request-id"].decode()


async def workload(client, upstream, acme, globex) -> list[tuple[str, int]]:
    """Every kind of request once or more; the request ids with the day (0 or 1) each is moved to."""
    done: list[str] = []

    async def send(tenant, body, status=200):
        response = await post_chat(client, tenant, body)
        await drain(response)
        assert response.status_code == status, response.content
        done.append(response["x-request-id"])
        return response

    counts(upstream)
    await send(acme, chat_body("gpt", text="plain"))
    counts(upstream, prompt=2048, completion=33, cached=1920)
    await send(acme, chat_body("gpt", text="cached prompt"))
    counts(upstream, prompt=1717, completion=91, cached=1200, write=500)
    await send(acme, chat_body("claude", text="cache read and write"))
    counts(upstream, prompt=120, completion=1337, reasoning=1024)
    await send(acme, chat_body("o3", text="think"))
    counts(upstream, prompt=333, completion=44, cached=100)
    await send(acme, chat_body("claude", text="streamed", stream=True))
    counts(upstream, prompt=777, completion=55, cached=512, reasoning=3)
    await send(acme, chat_body("gpt", text="streamed with usage", stream=True, stream_options={"include_usage": True}))
    counts(upstream, prompt=10, completion=5)
    miss = await send(acme, chat_body("gpt", text="deterministic", temperature=0))
    hit = await send(acme, chat_body("gpt", text="deterministic", temperature=0))
    assert (miss["x-cache"], hit["x-cache"]) == ("MISS", "HIT")
    upstream.queue_modes("500")
    await send(acme, chat_body("claude", text="provider fails"), status=502)
    await send(acme, {"model": "gpt", "messages": "not a list"}, status=400)
    upstream.set_mode("slow", delay=0.05)
    done.append(await leave_mid_stream(acme, chat_body("gpt", text="leaving", stream=True)))
    upstream.set_mode("ok")
    counts(upstream, prompt=4321, completion=123, cached=4096, write=0, reasoning=0)
    await send(globex, chat_body("gpt", text="other tenant"))
    counts(upstream, prompt=999, completion=1, cached=0, write=998)
    await send(globex, chat_body("claude", text="other tenant writes the cache"))
    return [(request_id, n % 2) for n, request_id in enumerate(done)]


def move_to_days(placed: list[tuple[str, int]]) -> None:
    """Date the rows by hand, then recompute the rollups, as an operator who edits the ledger must."""
    for n, (request_id, day) in enumerate(placed):
        UsageRecord.objects.filter(request_id=request_id).update(created_at=DAYS[day] + timedelta(seconds=n))
    rollups.rebuild()


def expected_cost(row: UsageRecord) -> Decimal:
    if row.cached:
        return Decimal(0)
    uncached = row.prompt_tokens - row.cached_tokens - row.cache_write_tokens
    return (uncached * row.input_price_per_mtok + row.cached_tokens * row.cached_input_price_per_mtok
            + row.cache_write_tokens * row.cache_write_price_per_mtok
            + row.completion_tokens * row.output_price_per_mtok) / 10**6


def summed(rows: list[UsageRecord]) -> dict:
    """The report's figures for these rows, added up here."""
    out = {name: sum(getattr(r, name) for r in rows) for name in COUNTED}
    out["total_tokens"] = out["prompt_tokens"] + out["completion_tokens"]
    out["requests"] = len(rows)
    out["cost_usd"] = exact(sum((r.cost_usd for r in rows), Decimal(0)))
    out["cached_requests"] = sum(r.cached for r in rows)
    out["errors"] = sum(r.status >= 400 for r in rows)
    return out


GROUP_OF = {
    "model": lambda r: r.model,
    "day": lambda r: r.created_at.astimezone(timezone.utc).date().isoformat(),
    "key": lambda r: r.api_key.prefix,
    "tenant": lambda r: r.tenant.slug,
}


def by_group(rows: list[UsageRecord], group_by: str) -> dict[str, dict]:
    groups = defaultdict(list)
    for r in rows:
        groups[GROUP_OF[group_by](r)].append(r)
    return {name: summed(members) for name, members in sorted(groups.items())}


def as_text(figures: dict) -> dict:
    return {name: str(value) for name, value in figures.items()}


def ledger_rows() -> list[UsageRecord]:
    return list(UsageRecord.objects.select_related("tenant", "api_key").order_by("created_at"))


def check_export(text: str, rows: list[UsageRecord]) -> None:
    """A raw ledger CSV: one line per row with the row's own values, its money adding up to the ledger's."""
    lines = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [line["request_id"] for line in lines] == [r.request_id for r in rows]
    for line, r in zip(lines, rows):
        for name in COUNTED:
            assert int(line[name]) == getattr(r, name), (name, r.request_id)
        for name in ("cost_usd", "input_price_per_mtok", "output_price_per_mtok", "cached_input_price_per_mtok",
                     "cache_write_price_per_mtok"):
            assert Decimal(line[name]) == getattr(r, name), (name, r.request_id)
    assert sum(Decimal(line["cost_usd"]) for line in lines) == sum(r.cost_usd for r in rows)


async def test_every_report_agrees_with_the_ledger(async_client, upstream, admin_client, ledger_spy):
    await sync_to_async(routes)(upstream)
    acme = await sync_to_async(make_tenant)("acme")
    globex = await sync_to_async(make_tenant)("globex")
    placed = await workload(async_client, upstream, acme, globex)
    await sync_to_async(ledger.flush)()
    await sync_to_async(move_to_days)(placed)
    rows = await sync_to_async(ledger_rows)()

    # One ledger entry per request: calls to the recorder counted, not rows (a duplicate would vanish on insert).
    assert sorted(e.request_id for e in ledger_spy.entries) == sorted(request_id for request_id, _ in placed)
    assert len(rows) == len(placed) == 13
    kinds = {(r.status, r.cached, r.streamed, r.client_disconnected) for r in rows}
    assert {(502, False, False, False), (400, False, False, False), (499, False, True, True), (200, True, False, False)} <= kinds
    assert {(r.cached_tokens > 0, r.cache_write_tokens > 0, r.reasoning_tokens > 0) for r in rows} >= {
        (True, False, False), (True, True, False), (False, False, True), (False, True, False)}
    for r in rows:
        assert r.cost_usd == expected_cost(r), r.request_id
    total = sum(r.cost_usd for r in rows)
    assert total == Decimal(exact(total)) and len(exact(total).split(".")[1]) > 6  # digits no 6-place report keeps

    for tenant in (acme, globex):
        mine = [r for r in rows if r.tenant.slug == tenant.tenant.slug]
        for group_by in ("model", "day", "key"):
            query = {**NOVEMBER, "group_by": group_by}
            body = orjson.loads((await async_client.get("/v1/usage", query, headers=tenant.headers)).content)
            assert {item.pop(group_by): item for item in body["data"]} == by_group(mine, group_by)
            assert body["total"] == summed(mine)
            response = await async_client.get("/v1/usage", {**query, "format": "csv"}, headers=tenant.headers)
            lines = list(csv.DictReader(io.StringIO(await drain_text(response), newline="")))
            assert {line.pop(group_by): line for line in lines} == {
                name: as_text(figures) for name, figures in by_group(mine, group_by).items()}

        out = StringIO()
        await sync_to_async(call_command)("export_usage", "--tenant", tenant.tenant.slug, stdout=out)
        check_export(out.getvalue(), mine)
    out = StringIO()
    await sync_to_async(call_command)("export_usage", stdout=out)
    check_export(out.getvalue(), rows)

    page = await sync_to_async(admin_client.get)(reverse("usage_report"), NOVEMBER)
    assert page.status_code == 200
    context = page.context
    for name, group_by in (("tenants", "tenant"), ("models", "model"), ("days", "day")):
        shown = {g.label: {**g.totals.as_json()} for g in context[name]}
        assert shown == by_group(rows, group_by)
    assert context["total"].as_json() == summed(rows)
    html = page.content.decode()
    assert f">{exact(total)}<" in html
    def admin_csv() -> str:
        return b"".join(admin_client.get(reverse("usage_report_csv"), NOVEMBER).streaming_content).decode()

    check_export(await sync_to_async(admin_csv)(), rows)


async def drain_text(response) -> str:
    return (await drain(response)).decode()
