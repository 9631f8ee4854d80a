"""Several relays share one PostgreSQL outbox: no command in flight twice, order kept."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict

import psycopg
import pytest

from portico.adapters.outbox.postgres import PostgresOutbox
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.relay_settings import RelaySettings
from portico.domain.commands import CreatePaymentIntent
from portico.domain.errors import Conflict
from portico.domain.payments import (
    CheckoutLink,
    CheckoutRequest,
    PaymentIntent,
    PaymentRequest,
    PaymentStatus,
    Refund,
    RefundRequest,
)
from portico.domain.values import IdempotencyKey, Money
from portico.ports.execute import CommandPorts
from portico.ports.payments import PaymentPort


class Recorder(PaymentPort):
    """Counts concurrent sends per key and per patient, and the order each patient's arrive in."""

    def __init__(self) -> None:
        self.in_flight: set[str] = set()
        self.overlaps = 0
        self.patients: set[str] = set()
        self.patient_overlaps = 0
        self.sent: Counter[str] = Counter()
        self.order: defaultdict[str, list[int]] = defaultdict(list)

    async def create_payment_intent(self, request: PaymentRequest) -> PaymentIntent:
        key = request.idempotency_key.value
        if key in self.in_flight:
            self.overlaps += 1
        if request.patient_ref in self.patients:
            self.patient_overlaps += 1
        self.in_flight.add(key)
        self.patients.add(request.patient_ref)
        try:
            for _ in range(3):
                await asyncio.sleep(0)  # give the other relay every chance to interleave
            self.sent[key] += 1
            self.order[request.patient_ref].append(int(request.description))
        finally:
            self.in_flight.discard(key)
            self.patients.discard(request.patient_ref)
        return PaymentIntent(f"pi_{key}", PaymentStatus.REQUIRES_PAYMENT_METHOD, request.amount)

    # The relays here only create intents; the rest of the port is never called.
    async def get_payment_intent(self, intent_id: str) -> PaymentIntent:
        raise NotImplementedError

    async def cancel_payment_intent(self, intent_id: str) -> PaymentIntent:
        raise NotImplementedError

    async def refund(self, request: RefundRequest) -> Refund:
        raise NotImplementedError

    async def create_checkout_link(self, request: CheckoutRequest) -> CheckoutLink:
        raise NotImplementedError


def payment(patient: int, n: int) -> CreatePaymentIntent:
    request = PaymentRequest(
        Money(500, "EUR"), str(n), f"pat{patient}", IdempotencyKey(f"k-{patient}-{n}")
    )
    return CreatePaymentIntent(request)


@pytest.mark.parametrize("per_key", [1, 4])
async def test_two_relays_never_deliver_the_same_command_concurrently(postgres_url, per_key):
    """Two relays on two connections drain 300 commands: each sent once, in order per patient."""
    table = f"relays_{uuid.uuid4().hex[:8]}"
    boxes = [PostgresOutbox(postgres_url, table=table) for _ in range(2)]
    for n in range(10):
        for patient in range(30):
            await boxes[0].enqueue(payment(patient, n))
    vendor = Recorder()
    settings = RelaySettings(batch_size=8, idle_delay=0.01, lease_seconds=30, per_key=per_key)
    relays = [OutboxRelay(box, CommandPorts(payments=vendor), settings) for box in boxes]
    await asyncio.wait_for(asyncio.gather(*(r.run(until_idle=True) for r in relays)), 30)
    for box in boxes:
        await box.close()

    assert (vendor.overlaps, vendor.patient_overlaps) == (0, 0)
    assert len(vendor.sent) == 300
    assert set(vendor.sent.values()) == {1}
    assert all(order == list(range(10)) for order in vendor.order.values())
    assert sum(r.stats.delivered for r in relays) == 300
    assert all(r.stats.delivered > 0 for r in relays)  # SKIP LOCKED shares the work


