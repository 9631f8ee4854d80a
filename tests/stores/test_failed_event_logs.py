"""
Both failed-event logs keep `count` right through every change, and their hot path (record,
count, the memory log's eviction) costs the same however many records they hold (issue 14).
"""

from __future__ import annotations

import random
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest

from portico.adapters.failed_events.memory import MemoryFailedEventLog
from portico.adapters.failed_events.sqlite import SQLiteFailedEventLog
from portico.adapters.fakes import FakeClock
from portico.domain.failed_events import FailedEvent


if TYPE_CHECKING:
    from _typeshed import TraceFunction

Log = MemoryFailedEventLog | SQLiteFailedEventLog

# The records table as Portico created it before the counter existed.
_OLD_SCHEMA = """
CREATE TABLE portico_failed_events (
    id TEXT PRIMARY KEY, provider TEXT NOT NULL, event_id TEXT NOT NULL,
    event_type TEXT NOT NULL, handler TEXT NOT NULL, error TEXT NOT NULL, reason TEXT NOT NULL,
    first_failed_at REAL NOT NULL, last_failed_at REAL NOT NULL, attempts INTEGER NOT NULL,
    resolved_at REAL, url TEXT NOT NULL, content_type TEXT NOT NULL, body BLOB NOT NULL
);
CREATE INDEX portico_failed_events_open ON portico_failed_events (resolved_at, last_failed_at);
"""
_RAW_INSERT = (
    "INSERT INTO portico_failed_events VALUES (?, 'p', ?, 'Paid', 'h', 'E', 'E', ?, ?, 1, ?, "
    "'/webhooks/p', 'application/json', x'7b7d')"
)


def _failure(n: int, *, at: float = 0.0) -> FailedEvent:
    return FailedEvent(
        provider="p",
        event_id=str(n),
        event_type="Paid",
        handler="h",
        error="E",
        reason="E",
        first_failed_at=at or float(n),
        last_failed_at=at or float(n),
    )


def _raw_rows(start: int, stop: int, resolved_at: float | None = None) -> list[tuple[Any, ...]]:
    return [(f"p:{n}", str(n), float(n), float(n), resolved_at) for n in range(start, stop)]


async def _unresolved(log: Log) -> int:
    """The unresolved records, counted from the records themselves."""
    return sum(1 for e in await log.list(10**9, resolved=True) if not e.resolved)


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    return FakeClock(datetime.fromtimestamp(1_000, UTC))


@pytest.fixture(name="make_log", params=["memory", "sqlite"])
async def _make_log(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Callable[[], Log]]:
    made: list[Log] = []

    def make() -> Log:
        log: Log
        if request.param == "memory":
            log = MemoryFailedEventLog(max_entries=40, clock=clock)
        else:
            log = SQLiteFailedEventLog(tmp_path / "failed.sqlite3", clock=clock)
        made.append(log)
        return log

    yield make
    for log in made:
        await log.close()


async def test_count_follows_record_resolve_reopen_purge_and_eviction(
    make_log: Callable[[], Log], clock: FakeClock
) -> None:
    """After every step of a random mix of changes, `count` equals the unresolved records."""
    log = make_log()
    rng = random.Random(14)
    for step in range(400):
        n = rng.randrange(60)
        action = rng.random()
        if action < 0.5:
            await log.record(_failure(n, at=float(step + 1)))
        elif action < 0.85:
            await log.resolve(f"p:{n}")
        else:
            await log.purge(resolved_before=clock.now().timestamp() - rng.randrange(20))
        clock.advance(1)
        assert await log.count() == await _unresolved(log), step


async def test_the_memory_log_at_its_bound_evicts_the_longest_resolved_then_the_oldest() -> None:
    """Full, the memory log drops the first resolved, then the least recently recorded failure."""
    log = MemoryFailedEventLog(max_entries=3)
    for n in range(3):
        await log.record(_failure(n))
    assert await log.resolve("p:2")
    assert await log.resolve("p:1")
    await log.record(_failure(3))  # evicts p:2, resolved first
    await log.record(_failure(0, at=9.0))  # p:0 failed again: now the most recently recorded
    await log.record(_failure(4))  # evicts p:1, the last resolved one
    await log.record(_failure(5))  # no resolved left: evicts p:3, the oldest failure
    assert sorted(e.id for e in await log.list(resolved=True)) == ["p:0", "p:4", "p:5"]
    assert (await log.count(), log.evicted) == (3, 3)


