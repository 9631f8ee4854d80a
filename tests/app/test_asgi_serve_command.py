"""`portico serve` as a real process: prints where it listens, serves, remembers across restarts."""

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
from portico.app.entrypoints.cli import build_parser
from portico.app.wiring.webhooks import DEV_SECRETS


# A refund: no service subscribes to it, so it needs no matching object in the fakes (a payment
# event for an intent the fake Stripe never created would make PaymentCollection fail: 500).
EVENT = {
    "id": "evt_serve_1",
    "object": "event",
    "created": 1686089970,
    "type": "refund.created",
    "data": {
        "object": {
            "id": "re_serve_1",
            "object": "refund",
            "amount": 2500,
            "currency": "eur",
            "payment_intent": "pi_serve_1",
            "status": "succeeded",
        }
    },
}


@contextmanager
def _portico_serve(workdir: Path, data_dir: Path | None = None) -> Iterator[tuple[str, list[str]]]:
    """
    Start ``portico serve --port 0`` in ``workdir`` (with ``PORTICO_DATA_DIR`` when given);
    yield its base URL and the lines it printed, up to its data directory.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
    if data_dir is not None:
        env["PORTICO_DATA_DIR"] = str(data_dir)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "portico.app.entrypoints.cli",
            "serve",
            "--port",
            "0",
            "--log-level",
            "warning",
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Portico webhooks listening on http://127.0.0.1:"), first
        lines = [first]
        while lines[-1] and not lines[-1].startswith("Data directory:"):
            lines.append(proc.stdout.readline())
        yield first.rsplit(" ", 1)[1].strip(), lines
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "DEVELOPMENT secrets in use" in stderr
    assert DEV_SECRETS["stripe"]["secret"] not in stderr


def test_serve_is_registered():
    """`portico serve` parses --host and --port with loopback and 8000 as defaults."""
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.1", 8000)


def test_serve_processes_deliveries_and_remembers_them_across_restarts(tmp_path):
    """With a data_dir, a dev-signed Stripe event is processed, then a duplicate after a restart."""
    body = json.dumps(EVENT).encode()
    secret = DEV_SECRETS["stripe"]["secret"]
    data = tmp_path / "data"
    data.mkdir()
    with _portico_serve(tmp_path, data) as (base, lines):
        assert any(line.strip().endswith("/webhooks/stripe") for line in lines)
        assert lines[-1] == f"Data directory: {data}\n"
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        first = httpx.post(
            f"{base}/webhooks/stripe", content=body, headers=sign_stripe(body, secret)
        )
        assert first.json()["processed"] == 1
    assert (data / "portico-replay.fake.sqlite3").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # nothing in the working directory
    with _portico_serve(tmp_path, data) as (base, _):
        again = httpx.post(
            f"{base}/webhooks/stripe", content=body, headers=sign_stripe(body, secret)
        )
        assert again.json() == {"received": True, "duplicate": True}


def test_serve_without_a_data_dir_starts_fresh_in_a_temporary_folder(tmp_path):
    """Fake env, no data_dir: a new temporary folder per run, named; the cwd stays empty."""
    body = json.dumps(EVENT).encode()
    secret = DEV_SECRETS["stripe"]["secret"]
    folders = []
    try:
        for _ in range(2):  # the second run does not remember the first one's event
            with _portico_serve(tmp_path) as (base, lines):
                folders.append(Path(lines[-1].removeprefix("Data directory:").strip()))
                answer = httpx.post(
                    f"{base}/webhooks/stripe", content=body, headers=sign_stripe(body, secret)
                )
                assert answer.json()["processed"] == 1
        assert folders[0] != folders[1]
        assert all(folder.is_dir() and folder != tmp_path for folder in folders)
        assert list(tmp_path.iterdir()) == []
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


def test_serve_fails_cleanly_on_a_bad_config_file(tmp_path, capsys):
    """A missing config file is exit code 1 with a one-line reason, no traceback."""
    from portico.app.entrypoints.cli import main

    assert main(["serve", "--config", str(tmp_path / "missing.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("portico serve: ")
    assert "Traceback" not in err
