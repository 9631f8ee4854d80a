"""``portico webhooks failed|resolve|replay``: operate the durable failed-event log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from portico.adapters.failed_events.sqlite import SQLiteFailedEventLog
from portico.app.entrypoints.cli import main
from portico.domain.failed_events import FailedEvent


PATIENT = "Jane Doe +15551234567"


@pytest.fixture(name="log_path")
def _log_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The failed-event log and replay store configured into tmp_path through variables."""
    path = tmp_path / "failed.sqlite3"
    monkeypatch.setenv("PORTICO_WEBHOOKS__FAILED_EVENTS__PATH", str(path))
    monkeypatch.setenv("PORTICO_WEBHOOKS__REPLAY__KIND", "memory")
    monkeypatch.delenv("PORTICO_ENVIRONMENT", raising=False)
    monkeypatch.delenv("PORTICO_CONFIG_FILE", raising=False)
    return path


def _seed(path: Path) -> None:
    async def seed() -> None:
        async with SQLiteFailedEventLog(path) as log:
            await log.record(
                FailedEvent(
                    provider="stripe",
                    event_id="evt_9",
                    event_type="PaymentSucceeded",
                    handler="PaymentCollection.on_paid",
                    error="NotFound",
                    reason="NotFound from crm",
                    first_failed_at=1.0,
                    last_failed_at=2.0,
                    body=PATIENT.encode(),
                )
            )

    asyncio.run(seed())


def test_failed_lists_then_resolve_clears(log_path: Path, capsys: pytest.CaptureFixture[str]):
    """`failed` lists the record without its body; `resolve` marks it handled once."""
    _seed(log_path)
    assert main(["webhooks", "failed"]) == 0
    listed = capsys.readouterr().out
    assert "stripe:evt_9  PaymentSucceeded" in listed
    assert "NotFound from crm" in listed
    assert "1 failed event(s)" in listed
    assert "Jane" not in listed
    assert main(["webhooks", "resolve", "stripe:evt_9"]) == 0
    assert main(["webhooks", "resolve", "stripe:evt_9"]) == 1
    assert "already resolved" in capsys.readouterr().err
    assert main(["webhooks", "failed"]) == 0
    assert "0 failed event(s)" in capsys.readouterr().out
    assert main(["webhooks", "failed", "--all", "--format", "json"]) == 0
    assert '"resolved_at": ' in capsys.readouterr().out


def test_missing_log_is_not_created(log_path: Path, capsys: pytest.CaptureFixture[str]):
    """Listing or resolving against a log that does not exist yet never creates the file."""
    assert main(["webhooks", "failed"]) == 0
    assert main(["webhooks", "resolve", "stripe:x"]) == 1
    assert not log_path.exists()
    assert "no failed-event log yet" in capsys.readouterr().out


def test_replay_refuses_fake_environment(log_path: Path, capsys: pytest.CaptureFixture[str]):
    """Replay in the fake environment needs --allow-fake; an unknown id then exits 1."""
    _seed(log_path)
    assert main(["webhooks", "replay", "stripe:evt_9"]) == 2
    assert "--allow-fake" in capsys.readouterr().err
    assert main(["webhooks", "replay", "stripe:nope", "--allow-fake"]) == 1
    assert "not_found" in capsys.readouterr().err
