"""
The embedded outbox: one SQLite file in WAL mode, the default when no server is configured.

Every write commits before the call returns. Enqueues and operator actions commit with
``synchronous=FULL`` (an accepted command survives ``kill -9`` and power loss); the relay's
bookkeeping (claims, outcomes) commits with ``NORMAL``, which in WAL mode survives ``kill -9`` and
may lose only the last outcomes on power loss: those commands are then sent again with their
idempotency key (at-least-once, like a crash between send and mark). Claims run in
``BEGIN IMMEDIATE`` transactions, so several relay processes may share one file (SQLite serialises
their writes). All I/O runs on one private worker thread, never on the event loop.
"""

# ruff: noqa: S608 - the only spliced names are table names checked by check_table_name
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from ...domain.commands import Command
from ...domain.outbox import OutboxEntry, OutboxStatus
from ...domain.time import SYSTEM_CLOCK, Clock, epoch_seconds
from ...ports.outbox import Outbox
from ..sqlite_worker import SQLiteWorker
from ._errors import store_unavailable
from ._rows import (
    COLUMNS,
    MODES,
    OpenMode,
    OutboxNotFound,
    backlog,
    check_table_name,
    clip,
    conflict,
    held,
    lease_token,
    new_row,
    previous_holder,
    to_entry,
)
from ._sqlite_open import open_sqlite


__all__ = ["OpenMode", "SqliteOutbox"]

T = TypeVar("T")
P = ParamSpec("P")
log = logging.getLogger("portico.outbox")


