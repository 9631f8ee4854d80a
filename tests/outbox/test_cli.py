"""``portico outbox ...`` and ``portico relay`` on a real SQLite outbox and the fake vendors."""

from __future__ import annotations

import asyncio

import pytest

from adapters.outbox.sqlite import SqliteOutbox
from app.cli import main
from domain.commands import SendMessage
from domain.messaging import TemplateMessage, TextMessage


@pytest.fixture
def outbox_path(tmp_path, monkeypatch):
    """The container's outbox points at a private file."""
    path = tmp_path / "cli.sqlite3"
    monkeypatch.setenv("PORTICO_OUTBOX__PATH", str(path))
    return path


def _enqueue(path, *commands):
    async def go():
        box = SqliteOutbox(path)
        ids = [await box.enqueue(c) for c in commands]
        await box.close()
        return ids

    return asyncio.run(go())


def test_relay_drains_and_the_cli_reports_and_repairs(outbox_path, capsys):
    """relay delivers what it can; status, dead, requeue and purge show and fix the rest."""
    _, dead_id = _enqueue(
        outbox_path,
        SendMessage(TemplateMessage("+40712345678", "reminder")),
        SendMessage(TextMessage("+40799999999", "free text outside the window")),
    )
    assert main(["health", "--format", "text"]) == 0
    assert "outbox: 2 pending (0 in flight), 0 dead" in capsys.readouterr().out

    assert main(["relay", "--until-idle"]) == 0
    assert "relay: delivered 1, retried 0, dead 1" in capsys.readouterr().err

    assert main(["outbox", "status"]) == 0
    status = capsys.readouterr().out
    assert status.splitlines()[1].split() == ["messaging", "0", "0", "1", "1", "-"]

    assert main(["outbox", "dead"]) == 0
    listing = capsys.readouterr().out
    assert dead_id in listing
    assert "131047" in listing
    assert "free text" not in listing
    assert "799999999" not in listing

    assert main(["outbox", "requeue", dead_id]) == 0
    assert main(["outbox", "requeue", dead_id]) == 1  # no longer a dead letter
    capsys.readouterr()
    assert main(["outbox", "status"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[1] == "1"


def test_purge_all_and_bad_configuration(outbox_path, capsys, monkeypatch):
    """purge --all empties dead letters; a bad outbox.kind fails with a clear message."""
    _enqueue(outbox_path, SendMessage(TextMessage("+40799999999", "x")))
    assert main(["relay", "--until-idle"]) == 0
    assert main(["outbox", "purge", "--all"]) == 0
    assert "purged 1 dead letter(s)" in capsys.readouterr().out
    monkeypatch.setenv("PORTICO_OUTBOX__KIND", "mongodb")
    assert main(["outbox", "status"]) == 1
    assert "outbox.kind must be 'sqlite' or 'postgres'" in capsys.readouterr().err
