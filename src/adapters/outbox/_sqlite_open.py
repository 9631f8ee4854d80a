"""
Opening the SQLite outbox file in one of three modes, so operator views never create a store.

``create`` makes the directory and file; ``existing`` and ``read_only`` open through a
``file:...?mode=rw|ro`` URI, which SQLite refuses (rather than creating) when the file is missing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..sqlite_worker import open_wal
from ._rows import OpenMode, OutboxNotFound


__all__ = ["open_sqlite"]

_URI_MODES = {"existing": "rw", "read_only": "ro"}


def open_sqlite(path: str, table: str, mode: OpenMode, busy_timeout: float) -> sqlite3.Connection:
    """
    A connection to ``path`` in autocommit mode, WAL journal and ``synchronous=FULL``.

    Raises:
        OutboxNotFound: without ``create``, the file or ``table`` is missing (absolute path named).
    """
    if mode == "create" or path == ":memory:":
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        target, uri = path, False
    else:
        where = Path(path).resolve()
        if not where.is_file():
            raise OutboxNotFound(f"no outbox at {where} yet (nothing was ever enqueued there)")
        target, uri = f"{where.as_uri()}?mode={_URI_MODES[mode]}", True
    conn = open_wal(
        target,
        busy_timeout=busy_timeout,
        synchronous="FULL",
        wal=mode != "read_only",
        uri=uri,
        check_same_thread=False,
    )
    if mode != "create":
        try:
            conn.execute(f"SELECT 1 FROM {table} LIMIT 0")  # noqa: S608 - a checked table name
        except sqlite3.DatabaseError:
            conn.close()
            raise OutboxNotFound(f"no outbox table {table} in {Path(path).resolve()} yet") from None
    return conn
