"""The SQLite plumbing the embedded stores and the outbox share: WAL on open, one worker thread."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from portico.adapters.sqlite_worker import SQLiteWorker, open_wal


def test_open_wal_sets_the_journal_and_synchronous_modes(tmp_path: Path) -> None:
    """A fresh file comes back in WAL mode with the asked durability, after the setup ran."""
    conn = open_wal(
        tmp_path / "db.sqlite3",
        busy_timeout=1.0,
        synchronous="NORMAL",
        setup=lambda c: c.execute("CREATE TABLE t (x)"),
    )
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone() == (1000,)
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        conn.close()


def test_open_wal_raises_a_setup_error_that_is_not_a_lock(tmp_path: Path) -> None:
    """Only "locked" is retried: a broken schema fails at once."""

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE")

    with pytest.raises(sqlite3.OperationalError, match=r"incomplete input|syntax"):
        open_wal(tmp_path / "db.sqlite3", busy_timeout=30.0, synchronous="FULL", setup=broken)


async def test_worker_opens_once_and_runs_everything_on_one_thread(tmp_path: Path) -> None:
    """Every call runs on the same named thread, never the event loop's, on one connection."""
    opened: list[sqlite3.Connection] = []

    def opener() -> sqlite3.Connection:
        conn = open_wal(tmp_path / "db.sqlite3", busy_timeout=1.0, synchronous="FULL")
        opened.append(conn)
        return conn

    worker = SQLiteWorker(opener, name="TestStore", thread_name="portico-test")
    names = {await worker.run(lambda: threading.current_thread().name) for _ in range(5)}
    first = await worker.run(worker.connection)
    second = await worker.run(worker.connection)
    await worker.close()
    assert len(names) == 1
    assert names.pop().startswith("portico-test")
    assert first is second
    assert opened == [first]


async def test_closed_worker_refuses_work_and_closes_twice_harmlessly(tmp_path: Path) -> None:
    """After close, work is a clear RuntimeError naming the owner; a second close is a no-op."""
    worker = SQLiteWorker(
        lambda: open_wal(tmp_path / "db.sqlite3", busy_timeout=1.0, synchronous="FULL"),
        name="TestStore",
        thread_name="portico-test",
    )
    await worker.run(worker.connection)
    await worker.close()
    await worker.close()
    with pytest.raises(RuntimeError, match="TestStore is closed"):
        await worker.run(worker.connection)


@pytest.mark.parametrize("field", ["retention_seconds", "purge_every"])
def test_stores_with_retention_refuse_non_positive_settings(tmp_path: Path, field: str) -> None:
    """Both retaining SQLite stores refuse a zero retention or purge interval, naming it."""
    from portico.adapters.stores.sqlite import SQLiteReplayStore
    from portico.adapters.whatsapp.status_sqlite import SQLiteDeliveryStatusStore

    zero: dict[str, Any] = {field: 0}
    for store in (SQLiteReplayStore, SQLiteDeliveryStatusStore):
        with pytest.raises(ValueError, match=field):
            store(tmp_path / "x.sqlite3", **zero)
