"""A failing outbox store reaches callers as `Unavailable`, never as a raw driver exception."""

from __future__ import annotations

import logging
import uuid

import psycopg
import pytest

from portico.adapters.outbox.postgres import PostgresOutbox
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.domain.commands import SendMessage
from portico.domain.errors import Unavailable
from portico.domain.messaging import TextMessage
from tests.conftest import free_port


def _command() -> SendMessage:
    return SendMessage(TextMessage("+40712345678", "Your appointment is at 10:00"))


async def test_an_unopenable_sqlite_file_is_unavailable_without_the_path(tmp_path, caplog) -> None:
    """A path SQLite cannot open raises Unavailable (outbox, not sent); the path is only logged."""
    box = SqliteOutbox(tmp_path)  # a directory: "unable to open database file"
    caplog.set_level(logging.WARNING, logger="portico.outbox")
    with pytest.raises(Unavailable) as caught:
        await box.enqueue(_command())
    await box.close()
    err = caught.value
    assert err.integration == "outbox"
    assert err.request_sent is False
    assert str(tmp_path) not in str(err)
    assert "INSERT" not in str(err)
    assert str(tmp_path) in caplog.text
    assert "appointment" not in caplog.text


async def test_an_uncreatable_sqlite_directory_is_unavailable(tmp_path) -> None:
    """A parent path that is a file (mkdir fails with OSError) also raises Unavailable."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    box = SqliteOutbox(blocker / "o.sqlite3")
    with pytest.raises(Unavailable, match="outbox"):
        await box.status()
    await box.close()


async def test_an_unreachable_postgres_is_unavailable_without_the_url() -> None:
    """A refused PostgreSQL connection raises Unavailable whose message names no host or port."""
    port = free_port()
    box = PostgresOutbox(f"postgresql://postgres:s3cret@127.0.0.1:{port}/postgres")
    with pytest.raises(Unavailable) as caught:
        await box.enqueue(_command())
    await box.close()
    assert caught.value.integration == "outbox"
    assert caught.value.request_sent is False
    assert str(port) not in str(caught.value)
    assert "s3cret" not in str(caught.value)


async def test_a_postgres_sql_error_is_unavailable_with_its_sqlstate(postgres_url, caplog) -> None:
    """A statement the server refuses (the table was dropped) raises Unavailable with SQLSTATE."""
    table = f"gone_{uuid.uuid4().hex[:8]}"
    box = PostgresOutbox(postgres_url, table=table)
    await box.status()  # creates the table
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        await conn.execute(f"DROP TABLE {table}")
    caplog.set_level(logging.WARNING, logger="portico.outbox")
    with pytest.raises(Unavailable) as caught:
        await box.enqueue(_command())
    await box.close()
    assert caught.value.vendor_code == "42P01"  # undefined_table
    assert table not in str(caught.value)
    assert "appointment" not in caplog.text
