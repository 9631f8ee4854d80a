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
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from ...domain.commands import Command
from ...domain.outbox import OutboxEntry, OutboxStatus
from ...domain.time import SYSTEM_CLOCK, Clock, epoch_seconds
from ...ports.outbox import Outbox
from ..sqlite_worker import SQLiteWorker
from ._errors import store_unavailable
from ._rows import (
    ADDED_COLUMNS,
    COLUMNS,
    INSERTED,
    MODES,
    NewRow,
    OpenMode,
    OutboxNotFound,
    backlog,
    check_table_name,
    clip,
    clip_or_none,
    conflict,
    held,
    new_row,
    previous_holder,
    selected,
    to_entry,
)
from ._sqlite_open import open_sqlite


__all__ = ["OpenMode", "SqliteOutbox"]

T = TypeVar("T")
P = ParamSpec("P")
# Rows (or keys) per set-based statement: at most 3 parameters each, far below SQLite's 32,766.
_CHUNK = 500
# A claim's lease token, made in SQL as on PostgreSQL: 32 random hex digits, plus
# ``:<previous own>`` when the row still holds a token (`_rows`' token form: ``lease_expired``).
_NEW_LEASE = (
    "lower(hex(randomblob(16))) || COALESCE(':' || "
    "substr(lease_token, 1, instr(lease_token || ':', ':') - 1), '')"
)
# The rows of the ``open`` index: partial, so a delivery inserts no entry in it. SQLite uses a
# partial index only for a query whose WHERE has its term word for word, so every query over
# pending or dead rows says it too (``state = 'dead'`` alone would scan the table).
_OPEN = "state IN ('pending', 'dead')"
log = logging.getLogger("portico.outbox")


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    try:
        conn.execute(f"SELECT 1 FROM {name} LIMIT 0")
    except sqlite3.OperationalError:
        return False
    return True


def _heads_current(conn: sqlite3.Connection, table: str) -> bool:
    """The heads exist, keyed by ``seq`` (the current layout)."""
    schema, _, name = table.rpartition(".")
    info = (
        f"PRAGMA {schema}.table_info({name}_heads)"
        if schema
        else f"PRAGMA table_info({name}_heads)"
    )
    pk = [r[1] for r in conn.execute(info) if r[5]]
    return pk == ["seq"]


def _columns(conn: sqlite3.Connection, name: str) -> list[str]:
    return [d[0] for d in conn.execute(f"SELECT * FROM {name} LIMIT 0").description]


def _chunks(items: Sequence[T]) -> list[Sequence[T]]:
    """``items`` in slices of `_CHUNK`, for statements with one parameter group per item."""
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


