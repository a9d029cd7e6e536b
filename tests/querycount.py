"""Count SQL queries from every thread (django_assert_num_queries sees only the test's own)."""
from __future__ import annotations

import threading
from contextlib import contextmanager

from django.db.backends import utils


@contextmanager
def all_queries():
    """Yield a list that collects the SQL of every query run while the block is open."""
    seen: list[str] = []
    lock = threading.Lock()
    original_execute, original_many = utils.CursorWrapper.execute, utils.CursorWrapper.executemany

    def execute(self, sql, params=None):
        with lock:
            seen.append(str(sql))
        return original_execute(self, sql, params)

    def executemany(self, sql, param_list):
        with lock:
            seen.append(str(sql))
        return original_many(self, sql, param_list)

    utils.CursorWrapper.execute, utils.CursorWrapper.executemany = execute, executemany
    try:
        yield seen
    finally:
        utils.CursorWrapper.execute, utils.CursorWrapper.executemany = original_execute, original_many
