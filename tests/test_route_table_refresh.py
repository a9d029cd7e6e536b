"""The route table ages without stalling requests: at its expiry they go on with it while one refresh reads the
database beside them; after a change saved here, they wait for a table that has it."""
from __future__ import annotations

import asyncio

import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from providers import routes
from providers.models import ModelRoute

from .conftest import add_route

pytestmark = pytest.mark.django_db(transaction=True)


def _dsn() -> str:
    params = connection.get_connection_params()
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if k in
                                             ("dbname", "host", "port", "user", "password")})


async def test_requests_at_the_expiry_go_on_while_one_refresh_waits_on_the_database(upstream, monkeypatch):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    assert (await routes.targets_for("chat"))[0].public_model == "chat"
    loads = []
    real_load = routes.load
    monkeypatch.setattr(routes, "load", lambda: loads.append(1) or real_load())
    monkeypatch.setattr(routes, "_loaded_at", routes._loaded_at - 3600)  # aged past ROUTE_CACHE_TTL
    with psycopg.connect(_dsn()) as locker:
        locker.execute(f"LOCK TABLE {ModelRoute._meta.db_table} IN ACCESS EXCLUSIVE MODE")  # the refresh blocks
        answers = await asyncio.wait_for(asyncio.gather(*(routes.targets_for("chat") for _ in range(200))), 10)
        assert all(a and a[0].public_model == "chat" for a in answers)
        refreshing = routes._refreshes.get("table")
        assert refreshing is not None and not refreshing.done()  # still waiting on the lock
        locker.rollback()  # the lock goes: the one refresh finishes
    await asyncio.wait_for(asyncio.shield(refreshing), 10)
    assert loads == [1] and routes._fresh()


async def test_after_a_change_here_the_next_request_waits_for_the_new_table(upstream):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    assert await routes.targets_for("chat")
    await sync_to_async(add_route)(upstream, "anthropic", "other", name="second")  # saving invalidates
    assert (await routes.targets_for("other"))[0].provider == "second"


async def test_a_refresh_that_overlapped_a_change_is_not_taken_as_fresh(upstream, monkeypatch):
    await sync_to_async(add_route)(upstream, "openai", "chat")
    real_load = routes.load

    def load_then_change():
        table = real_load()
        routes.invalidate()  # a change saved while the load ran
        return table

    monkeypatch.setattr(routes, "load", load_then_change)
    routes.invalidate()
    await sync_to_async(routes.refresh)()
    assert not routes._fresh()


async def test_with_no_cache_time_every_request_reads_the_table(upstream, settings):
    settings.GATEWAY = {**settings.GATEWAY, "ROUTE_CACHE_TTL": 0}
    await sync_to_async(add_route)(upstream, "openai", "chat")
    assert await routes.targets_for("chat")
    await sync_to_async(ModelRoute.objects.update)(public_name="renamed")  # no signal: as from another replica
    assert not await routes.targets_for("chat")
    assert await routes.targets_for("renamed")
