"""
`portico serve` as a real process whose replay store cannot be used: it says so everywhere.

Readiness (``/readyz``) and ``/healthz/webhooks`` answer 503, a delivery is 503 (the provider
retries), ``portico health --server`` exits 1; liveness (``/healthz``) stays 200, since restarting
the process would not bring the folder back. Both at start-up (the folder is missing) and mid-run
(the folder is removed while the server writes into it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from portico.adapters.webhooks.signers import sign_stripe
from portico.app.wiring.webhooks import DEV_SECRETS


def _delivery(event_id: str) -> tuple[bytes, dict[str, str]]:
    """A dev-signed Stripe refund event (no service needs a matching object for it)."""
    event = {
        "id": event_id,
        "object": "event",
        "created": 1686089970,
        "type": "refund.created",
        "data": {
            "object": {
                "id": f"re_{event_id}",
                "object": "refund",
                "amount": 2500,
                "currency": "eur",
                "payment_intent": f"pi_{event_id}",
                "status": "succeeded",
            }
        },
    }
    body = json.dumps(event).encode()
    return body, sign_stripe(body, DEV_SECRETS["stripe"]["secret"])


@contextmanager
def _serve(workdir: Path, replay_path: Path) -> Iterator[str]:
    """``portico serve --port 0`` with its replay store at ``replay_path``; yields its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
    env["PORTICO_DATA_DIR"] = str(workdir / "data")
    env["PORTICO_WEBHOOKS__REPLAY__PATH"] = str(replay_path)
    (workdir / "data").mkdir(exist_ok=True)
    command = [sys.executable, "-m", "portico", "serve", "--port", "0", "--log-level", "warning"]
    proc = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Portico webhooks listening on http://127.0.0.1:"), first
        yield first.rsplit(" ", 1)[1].strip()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def _health_server_exit(base: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
    done = subprocess.run(
        [sys.executable, "-m", "portico", "health", "--server", base],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout


def _assert_unusable(base: str, event_id: str) -> None:
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    webhooks = httpx.get(f"{base}/healthz/webhooks")
    assert webhooks.status_code == 503
    assert webhooks.json()["status"] == "unhealthy"
    assert any("replay store unavailable" in p for p in webhooks.json()["problems"])
    body, headers = _delivery(event_id)
    answer = httpx.post(f"{base}/webhooks/stripe", content=body, headers=headers)
    assert answer.status_code == 503
    assert answer.headers["retry-after"]
    assert httpx.get(f"{base}/healthz/webhooks").json()["providers"]["stripe"]["store_failures"] > 0
    assert httpx.get(f"{base}/healthz").status_code == 200  # alive: restarting would not help
    code, out = _health_server_exit(base)
    assert code == 1, out
    assert "| CRITICAL | server_unhealthy | server | replay store unavailable" in out


def test_a_missing_replay_folder_at_start_up_is_reported_everywhere(tmp_path: Path) -> None:
    """The server starts, but nothing claims it can take deliveries."""
    with _serve(tmp_path, tmp_path / "missing" / "replay.sqlite3") as base:
        _assert_unusable(base, "evt_start_1")


def test_a_replay_folder_removed_mid_run_turns_deliveries_into_503(tmp_path: Path) -> None:
    """Processed while the file is there; once its folder is gone, 503 and unhealthy."""
    folder = tmp_path / "replay"
    folder.mkdir()
    with _serve(tmp_path, folder / "replay.sqlite3") as base:
        assert httpx.get(f"{base}/readyz").status_code == 200
        body, headers = _delivery("evt_mid_1")
        first = httpx.post(f"{base}/webhooks/stripe", content=body, headers=headers)
        assert first.status_code == 200
        assert first.json()["processed"] == 1
        shutil.rmtree(folder)
        _assert_unusable(base, "evt_mid_2")
