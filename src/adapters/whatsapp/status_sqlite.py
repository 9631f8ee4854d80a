"""
The embedded delivery-status store: one SQLite file shared by the sending and the webhook process.

Each `record` is one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` statement, so the
forward-only rule is applied atomically under SQLite's write lock, in one process or several,
and the status now on record comes back in the same statement. The file is in WAL mode (readers
never block the writer) with ``synchronous=NORMAL``: a status lost in a power cut is reported
again by the provider's next webhook, or read as the previous status.

Rows untouched for ``retention_seconds`` (default 30 days) count as unknown and are purged now
and then, so the file stays bounded like the in-memory log. All SQLite work runs on one worker
thread that owns the connection, never on the event loop.
"""

from __future__ import annotations

import sqlite3
from os import PathLike

from ...domain.messaging import DeliveryStatus
from ...domain.time import SYSTEM_CLOCK, Clock, epoch_seconds
from ...ports.delivery_status import DeliveryStatusStore, TextFallbackStore
from ..sqlite_worker import RetainingSQLiteStore, open_wal
from .status_log import stored_status


__all__ = ["DEFAULT_RETENTION_SECONDS", "SQLiteDeliveryStatusStore"]

DEFAULT_RETENTION_SECONDS = 30 * 24 * 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS portico_delivery_status (
    message_id TEXT PRIMARY KEY,
    status     TEXT NOT NULL,    -- DeliveryStatus.value
    rank       INTEGER NOT NULL, -- DeliveryStatus.rank
    final      INTEGER NOT NULL, -- 1 for READ and FAILED: nothing moves it any more
    updated_at REAL NOT NULL     -- wall-clock seconds of the last report
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS portico_delivery_status_age ON portico_delivery_status (updated_at);
CREATE TABLE IF NOT EXISTS portico_text_fallback (
    message_id TEXT PRIMARY KEY,
    command    TEXT NOT NULL,    -- the encoded command (domain.command_codec)
    updated_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS portico_text_fallback_age ON portico_text_fallback (updated_at);
"""
_REMEMBER = """
INSERT INTO portico_text_fallback (message_id, command, updated_at) VALUES (?, ?, ?)
ON CONFLICT (message_id) DO UPDATE SET command = excluded.command, updated_at = excluded.updated_at
"""
_FALLBACK = "SELECT command FROM portico_text_fallback WHERE message_id = ? AND updated_at > ?"

# A row replaced when the report advances it, or when it is stale (past retention): a stale row
# counts as absent, like an evicted entry of the in-memory log. Every report refreshes the age.
_RECORD = """
INSERT INTO portico_delivery_status AS s (message_id, status, rank, final, updated_at)
VALUES (:id, :status, :rank, :final, :now)
ON CONFLICT (message_id) DO UPDATE SET
    status = CASE WHEN (s.updated_at <= :stale OR (s.final = 0 AND excluded.rank > s.rank))
        THEN excluded.status ELSE s.status END,
    rank = CASE WHEN (s.updated_at <= :stale OR (s.final = 0 AND excluded.rank > s.rank))
        THEN excluded.rank ELSE s.rank END,
    final = CASE WHEN (s.updated_at <= :stale OR (s.final = 0 AND excluded.rank > s.rank))
        THEN excluded.final ELSE s.final END,
    updated_at = excluded.updated_at
RETURNING status
"""
_GET = "SELECT status FROM portico_delivery_status WHERE message_id = ? AND updated_at > ?"


class SQLiteDeliveryStatusStore(RetainingSQLiteStore, DeliveryStatusStore, TextFallbackStore):
    """
    `DeliveryStatusStore` in an SQLite file. Use ``async with`` or call `close` when done.

    Text fallbacks (`TextFallbackStore`) live in a second table of the same file, with the same
    retention and purge.

    Args:
        path: the database file (created on first use; its directory must exist).
        retention_seconds: how long an untouched message is remembered (default 30 days).
        clock: the time source; reports are stamped with `Clock.now`.
        busy_timeout: seconds to wait for another process's write lock before failing.
        purge_every: delete stale rows after this many records.
    """

    INTEGRATION = "status_store"

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
        busy_timeout: float = 30.0,
        purge_every: int = 1000,
    ) -> None:
        super().__init__(
            path,
            retention_seconds=retention_seconds,
            clock=epoch_seconds(clock),
            busy_timeout=busy_timeout,
            purge_every=purge_every,
            thread_name="portico-status",
        )

    async def record(self, message_id: str, status: DeliveryStatus) -> DeliveryStatus:
        """Apply one status report in one statement (forward-only); returns the one on record."""
        return await self._worker.run(lambda: self._record(message_id, status))

    async def get(self, message_id: str) -> DeliveryStatus | None:
        """The furthest status recorded for ``message_id`` within retention, or None."""
        return await self._worker.run(lambda: self._get(message_id))

    async def remember_fallback(self, message_id: str, command: str) -> None:
        """Keep ``command`` for ``message_id`` (replacing an earlier one) for the retention."""
        await self._worker.run(lambda: self._remember(message_id, command))

    async def fallback_for(self, message_id: str) -> str | None:
        """The command kept for ``message_id`` within retention, or None."""
        return await self._worker.run(lambda: self._fallback(message_id))

    async def purge(self) -> int:
        """Delete the rows past retention now; returns how many went."""
        return await self._worker.run(self._purge)

    # -- on the worker thread ------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        return open_wal(
            self._path,
            busy_timeout=self._busy_timeout,
            synchronous="NORMAL",
            setup=lambda conn: conn.executescript(_SCHEMA),
        )

    def _record(self, message_id: str, status: DeliveryStatus) -> DeliveryStatus:
        now = self._clock()
        row = (
            self._worker.connection()
            .execute(
                _RECORD,
                {
                    "id": message_id,
                    "status": status.value,
                    "rank": status.rank,
                    "final": int(status.is_final()),
                    "now": now,
                    "stale": now - self._retention,
                },
            )
            .fetchone()
        )
        self._count_write()
        return stored_status(row[0])

    def _get(self, message_id: str) -> DeliveryStatus | None:
        since = self._clock() - self._retention
        row = self._worker.connection().execute(_GET, (message_id, since)).fetchone()
        return None if row is None else stored_status(row[0])

    def _remember(self, message_id: str, command: str) -> None:
        self._worker.connection().execute(_REMEMBER, (message_id, command, self._clock()))
        self._count_write()

    def _fallback(self, message_id: str) -> str | None:
        since = self._clock() - self._retention
        row = self._worker.connection().execute(_FALLBACK, (message_id, since)).fetchone()
        return None if row is None else str(row[0])

    def _purge(self) -> int:
        connection = self._worker.connection()
        stale = self._clock() - self._retention
        cursor = connection.execute(
            "DELETE FROM portico_delivery_status WHERE updated_at <= ?", (stale,)
        )
        fallbacks = connection.execute(
            "DELETE FROM portico_text_fallback WHERE updated_at <= ?", (stale,)
        )
        return cursor.rowcount + fallbacks.rowcount