class SqliteOutbox(Outbox):
    """
    `Outbox` on a SQLite file.

    Args:
        path: the database file (created with its directory); ``":memory:"`` for throwaway use.
        table: the table name, so several outboxes can share a file.
        clock: the time source; rows are stamped with `Clock.now` (epoch seconds).
        busy_timeout: seconds to wait for another process's write lock before failing.
        mode: ``create`` (the file, its directory and the table when missing), ``existing``
            (read and write, but never create anything) or ``read_only`` (operators' views:
            nothing is written). Without ``create``, a missing file or table raises
            `OutboxNotFound` (a `FileNotFoundError`) naming the absolute path on first use.

    Any other failure of the file or of SQLite (unwritable path, full disk, a lock held past
    ``busy_timeout``) raises `domain.errors.Unavailable` (``integration="outbox"``,
    ``request_sent=False``); the detail is logged, never put in the message.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        table: str = "portico_outbox",
        clock: Clock = SYSTEM_CLOCK,
        busy_timeout: float = 10.0,
        mode: OpenMode = "create",
    ) -> None:
        if mode not in MODES:
            raise ValueError("mode must be 'create', 'existing' or 'read_only'")
        self.path = str(path)
        self.mode = mode
        self.table = check_table_name(table)
        self._clock = epoch_seconds(clock)
        self._busy_timeout = busy_timeout
        self._worker = SQLiteWorker(
            self._open,
            name="SqliteOutbox",
            thread_name="portico-outbox",
            path=self.path,
            integration="outbox",
        )
        self._sync = "FULL"

    def __repr__(self) -> str:
        return f"SqliteOutbox(path={self.path!r}, table={self.table!r}, mode={self.mode!r})"

    @property
    def location(self) -> str:
        """The absolute path of the file (``:memory:`` for a throwaway outbox)."""
        return self.path if self.path == ":memory:" else str(Path(self.path).resolve())

    # ------------------------------------------------------------ plumbing

    def _open(self) -> sqlite3.Connection:
        conn = open_sqlite(self.path, self.table, self.mode, self._busy_timeout)
        if self.mode == "create":
            self.create_schema(conn)
        self._sync = "FULL"
        log.info("outbox: sqlite %s (table %s, %s)", self.location, self.table, self.mode)
        return conn

    def create_schema(self, conn: sqlite3.Connection) -> None:
        """Create the table and indexes if missing (also usable on a host app's connection)."""
        t = self.table
        conn.executescript(
            f"""
            CREATE TABLE IF NOT EXISTS {t} (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                integration TEXT NOT NULL,
                ordering_key TEXT NOT NULL,
                idempotency_key TEXT NOT NULL UNIQUE,
                payload TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending',
                attempts INTEGER NOT NULL DEFAULT 0,
                enqueued_at REAL NOT NULL,
                available_at REAL NOT NULL,
                lease_token TEXT,
                lease_until REAL,
                last_error TEXT,
                finished_at REAL
            );
            CREATE INDEX IF NOT EXISTS {t}_line ON {t} (ordering_key, seq) WHERE state = 'pending';
            CREATE INDEX IF NOT EXISTS {t}_due ON {t} (available_at) WHERE state = 'pending';
            CREATE INDEX IF NOT EXISTS {t}_state ON {t} (state, integration);
            """
        )

    async def _run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``work`` on the worker thread; a failing store raises `Unavailable`, not sqlite3."""
        try:
            return await self._worker.run(work, *args, **kwargs)
        except OutboxNotFound:
            raise
        except (sqlite3.Error, OSError) as err:
            raise store_unavailable("sqlite", err, where=self.location, detail=str(err)) from None

    def _write(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        conn = self._worker.connection()
        sync = "FULL" if durable else "NORMAL"
        if sync != self._sync:
            conn.execute(f"PRAGMA synchronous={sync}")
            self._sync = sync
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    # ------------------------------------------------------------ enqueue

    def enqueue_with(
        self, conn: sqlite3.Connection, command: Command, *, delay: float = 0.0
    ) -> str:
        """
        Insert ``command`` on the caller's connection, inside the caller's transaction.

        The transactional-outbox form for SQLite: the host app writes its own row and this one,
        then commits both or neither. The connection must open this outbox's file, and the
        table must exist (`create_schema` once at setup: it commits, so not inside the transaction).
        """
        row = new_row(command, self._clock(), delay)
        cur = conn.execute(
            f"INSERT INTO {self.table} (id, kind, integration, ordering_key, idempotency_key, "
            "payload, enqueued_at, available_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (idempotency_key) DO NOTHING",
            row,
        )
        if cur.rowcount == 1:
            return row[0]
        found = conn.execute(
            f"SELECT id, payload FROM {self.table} WHERE idempotency_key = ?", (row[4],)
        ).fetchone()
        if found is None or found[1] != row[5]:
            raise conflict()
        return str(found[0])

    async def enqueue(self, command: Command, *, delay: float = 0.0) -> str:
        """Store ``command`` and commit; see `Outbox.enqueue`."""
        return await self._run(self._write, lambda c: self.enqueue_with(c, command, delay=delay))

    # ------------------------------------------------------------ relay side

    def _claim(
        self, limit: int, lease_seconds: float, integrations: Collection[str] | None
    ) -> list[OutboxEntry]:
        now = self._clock()
        t = self.table
        only = ""
        params: list[Any] = [now, now]
        if integrations is not None:
            if not integrations:
                return []
            only = f" AND o.integration IN ({','.join('?' * len(integrations))})"
            params.extend(integrations)
        params.append(limit)

        def tx(conn: sqlite3.Connection) -> list[OutboxEntry]:
            # A pending row that still holds a token had a lease that ran out without an outcome.
            due = [
                (r[0], r[1])
                for r in conn.execute(
                    f"SELECT o.seq, o.lease_token FROM {t} o "
                    "WHERE o.state = 'pending' AND o.available_at <= ? "
                    f"AND (o.lease_until IS NULL OR o.lease_until <= ?){only} "
                    f"AND NOT EXISTS (SELECT 1 FROM {t} p WHERE p.state = 'pending' "
                    "AND p.ordering_key = o.ordering_key AND p.seq < o.seq) "
                    "ORDER BY o.seq LIMIT ?",
                    params,
                )
            ]
            claimed = []
            for seq, old in due:
                row = conn.execute(
                    f"UPDATE {t} SET lease_token = ?, lease_until = ?, attempts = attempts + 1 "
                    f"WHERE seq = ? RETURNING {COLUMNS}",
                    (lease_token(old), now + lease_seconds, seq),
                ).fetchone()
                claimed.append(to_entry(row, lease_expired=old is not None))
            return claimed

        return self._write(tx, durable=False)

    async def claim(
        self, *, limit: int, lease_seconds: float, integrations: Collection[str] | None = None
    ) -> list[OutboxEntry]:
        """Lease due entries, one per ordering key; see `Outbox.claim`."""
        return await self._run(self._claim, limit, lease_seconds, integrations)

    def _finish(
        self, entry: OutboxEntry, sets: str, params: tuple[Any, ...], keep: str | None = None
    ) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                f"UPDATE {self.table} SET {sets}, lease_token = ?, lease_until = NULL "
                "WHERE id = ? AND state = 'pending' AND lease_token = ?",
                (*params, keep, entry.id, entry.lease_token),
            )
            return cur.rowcount == 1

        return self._write(tx, durable=False)

    def _delivered(self, entry: OutboxEntry, now: float) -> bool:
        token = entry.lease_token
        sql = (
            f"UPDATE {self.table} SET state = 'delivered', finished_at = ?, last_error = NULL, "
            "lease_token = NULL, lease_until = NULL WHERE id = ? AND ("
            "(state = 'pending' AND lease_token = ?) OR (state = 'dead' AND lease_token = ?))"
        )
        params = (now, entry.id, token, None if token is None else held(token))
        return self._write(lambda c: c.execute(sql, params).rowcount == 1, durable=False)

    async def mark_delivered(self, entry: OutboxEntry) -> bool:
        """Record success under the current lease, or over a lease-expiry dead letter (`held`)."""
        return await self._run(self._delivered, entry, self._clock())

    async def schedule_retry(
        self, entry: OutboxEntry, *, delay: float, error: str, attempted: bool = True
    ) -> bool:
        """Release the lease; due again after ``delay``."""
        back = "" if attempted else ", attempts = MAX(attempts - 1, 0)"
        sets = f"available_at = ?, last_error = ?{back}"
        params = (self._clock() + max(delay, 0.0), clip(error))
        return await self._run(self._finish, entry, sets, params)

    async def dead_letter(self, entry: OutboxEntry, *, reason: str) -> bool:
        """Park as a dead letter with ``reason``."""
        sets = "state = 'dead', finished_at = ?, last_error = ?"
        params = (self._clock(), clip(reason))
        return await self._run(self._finish, entry, sets, params, previous_holder(entry))

    # ------------------------------------------------------------ operators

    def _select(self, where: str, params: tuple[Any, ...]) -> list[OutboxEntry]:
        rows = self._worker.connection().execute(
            f"SELECT {COLUMNS} FROM {self.table} {where}", params
        )
        return [to_entry(r) for r in rows]

    async def get(self, entry_id: str) -> OutboxEntry | None:
        """The entry with this id, or None."""
        found = await self._run(self._select, "WHERE id = ?", (entry_id,))
        return found[0] if found else None

    async def dead_letters(
        self, *, limit: int = 100, integration: str | None = None
    ) -> list[OutboxEntry]:
        """Dead letters, oldest first."""
        where = "WHERE state = 'dead' AND (? IS NULL OR integration = ?) ORDER BY seq LIMIT ?"
        return await self._run(self._select, where, (integration, integration, limit))

    def _update(self, sql: str, params: tuple[Any, ...]) -> int:
        return self._write(lambda c: c.execute(sql, params).rowcount)

    async def requeue(self, entry_id: str) -> bool:
        """Make one dead letter pending again with its attempts reset."""
        sql = (
            f"UPDATE {self.table} SET state = 'pending', attempts = 0, available_at = ?, "
            "finished_at = NULL, lease_token = NULL, lease_until = NULL "
            "WHERE id = ? AND state = 'dead'"
        )
        return await self._run(self._update, sql, (self._clock(), entry_id)) == 1

    async def requeue_all(self, *, integration: str | None = None) -> int:
        """Requeue every dead letter (of one integration)."""
        sql = (
            f"UPDATE {self.table} SET state = 'pending', attempts = 0, available_at = ?, "
            "finished_at = NULL, lease_token = NULL, lease_until = NULL "
            "WHERE state = 'dead' AND (? IS NULL OR integration = ?)"
        )
        return await self._run(self._update, sql, (self._clock(), integration, integration))

    async def purge_dead(self, entry_id: str | None = None) -> int:
        """Delete one dead letter, or all."""
        sql = f"DELETE FROM {self.table} WHERE state = 'dead' AND (? IS NULL OR id = ?)"
        return await self._run(self._update, sql, (entry_id, entry_id))

    def _status(self) -> OutboxStatus:
        now = self._clock()
        rows = self._worker.connection().execute(
            f"SELECT integration, state, COUNT(*), "
            "SUM(CASE WHEN lease_until > ? THEN 1 ELSE 0 END), MIN(enqueued_at) "
            f"FROM {self.table} GROUP BY integration, state",
            (now,),
        )
        return backlog(now, rows.fetchall())

    async def status(self) -> OutboxStatus:
        """Counts per integration."""
        return await self._run(self._status)

    async def close(self) -> None:
        """Close the connection and the worker thread; closing twice is harmless."""
        await self._worker.close()
