"""Concurrent enqueues of one key on PostgreSQL: the loser gets the winner's id, not a Conflict."""

from __future__ import annotations

import asyncio
import uuid

import psycopg

from portico.adapters.outbox.postgres import PostgresOutbox
from portico.domain.commands import CreatePaymentIntent
from portico.domain.payments import PaymentRequest
from portico.domain.values import IdempotencyKey, Money


def payment(key: str) -> CreatePaymentIntent:
    return CreatePaymentIntent(
        PaymentRequest(Money(5000, "EUR"), "consult", "pat1", IdempotencyKey(key))
    )


async def _waiting_for(conn: psycopg.AsyncConnection, xid: str, timeout: float = 10.0) -> None:
    """Wait until some backend waits for transaction ``xid`` (the second insert of the key)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid' "
            "AND transactionid::text = %s",
            (xid,),
        )
        row = await cur.fetchone()
        if row and row[0]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second enqueue never waited for the first transaction")


async def test_an_enqueue_waiting_on_a_concurrent_insert_returns_the_winners_id(postgres_url):
    """The key is inserted by an open transaction; the waiting enqueue returns its id on commit."""
    table = f"race_{uuid.uuid4().hex[:8]}"
    box = PostgresOutbox(postgres_url, table=table)
    other = PostgresOutbox(postgres_url, table=table)
    await box.status()  # creates the table
    await other.status()  # connected: it will wait on the row, not on creating the schema
    host = await psycopg.AsyncConnection.connect(postgres_url)
    watcher = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)
    try:
        winner = await box.enqueue(payment("race-1"), connection=host)  # not committed yet
        xid = await (await host.execute("SELECT pg_current_xact_id()::text")).fetchone()
        assert xid is not None
        loser = asyncio.create_task(other.enqueue(payment("race-1")))
        await _waiting_for(watcher, xid[0])
        await host.commit()
        assert await asyncio.wait_for(loser, 10) == winner
        assert (await box.status()).pending == 1
    finally:
        await host.close()
        await watcher.close()
        await box.close()
        await other.close()


async def test_many_concurrent_enqueues_of_one_key_store_it_once(postgres_url):
    """Eight connections enqueue the same command at once: one row, one id, no Conflict."""
    table = f"race_{uuid.uuid4().hex[:8]}"
    boxes = [PostgresOutbox(postgres_url, table=table) for _ in range(8)]
    await boxes[0].status()
    try:
        for n in range(5):
            ids = await asyncio.gather(*(b.enqueue(payment(f"many-{n}")) for b in boxes))
            assert len(set(ids)) == 1
        assert (await boxes[0].status()).pending == 5
    finally:
        for b in boxes:
            await b.close()


async def test_a_new_outbox_leaves_room_on_its_pages_for_lease_updates(postgres_url):
    """Fillfactor 90 (rows) and 50 (heads): a claim's lease update can stay on its page (HOT)."""
    table = f"ff_{uuid.uuid4().hex[:8]}"
    box = PostgresOutbox(postgres_url, table=table)
    try:
        await box.status()
        async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
            cur = await conn.execute(
                "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s) ORDER BY relname",
                ([table, f"{table}_heads"],),
            )
            found = await cur.fetchall()
        assert found == [(table, ["fillfactor=90"]), (f"{table}_heads", ["fillfactor=50"])]
    finally:
        await box.close()