async def test_an_older_sqlite_file_gains_its_counter_counted_from_its_rows(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A file of an earlier version is counted on open, and its count stays right afterwards."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(_OLD_SCHEMA)
        conn.executemany(_RAW_INSERT, _raw_rows(0, 30) + _raw_rows(30, 50, resolved_at=500.0))
    conn.close()
    async with SQLiteFailedEventLog(path, clock=clock) as log:
        assert await log.count() == 30
        await log.record(_failure(40))  # a resolved record reopened
        await log.record(_failure(0))  # an unresolved one failing again
        await log.record(_failure(99))  # a new one
        assert await log.resolve("p:1")
        assert await log.purge(resolved_before=600.0) == 19
        assert await log.count() == await _unresolved(log) == 31
    async with SQLiteFailedEventLog(path, clock=clock) as reopened:
        assert await reopened.count() == 31


async def test_rows_written_by_another_writer_of_the_file_are_counted(tmp_path: Path) -> None:
    """An older Portico (plain SQL) sharing the file changes rows: the count follows them."""
    path = tmp_path / "shared.sqlite3"
    async with SQLiteFailedEventLog(path) as log:
        assert await log.count() == 0
        with sqlite3.connect(path) as other:
            other.executemany(_RAW_INSERT, _raw_rows(0, 10))
            other.execute("UPDATE portico_failed_events SET resolved_at = 5 WHERE id = 'p:3'")
            other.execute("DELETE FROM portico_failed_events WHERE id IN ('p:3', 'p:4')")
        other.close()
        assert await log.count() == await _unresolved(log) == 8


# -- the hot path does not read the records ---------------------------------------------------


async def _sqlite_steps(path: Path, held: int, work: Callable[[Log], Awaitable[object]]) -> int:
    """SQLite VM steps (in thousands) of ``work`` on a log holding ``held`` unresolved records."""
    async with SQLiteFailedEventLog(path) as log:
        with sqlite3.connect(path) as conn:
            conn.executemany(_RAW_INSERT, _raw_rows(0, held))
        conn.close()
        steps = 0

        def tick() -> int:
            nonlocal steps
            steps += 1
            return 0

        def handler(on: bool) -> None:
            log._worker.connection().set_progress_handler(tick if on else None, 1000)

        await log._worker.run(handler, True)
        await work(log)
        await log._worker.run(handler, False)
        return steps


async def _records_and_counts(log: Log) -> None:
    for n in range(10**6, 10**6 + 50):
        await log.record(_failure(n))
        await log.count()


async def test_sqlite_record_and_count_cost_the_same_whatever_the_log_holds(
    tmp_path: Path,
) -> None:
    """SQLite's instruction count for records and counts does not grow from 1k to 50k records."""
    small = await _sqlite_steps(tmp_path / "small.sqlite3", 1_000, _records_and_counts)
    large = await _sqlite_steps(tmp_path / "large.sqlite3", 50_000, _records_and_counts)
    assert large < small * 1.5 + 2, (small, large)


def _python_lines(work: Callable[[], object]) -> int:
    """Python lines run by ``work`` (the memory log's cost, counted rather than timed)."""
    lines = 0

    def trace(frame: FrameType, event: str, arg: object) -> TraceFunction:
        nonlocal lines
        if event == "line":
            lines += 1
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        work()
    finally:
        sys.settrace(previous)
    return lines


async def _memory_lines(held: int) -> int:
    """Lines run by 50 records (each evicting one) and counts on a memory log at its bound."""
    log = MemoryFailedEventLog(max_entries=held)
    for n in range(held):
        await log.record(_failure(n))
    await log.resolve("p:0")
    coroutine = _records_and_counts(log)

    def run() -> None:
        try:
            coroutine.send(None)  # nothing in the memory log awaits: one send runs it all
        except StopIteration:
            return
        raise AssertionError("the memory log awaited")

    return _python_lines(run)


async def test_memory_record_eviction_and_count_cost_the_same_whatever_the_log_holds() -> None:
    """At its bound, a memory log's record (evicting one) and count run as many lines at 50k."""
    small = await _memory_lines(1_000)
    large = await _memory_lines(50_000)
    assert large < small * 1.5, (small, large)


# -- retention of resolved records -------------------------------------------------------------


async def test_the_sqlite_log_deletes_resolved_records_past_retention_and_keeps_the_rest(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Every ``purge_every`` writes, resolved records older than retention go; unresolved stay."""
    log = SQLiteFailedEventLog(
        tmp_path / "failed.sqlite3", clock=clock, retention_seconds=100, purge_every=4
    )
    async with log:
        for n in range(3):
            await log.record(_failure(n))
        assert await log.resolve("p:0")  # the 4th write: a purge, nothing past retention yet
        clock.advance(101)
        assert await log.resolve("p:1")  # resolved just now: within retention
        await log.record(_failure(3))
        await log.record(_failure(4))
        assert await log.get("p:0") is not None  # 7 writes: no purge due yet
        await log.record(_failure(5))  # the 8th write: p:0, resolved 101 s ago, goes
        assert await log.get("p:0") is None
        assert [e.id for e in await log.list(resolved=True)] == ["p:5", "p:4", "p:3", "p:2", "p:1"]
        assert await log.count() == await _unresolved(log) == 4


def test_a_retention_that_is_not_positive_is_refused_by_name(tmp_path: Path) -> None:
    """The log refuses to start with a retention or purge interval of zero, naming which."""
    with pytest.raises(ValueError, match="retention_seconds"):
        SQLiteFailedEventLog(tmp_path / "f.sqlite3", retention_seconds=0)
    with pytest.raises(ValueError, match="purge_every"):
        SQLiteFailedEventLog(tmp_path / "f.sqlite3", purge_every=0)
