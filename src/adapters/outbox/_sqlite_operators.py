"""
The operators' side of `SqliteOutbox`: look an entry up, list, requeue and purge dead letters,
count the backlog. Mixed into the store, which supplies the worker thread (`_run`), the durable
write transaction (`_write`) and the clock.
"""

# ruff: noqa: S608 - the only spliced names are table names checked by check_table_name
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar

from ...domain.outbox import OutboxEntry, OutboxStatus
from ..sqlite_worker import SQLiteWorker
from ._rows import COLUMNS, backlog, to_entry


__all__ = ["SqliteOperators"]

T = TypeVar("T")
P = ParamSpec("P")


class _Store(Protocol):
    """What the operator actions need from the store they are mixed into."""

    table: str
    _clock: Callable[[], float]
    _worker: SQLiteWorker

    async def _run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T: ...

    def _write(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T: ...


def _select(store: _Store, where: str, params: tuple[Any, ...]) -> list[OutboxEntry]:
    rows = store._worker.connection().execute(
        f"SELECT {COLUMNS} FROM {store.table} {where}", params
    )
    return [to_entry(r) for r in rows]


def _update(store: _Store, sql: str, params: tuple[Any, ...]) -> int:
    return store._write(lambda c: c.execute(sql, params).rowcount)


def _status(store: _Store) -> OutboxStatus:
    now = store._clock()
    rows = store._worker.connection().execute(
        f"SELECT integration, state, COUNT(*), "
        "SUM(CASE WHEN lease_until > ? THEN 1 ELSE 0 END), MIN(enqueued_at) "
        f"FROM {store.table} GROUP BY integration, state",
        (now,),
    )
    return backlog(now, rows.fetchall())


class SqliteOperators:
    """Operator actions on the outbox table (see `ports.outbox.Outbox`)."""

    __slots__ = ()

    async def get(self: _Store, entry_id: str) -> OutboxEntry | None:
        """The entry with this id, or None."""
        found = await self._run(_select, self, "WHERE id = ?", (entry_id,))
        return found[0] if found else None

    async def dead_letters(
        self: _Store, *, limit: int = 100, integration: str | None = None
    ) -> list[OutboxEntry]:
        """Dead letters, oldest first."""
        where = "WHERE state = 'dead' AND (? IS NULL OR integration = ?) ORDER BY seq LIMIT ?"
        return await self._run(_select, self, where, (integration, integration, limit))

    async def requeue(self: _Store, entry_id: str) -> bool:
        """Make one dead letter pending again with its attempts reset."""
        sql = (
            f"UPDATE {self.table} SET state = 'pending', attempts = 0, available_at = ?, "
            "finished_at = NULL, lease_token = NULL, lease_until = NULL "
            "WHERE id = ? AND state = 'dead'"
        )
        return await self._run(_update, self, sql, (self._clock(), entry_id)) == 1

    async def requeue_all(self: _Store, *, integration: str | None = None) -> int:
        """Requeue every dead letter (of one integration)."""
        sql = (
            f"UPDATE {self.table} SET state = 'pending', attempts = 0, available_at = ?, "
            "finished_at = NULL, lease_token = NULL, lease_until = NULL "
            "WHERE state = 'dead' AND (? IS NULL OR integration = ?)"
        )
        return await self._run(_update, self, sql, (self._clock(), integration, integration))

    async def purge_dead(self: _Store, entry_id: str | None = None) -> int:
        """Delete one dead letter, or all."""
        sql = f"DELETE FROM {self.table} WHERE state = 'dead' AND (? IS NULL OR id = ?)"
        return await self._run(_update, self, sql, (entry_id, entry_id))

    async def status(self: _Store) -> OutboxStatus:
        """Counts per integration."""
        return await self._run(_status, self)
