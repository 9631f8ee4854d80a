"""
Runs under any interleaving (issue 14): two relays share one store, claiming runs of up to
``per_key`` commands, sending each run in order and settling every entry as a relay would.

Whatever the order of enqueues, claims, sends (delivered, retried, dead) and batch recordings,
no entry is ever leased to two holders at once, a claim's run for a key is always the key's
oldest pending commands in order, and each key's commands reach the vendor in enqueue order.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections import defaultdict
from pathlib import Path

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portico.adapters.fakes import FakeClock
from portico.adapters.outbox.postgres import PostgresOutbox
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.domain.commands import AddNote
from portico.domain.outbox import OutboxEntry
from portico.ports.outbox import Outbox


KEYS = ("a", "b", "c")
LEASE = 300.0  # the clock never moves: no lease expires

Op = tuple[str, int, int, int]
backlogs = st.lists(st.integers(0, 2), max_size=12)  # keys enqueued before the first claim
operations = st.lists(
    st.one_of(
        st.tuples(st.just("enqueue"), st.integers(0, 2), st.just(0), st.just(0)),
        st.tuples(st.just("claim"), st.integers(0, 1), st.integers(1, 4), st.integers(1, 6)),
        st.tuples(st.just("step"), st.integers(0, 1), st.integers(0, 2), st.just(0)),
        st.tuples(st.just("record"), st.integers(0, 1), st.just(0), st.just(0)),
    ),
    max_size=60,
)
DELIVER, RETRY, DEAD = 0, 1, 2


@attrs.define
class _Run:
    """The entries of one claimed run its relay has not acted on yet."""

    entries: list[OutboxEntry]
    stopped: bool = False


@attrs.define
class _Relay:
    """A relay as the test drives it: its runs, its sent-but-unrecorded entries, its leases."""

    box: Outbox
    runs: list[_Run] = attrs.Factory(list)
    unrecorded: list[OutboxEntry] = attrs.Factory(list)
    held: set[str] = attrs.Factory(set)


@attrs.define
class _World:
    """What the vendor saw and what the store must hold."""

    relays: list[_Relay]
    enqueued: defaultdict[str, list[str]] = attrs.Factory(lambda: defaultdict(list))
    reached: set[str] = attrs.Factory(set)  # delivered to the vendor (recorded or not)
    recorded: set[str] = attrs.Factory(set)
    dead: set[str] = attrs.Factory(set)
    vendor: defaultdict[str, list[str]] = attrs.Factory(lambda: defaultdict(list))
    count: int = 0

    async def enqueue(self, key: int) -> None:
        self.count += 1
        command = AddNote(f"contact-{KEYS[key]}", f"note {self.count}")
        entry_id = await self.relays[0].box.enqueue(command)
        self.enqueued[command.ordering_key].append(entry_id)

    async def claim(self, r: int, per_key: int, limit: int) -> None:
        relay = self.relays[r]
        batch = await relay.box.claim(limit=limit, lease_seconds=LEASE, per_key=per_key)
        ids = [e.id for e in batch]
        assert len(ids) <= limit
        assert not set(ids) & set().union(*(x.held for x in self.relays)), "leased twice"
        by_key: defaultdict[str, list[OutboxEntry]] = defaultdict(list)
        for entry in batch:
            by_key[entry.ordering_key].append(entry)
        for key, run in by_key.items():
            assert len(run) <= per_key
            waiting = [i for i in self.enqueued[key] if i not in self.recorded | self.dead]
            assert [e.id for e in run] == waiting[: len(run)], "not the key's oldest, in order"
            relay.runs.append(_Run(run))
        relay.held |= set(ids)

    async def step(self, r: int, action: int) -> None:
        relay = self.relays[r]
        run = next((run for run in relay.runs if run.entries), None)
        if run is None:
            return
        entry = run.entries.pop(0)
        if run.stopped:  # a stopped run gives the rest back, unsent
            assert await relay.box.schedule_retry(entry, delay=0, error="x", attempted=False)
            relay.held.discard(entry.id)
            return
        earlier = self.enqueued[entry.ordering_key]
        earlier = earlier[: earlier.index(entry.id)]
        assert set(earlier) <= self.reached | self.dead, "sent before an earlier command"
        if action == DELIVER:
            self.reached.add(entry.id)
            self.vendor[entry.ordering_key].append(entry.id)
            relay.unrecorded.append(entry)
        elif action == RETRY:
            assert await relay.box.schedule_retry(entry, delay=0, error="503")
            relay.held.discard(entry.id)
            run.stopped = True
        else:
            assert await relay.box.dead_letter(entry, reason="no")
            relay.held.discard(entry.id)
            self.dead.add(entry.id)

    async def record(self, r: int) -> None:
        relay = self.relays[r]
        ids = {e.id for e in relay.unrecorded}
        assert await relay.box.mark_delivered_many(relay.unrecorded) == ids
        self.recorded |= ids
        relay.held -= ids
        relay.unrecorded = []

    async def drain(self) -> None:
        """Settle everything as relay 0, then deliver what is left; nothing may stay pending."""
        for r in (0, 1):
            while any(run.entries for run in self.relays[r].runs):
                await self.step(r, DELIVER)
            await self.record(r)
        while True:
            await self.claim(0, 3, 5)
            if not self.relays[0].held:
                break
            while any(run.entries for run in self.relays[0].runs):
                await self.step(0, DELIVER)
            await self.record(0)
        assert (await self.relays[0].box.status()).pending == 0
        for key, ids in self.enqueued.items():
            assert self.vendor[key] == [i for i in ids if i not in self.dead]


async def _play(boxes: list[Outbox], backlog: list[int], ops: list[Op]) -> None:
    world = _World([_Relay(box) for box in boxes])
    try:
        for key in backlog:
            await world.enqueue(key)
        for name, a, b, c in ops:
            if name == "enqueue":
                await world.enqueue(a)
            elif name == "claim":
                await world.claim(a, b, c)
            elif name == "step":
                await world.step(a, b)
            else:
                await world.record(a)
        await world.drain()
    finally:
        for box in boxes:
            await box.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(backlogs, operations)
def test_sqlite_runs_keep_order_and_exclusive_leases(backlog: list[int], ops: list[Op]) -> None:
    """Two relays on one SQLite file, any interleaving: order per key, no entry leased twice."""
    with tempfile.TemporaryDirectory() as folder:
        clock = FakeClock()
        path = Path(folder) / "o.sqlite3"
        asyncio.run(_play([SqliteOutbox(path, clock=clock) for _ in range(2)], backlog, ops))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(backlogs, operations)
def test_postgres_runs_keep_order_and_exclusive_leases(
    postgres_url: str, backlog: list[int], ops: list[Op]
) -> None:
    """Two relays on one PostgreSQL table, any interleaving: the same guarantees."""
    clock = FakeClock()
    table = f"t_runs_{uuid.uuid4().hex[:10]}.outbox"
    boxes: list[Outbox] = [PostgresOutbox(postgres_url, table=table, clock=clock) for _ in range(2)]
    asyncio.run(_play(boxes, backlog, ops))
