"""
The embedded failed-event log: one SQLite file (WAL, ``synchronous=FULL``), surviving restarts.

A recorded failure is on disk before the ingress answers the provider, so an event completed in
the replay store is never forgotten. Recording the same event again is one upsert (attempts
added, reopened if it was resolved), atomic across the processes sharing the file. All SQLite work
runs on the store's worker thread (`adapters.sqlite_worker`).

`count` reads one row of ``portico_failed_events_counts``, never the records: triggers on the
records table keep it in the statement that changes a record (insert, reopen, resolve, delete),
so every writer of the file keeps it right, an older Portico sharing the file included. A file
of an earlier version gains the counter and its triggers on open, counted from its rows.

Resolved records are kept for ``retention_seconds`` (7 days, as long as the replay store answers
a processed delivery "duplicate"), then deleted after every ``purge_every`` writes (records and
resolutions; no timer thread), so the file grows only with what still needs an operator.
Unresolved records are never deleted here.
"""

from __future__ import annotations

import builtins
import sqlite3
from os import PathLike

from ...domain.failed_events import FailedEvent
from ...domain.time import SYSTEM_CLOCK, Clock, epoch_seconds
from ..sqlite_worker import RetainingSQLiteStore, open_wal


__all__ = [
    "DEFAULT_FAILED_EVENTS_FILE",
    "DEFAULT_FAILED_EVENTS_PATH",
    "DEFAULT_RESOLVED_RETENTION_SECONDS",
    "SQLiteFailedEventLog",
]

DEFAULT_FAILED_EVENTS_FILE = "portico-failed-events.sqlite3"
DEFAULT_FAILED_EVENTS_PATH = f"./{DEFAULT_FAILED_EVENTS_FILE}"
DEFAULT_RESOLVED_RETENTION_SECONDS = 7 * 24 * 3600.0

