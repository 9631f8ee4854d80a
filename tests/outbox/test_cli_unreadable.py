"""
``portico outbox status|dead`` and ``portico relay --until-idle`` on a store they cannot read:
one line on stderr and exit 1, never a traceback, never "empty" and never a relay that spins.

Only a path where nothing exists is a new, empty outbox.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.app.entrypoints.cli import main
from portico.domain.commands import SendMessage
from portico.domain.messaging import TemplateMessage
from tests.conftest import free_port


def _outbox_with_rows(path: Path, rows: int = 300) -> None:
    async def go() -> None:
        box = SqliteOutbox(path)
        for i in range(rows):
            await box.enqueue(SendMessage(TemplateMessage("+40712345678", f"reminder_{i}")))
        await box.close()

    asyncio.run(go())


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _directory(path: Path) -> None:
    path.mkdir()


def _not_sqlite(path: Path) -> None:
    path.write_bytes(b"this is a spreadsheet, not a database\n" * 200)


def _another_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()


def _corrupt(path: Path) -> None:
    """A real outbox whose pages after the first were overwritten: SQLite says malformed."""
    _outbox_with_rows(path)
    data = bytearray(path.read_bytes())
    page = 4096
    data[page:] = b"\xa5" * (len(data) - page)
    path.write_bytes(bytes(data))


NOT_AN_OUTBOX: dict[str, tuple[Callable[[Path], None], str]] = {
    "zero_byte_file": (_zero_bytes, "no table portico_outbox"),
    "directory": (_directory, "it is a directory"),
    "not_sqlite": (_not_sqlite, "not an SQLite database"),
    "another_database": (_another_database, "no table portico_outbox"),
}


@pytest.mark.parametrize("action", ["status", "dead"])
@pytest.mark.parametrize(("make", "says"), NOT_AN_OUTBOX.values(), ids=list(NOT_AN_OUTBOX))
def test_something_that_is_no_outbox_is_reported_and_exits_1(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    action: str,
    make: Callable[[Path], None],
    says: str,
) -> None:
    """A 0-byte file, a directory, a non-database, another program's database: not an outbox."""
    path = tmp_path / "outbox.sqlite3"
    make(path)
    monkeypatch.setenv("PORTICO_OUTBOX__PATH", str(path))
    assert main(["outbox", action]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    problem = captured.err.splitlines()[-1]
    assert problem.startswith(f"portico outbox {action}: {path} is not a Portico outbox")
    assert says in problem
    assert "Traceback" not in captured.err


def test_a_corrupt_outbox_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pages overwritten: "cannot read", the store named, no traceback."""
    path = tmp_path / "outbox.sqlite3"
    _corrupt(path)
    monkeypatch.setenv("PORTICO_OUTBOX__PATH", str(path))
    assert main(["outbox", "status"]) == 1
    err = capsys.readouterr().err
    assert f"portico outbox status: cannot read SqliteOutbox at {path}" in err
    assert "unavailable: DatabaseError" in err
    assert "Traceback" not in err


def test_an_unreachable_postgres_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listens on the server's port: exit 1 with the store named, no password shown."""
    pytest.importorskip("psycopg")
    url = f"postgresql://portico:hunter2@127.0.0.1:{free_port()}/portico"
    monkeypatch.setenv("PORTICO_OUTBOX__KIND", "postgres")
    monkeypatch.setenv("PORTICO_OUTBOX__POSTGRES_URL", url)
    assert main(["outbox", "status"]) == 1
    err = capsys.readouterr().err
    assert "portico outbox status: cannot read PostgresOutbox at" in err
    assert "hunter2" not in err
    assert "Traceback" not in err


def test_health_reports_a_zero_byte_outbox_as_unhealthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``portico health`` reads the same store: not an outbox is unhealthy, not "empty"."""
    path = tmp_path / "outbox.sqlite3"
    path.write_bytes(b"")
    monkeypatch.setenv("PORTICO_OUTBOX__PATH", str(path))
    assert main(["health"]) == 1
    out = capsys.readouterr().out
    assert f"outbox: {path} is not a Portico outbox" in out
    assert "empty" not in out


def _relay(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PORTICO_OUTBOX__PATH": str(path), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "portico", "relay", "--until-idle", "--allow-fake"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,  # the old relay retried forever: this would expire
        check=False,
    )


@pytest.mark.parametrize(
    "make", [_corrupt, _directory, _not_sqlite], ids=["corrupt", "directory", "not_sqlite"]
)
def test_relay_until_idle_on_an_unreadable_store_exits_1_at_once(
    tmp_path: Path, make: Callable[[Path], None]
) -> None:
    """The relay reads the store before it starts: exit 1 with one line, nothing retried."""
    path = tmp_path / "outbox.sqlite3"
    make(path)
    done = _relay(path)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("portico relay: cannot read SqliteOutbox at")
    assert "retrying" not in done.stderr
    assert "Traceback" not in done.stderr


def test_relay_until_idle_on_a_zero_byte_file_starts_a_new_outbox(tmp_path: Path) -> None:
    """The relay creates its outbox: a 0-byte file is SQLite's new database, drained at once."""
    path = tmp_path / "outbox.sqlite3"
    path.write_bytes(b"")
    done = _relay(path)
    assert done.returncode == 0, done.stderr
    assert path.stat().st_size > 0  # the schema is in it now
