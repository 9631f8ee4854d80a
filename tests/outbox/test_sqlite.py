"""SQLite specifics: the transactional form on the host app's connection, and WAL mode."""

from __future__ import annotations

import sqlite3

from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.domain.commands import AddNote


async def test_enqueue_with_commits_or_rolls_back_with_the_host_transaction(tmp_path):
    """enqueue_with writes in the caller's transaction: rollback leaves nothing behind."""
    path = tmp_path / "app.sqlite3"
    box = SqliteOutbox(path)
    await box.status()  # creates the schema
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE bookings (id INTEGER)")
    conn.commit()
    conn.execute("INSERT INTO bookings VALUES (1)")
    box.enqueue_with(conn, AddNote("c1", "booked"))
    conn.rollback()
    assert (await box.status()).pending == 0
    conn.execute("INSERT INTO bookings VALUES (2)")
    entry_id = box.enqueue_with(conn, AddNote("c1", "booked again"))
    conn.commit()
    conn.close()
    assert (await box.get(entry_id)) is not None
    assert (await box.status()).pending == 1
    await box.close()


async def test_the_file_is_in_wal_mode(tmp_path):
    """The outbox file uses write-ahead logging, so readers never block the relay's writes."""
    path = tmp_path / "o.sqlite3"
    box = SqliteOutbox(path)
    await box.enqueue(AddNote("c1", "x"))
    await box.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
