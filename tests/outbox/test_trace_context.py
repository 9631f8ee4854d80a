"""
Issue 16 across the outbox: a command keeps the W3C trace context and the correlation id of the
code that enqueued it, through SQLite (file and ``:memory:``) and PostgreSQL; tables made by an
earlier version gain the two columns when a writer opens them.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from portico.adapters.outbox.postgres import PostgresOutbox
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.telemetry import current_trace_context, link_to
from portico.domain.command_codec import encode_command
from portico.domain.commands import SendMessage
from portico.domain.correlation import correlated
from portico.domain.messaging import TextMessage
from portico.domain.values import IdempotencyKey, PhoneNumber
from portico.ports.outbox import Outbox
from tests.outbox.conftest import ManualClock


TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
# The columns of the outbox table before issue 16 (the DDL of the previous release, verbatim).
OLD_COLUMNS = """
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    integration TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    enqueued_at {real} NOT NULL,
    available_at {real} NOT NULL,
    lease_token TEXT,
    lease_until {real},
    last_error TEXT,
    finished_at {real}
"""


def _command(n: int = 1) -> SendMessage:
    text = TextMessage(PhoneNumber(f"+4071234567{n}"), f"Receipt {n}")  # one line per command
    return SendMessage(text, IdempotencyKey(f"receipt-{n}"))


@contextmanager
def _in_span(state: TraceState | None = None) -> Iterator[SpanContext]:
    """A current (remote-looking) span context, as a webhook's span would be; no SDK needed."""
    context = SpanContext(
        TRACE_ID, SPAN_ID, is_remote=False, trace_flags=TraceFlags(1), trace_state=state
    )
    with trace.use_span(NonRecordingSpan(context)):
        yield context


def _old_row(n: int, now: float) -> tuple[object, ...]:
    command = _command(n)
    return (
        uuid.uuid4().hex,
        command.kind,
        command.integration,
        command.ordering_key,
        command.idempotency_key.value,
        encode_command(command),
        now,
        now,
    )


OLD_INSERT = (
    "INSERT INTO {t} (id, kind, integration, ordering_key, idempotency_key, payload, "
    "enqueued_at, available_at) VALUES ({marks})"
)


