"""``portico breaker`` in one process, honoured by a pipeline in another (a subprocess)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from portico.app.entrypoints.cli import main


_WORKER = """
import asyncio, sys
from portico import create_container
from portico.domain.errors import CircuitOpenError

async def loop():
    container = create_container(env={"PORTICO_DATA_DIR": sys.argv[1]})
    payments = container.payments()
    for _ in range(400):
        try:
            await payments.get_payment_intent("pi_missing")
            print("ok", flush=True)
        except CircuitOpenError:
            print("rejected", flush=True)
        except Exception:
            print("ok", flush=True)
        await asyncio.sleep(0.05)

asyncio.run(loop())
"""


def _wait_for(proc: subprocess.Popen[str], word: str) -> None:
    deadline = time.monotonic() + 15
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        if proc.stdout.readline().strip() == word:
            return
    pytest.fail(f"the running process never printed {word!r}")


def test_a_running_process_honours_open_and_reset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`breaker open stripe --for 10m` rejects in the other process; `reset` lets calls through."""
    monkeypatch.setenv("PORTICO_DATA_DIR", str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        _wait_for(proc, "ok")
        assert main(["breaker", "open", "stripe", "--for", "10m"]) == 0
        _wait_for(proc, "rejected")
        assert main(["breaker", "reset", "stripe"]) == 0
        _wait_for(proc, "ok")
    finally:
        proc.kill()
        proc.wait()


def test_unknown_integration_and_bad_duration_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in the integration is one clear line and exit 1; a bad --for is a usage error."""
    monkeypatch.setenv("PORTICO_DATA_DIR", str(tmp_path))
    assert main(["breaker", "open", "strpe"]) == 1
    assert "unknown integration 'strpe'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["breaker", "open", "stripe", "--for", "soon"])


def test_health_reports_a_forced_open_circuit_as_unhealthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`breaker open stripe`: `portico health` shows forced_open and exits 1; after reset, 0."""
    monkeypatch.setenv("PORTICO_DATA_DIR", str(tmp_path))
    assert main(["health"]) == 0
    assert main(["breaker", "open", "stripe", "--for", "10m"]) == 0
    capsys.readouterr()
    assert main(["health"]) == 1
    assert "forced" in capsys.readouterr().out.lower()
    assert main(["breaker", "reset", "stripe"]) == 0
    assert main(["health"]) == 0
