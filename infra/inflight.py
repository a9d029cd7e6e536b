"""One read in flight per key: the callers that arrive while it runs share it instead of starting their own.

For the process caches that refill from Redis or the database (the route table, an API key's entry): at
their expiry a thousand requests would otherwise take a thousand threads and make a thousand reads
(bench/README.md, "Another machine, and three changes").
"""
from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Callable, Hashable

from asgiref.sync import sync_to_async

log = logging.getLogger("gateway.inflight")


class InFlight:
    """Per key, the task running a blocking read in a worker thread on this event loop, while it runs."""

    def __init__(self, failure: str = "") -> None:
        self._tasks: dict[Hashable, asyncio.Task] = {}
        self._failure = failure  # logged when a read fails (for reads nobody may be waiting on); "": not logged

    def run(self, key: Hashable, read: Callable[[], object]) -> asyncio.Task:
        """The task for `key`, started with `read()` if none runs on this loop. Await it through asyncio.shield:
        one caller leaving must not cancel the others' read."""
        task, loop = self._tasks.get(key), asyncio.get_running_loop()
        if task is None or task.done() or task.get_loop() is not loop:
            task = self._tasks[key] = loop.create_task(sync_to_async(read, thread_sensitive=False)())
            task.add_done_callback(partial(self._done, key))
        return task

    def get(self, key: Hashable) -> asyncio.Task | None:
        """The task running for `key`, if any."""
        return self._tasks.get(key)

    def forget(self, key: Hashable) -> None:
        """Let the next caller start a new read (what the running one reads may be out of date)."""
        self._tasks.pop(key, None)

    def _done(self, key: Hashable, task: asyncio.Task) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled() and (error := task.exception()) is not None and self._failure:
            log.warning(self._failure, exc_info=error)
