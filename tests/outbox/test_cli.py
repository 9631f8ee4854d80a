"""``portico outbox ...`` and ``portico relay`` on a real SQLite outbox and the fake vendors."""

from __future__ import annotations

import asyncio
import sys

import pytest

from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.app.entrypoints.cli import main
from portico.app.wiring.settings import load_settings
from portico.app.wiring.stores import build_outbox
from portico.domain.commands import SendMessage
from portico.domain.messaging import TemplateMessage, TextMessage


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

    assert main(["relay", "--until-idle", "--allow-fake"]) == 0
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
    assert main(["relay", "--until-idle", "--allow-fake"]) == 0
    assert main(["outbox", "purge", "--all"]) == 0
    assert "purged 1 dead letter(s)" in capsys.readouterr().out
    monkeypatch.setenv("PORTICO_OUTBOX__KIND", "mongodb")
    assert main(["outbox", "status"]) == 1
    err = capsys.readouterr().err
    assert "outbox.kind: 'mongodb' is not one of memory, sqlite, postgres" in err
    assert "PORTICO_OUTBOX__KIND" in err


def test_relay_refuses_the_fake_environment_without_allow_fake(outbox_path, capsys):
    """Without --allow-fake the relay leaves the outbox alone and says why."""
    _enqueue(outbox_path, SendMessage(TemplateMessage("+40712345678", "reminder")))
    assert main(["relay", "--until-idle"]) == 2
    assert "--allow-fake" in capsys.readouterr().err
    assert main(["outbox", "status"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:2] == ["messaging", "1"]


def _default_outbox(environment: str, **config: object) -> SqliteOutbox:
    """The outbox an environment gets when nothing names one (a webhook secret enables it)."""
    settings = load_settings(
        {"environment": environment, "webhooks": {"stripe": {"secret": "whsec_x"}}, **config},
        env={},
    )
    outbox = build_outbox(settings)
    assert isinstance(outbox, SqliteOutbox)
    return outbox


def test_each_environment_has_its_own_default_outbox_file(tmp_path):
    """fake, sandbox and production never share a default outbox file; fake alone is memory."""
    assert _default_outbox("fake").path == ":memory:"  # no data_dir: nothing on disk
    paths = {
        env: _default_outbox(env, data_dir=str(tmp_path)).path
        for env in ("fake", "sandbox", "production")
    }
    assert paths == {
        "fake": str(tmp_path / "portico-outbox.fake.sqlite3"),
        "sandbox": str(tmp_path / "portico-outbox.sandbox.sqlite3"),
        "production": str(tmp_path / "portico-outbox.sqlite3"),
    }
    assert _default_outbox("production").path == "portico-outbox.sqlite3"  # in "."


def test_the_data_dir_holds_the_fake_environments_outbox(tmp_path, monkeypatch, capsys):
    """PORTICO_DATA_DIR alone: the commands read <data_dir>/portico-outbox.fake.sqlite3."""
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("PORTICO_DATA_DIR", str(data))
    path = data / "portico-outbox.fake.sqlite3"
    _enqueue(path, SendMessage(TemplateMessage("+40712345678", "reminder")))
    assert main(["outbox", "status"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1].split()[:2] == ["messaging", "1"]
    assert str(path) in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.parametrize("action", [["status"], ["dead"]])
def test_reading_a_missing_outbox_creates_nothing(tmp_path, monkeypatch, capsys, action):
    """status and dead on a missing outbox say so, exit 0, and create no file or directory."""
    path = tmp_path / "not" / "there.sqlite3"
    monkeypatch.setenv("PORTICO_OUTBOX__PATH", str(path))
    assert main(["outbox", *action]) == 0
    captured = capsys.readouterr()
    assert f"no outbox at {path} yet" in captured.out
    assert str(path) in captured.err  # the store used, by absolute path
    assert not path.parent.exists()


def test_repairing_a_missing_outbox_fails_without_creating_it(tmp_path, monkeypatch, capsys):
    """requeue --all on a missing outbox exits 1 and leaves no file behind."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PORTICO_OUTBOX__PATH", "relative.sqlite3")
    assert main(["outbox", "requeue", "--all"]) == 1
    assert f"no outbox at {tmp_path / 'relative.sqlite3'} yet" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_status_opens_an_existing_outbox_read_only(outbox_path, capsys):
    """status reads the file without writing it (its bytes and mtime are unchanged)."""
    _enqueue(outbox_path, SendMessage(TemplateMessage("+40712345678", "reminder")))
    before = (outbox_path.read_bytes(), outbox_path.stat().st_mtime_ns)
    assert main(["outbox", "status"]) == 0
    assert (outbox_path.read_bytes(), outbox_path.stat().st_mtime_ns) == before
    assert f"SqliteOutbox at {outbox_path}" in capsys.readouterr().err


def _dead_letters(path, *reasons):
    """One dead letter per reason (each to its own patient); returns their ids."""

    async def go():
        box = SqliteOutbox(path)
        for i, _ in enumerate(reasons):
            await box.enqueue(SendMessage(TemplateMessage(f"+4072000000{i}", "receipt")))
        entries = await box.claim(limit=len(reasons), lease_seconds=60)
        for entry, reason in zip(entries, reasons, strict=True):
            await box.dead_letter(entry, reason=reason)
        await box.close()
        return [e.id for e in entries]

    return asyncio.run(go())


MAYBE_SENT = "outcome unknown, not resent (the vendor may have applied it): timeout"


def test_requeue_all_skips_maybe_sent_dead_letters_and_says_why(outbox_path, capsys):
    """--all requeues the safe dead letter, skips the maybe-sent one; the flag takes both."""
    safe, maybe = _dead_letters(outbox_path, "vendor said 131047", MAYBE_SENT)
    assert main(["outbox", "requeue", "--all"]) == 0
    out = capsys.readouterr().out
    assert "requeued 1 dead letter(s)" in out
    assert "skipped 1 'maybe sent' dead letter(s)" in out
    assert "duplicate" in out
    assert main(["outbox", "dead"]) == 0
    listing = capsys.readouterr().out
    assert maybe in listing
    assert safe not in listing
    assert main(["outbox", "requeue", "--all", "--include-maybe-sent"]) == 0
    assert "requeued 1 dead letter(s)" in capsys.readouterr().out


def test_requeue_one_maybe_sent_dead_letter_needs_force(outbox_path, capsys):
    """A single maybe-sent id is refused (exit 1, reason given) until --force."""
    (maybe,) = _dead_letters(outbox_path, "outcome unknown after lease expiry (maybe sent)")
    assert main(["outbox", "requeue", maybe]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["outbox", "requeue", maybe, "--force"]) == 0
    assert "requeued 1 dead letter(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["relay", "--until-idle", "--batch-size", "0"],
        ["relay", "--batch-size", "-3"],
        ["relay", "--batch-size", "many"],
        ["outbox", "dead", "--limit", "0"],
    ],
)
def test_count_options_must_be_positive_integers(argv, capsys):
    """A zero, negative or non-numeric count is a usage error (exit 2), never an endless loop."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "positive integer" in err or "not an integer" in err


def test_relay_progress_ends_its_line_before_the_final_report(monkeypatch, capsys):
    """Progress then final: separate lines off a TTY; on a TTY the \\r-line is ended first."""
    from portico.app.entrypoints.commands.outbox import _Progress
    from portico.app.services.outbox_relay import RelayStats

    progress = _Progress()
    progress(RelayStats(delivered=1))
    progress(RelayStats(delivered=2), final=True)
    assert capsys.readouterr().err.splitlines() == [
        "relay: delivered 1, retried 0, dead 0, paused 0",
        "relay: delivered 2, retried 0, dead 0, paused 0",
    ]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    progress = _Progress()
    progress(RelayStats(paused=1))
    progress(RelayStats(delivered=3), final=True)
    assert capsys.readouterr().err == (
        "\rrelay: delivered 0, retried 0, dead 0, paused 1\n"
        "relay: delivered 3, retried 0, dead 0, paused 0\n"
    )