@pytest.fixture(params=["sqlite-file", "sqlite-memory", "postgres"])
async def outbox(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[Outbox]:
    """One outbox of each kind, on a store private to the test."""
    box: Outbox
    if request.param == "postgres":
        table = f"t_{uuid.uuid4().hex[:10]}.outbox"
        box = PostgresOutbox(request.getfixturevalue("postgres_url"), table=table, clock=clock)
    elif request.param == "sqlite-memory":
        box = SqliteOutbox(":memory:", clock=clock)
    else:
        box = SqliteOutbox(tmp_path / "outbox.sqlite3", clock=clock)
    yield box
    await box.close()


class TestRoundTrip:
    """What the enqueuer's context was comes back with the claimed entry."""

    async def test_trace_context_and_correlation_id_come_back_with_the_claim(
        self, outbox: Outbox
    ) -> None:
        """traceparent, tracestate and the correlation id are stored and claimed intact."""
        state = TraceState([("portico", "t61rcWkgMzE")])
        with correlated("a1b2c3d4e5f60718"), _in_span(state) as enqueuer:
            entry_id = await outbox.enqueue(_command())
        (claimed,) = await outbox.claim(limit=5, lease_seconds=60)
        assert claimed.id == entry_id
        assert claimed.correlation_id == "a1b2c3d4e5f60718"
        assert claimed.trace_context is not None
        assert json.loads(claimed.trace_context) == {
            "traceparent": TRACEPARENT,
            "tracestate": "portico=t61rcWkgMzE",
        }
        (link,) = link_to(claimed.trace_context)
        assert (link.context.trace_id, link.context.span_id) == (TRACE_ID, SPAN_ID)
        assert link.context.trace_state == enqueuer.trace_state
        assert link.context.is_remote
        got = await outbox.get(entry_id)
        assert got is not None
        assert (got.trace_context, got.correlation_id) == (
            claimed.trace_context,
            claimed.correlation_id,
        )

    async def test_without_a_span_or_correlation_both_stay_null(self, outbox: Outbox) -> None:
        """No SDK, no span, no correlation: NULL in both columns, and no link."""
        await outbox.enqueue(_command())
        (claimed,) = await outbox.claim(limit=5, lease_seconds=60)
        assert (claimed.trace_context, claimed.correlation_id) == (None, None)
        assert link_to(claimed.trace_context) == []
        assert "trace_context" not in repr(claimed)  # reprs stay short

    async def test_a_duplicate_enqueue_keeps_the_first_context(self, outbox: Outbox) -> None:
        """The same command enqueued again under another context changes nothing stored."""
        with correlated("first"), _in_span():
            first = await outbox.enqueue(_command())
        with correlated("second"):
            assert await outbox.enqueue(_command()) == first
        got = await outbox.get(first)
        assert got is not None
        assert got.correlation_id == "first"


def test_an_unreadable_stored_context_is_no_link() -> None:
    """A hand-edited or truncated value never breaks a delivery: it just links nowhere."""
    for stored in ("", "{", "[1]", '{"traceparent": 7}', '{"traceparent": "00-zz"}'):
        assert link_to(stored) == []


def test_an_oversized_tracestate_is_dropped_and_the_traceparent_kept() -> None:
    """A tracestate past the W3C's 512 characters is not stored; the link still works."""
    state = TraceState([(f"v{i}", "x" * 30) for i in range(20)])
    with _in_span(state):
        stored = current_trace_context()
    assert stored is not None
    assert json.loads(stored) == {"traceparent": TRACEPARENT}


# ---------------------------------------------------------------- tables of an earlier version


def _old_sqlite(path: Path, table: str, now: float) -> str:
    """An outbox file as the previous release left it: its table, one pending command (its id)."""
    row = _old_row(1, now)
    with sqlite3.connect(path) as conn:
        conn.execute(
            f"CREATE TABLE {table} (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            + OLD_COLUMNS.format(real="REAL")
            + ")"
        )
        conn.execute(OLD_INSERT.format(t=table, marks=", ".join("?" * 8)), row)
    conn.close()
    return str(row[0])


def _sqlite_columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        names = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
    conn.close()
    return names


class TestOldSqliteTable:
    """A SQLite outbox of an earlier version is upgraded in place when a writer opens it."""

    async def test_a_writer_adds_the_columns_and_old_and_new_rows_work(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """The old row is claimed with NULLs; a new one keeps its context; both deliver."""
        path = tmp_path / "old.sqlite3"
        _old_sqlite(path, "portico_outbox", clock())
        box = SqliteOutbox(path, clock=clock, mode="existing")
        try:
            with correlated("c0ffee"), _in_span():
                await box.enqueue(_command(2))
            old, new = sorted(await box.claim(limit=5, lease_seconds=60), key=lambda e: e.seq)
            assert (old.trace_context, old.correlation_id) == (None, None)
            assert new.correlation_id == "c0ffee"
            assert link_to(new.trace_context)[0].context.trace_id == TRACE_ID
            assert await box.mark_delivered(old)
            assert await box.mark_delivered(new)
            assert (await box.status()).delivered == 2
        finally:
            await box.close()
        assert _sqlite_columns(path, "portico_outbox")[-2:] == ["trace_context", "correlation_id"]

    async def test_a_read_only_view_reads_an_old_table_without_changing_it(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """Operators' views of a file no relay upgraded yet read NULLs and write nothing."""
        path = tmp_path / "old.sqlite3"
        entry_id = _old_sqlite(path, "portico_outbox", clock())
        view = SqliteOutbox(path, clock=clock, mode="read_only")
        try:
            entry = await view.get(entry_id)
            assert entry is not None
            assert (entry.trace_context, entry.correlation_id) == (None, None)
            assert (await view.status()).pending == 1
        finally:
            await view.close()
        assert "trace_context" not in _sqlite_columns(path, "portico_outbox")

    async def test_relays_opening_an_old_file_at_once_upgrade_it_once(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """Four outboxes opening the same old file concurrently all work (no duplicate column)."""
        path = tmp_path / "old.sqlite3"
        _old_sqlite(path, "portico_outbox", clock())
        boxes = [SqliteOutbox(path, clock=clock) for _ in range(4)]
        try:
            statuses = await asyncio.gather(*(b.status() for b in boxes))
            assert [s.pending for s in statuses] == [1, 1, 1, 1]
        finally:
            for box in boxes:
                await box.close()
        assert _sqlite_columns(path, "portico_outbox").count("trace_context") == 1


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(name="old_postgres")
async def _old_postgres(postgres_url: str, clock: ManualClock) -> AsyncIterator[tuple[str, str]]:
    """A schema with an outbox table as the previous release made it: (table, its command's id)."""
    schema = f"old_{uuid.uuid4().hex[:10]}"
    table = f"{schema}.outbox"
    row = _old_row(1, clock())
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(
            f"CREATE TABLE {table} (seq BIGSERIAL PRIMARY KEY, "
            + OLD_COLUMNS.format(real="DOUBLE PRECISION")
            + ")"
        )
        await conn.execute(
            OLD_INSERT.format(t=table, marks=", ".join(["%s"] * 8)),
            row,
        )
    yield table, str(row[0])
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")


async def _pg_columns(url: str, table: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum",
            (table,),
        )
        return [row[0] for row in await cur.fetchall()]


class TestOldPostgresTable:
    """A PostgreSQL outbox table of an earlier version is upgraded when a writer connects."""

    async def test_a_writer_adds_the_columns_and_old_and_new_rows_work(
        self, postgres_url: str, old_postgres: tuple[str, str], clock: ManualClock
    ) -> None:
        """The old row is claimed with NULLs; a new one keeps its context; both deliver."""
        table, _ = old_postgres
        view = PostgresOutbox(postgres_url, table=table, clock=clock, mode="read_only")
        try:
            assert (await view.status()).pending == 1  # a view reads it, and changes nothing
        finally:
            await view.close()
        assert "trace_context" not in await _pg_columns(postgres_url, table)

        box = PostgresOutbox(postgres_url, table=table, clock=clock, mode="existing")
        try:
            with correlated("c0ffee"), _in_span():
                await box.enqueue(_command(2))
            old, new = await box.claim(limit=5, lease_seconds=60)
            assert (old.trace_context, old.correlation_id) == (None, None)
            assert new.correlation_id == "c0ffee"
            assert link_to(new.trace_context)[0].context.span_id == SPAN_ID
            assert await box.mark_delivered(old)
            assert await box.mark_delivered(new)
            assert (await box.status()).delivered == 2
        finally:
            await box.close()
        assert (await _pg_columns(postgres_url, table))[-2:] == ["trace_context", "correlation_id"]

    async def test_a_read_only_view_of_an_old_table_reads_nulls(
        self, postgres_url: str, old_postgres: tuple[str, str], clock: ManualClock
    ) -> None:
        """`get` on a table no writer upgraded yet returns the entry with NULL context."""
        table, entry_id = old_postgres
        view = PostgresOutbox(postgres_url, table=table, clock=clock, mode="read_only")
        try:
            entry = await view.get(entry_id)
        finally:
            await view.close()
        assert entry is not None
        assert (entry.trace_context, entry.correlation_id) == (None, None)

    async def test_a_host_transaction_enqueue_keeps_the_context(
        self, postgres_url: str, clock: ManualClock
    ) -> None:
        """``enqueue(connection=...)`` (the transactional outbox) stores the caller's context."""
        box = PostgresOutbox(postgres_url, table=f"t_{uuid.uuid4().hex[:10]}.outbox", clock=clock)
        try:
            await box.status()  # creates the table
            async with (
                await psycopg.AsyncConnection.connect(postgres_url) as conn,
                conn.transaction(),
            ):
                with correlated("host-req-7"), _in_span():
                    entry_id = await box.enqueue(_command(), connection=conn)
            entry = await box.get(entry_id)
        finally:
            await box.close()
        assert entry is not None
        assert entry.correlation_id == "host-req-7"
        assert link_to(entry.trace_context)[0].context.trace_id == TRACE_ID
