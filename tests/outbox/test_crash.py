"""
Crash proof: a relay killed with SIGKILL mid-drain loses nothing and applies nothing twice, and
each patient's payments are applied in order, with claims taking runs of a patient's commands
(``per_key``); on SQLite (the relay restarted) and on PostgreSQL (a second relay process working
alongside the killed one).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from portico.adapters.outbox.postgres import PostgresOutbox
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.domain.commands import CreatePaymentIntent
from portico.domain.payments import PaymentRequest
from portico.domain.values import IdempotencyKey, Money
from portico.ports.outbox import Outbox
from tests.simulators.server import serve
from tests.simulators.stripe import StripeSimulator


TOTAL = 2000
PATIENTS = 200
LEASE = 1.0
WORKER = Path(__file__).with_name("relay_worker.py")
SRC = Path(__file__).parents[2] / "src"


async def _start(
    outbox: str, url: str, per_key: int, table: str = "portico_outbox"
) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(SRC.parent)])}
    return await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), outbox, url, str(LEASE), str(per_key), table, env=env
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


def _payment(i: int) -> CreatePaymentIntent:
    """The i-th of ten payments per patient, its patient and number in the description."""
    patient, n = f"pat{i % PATIENTS}", i // PATIENTS
    request = PaymentRequest(
        Money(1000 + i, "EUR"), f"{patient}#{n}", patient, IdempotencyKey(f"crash-{i}")
    )
    return CreatePaymentIntent(request)


def _enqueue_all(db: Path) -> None:
    """2,000 payments, ten per patient, in one transaction (the transactional-outbox form)."""
    box = SqliteOutbox(db)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        box.create_schema(conn)
        for i in range(TOTAL):
            box.enqueue_with(conn, _payment(i))


async def _enqueue_all_postgres(url: str, table: str) -> None:
    """The same 2,000 payments in a PostgreSQL outbox."""
    box = PostgresOutbox(url, table=table)
    try:
        for i in range(TOTAL):
            await box.enqueue(_payment(i))
    finally:
        await box.close()


@pytest.mark.slow
@pytest.mark.parametrize(("store", "per_key"), [("sqlite", 8), ("postgres", 8)])
async def test_relay_killed_mid_drain_finishes_without_loss_or_duplicates(
    tmp_path, request, store, per_key
):
    """2,000 Stripe payments: SIGKILL mid-drain, go on, each applied once, in order."""
    if store == "postgres":
        outbox, table = request.getfixturevalue("postgres_url"), f"crash_{uuid.uuid4().hex[:8]}"
        await _enqueue_all_postgres(outbox, table)
    else:
        db, table = tmp_path / "outbox.sqlite3", "portico_outbox"
        _enqueue_all(db)
        outbox = str(db)
    sim = StripeSimulator()
    workers: list[asyncio.subprocess.Process] = []
    with serve(sim) as url:
        try:
            workers.append(first := await _start(outbox, url, per_key, table))
            if store == "postgres":  # a second relay shares the table (SKIP LOCKED) throughout
                workers.append(await _start(outbox, url, per_key, table))
            await _until_applied(sim, TOTAL // 4, first)
            first.send_signal(signal.SIGKILL)
            assert await asyncio.wait_for(first.wait(), 10) == -signal.SIGKILL
            at_kill = len(sim.applied)
            assert 0 < at_kill < TOTAL

            if store == "sqlite":
                workers.append(await _start(outbox, url, per_key, table))
            assert await asyncio.wait_for(workers[-1].wait(), 40) == 0
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
    assert all(seq == list(range(TOTAL // PATIENTS)) for seq in order.values())  # in order
    box: Outbox = (
        PostgresOutbox(outbox, table=table, mode="read_only")
        if store == "postgres"
        else SqliteOutbox(outbox, mode="read_only")
    )
    status = await box.status()
    await box.close()
    assert (status.pending, status.dead) == (0, 0)
    resent = sum(1 for n in posts.values() if n > 1)
    sys.stderr.write(
        f"{store}, per_key {per_key}: killed at {at_kill}/{TOTAL}; "
        f"{sum(posts.values())} POSTs, {resent} resent\n"
    )
