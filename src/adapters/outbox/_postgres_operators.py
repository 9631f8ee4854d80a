"""
The operators' side of `PostgresOutbox`: look an entry up, list, requeue and purge dead letters,
count the backlog. Mixed into the store, which supplies the connection (`_exec`) and the clocks.
"""

# ruff: noqa: S608 - spliced fragments are constants of this module; names go through sql.Identifier
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from psycopg import sql

from ...domain.outbox import OutboxEntry, OutboxStatus
from ._rows import COLUMNS, backlog, to_entry


__all__ = ["LEASE_NOW", "PostgresOperators"]

_COLS = sql.SQL(COLUMNS)
# Lease times: the injected clock when a test passes one, else the database's clock.
LEASE_NOW = "COALESCE(%(lease_now)s::double precision, extract(epoch FROM now())::double precision)"


class _Store(Protocol):
    """What the operator actions need from the store they are mixed into."""

    _t: sql.Identifier
    _clock: Callable[[], float]
    _lease_clock: Callable[[], float] | None

    async def _exec(
        self, query: sql.SQL | sql.Composed, params: Any = ()
    ) -> list[tuple[Any, ...]]: ...


async def _select(store: _Store, where: str, params: tuple[Any, ...]) -> list[OutboxEntry]:
    query = sql.SQL("SELECT {cols} FROM {t} " + where).format(cols=_COLS, t=store._t)
    return [to_entry(r) for r in await store._exec(query, params)]


async def _update(store: _Store, text: str, params: tuple[Any, ...]) -> int:
    rows = await store._exec(sql.SQL(text).format(t=store._t), params)
    return int(rows[0][0])


class PostgresOperators:
    """Operator actions on the outbox table (see `ports.outbox.Outbox`)."""

    __slots__ = ()

    async def get(self: _Store, entry_id: str) -> OutboxEntry | None:
        """The entry with this id, or None."""
        found = await _select(self, "WHERE id = %s", (entry_id,))
        return found[0] if found else None

    async def dead_letters(
        self: _Store, *, limit: int = 100, integration: str | None = None
    ) -> list[OutboxEntry]:
        """Dead letters, oldest first."""
        where = (
            "WHERE state = 'dead' AND (%s::text IS NULL OR integration = %s) ORDER BY seq LIMIT %s"
        )
        return await _select(self, where, (integration, integration, limit))

    async def requeue(self: _Store, entry_id: str) -> bool:
        """Make one dead letter pending again with its attempts reset."""
        text = (
            "UPDATE {t} SET state = 'pending', attempts = 0, available_at = %s, "
            "finished_at = NULL, lease_token = NULL, lease_until = NULL "
            "WHERE id = %s AND state = 'dead'"
        )
        return await _update(self, text, (self._clock(), entry_id)) == 1

    async def requeue_all(self: _Store, *, integration: str | None = None) -> int:
        """Requeue every dead letter (of one integration)."""
        text = (
            "UPDATE {t} SET state = 'pending', attempts = 0, available_at = %s, "
            "finished_at = NULL, lease_token = NULL, lease_until = NULL "
            "WHERE state = 'dead' AND (%s::text IS NULL OR integration = %s)"
        )
        return await _update(self, text, (self._clock(), integration, integration))

    async def purge_dead(self: _Store, entry_id: str | None = None) -> int:
        """Delete one dead letter, or all."""
        text = "DELETE FROM {t} WHERE state = 'dead' AND (%s::text IS NULL OR id = %s)"
        return await _update(self, text, (entry_id, entry_id))

    async def status(self: _Store) -> OutboxStatus:
        """Counts per integration."""
        now = self._clock()
        query = sql.SQL(
            "SELECT integration, state, COUNT(*), "
            "SUM(CASE WHEN lease_until > " + LEASE_NOW + " THEN 1 ELSE 0 END), MIN(enqueued_at) "
            "FROM {t} GROUP BY integration, state"
        ).format(t=self._t)
        lease_now = None if self._lease_clock is None else self._lease_clock()
        return backlog(now, await self._exec(query, {"lease_now": lease_now}))
