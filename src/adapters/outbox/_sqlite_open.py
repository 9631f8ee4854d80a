"""
Opening the SQLite outbox file in one of three modes, so operator views never create a store.

``create`` makes the directory and file; ``existing`` and ``read_only`` open through a
``file:...?mode=rw|ro`` URI, which SQLite refuses (rather than creating) when the file is missing.

Without ``create`` only a path that does not exist is "no outbox yet" (`OutboxNotFound`: nothing
was ever enqueued there). Anything else at the path that is not an outbox is `NotAnOutbox`: a
directory, a file that is no SQLite database, or a database without the outbox table (a 0-byte
file included: SQLite would take it for a new, empty database), so an operator's wrong path is
never reported as an empty outbox.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..sqlite_worker import open_wal
from ._rows import OpenMode, OutboxNotFound


__all__ = ["NotAnOutbox", "open_sqlite"]

_URI_MODES = {"existing": "rw", "read_only": "ro"}


class NotAnOutbox(ValueError):
    """Something other than a Portico outbox is at the path (the message says what, and where)."""


def open_sqlite(path: str, table: str, mode: OpenMode, busy_timeout: float) -> sqlite3.Connection:
    """
    A connection to ``path`` in autocommit mode, WAL journal and ``synchronous=FULL``.

    Raises:
        OutboxNotFound: without ``create``, nothing exists at the path (absolute path named).
        NotAnOutbox: without ``create``, the path is a directory, no SQLite database, or a
            database without ``table``.
    """
    where = Path(path) if path == ":memory:" else Path(path).resolve()
    if mode == "create" or path == ":memory:":
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        target, uri = path, False
    else:
        if not where.exists():
            raise OutboxNotFound(f"no outbox at {where} yet (nothing was ever enqueued there)")
        if not where.is_file():
            what = "a directory" if where.is_dir() else "not a regular file"
            raise NotAnOutbox(f"{where} is not a Portico outbox: it is {what}")
        target, uri = f"{where.as_uri()}?mode={_URI_MODES[mode]}", True
    try:
        conn = open_wal(
            target,
            busy_timeout=busy_timeout,
            synchronous="FULL",
            wal=mode != "read_only",
            uri=uri,
            check_same_thread=False,
        )
    except sqlite3.DatabaseError as err:
        if mode == "create" or "not a database" not in str(err):
            raise
        raise NotAnOutbox(f"{where} is not a Portico outbox: not an SQLite database") from None
    if mode != "create":
        try:
            conn.execute(f"SELECT 1 FROM {table} LIMIT 0")  # noqa: S608 - a checked table name
        except sqlite3.DatabaseError as err:
            conn.close()
            if "not a database" in str(err):
                what = "not an SQLite database"
            elif "no such table" in str(err):
                what = f"no table {table} (a 0-byte or another program's database)"
            else:
                raise  # locked, I/O error, corrupt: the store is unavailable
            raise NotAnOutbox(f"{where} is not a Portico outbox: {what}") from None
    return conn
