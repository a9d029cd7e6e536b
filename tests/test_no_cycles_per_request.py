"""A request leaves no reference cycles behind: its objects go by reference counting alone.

With thousands of streams open, whatever a request leaves for the cyclic collector makes the collections
longer and more frequent, and each holds the event loop (issue 18: added time to first token p99). The
check: the collector off, requests served through the production ASGI application (streamed and not,
finished and cut by the client), then one collection, which must find nothing unreachable.
"""
from __future__ import annotations

import asyncio
import gc

import orjson
import pytest
from asgiref.sync import sync_to_async

from gateway_project import shutdown

from .asgi_client import application
from .conftest import chat_body, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def _scope(key: str) -> dict:
    """The least an ASGI server gives the chat path."""
    headers = [(b"content-type", b"application/json"), (b"authorization", f"Bearer {key}".encode())]
    return dict(type="http", method="POST", path="/v1/chat/completions", headers=headers, client=("127.0.0.1", 1))


async def _serve(app, key: str, body: dict, leave_after: int | None = None) -> int:
    """One request straight through the application; the client leaves after `leave_after` body messages."""
    data, left, sent = orjson.dumps(body), asyncio.Event(), [0]
    given = [False]

    async def receive():
        if not given[0]:
            given[0] = True
            return {"type": "http.request", "body": data, "more_body": False}
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.body":
            sent[0] += 1
            if leave_after is not None and sent[0] >= leave_after:
                left.set()
                await asyncio.sleep(0.01)

    await app(_scope(key), receive, send)
    left.set()
    return sent[0]


def _garbage() -> list[str]:
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        kinds = sorted({type(o).__name__ for o in gc.garbage})
        gc.garbage.clear()
    finally:
        gc.set_debug(0)
    return kinds


@pytest.mark.parametrize("body, leave_after", [
    (chat_body(), None),
    (chat_body(stream=True), None),
    (chat_body(stream=True, stream_options={"include_usage": True}), 2),
], ids=["whole", "streamed", "streamed-client-left"])
async def test_a_request_leaves_nothing_for_the_cycle_collector(mock_provider, body, leave_after, monkeypatch):
    monkeypatch.setattr(shutdown, "release_memory", lambda: None)  # an idle second's collection would hide a cycle
    tenant = await sync_to_async(make_tenant)("acme")
    app = application()
    for _ in range(3):  # imports, caches, pools
        await _serve(app, tenant.raw, body, leave_after)
    await asyncio.sleep(0.05)
    gc.collect()
    gc.disable()
    try:
        for _ in range(5):
            await _serve(app, tenant.raw, body, leave_after)
        await asyncio.sleep(0.05)  # the work a request leaves for the loop (billing, cache release) runs
        kinds = _garbage()
    finally:
        gc.enable()
    assert kinds == []
