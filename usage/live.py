"""The dashboard's live feed: each written ledger batch, summarised, pushed to staff over a WebSocket.

The ledger writer thread calls publish(); the send runs on the server's event loop, noted by
serving() when the server handles its first connection. The in-memory channel layer's queues
belong to that loop (and to that process), so sending from the writer thread's own loop would
not wake the consumers; the Redis layer works from it too and reaches every replica's consumers.
"""
from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from concurrent.futures import Future
from datetime import UTC, datetime
from decimal import Decimal

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer

from tenants.models import Tenant

from . import dashboard, ledger
from .ledger import LedgerEntry
from .models import token_classes

log = logging.getLogger("gateway.live")

GROUP = "admin-live"
TAIL = 20

_loop: asyncio.AbstractEventLoop | None = None


def serving(app):
    """Wrap the ASGI application to note the event loop it is served on."""

    async def app_noting_loop(scope, receive, send):
        global _loop
        _loop = asyncio.get_running_loop()
        return await app(scope, receive, send)

    return app_noting_loop


def install() -> None:
    """Have the ledger writer hand every written batch to publish()."""
    if publish not in ledger.publishers:
        ledger.publishers.append(publish)


def _money(amount: Decimal) -> str:
    return format(amount, "f")


def _figures(figures: dashboard.Figures) -> dict:
    return {"requests": figures.requests, "errors": figures.errors, "cost_usd": _money(figures.cost_usd)}


def snapshot() -> dict:
    """Today's and this month's figures, sent to a dashboard as it connects."""
    current = dashboard.summary(datetime.now(UTC))
    return {"kind": "snapshot", "day": current.day.isoformat(), "today": _figures(current.today), "month": _figures(current.month)}


def _row(entry: LedgerEntry, slugs: dict[int, str]) -> dict:
    """One request of the tail: never its prompt, answer or key."""
    return {
        "at": entry.created_at.astimezone(UTC).isoformat(timespec="seconds"),
        "tenant": slugs.get(entry.tenant_id, str(entry.tenant_id)),
        "model": entry.model,
        "provider": entry.provider,
        "status": entry.status,
        "tokens": entry.prompt_tokens + entry.completion_tokens,
        "token_classes": token_classes(entry),
        "cost_usd": _money(entry.cost_usd),
        "latency_ms": entry.latency_ms,
        "cached": entry.cached,
    }


def batch_message(batch: list[LedgerEntry]) -> dict:
    """Per-day additions to the figures, and the batch's newest requests, newest first."""
    days: dict[str, dashboard.Figures] = defaultdict(lambda: dashboard.Figures(0, 0, Decimal(0)))
    for entry in batch:
        day = entry.created_at.astimezone(UTC).date().isoformat()
        seen = days[day]
        days[day] = dashboard.Figures(seen.requests + 1, seen.errors + (entry.status >= 400), seen.cost_usd + entry.cost_usd)
    tail = batch[-TAIL:]
    slugs = dict(Tenant.objects.filter(pk__in={e.tenant_id for e in tail}).values_list("pk", "slug"))
    return {
        "kind": "batch",
        "days": [{"day": day, **_figures(figures)} for day, figures in sorted(days.items())],
        "rows": [_row(entry, slugs) for entry in reversed(tail)],
    }


def _log_failure(future: Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("live feed: send failed", exc_info=future.exception())


def publish(batch: list[LedgerEntry]) -> None:
    """Ledger hook: schedule the batch's message on the server's loop, without waiting for it."""
    loop = _loop
    if loop is None or loop.is_closed():  # not serving (a command, a test without a server): nobody listens here
        return
    message = {"type": "feed.batch", "feed": batch_message(batch)}
    sent = asyncio.run_coroutine_threadsafe(get_channel_layer().group_send(GROUP, message), loop)
    sent.add_done_callback(_log_failure)


def may_watch(user) -> bool:
    """Staff who may view usage: superusers and the finance group."""
    return bool(user and user.is_active and user.is_staff and user.has_perm("usage.view_usagerecord"))


class LiveFeedConsumer(AsyncJsonWebsocketConsumer):
    """Sends a snapshot on connect, then each batch's message; refuses anyone else's handshake."""

    async def connect(self):
        if not await database_sync_to_async(may_watch)(self.scope.get("user")):
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()
        await self.send_json(await database_sync_to_async(snapshot)())

    async def disconnect(self, code):
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """The feed is one-way: what a browser sends is ignored, not decoded."""

    async def feed_batch(self, event):
        await self.send_json(event["feed"])