async def test_enqueue_joins_the_callers_transaction(postgres_url):
    """With connection=, the outbox row commits or rolls back with the host app's own write."""
    box = PostgresOutbox(postgres_url, table=f"tx_{uuid.uuid4().hex[:8]}")
    await box.status()  # creates the table
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        await conn.execute("CREATE TEMP TABLE bookings (id int)")
        await conn.commit()
        await conn.execute("INSERT INTO bookings VALUES (1)")
        await box.enqueue(payment(1, 1), connection=conn)
        await conn.rollback()
        assert (await box.status()).pending == 0
        await conn.execute("INSERT INTO bookings VALUES (2)")
        entry_id = await box.enqueue(payment(1, 2), connection=conn)
        await conn.commit()
    assert (await box.get(entry_id)) is not None
    assert (await box.status()).pending == 1
    other = CreatePaymentIntent(
        PaymentRequest(Money(999, "EUR"), "2", "pat1", IdempotencyKey("k-1-2"))
    )
    try:
        with pytest.raises(Conflict):
            await box.enqueue(other)
    finally:
        await box.close()


@pytest.mark.parametrize("per_key", [1, 8])
async def test_four_relays_drain_hot_keys_while_commands_keep_arriving(postgres_url, per_key):
    """Three busy patients, enqueues racing four relays: each sent once, in order, no head left."""
    table = f"hot_{uuid.uuid4().hex[:8]}"
    boxes = [PostgresOutbox(postgres_url, table=table) for _ in range(6)]
    vendor = Recorder()
    settings = RelaySettings(batch_size=8, idle_delay=0.01, lease_seconds=30, per_key=per_key)
    relays = [OutboxRelay(box, CommandPorts(payments=vendor), settings) for box in boxes[:4]]
    stop = asyncio.Event()

    async def enqueue(box: PostgresOutbox, patients: range) -> None:
        for n in range(40):
            for patient in patients:
                await box.enqueue(payment(patient, n))
            await asyncio.sleep(0)

    running = [asyncio.create_task(r.run(stop=stop)) for r in relays]
    await asyncio.wait_for(
        asyncio.gather(enqueue(boxes[4], range(2)), enqueue(boxes[5], range(2, 3))), 60
    )
    await asyncio.wait_for(relays[0].run(until_idle=True), 60)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*running), 30)
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        cur = await conn.execute(f"SELECT COUNT(*) FROM {table}_heads")  # noqa: S608
        heads = await cur.fetchone()
    status = await boxes[0].status()
    for box in boxes:
        await box.close()

    assert heads == (0,)
    assert status.integrations[0].delivered == 120  # the counters, exact under four relays
    assert (vendor.overlaps, vendor.patient_overlaps) == (0, 0)
    assert len(vendor.sent) == 120
    assert set(vendor.sent.values()) == {1}
    assert all(order == list(range(40)) for order in vendor.order.values())


async def test_a_table_of_an_earlier_version_is_upgraded_when_opened(postgres_url):
    """A table without heads gets them at open, filled from its pending rows, counts kept."""
    table = f"old_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        await conn.execute(
            f"CREATE TABLE {table} (seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, "
            "kind TEXT NOT NULL, integration TEXT NOT NULL, ordering_key TEXT NOT NULL, "
            "idempotency_key TEXT NOT NULL UNIQUE, payload TEXT NOT NULL, "
            "state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, "
            "enqueued_at DOUBLE PRECISION NOT NULL, available_at DOUBLE PRECISION NOT NULL, "
            "lease_token TEXT, lease_until DOUBLE PRECISION, last_error TEXT, "
            "finished_at DOUBLE PRECISION)"
        )
        await conn.execute(f"CREATE INDEX {table}_state ON {table} (state, integration)")
        for i, state in enumerate(["delivered"] * 4 + ["pending"] * 6 + ["dead"]):
            await conn.execute(
                f"INSERT INTO {table} (id, kind, integration, ordering_key, idempotency_key, "  # noqa: S608
                "payload, state, enqueued_at, available_at) "
                "VALUES (%s, 'add_note', 'crm', %s, %s, '{}', %s, %s, 0)",
                (f"id{i}", f"p{i % 3}", f"k{i}", state, float(i)),
            )
    box = PostgresOutbox(postgres_url, table=table, mode="existing")
    try:
        status = await box.status()
        assert (status.pending, status.dead, status.delivered) == (6, 1, 4)
        heads = [e.id for e in await box.claim(limit=32, lease_seconds=30)]
        assert heads == ["id4", "id5", "id6"]  # the oldest pending of p1, p2 and p0
    finally:
        await box.close()
