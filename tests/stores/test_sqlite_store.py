"""The SQLite replay store: durable across restarts, WAL, and never blocking the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from portico.adapters.fakes import FakeClock
from portico.adapters.stores.sqlite import SQLiteReplayStore
from portico.domain.webhooks import ClaimOutcome


async def test_completion_survives_a_restart(tmp_path: Path) -> None:
    """Close the store, open the file again: a completed key is still a DUPLICATE."""
    path = tmp_path / "replay.sqlite3"
    async with SQLiteReplayStore(path) as store:
        claim = await store.claim("evt_1", lease_seconds=30)
        assert claim.outcome is ClaimOutcome.CLAIMED
        await store.complete(claim)
    async with SQLiteReplayStore(path) as reopened:
        assert (await reopened.claim("evt_1", lease_seconds=30)).outcome is ClaimOutcome.DUPLICATE
        assert (await reopened.claim("evt_2", lease_seconds=30)).outcome is ClaimOutcome.CLAIMED


async def test_a_crashed_workers_claim_is_retried_after_restart(tmp_path: Path) -> None:
    """A claim left by a process that died is taken over once its lease ran out."""
    clock = FakeClock()
    path = tmp_path / "replay.sqlite3"
    async with SQLiteReplayStore(path, clock=clock) as store:
        await store.claim("evt_1", lease_seconds=30)
    clock.advance(31)
    async with SQLiteReplayStore(path, clock=clock) as reopened:
        assert (await reopened.claim("evt_1", lease_seconds=30)).outcome is ClaimOutcome.CLAIMED


async def test_database_is_in_wal_mode(tmp_path: Path) -> None:
    """The file uses write-ahead logging, so readers never block the writer."""
    path = tmp_path / "replay.sqlite3"
    async with SQLiteReplayStore(path) as store:
        await store.claim("evt_1", lease_seconds=30)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_event_loop_keeps_running_while_sqlite_waits_for_a_lock(tmp_path: Path) -> None:
    """A claim waiting on another process's write lock does not stall other coroutines."""
    path = tmp_path / "replay.sqlite3"
    async with SQLiteReplayStore(path) as store:
        await store.claim("warm-up", lease_seconds=30)
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # hold the write lock, as a busy peer would
        claim = asyncio.create_task(store.claim("evt_1", lease_seconds=30))
        ticks = 0
        while ticks < 20:
            await asyncio.sleep(0)
            ticks += 1
        assert not claim.done()  # still waiting on the lock, yet this loop kept ticking
        blocker.execute("COMMIT")
        blocker.close()
        assert (await claim).outcome is ClaimOutcome.CLAIMED


async def test_purge_deletes_only_expired_rows(tmp_path: Path) -> None:
    """Expired claims and completions are deleted; live ones stay."""
    clock = FakeClock()
    async with SQLiteReplayStore(tmp_path / "r.sqlite3", clock=clock, retention_seconds=100) as s:
        await s.claim("lease-short", lease_seconds=10)
        await s.complete(await s.claim("done", lease_seconds=10))
        await s.claim("lease-long", lease_seconds=1000)
        clock.advance(50)
        assert await s.purge() == 1
        assert (await s.claim("done", lease_seconds=10)).outcome is ClaimOutcome.DUPLICATE
        assert (await s.claim("lease-long", lease_seconds=10)).outcome is ClaimOutcome.IN_FLIGHT


async def test_closed_store_refuses_work(tmp_path: Path) -> None:
    """Using a closed store is a clear error, and closing twice is harmless."""
    store = SQLiteReplayStore(tmp_path / "r.sqlite3")
    await store.close()
    await store.close()
    with pytest.raises(RuntimeError, match="closed"):
        await store.claim("evt_1", lease_seconds=30)