_COLUMNS = (
    "provider, event_id, event_type, handler, error, reason, first_failed_at, last_failed_at, "
    "attempts, resolved_at, url, content_type, body"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS portico_failed_events (
    id              TEXT PRIMARY KEY,   -- "{provider}:{event_id}"
    provider        TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    handler         TEXT NOT NULL,
    error           TEXT NOT NULL,
    reason          TEXT NOT NULL,
    first_failed_at REAL NOT NULL,
    last_failed_at  REAL NOT NULL,
    attempts        INTEGER NOT NULL,
    resolved_at     REAL,               -- NULL while it still needs an operator
    url             TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    body            BLOB NOT NULL       -- the delivery: patient data, never logged
);
CREATE INDEX IF NOT EXISTS portico_failed_events_open
    ON portico_failed_events (resolved_at, last_failed_at);
"""

# The unresolved records, counted as they change (one row; see the module docstring).
_COUNTER = (
    "CREATE TABLE portico_failed_events_counts (unresolved INTEGER NOT NULL)",
    "INSERT INTO portico_failed_events_counts "
    "SELECT count(*) FROM portico_failed_events WHERE resolved_at IS NULL",
    "CREATE TRIGGER portico_failed_events_added AFTER INSERT ON portico_failed_events "
    "WHEN NEW.resolved_at IS NULL "
    "BEGIN UPDATE portico_failed_events_counts SET unresolved = unresolved + 1; END",
    "CREATE TRIGGER portico_failed_events_changed AFTER UPDATE OF resolved_at "
    "ON portico_failed_events WHEN (OLD.resolved_at IS NULL) != (NEW.resolved_at IS NULL) "
    "BEGIN UPDATE portico_failed_events_counts "
    "SET unresolved = unresolved + iif(NEW.resolved_at IS NULL, 1, -1); END",
    "CREATE TRIGGER portico_failed_events_removed AFTER DELETE ON portico_failed_events "
    "WHEN OLD.resolved_at IS NULL "
    "BEGIN UPDATE portico_failed_events_counts SET unresolved = unresolved - 1; END",
)

_RECORD = f"""
INSERT INTO portico_failed_events (id, {_COLUMNS})
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    event_type = excluded.event_type,
    handler = excluded.handler,
    error = excluded.error,
    reason = excluded.reason,
    first_failed_at = min(first_failed_at, excluded.first_failed_at),
    last_failed_at = excluded.last_failed_at,
    attempts = attempts + excluded.attempts,
    resolved_at = NULL,
    url = excluded.url,
    content_type = excluded.content_type,
    body = excluded.body
RETURNING {_COLUMNS}
"""  # noqa: S608 - a fixed column list, no input


def _row(row: tuple[object, ...]) -> FailedEvent:
    (provider, event_id, event_type, handler, error, reason, first, last, attempts, resolved,
     url, content_type, body) = row  # fmt: skip
    return FailedEvent(
        provider=str(provider),
        event_id=str(event_id),
        event_type=str(event_type),
        handler=str(handler),
        error=str(error),
        reason=str(reason),
        first_failed_at=float(first),  # type: ignore[arg-type]
        last_failed_at=float(last),  # type: ignore[arg-type]
        attempts=int(attempts),  # type: ignore[call-overload]
        resolved_at=None if resolved is None else float(resolved),  # type: ignore[arg-type]
        url=str(url),
        content_type=str(content_type),
        body=bytes(body),  # type: ignore[call-overload]
    )


def _has_counter(conn: sqlite3.Connection) -> bool:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name = 'portico_failed_events_counts'"
    ).fetchone()
    return found is not None


def _create_schema(conn: sqlite3.Connection) -> None:
    """The records table, then (new file or earlier version) the counter, in one transaction."""
    conn.executescript(_SCHEMA)
    if _has_counter(conn):
        return
    # Another process upgrading the same file at the same time waits here, then finds it.
    conn.execute("BEGIN IMMEDIATE")
    try:
        if not _has_counter(conn):
            for statement in _COUNTER:
                conn.execute(statement)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SQLiteFailedEventLog(RetainingSQLiteStore):
    """
    `FailedEventLog` in an SQLite file. Use ``async with`` or call `close` when done.

    Args:
        path: the database file (created if missing; its directory must exist).
        clock: the time source; ``resolved_at`` is its `Clock.now` (epoch seconds).
        busy_timeout: seconds to wait for another process's write lock before failing.
        retention_seconds: how long a resolved record is kept (default 7 days; positive).
        purge_every: delete the resolved records past retention after this many writes.

    Raises:
        ValueError: ``retention_seconds`` or ``purge_every`` is not positive (named).
    """

    INTEGRATION = "failed_events"

    def __init__(
        self,
        path: str | PathLike[str] = DEFAULT_FAILED_EVENTS_PATH,
        *,
        clock: Clock = SYSTEM_CLOCK,
        busy_timeout: float = 30.0,
        retention_seconds: float = DEFAULT_RESOLVED_RETENTION_SECONDS,
        purge_every: int = 100,
    ) -> None:
        super().__init__(
            path,
            retention_seconds=retention_seconds,
            clock=epoch_seconds(clock),
            busy_timeout=busy_timeout,
            purge_every=purge_every,
            thread_name="portico-failed-events",
        )

    @property
    def path(self) -> str:
        """The database file."""
        return str(self._path)

    async def record(self, event: FailedEvent) -> FailedEvent:
        """Upsert ``event`` and return the stored record (durable when this returns)."""
        return await self._worker.run(self._record, event)

    async def list(self, limit: int = 50, *, resolved: bool = False) -> builtins.list[FailedEvent]:
        """Unresolved (or all) records, newest failure first."""
        where = "" if resolved else "WHERE resolved_at IS NULL"
        sql = (
            f"SELECT {_COLUMNS} FROM portico_failed_events {where} "  # noqa: S608 - fixed text
            "ORDER BY last_failed_at DESC LIMIT ?"
        )
        rows = await self._worker.run(self._fetch, sql, (max(limit, 0),))
        return [_row(r) for r in rows]

    async def get(self, id: str) -> FailedEvent | None:
        """One record, or None."""
        sql = f"SELECT {_COLUMNS} FROM portico_failed_events WHERE id = ?"  # noqa: S608
        rows = await self._worker.run(self._fetch, sql, (id,))
        return _row(rows[0]) if rows else None

    async def count(self) -> int:
        """Unresolved records (one counter row: the same cost however many are held)."""
        sql = "SELECT unresolved FROM portico_failed_events_counts"
        rows = await self._worker.run(self._fetch, sql, ())
        (value,) = rows[0]
        return value if isinstance(value, int) else 0

    async def resolve(self, id: str) -> bool:
        """Mark one unresolved record handled (kept for ``retention_seconds``, then deleted)."""
        return await self._worker.run(self._resolve, id)

    async def purge(self, *, resolved_before: float) -> int:
        """Delete records resolved before ``resolved_before``."""
        sql = "DELETE FROM portico_failed_events WHERE resolved_at < ?"
        return await self._worker.run(self._change, sql, (resolved_before,))

    # -- on the worker thread ------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        return open_wal(
            self._path,
            busy_timeout=self._busy_timeout,
            synchronous="FULL",
            setup=_create_schema,
        )

    def _record(self, e: FailedEvent) -> FailedEvent:
        params = (
            e.id,
            e.provider,
            e.event_id,
            e.event_type,
            e.handler,
            e.error,
            e.reason,
            e.first_failed_at,
            e.last_failed_at,
            e.attempts,
            e.url,
            e.content_type,
            e.body,
        )
        row = self._worker.connection().execute(_RECORD, params).fetchone()
        self._count_write()
        return _row(row)

    def _resolve(self, id: str) -> bool:
        sql = (
            "UPDATE portico_failed_events SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL"
        )
        resolved = self._change(sql, (self._clock(), id)) > 0
        self._count_write()
        return resolved

    def _purge(self) -> int:
        sql = "DELETE FROM portico_failed_events WHERE resolved_at < ?"
        return self._change(sql, (self._clock() - self._retention,))

    def _fetch(self, sql: str, params: tuple[object, ...]) -> builtins.list[tuple[object, ...]]:
        return self._worker.connection().execute(sql, params).fetchall()

    def _change(self, sql: str, params: tuple[object, ...]) -> int:
        return self._worker.connection().execute(sql, params).rowcount
