"""
Health that alarms (review findings 5 and 12): dead letters and stale pending commands make
`portico health` exit 2 and show in ``GET /healthz/outbox``; bad ``--server`` URLs and closed
pipes end without a traceback.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from portico.adapters.fakes import FakeClock
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.app.entrypoints.asgi import create_webhook_app
from portico.app.entrypoints.cli import build_parser, main
from portico.app.wiring.container import create_container
from portico.domain.commands import SendMessage
from portico.domain.messaging import TemplateMessage
from portico.domain.outbox import OutboxStatus


SECRET_TEXT = "Dear Ana, your results"
HOUR = 3600.0


@pytest.fixture
def outbox_path(tmp_path, monkeypatch):
    """The container's outbox is a private file; the working directory is empty."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "health.sqlite3"
    monkeypatch.setenv("PORTICO_OUTBOX__PATH", str(path))
    return path


async def _fill(path: Path, *, dead: int = 0, pending_since: float | None = None) -> None:
    """``dead`` dead letters and, with ``pending_since``, one command pending since then."""
    box = SqliteOutbox(path)
    for i in range(dead):
        await box.enqueue(SendMessage(TemplateMessage(f"+4072000000{i}", "t")))  # one subject each
    for entry in await box.claim(limit=dead, lease_seconds=60) if dead else []:
        await box.dead_letter(entry, reason="vendor said no")
    await box.close()
    if pending_since is not None:
        old = SqliteOutbox(path, clock=FakeClock(datetime.fromtimestamp(pending_since, UTC)))
        await old.enqueue(SendMessage(TemplateMessage("+40799999999", "reminder")))
        await old.close()


def test_health_exits_2_with_dead_letters(outbox_path, capsys):
    """One dead letter: the report says degraded and why, exit code 2."""
    asyncio.run(_fill(outbox_path, dead=1))
    assert main(["health", "--format", "text"]) == 2
    out = capsys.readouterr().out
    assert "quality gate FAILED (exit 2)" in out
    assert "WARNING   dead_letters" in out
    assert "1 dead letter(s): see `portico outbox dead`" in out


def test_health_exits_2_when_a_command_waits_too_long(outbox_path, capsys):
    """A command pending for an hour is degraded at the default 15 minutes, fine at 2 hours."""
    asyncio.run(_fill(outbox_path, pending_since=asyncio.run(_now(outbox_path)) - HOUR))
    assert main(["health"]) == 2
    assert "is a relay running" in capsys.readouterr().out
    assert main(["health", "--max-pending-age", str(2 * HOUR)]) == 0


async def _now(path: Path) -> float:
    box = SqliteOutbox(path)
    try:
        return (await box.status()).now
    finally:
        await box.close()


def test_health_help_documents_the_exit_codes(capsys):
    """`portico health --help` lists 0, 1 and 2 with their meaning."""
    with pytest.raises(SystemExit):
        main(["health", "--help"])
    out = capsys.readouterr().out
    assert "2  degraded" in out
    assert "1  unhealthy" in out


@pytest.mark.parametrize("bad", ["0", "-5", "soon", "nan"])
def test_max_pending_age_must_be_positive(bad, capsys):
    """--max-pending-age takes positive seconds only: a usage error otherwise."""
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["health", "--max-pending-age", bad])
    assert exit_info.value.code == 2
    assert "--max-pending-age" in capsys.readouterr().err


def test_a_malformed_server_url_is_a_clear_failure(outbox_path, capsys):
    """--server "http://[::1" exits 1 with a message naming --server, no traceback."""
    assert main(["health", "--server", "http://[::1"]) == 1
    out = capsys.readouterr().out
    assert "| CRITICAL | server_unhealthy | server | --server is not a valid URL (InvalidURL" in out


def test_health_into_a_closed_pipe_exits_quietly(tmp_path):
    """`portico health | head -0`: exit 0, no BrokenPipeError traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "portico", "health", "--format", "text"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before the first write
    _, stderr = proc.communicate(timeout=60)
    assert b"Traceback" not in stderr, stderr.decode()
    assert proc.returncode == 0
    assert list(tmp_path.iterdir()) == []  # fake env without data_dir: stores in memory


# ------------------------------------------------------------------ GET /healthz/outbox


def _app_container(path: Path):
    return create_container(
        {
            "environment": "fake",
            "outbox": {"path": str(path)},
            "webhooks": {"replay": {"kind": "memory"}},
        },
        env={},
    )


async def test_healthz_outbox_counts_without_payloads(tmp_path):
    """Counts per integration and a degraded verdict; no phone number or message text."""
    path = tmp_path / "app.sqlite3"
    await _fill(path, dead=2)
    box = SqliteOutbox(path)
    await box.enqueue(SendMessage(TemplateMessage("+40712345678", "x", parameters=(SECRET_TEXT,))))
    await box.close()
    container = _app_container(path)
    app = create_webhook_app(container)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        answer = await c.get("/healthz/outbox")
        refused = await c.post("/healthz/outbox")
    await container.outbox().close()
    assert answer.status_code == 200
    body = answer.json()
    assert (body["status"], body["pending"], body["in_flight"], body["dead"]) == (
        "degraded",
        1,
        0,
        2,
    )
    assert body["integrations"]["messaging"]["dead"] == 2
    assert body["oldest_pending_age_seconds"] >= 0
    assert SECRET_TEXT not in answer.text
    assert "712345678" not in answer.text
    assert refused.status_code == 405


class _BrokenOutbox:
    """An outbox whose store is unreachable."""

    async def status(self) -> OutboxStatus:
        """Fail as a lost database connection does."""
        raise ConnectionError("db host 10.0.0.7 password=hunter2 refused")


async def test_healthz_outbox_is_503_when_unreadable_and_404_without_an_outbox(tmp_path):
    """An unreadable outbox answers 503 naming only the error type; an ingress alone, 404."""
    container = _app_container(tmp_path / "x.sqlite3")
    ingress = container.webhook_ingress()
    broken = create_webhook_app(ingress, outbox=_BrokenOutbox())  # type: ignore[arg-type]
    bare = create_webhook_app(ingress)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(broken), base_url="http://t") as c:
        unreadable = await c.get("/healthz/outbox")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(bare), base_url="http://t") as c:
        missing = await c.get("/healthz/outbox")
    assert unreadable.status_code == 503
    assert unreadable.json() == {"status": "unavailable", "error": "ConnectionError"}
    assert missing.status_code == 404
