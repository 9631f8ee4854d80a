"""Crash proof: a relay killed with SIGKILL mid-drain loses nothing and applies nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.domain.commands import CreatePaymentIntent
from portico.domain.payments import PaymentRequest
from portico.domain.values import IdempotencyKey, Money
from tests.simulators.server import serve
from tests.simulators.stripe import StripeSimulator


TOTAL = 2000
PATIENTS = 200
LEASE = 1.0
WORKER = Path(__file__).with_name("relay_worker.py")
SRC = Path(__file__).parents[2] / "src"


async def _start(db: Path, url: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(SRC.parent)])}
    return await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), str(db), url, str(LEASE), env=env
    )


async def _until_applied(sim: StripeSimulator, count: int, worker: asyncio.subprocess.Process):
    """Poll (without blocking the loop) until the simulator applied ``count`` keys."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while len(sim.applied) < count:
        if worker.returncode is not None:
            pytest.fail("the relay finished before it could be killed")
        if loop.time() > deadline:
            pytest.fail(f"the relay applied only {len(sim.applied)} in 30 s")
        await asyncio.sleep(0.005)


def _enqueue_all(db: Path) -> None:
    """2,000 payments, ten per patient, in one transaction (the transactional-outbox form)."""
    box = SqliteOutbox(db)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        box.create_schema(conn)
        for i in range(TOTAL):
            patient, n = f"pat{i % PATIENTS}", i // PATIENTS
            request = PaymentRequest(
                Money(1000 + i, "EUR"), f"{patient}#{n}", patient, IdempotencyKey(f"crash-{i}")
            )
            box.enqueue_with(conn, CreatePaymentIntent(request))


@pytest.mark.slow
async def test_relay_killed_mid_drain_finishes_without_loss_or_duplicates(tmp_path):
    """2,000 Stripe payments: SIGKILL mid-drain, restart, each applied once, in order."""
    db = tmp_path / "outbox.sqlite3"
    _enqueue_all(db)
    sim = StripeSimulator()
    workers: list[asyncio.subprocess.Process] = []
    with serve(sim) as url:
        try:
            workers.append(first := await _start(db, url))
            await _until_applied(sim, TOTAL // 4, first)
            first.send_signal(signal.SIGKILL)
            assert await asyncio.wait_for(first.wait(), 10) == -signal.SIGKILL
            at_kill = len(sim.applied)
            assert 0 < at_kill < TOTAL

            workers.append(second := await _start(db, url))
            assert await asyncio.wait_for(second.wait(), 40) == 0
        finally:
            for worker in workers:
                if worker.returncode is None:
                    worker.kill()
                    await worker.wait()

    posts = Counter(
        r.headers["idempotency-key"]
        for r in sim.received
        if r.method == "POST" and r.path == "/v1/payment_intents"
    )
    assert set(sim.applied) == {f"crash-{i}" for i in range(TOTAL)}  # none lost
    assert len(sim.intents) == TOTAL  # none applied twice: every resend was a replay
    order: defaultdict[str, list[int]] = defaultdict(list)
    for intent in sim.intents.values():  # dicts keep creation order
        patient, _, n = intent["description"].partition("#")
        order[patient].append(int(n))
    assert all(seq == sorted(seq) for seq in order.values())  # in order per patient
    box = SqliteOutbox(db, mode="read_only")
    status = await box.status()
    await box.close()
    assert (status.pending, status.dead) == (0, 0)
    resent = sum(1 for n in posts.values() if n > 1)
    sys.stderr.write(f"killed at {at_kill}/{TOTAL}; {sum(posts.values())} POSTs, {resent} resent\n")