def _marks(values: Sequence[object]) -> str:
    """``?, ?, ...``: one placeholder per value."""
    return ", ".join("?" * len(values))


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
        self._upgraded = False
        self._cols = COLUMNS

    def __repr__(self) -> str:
        return f"SqliteOutbox(path={self.path!r}, table={self.table!r}, mode={self.mode!r})"

    @property
    def location(self) -> str:
        """The absolute path of the file (``:memory:`` for a throwaway outbox)."""
        return self.path if self.path == ":memory:" else str(Path(self.path).resolve())

    # ------------------------------------------------------------ plumbing

    def _open(self) -> sqlite3.Connection:
        conn = open_sqlite(self.path, self.table, self.mode, self._busy_timeout)
        if self.mode != "read_only":  # ``existing`` never creates the outbox, but upgrades it
            self.create_schema(conn)
        self._upgraded = _has_table(conn, f"{self.table}_heads")
        self._cols = selected(_columns(conn, self.table))
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
                finished_at REAL,
                trace_context TEXT,
                correlation_id TEXT
            );
            CREATE INDEX IF NOT EXISTS {t}_line ON {t} (ordering_key, seq) WHERE state = 'pending';
            CREATE INDEX IF NOT EXISTS {t}_open ON {t} (state, integration, enqueued_at)
                WHERE {_OPEN};
            CREATE INDEX IF NOT EXISTS {t}_done ON {t} (finished_at) WHERE state = 'delivered';
            DROP INDEX IF EXISTS {t}_due;
            DROP INDEX IF EXISTS {t}_state;
            DROP INDEX IF EXISTS {t}_status;
            """
        )
        self._add_columns(conn)
        if _heads_current(conn, t) and _has_table(conn, f"{t}_counts"):
            return
        # An outbox of an earlier version (or a new one): add the heads and the delivered
        # counters, filled from the rows, in one write transaction (another process opening
        # the same file at the same time waits, then finds them). Heads are derived from the
        # rows, so heads of an earlier layout are dropped and rebuilt; the counters are kept.
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not _heads_current(conn, t):
                conn.execute(f"DROP TABLE IF EXISTS {t}_heads")
                # ``seq`` is the rowid: heads are stored in claim order, so a claim reading the
                # oldest heads reads adjacent pages (keyed by ordering key, as before, each
                # head was on a page of its own once the keys outnumbered a page: measured, 27
                # of the 53 pages each transaction of a batch of 32 distinct keys wrote at 100k
                # pending).
                conn.execute(
                    f"CREATE TABLE {t}_heads (seq INTEGER PRIMARY KEY, "
                    "ordering_key TEXT NOT NULL UNIQUE, integration TEXT NOT NULL, "
                    "due_at REAL NOT NULL, lease_until REAL)"
                )
                conn.execute(
                    f"INSERT INTO {t}_heads (ordering_key, seq, integration, due_at, lease_until) "
                    f"SELECT o.ordering_key, o.seq, o.integration, o.available_at, o.lease_until "
                    f"FROM {t} o WHERE o.state = 'pending' "
                    f"AND o.seq = (SELECT MIN(p.seq) FROM {t} p WHERE p.state = 'pending' "
                    "AND p.ordering_key = o.ordering_key)"
                )
            if not _has_table(conn, f"{t}_counts"):
                conn.execute(
                    f"CREATE TABLE {t}_counts (integration TEXT NOT NULL, "
                    "delivered INTEGER NOT NULL, PRIMARY KEY (integration))"
                )
                conn.execute(
                    f"INSERT INTO {t}_counts SELECT integration, COUNT(*) FROM {t} "
                    "WHERE state = 'delivered' GROUP BY integration"
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _add_columns(self, conn: sqlite3.Connection) -> None:
        """A table of an earlier version gains the nullable columns added since (old rows: NULL)."""
        if set(ADDED_COLUMNS) <= set(_columns(conn, self.table)):
            return
        conn.execute("BEGIN IMMEDIATE")  # another process upgrading the same file waits here
        try:
            have = _columns(conn, self.table)
            for column in ADDED_COLUMNS:
                if column not in have:
                    conn.execute(f"ALTER TABLE {self.table} ADD COLUMN {column} TEXT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # Heads: one row per ordering key with pending work, naming its oldest pending command (where
    # a claim's run of that key starts) and mirroring that command's due time and lease, so a
    # claim reads heads in order and, behind each, at most its run. Kept in the transaction of
    # every change to a pending row; the rows of a run share one lease, so the head recomputed
    # when a run's head is settled (the run's next row) mirrors that lease.

    def _offer(self, conn: sqlite3.Connection, seq: int, key: str, integ: str, due: float) -> None:
        """A row that just became pending: the head of its key unless an older one is."""
        h = f"{self.table}_heads"
        conn.execute(
            f"INSERT INTO {h} (ordering_key, seq, integration, due_at, lease_until) "
            "VALUES (?, ?, ?, ?, NULL) ON CONFLICT (ordering_key) DO UPDATE SET "
            "seq = excluded.seq, integration = excluded.integration, due_at = excluded.due_at, "
            f"lease_until = NULL WHERE excluded.seq < {h}.seq",
            (key, seq, integ, due),
        )

    def _refresh(self, conn: sqlite3.Connection, key: str) -> None:
        """Recompute the head of ``key`` after its head changed (outcome, requeue)."""
        self._refresh_many(conn, [key])

    def _refresh_many(self, conn: sqlite3.Connection, keys: Sequence[str]) -> None:
        """Recompute the heads of ``keys``: each key's oldest pending row, if it has one."""
        t = self.table
        for chunk in _chunks(keys):
            conn.execute(f"DELETE FROM {t}_heads WHERE ordering_key IN ({_marks(chunk)})", chunk)
            # One probe of the ``_line`` index per key: never the rows queued behind a head.
            conn.execute(
                f"INSERT INTO {t}_heads (ordering_key, seq, integration, due_at, lease_until) "
                f"SELECT ordering_key, seq, integration, available_at, lease_until FROM {t} "
                f"WHERE seq IN (SELECT (SELECT p.seq FROM {t} p WHERE p.state = 'pending' "
                "AND p.ordering_key = k.column1 ORDER BY p.seq LIMIT 1) "
                f"FROM (VALUES {', '.join(['(?)'] * len(chunk))}) k)",
                chunk,
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
        The row keeps the caller's W3C trace context and correlation id (`OutboxEntry`).
        """
        return self._insert(conn, new_row(command, self._clock(), delay))

    def _insert(self, conn: sqlite3.Connection, row: NewRow) -> str:
        cur = conn.execute(
            f"INSERT INTO {self.table} ({INSERTED}) VALUES ({', '.join('?' * len(row))}) "
            "ON CONFLICT (idempotency_key) DO NOTHING",
            row,
        )
        if cur.rowcount == 1:
            self._offer(conn, int(cur.lastrowid or 0), row[3], row[2], row[7])
            return row[0]
        found = conn.execute(
            f"SELECT id, payload FROM {self.table} WHERE idempotency_key = ?", (row[4],)
        ).fetchone()
        if found is None or found[1] != row[5]:
            raise conflict()
        return str(found[0])

    async def enqueue(self, command: Command, *, delay: float = 0.0) -> str:
        """Store ``command`` and commit; see `Outbox.enqueue`."""
        # The row is made here, not on the worker thread: the trace context and correlation id
        # are the caller's context variables.
        row = new_row(command, self._clock(), delay)
        return await self._run(self._write, lambda c: self._insert(c, row))

    # ------------------------------------------------------------ relay side

    def _claim(
        self,
        limit: int,
        lease_seconds: float,
        integrations: Collection[str] | None,
        per_key: int,
    ) -> list[OutboxEntry]:
        now = self._clock()
        t = self.table
        only = ""
        params: list[Any] = [now, now]
        if integrations is not None:
            if not integrations:
                return []
            only = f" AND h.integration IN ({','.join('?' * len(integrations))})"
            params.extend(integrations)
        params.append(limit)

        def tx(conn: sqlite3.Connection) -> list[OutboxEntry]:
            # Heads in order, each a primary-key lookup; a run's later rows come from the
            # ``_line`` index, at most ``per_key`` from the head: never the rest of the queue.
            # Set-based: a claim is four statements whatever its size.
            due = conn.execute(
                f"SELECT h.seq, h.ordering_key FROM {t}_heads h "
                f"WHERE h.due_at <= ? AND (h.lease_until IS NULL OR h.lease_until <= ?){only} "
                "ORDER BY h.seq LIMIT ?",
                params,
            ).fetchall()
            if not due:
                return []
            picks = [(0, seq, key) for seq, key in due]  # (position in run, seq, key)
            if per_key > 1:
                picks += self._runs_after(conn, due, per_key - 1, now)
            picks.sort()  # the round-robin cut: (position in run, seq)
            picks = picks[:limit]
            until = now + lease_seconds
            rows: list[Any] = []
            for chunk in _chunks([seq for _, seq, _ in picks]):
                # A row that still holds a token had a lease that ran out without an outcome:
                # its new token is ``<own>:<previous own>``.
                rows += conn.execute(
                    f"UPDATE {t} SET lease_token = {_NEW_LEASE}, lease_until = ?, "
                    f"attempts = attempts + 1 WHERE seq IN ({_marks(chunk)}) "
                    f"AND state = 'pending' RETURNING {COLUMNS}",
                    (until, *chunk),
                ).fetchall()
            for chunk in _chunks([key for position, _, key in picks if position == 0]):
                # The head's row mirrors the lease of the whole run.
                conn.execute(
                    f"UPDATE {t}_heads SET lease_until = ? WHERE ordering_key IN ({_marks(chunk)})",
                    (until, *chunk),
                )
            entries = (to_entry(r, lease_expired=":" in r[11]) for r in rows)
            return sorted(entries, key=lambda e: e.seq)

        return self._write(tx, durable=False)

    def _runs_after(
        self, conn: sqlite3.Connection, heads: list[Any], count: int, now: float
    ) -> list[tuple[int, int, str]]:
        """
        For each ``(seq, key)`` head, up to ``count`` pending rows after it, until one that is
        not due or is leased: ``(position, seq, key)``. One statement per chunk of heads, each
        head's rows read from the ``_line`` index (at most ``count`` of them).
        """
        t = self.table
        found: list[tuple[int, int, str]] = []
        for chunk in _chunks(heads):
            rows = conn.execute(
                f"WITH h(key, seq) AS (VALUES {', '.join(['(?, ?)'] * len(chunk))}) "
                f"SELECT h.key, o.seq, o.available_at, o.lease_until FROM h JOIN {t} o "
                f"ON o.seq IN (SELECT p.seq FROM {t} p WHERE p.state = 'pending' "
                "AND p.ordering_key = h.key AND p.seq > h.seq ORDER BY p.seq LIMIT ?) "
                "ORDER BY h.key, o.seq",
                [*(v for seq, key in chunk for v in (key, seq)), count],
            )
            key, position, stopped = None, 0, False
            for row_key, seq, due_at, leased_until in rows:
                if row_key != key:
                    key, position, stopped = row_key, 0, False
                position += 1
                stopped = (
                    stopped or due_at > now or (leased_until is not None and leased_until > now)
                )
                if not stopped:
                    found.append((position, seq, row_key))
        return found

    async def claim(
        self,
        *,
        limit: int,
        lease_seconds: float,
        integrations: Collection[str] | None = None,
        per_key: int = 1,
    ) -> list[OutboxEntry]:
        """Lease runs of due entries, up to ``per_key`` per ordering key; see `Outbox.claim`."""
        return await self._run(self._claim, limit, lease_seconds, integrations, per_key)

    def _finish(
        self, entry: OutboxEntry, sets: str, params: tuple[Any, ...], keep: str | None = None
    ) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                f"UPDATE {self.table} SET {sets}, lease_token = ?, lease_until = NULL "
                "WHERE id = ? AND state = 'pending' AND lease_token = ?",
                (*params, keep, entry.id, entry.lease_token),
            )
            if cur.rowcount != 1:
                return False
            self._refresh(conn, entry.ordering_key)
            return True

        return self._write(tx, durable=False)

    def _delivered(self, entries: Sequence[OutboxEntry], now: float) -> set[str]:
        """
        Record each entry's success in one write transaction; the ids recorded. Set-based: one
        UPDATE per chunk of entries (each row checks its own token), then each affected key's
        head is recomputed once, however many of its run were delivered.
        """
        t = self.table
        unique = list({e.id: e for e in entries}.values())

        def tx(conn: sqlite3.Connection) -> set[str]:
            recorded: set[str] = set()
            keys: set[str] = set()
            counts: Counter[str] = Counter()
            for chunk in _chunks(unique):
                values: list[Any] = []
                for e in chunk:
                    token = e.lease_token
                    values += (e.id, token, None if token is None else held(token))
                # One unique-index probe per id (`tests/outbox/test_heads.py` counts the steps).
                rows = conn.execute(
                    f"WITH v(id, token, held) AS (VALUES {', '.join(['(?, ?, ?)'] * len(chunk))}) "
                    f"UPDATE {t} SET state = 'delivered', finished_at = ?, last_error = NULL, "
                    f"lease_token = NULL, lease_until = NULL FROM v WHERE {t}.id = v.id AND ("
                    f"({t}.state = 'pending' AND {t}.lease_token = v.token) OR "
                    f"({t}.state = 'dead' AND {t}.lease_token = v.held)) "
                    f"RETURNING {t}.id, {t}.ordering_key, {t}.integration",
                    [*values, now],  # the SET's parameter follows the VALUES' in the text
                ).fetchall()
                for entry_id, key, integration in rows:
                    recorded.add(entry_id)
                    keys.add(key)
                    counts[integration] += 1
            self._refresh_many(conn, sorted(keys))
            conn.executemany(
                f"INSERT INTO {t}_counts VALUES (?, ?) ON CONFLICT (integration) "
                "DO UPDATE SET delivered = delivered + excluded.delivered",
                sorted(counts.items()),
            )
            return recorded

        return self._write(tx, durable=False)

    async def mark_delivered(self, entry: OutboxEntry) -> bool:
        """Record success under the current lease, or over a lease-expiry dead letter (`held`)."""
        return entry.id in await self._run(self._delivered, [entry], self._clock())

    async def mark_delivered_many(self, entries: Sequence[OutboxEntry]) -> set[str]:
        """`mark_delivered` for each of ``entries``, in one transaction; the ids recorded."""
        if not entries:
            return set()
        return await self._run(self._delivered, list(entries), self._clock())

    async def schedule_retry(
        self, entry: OutboxEntry, *, delay: float, error: str | None, attempted: bool = True
    ) -> bool:
        """Release the lease; due again after ``delay`` (``error`` None: the last one stays)."""
        back = "" if attempted else ", attempts = MAX(attempts - 1, 0)"
        sets = f"available_at = ?, last_error = COALESCE(?, last_error){back}"
        params = (self._clock() + max(delay, 0.0), clip_or_none(error))
        return await self._run(self._finish, entry, sets, params)

    async def dead_letter(self, entry: OutboxEntry, *, reason: str) -> bool:
        """Park as a dead letter with ``reason``."""
        sets = "state = 'dead', finished_at = ?, last_error = ?"
        params = (self._clock(), clip(reason))
        return await self._run(self._finish, entry, sets, params, previous_holder(entry))

    # ------------------------------------------------------------ operators

    def _select(self, where: str, params: tuple[Any, ...]) -> list[OutboxEntry]:
        rows = self._worker.connection().execute(
            f"SELECT {self._cols} FROM {self.table} {where}", params
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
        where = (
            f"WHERE {_OPEN} AND state = 'dead' AND (? IS NULL OR integration = ?) "
            "ORDER BY seq LIMIT ?"
        )
        return await self._run(self._select, where, (integration, integration, limit))

    def _update(self, sql: str, params: tuple[Any, ...]) -> int:
        return self._write(lambda c: c.execute(sql, params).rowcount)

    def _requeue(self, where: str, params: tuple[Any, ...]) -> int:
        sql = (
            f"UPDATE {self.table} SET state = 'pending', attempts = 0, available_at = ?, "
            "finished_at = NULL, lease_token = NULL, lease_until = NULL "
            f"WHERE {_OPEN} AND state = 'dead' AND {where} "
            "RETURNING seq, ordering_key, integration, available_at"
        )
        now = self._clock()

        def tx(conn: sqlite3.Connection) -> int:
            rows = conn.execute(sql, (now, *params)).fetchall()
            for seq, key, integ, due in rows:
                self._offer(conn, seq, key, integ, due)
            return len(rows)

        return self._write(tx)

    async def requeue(self, entry_id: str) -> bool:
        """Make one dead letter pending again with its attempts reset."""
        return await self._run(self._requeue, "id = ?", (entry_id,)) == 1

    async def requeue_all(self, *, integration: str | None = None) -> int:
        """Requeue every dead letter (of one integration)."""
        where = "(? IS NULL OR integration = ?)"
        return await self._run(self._requeue, where, (integration, integration))

    async def purge_dead(self, entry_id: str | None = None) -> int:
        """Delete one dead letter, or all."""
        sql = f"DELETE FROM {self.table} WHERE {_OPEN} AND state = 'dead' AND (? IS NULL OR id = ?)"
        return await self._run(self._update, sql, (entry_id, entry_id))

    async def purge_delivered(self, *, finished_before: float, limit: int) -> int:
        """Delete up to ``limit`` delivered entries finished before then, oldest first."""
        t = self.table
        sql = (
            f"DELETE FROM {t} WHERE seq IN (SELECT seq FROM {t} WHERE state = 'delivered' "
            "AND finished_at < ? ORDER BY finished_at LIMIT ?)"
        )
        return await self._run(self._update_relay, sql, (finished_before, limit))

    def _update_relay(self, sql: str, params: tuple[Any, ...]) -> int:
        return self._write(lambda c: c.execute(sql, params).rowcount, durable=False)

    def _status(self) -> OutboxStatus:
        now = self._clock()
        conn, t = self._worker.connection(), self.table
        if not self._upgraded:  # a read-only view of an outbox no relay has upgraded yet
            rows = conn.execute(
                f"SELECT integration, state, COUNT(*), "
                "SUM(CASE WHEN lease_until > ? THEN 1 ELSE 0 END), MIN(enqueued_at) "
                f"FROM {t} GROUP BY integration, state",
                (now,),
            )
            return backlog(now, rows.fetchall())
        # Pending and dead from the ``open`` index (delivered rows are not in it), leases from the
        # heads (one per leased key: `OutboxStatus.in_flight`), delivered from the counters.
        leased = dict(
            conn.execute(
                f"SELECT integration, COUNT(*) FROM {t}_heads WHERE lease_until > ? "
                "GROUP BY integration",
                (now,),
            ).fetchall()
        )
        found = [
            (integ, state, count, leased.get(integ, 0), oldest)
            for integ, state, count, oldest in conn.execute(
                f"SELECT integration, state, COUNT(*), MIN(enqueued_at) FROM {t} "
                f"WHERE {_OPEN} GROUP BY state, integration"
            )
        ]
        found += [
            (integ, "delivered", count, 0, None)
            for integ, count in conn.execute(f"SELECT integration, delivered FROM {t}_counts")
        ]
        return backlog(now, found)

    async def status(self) -> OutboxStatus:
        """Counts per integration."""
        return await self._run(self._status)

    async def close(self) -> None:
        """Close the connection and the worker thread; closing twice is harmless."""
        await self._worker.close()
