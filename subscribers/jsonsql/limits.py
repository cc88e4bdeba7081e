"""The time limit of the database work a JSONSQL call asks for (lifecycle.md §4): ``JSONSQL_STATEMENT_TIMEOUT_MS``
(default 5 s) per statement on PostgreSQL, and SQLite's progress handler on the embedded default."""

from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext

from django.conf import settings
from django.db import connection


def statement_timeout_ms() -> int:
    """The time limit of a select on PostgreSQL: ``JSONSQL_STATEMENT_TIMEOUT_MS`` (default 5,000 ms)."""
    return int(getattr(settings, "JSONSQL_STATEMENT_TIMEOUT_MS", 5000))


@contextmanager
def time_limit(milliseconds: int):
    """The statements run inside take at most ``milliseconds``: PostgreSQL's ``statement_timeout`` for the
    transaction, SQLite's progress handler (checked every 1,000 virtual machine steps) for the embedded default."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {int(milliseconds)}")  # an integer setting, not input
        yield
    elif connection.vendor == "sqlite":
        connection.ensure_connection()
        deadline = time.monotonic() + milliseconds / 1000
        connection.connection.set_progress_handler(lambda: time.monotonic() > deadline, 1000)
        try:
            yield
        finally:
            connection.connection.set_progress_handler(None, 0)
    else:
        yield


def timed_out(exc: Exception) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) == "57014" or str(cause) == "interrupted"  # PostgreSQL, SQLite


def sqlite_time_limit():
    """:func:`time_limit` on SQLite only, around one query a write runs (its ``where``, an insert's ``select``): on
    PostgreSQL the write's transaction has its per-statement timeout already, and on SQLite a limit over the whole
    write would also stop the service calls of a legitimately large one."""
    return time_limit(statement_timeout_ms()) if connection.vendor == "sqlite" else nullcontext()
