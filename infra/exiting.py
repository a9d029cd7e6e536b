"""Run a function when the process exits, also in a worker process that multiprocessing forked.

Granian's workers (and any server forking workers with multiprocessing) end with os._exit(),
which skips atexit; multiprocessing runs its own finalizers just before. Those inherited from
the parent are dropped when a child starts, so call this in the process that must run `fn`.
"""
from __future__ import annotations

import atexit
import multiprocessing.util
import os
from collections.abc import Callable

_registered: set[tuple[int, Callable[[], object]]] = set()


def on_exit(fn: Callable[[], object]) -> None:
    """Call fn at exit of this process, once per process however often this is called."""
    if (os.getpid(), fn) in _registered:
        return
    _registered.add((os.getpid(), fn))
    atexit.register(fn)
    multiprocessing.util.Finalize(None, fn, exitpriority=10)
