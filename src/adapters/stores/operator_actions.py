"""
Operator action logs (`ports.operator_actions.OperatorActionLog`): memory (tests, the fake
environment without ``data_dir``) and one SQLite file (``portico-console[.<environment>].sqlite3``
in ``data_dir``), appended to by the console and kept across restarts.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections import deque
from os import PathLike

from ...domain.operator_actions import OperatorAction
from ..sqlite_worker import SQLiteStore, open_wal


__all__ = ["MemoryOperatorActionLog", "SQLiteOperatorActionLog"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS portico_operator_actions (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       REAL NOT NULL,
    operator TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    ok       INTEGER NOT NULL,
    result   TEXT NOT NULL
);
"""


class MemoryOperatorActionLog:
    """The last ``max_entries`` actions in process memory (lost on restart)."""

    def __init__(self, *, max_entries: int = 1000) -> None:
        self._items: deque[OperatorAction] = deque(maxlen=max(max_entries, 1))

    def __repr__(self) -> str:
        return f"<MemoryOperatorActionLog entries={len(self._items)}>"

    async def record(self, action: OperatorAction) -> None:
        """Append ``action``, dropping the oldest when full."""
        self._items.append(action)

    async def recent(self, limit: int = 50) -> builtins.list[OperatorAction]:
        """Newest first."""
        return list(reversed(self._items))[: max(limit, 0)]

    async def close(self) -> None:
        """Nothing to release."""


class SQLiteOperatorActionLog(SQLiteStore):
    """
    `OperatorActionLog` in an SQLite file (WAL, ``synchronous=FULL``): every action is on disk
    before the console answers.

    Args:
        path: the database file (created if missing; its directory must exist).
        busy_timeout: seconds to wait for another process's write lock before failing.
    """

    INTEGRATION = "operator_actions"

    def __init__(self, path: str | PathLike[str], *, busy_timeout: float = 30.0) -> None:
        super().__init__(path, busy_timeout=busy_timeout, thread_name="portico-console-log")

    @property
    def location(self) -> str:
        """The database file, for operators."""
        return str(self._path)

    async def record(self, action: OperatorAction) -> None:
        """Append ``action``."""
        await self._worker.run(self._insert, action)

    async def recent(self, limit: int = 50) -> builtins.list[OperatorAction]:
        """Newest first."""
        rows = await self._worker.run(self._fetch, max(limit, 0))
        return [
            OperatorAction(
                at=float(at),
                operator=str(operator),
                action=str(action),
                target=str(target),
                ok=bool(ok),
                result=str(result),
            )
            for at, operator, action, target, ok, result in rows
        ]

    def _open(self) -> sqlite3.Connection:
        return open_wal(
            self._path,
            busy_timeout=self._busy_timeout,
            synchronous="FULL",
            setup=lambda conn: conn.executescript(_SCHEMA),
        )

    def _insert(self, a: OperatorAction) -> None:
        self._worker.connection().execute(
            "INSERT INTO portico_operator_actions (at, operator, action, target, ok, result) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (a.at, a.operator, a.action, a.target, int(a.ok), a.result),
        )

    def _fetch(self, limit: int) -> builtins.list[tuple[float, str, str, str, int, str]]:
        return (
            self._worker.connection()
            .execute(
                "SELECT at, operator, action, target, ok, result FROM portico_operator_actions "
                "ORDER BY seq DESC LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
