"""Crash proof: a relay killed with SIGKILL mid-drain loses nothing and applies nothing twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from adapters.outbox.sqlite import SqliteOutbox
from domain.commands import CreatePaymentIntent
from domain.payments import PaymentRequest
from domain.values import IdempotencyKey, Money
from tests.outbox.simulator import VendorSimulator


TOTAL = 2000
PATIENTS = 200
WORKER = Path(__file__).with_name("relay_worker.py")
SRC = Path(__file__).parents[2] / "src"


def _stats(sim: VendorSimulator) -> dict[str, int]:
    with urllib.request.urlopen(sim.url + "/stats", timeout=5) as response:
        return json.loads(response.read())


def _start(db: Path, sim: VendorSimulator) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(SRC.parent)])}
    return subprocess.Popen([sys.executable, str(WORKER), str(db), sim.url, "1.0"], env=env)


@pytest.mark.slow
async def test_relay_killed_mid_drain_finishes_without_loss_or_duplicates(tmp_path):
    """2,000 payments: SIGKILL mid-drain, restart, every one applied exactly once, in order."""
    db = tmp_path / "outbox.sqlite3"
    box = SqliteOutbox(db)
    await box.status()  # creates the schema
    with sqlite3.connect(db) as conn:  # one transaction: the transactional-outbox form
        for i in range(TOTAL):
            patient, n = f"pat{i % PATIENTS}", i // PATIENTS
            request = PaymentRequest(
                Money(1000 + i, "EUR"), f"{patient}#{n}", patient, IdempotencyKey(f"crash-{i}")
            )
            box.enqueue_with(conn, CreatePaymentIntent(request))
    await box.close()

    workers: list[subprocess.Popen[bytes]] = []
    with VendorSimulator() as sim:
        try:
            workers.append(first := _start(db, sim))
            deadline = time.monotonic() + 30
            while _stats(sim)["applied"] < TOTAL // 4 and time.monotonic() < deadline:
                if first.poll() is not None:
                    pytest.fail("the relay finished before it could be killed")
                time.sleep(0.005)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
            assert first.returncode == -signal.SIGKILL
            at_kill = _stats(sim)["applied"]
            assert 0 < at_kill < TOTAL

            workers.append(second := _start(db, sim))
            assert second.wait(timeout=40) == 0
            stats = _stats(sim)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()

    assert stats["applied"] == TOTAL  # none lost
    assert sim.mismatched == 0  # every redelivery carried the same key and body
    assert set(sim.applied) == {f"crash-{i}" for i in range(TOTAL)}
    for patient, order in sim.order.items():  # applied in order per patient
        assert order == sorted(order), patient
    box = SqliteOutbox(db)
    status = await box.status()
    await box.close()
    assert (status.pending, status.dead) == (0, 0)
    sys.stderr.write(f"killed at {at_kill}/{TOTAL}; requests {stats['requests']}\n")
