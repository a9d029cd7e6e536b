"""Ledger rows made directly with the ORM, for report and export tests."""
from __future__ import annotations

import itertools
from datetime import datetime, timezone as dt_timezone
from decimal import Decimal

from asgiref.sync import sync_to_async

from usage import rollups
from usage.models import UsageRecord

from .conftest import TenantWithKey

_ids = itertools.count(1)


def at(text: str) -> datetime:
    """An aware UTC datetime from 'YYYY-MM-DD HH:MM[:SS[.ffffff]]'."""
    return datetime.fromisoformat(text).replace(tzinfo=dt_timezone.utc)


def row(owner: TenantWithKey, when: str = "2026-11-02 12:00", **fields) -> UsageRecord:
    """An unsaved ledger row for the tenant's key."""
    defaults = {
        "request_id": f"req-{next(_ids)}",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "status": 200,
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "cost_usd": Decimal("0.000015"),
    }
    return UsageRecord(**{"tenant": owner.tenant, "api_key": owner.key, "created_at": at(when), **defaults, **fields})


def save(*rows: UsageRecord) -> None:
    """Insert the rows and add them to the rollups, as the ledger writer does for its batches."""
    UsageRecord.objects.bulk_create(rows)
    rollups.add_entries(rows)


async def asave(*rows: UsageRecord) -> None:
    """save() from an async test."""
    await sync_to_async(save)(*rows)
