"""
The heads of the queue (issue 14): a claim reads one row per ordering key, whatever waits behind.

Order per key, hot keys, requeued dead letters older than the current head, the purge of
delivered rows, and the upgrade of an outbox written by an earlier version (no heads yet, or
heads of an earlier layout).
"""

from __future__ import annotations

import sqlite3
import uuid

from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.domain.commands import AddNote
from portico.domain.outbox import EntryState


LEASE = 30.0


def note(contact: str, text: str) -> AddNote:
    return AddNote(contact, text)


def line(contact: str) -> str:
    """The ordering key of a contact's notes."""
    return note(contact, "x").ordering_key


async def test_hot_keys_keep_their_order_and_each_claim_takes_one_per_key(make_outbox):
    """Three keys with 20 commands each: every claim holds one per key, each key in order."""
    box = make_outbox()
    ids = {k: [await box.enqueue(note(k, f"{k}-{i}")) for i in range(20)] for k in "abc"}
    order: dict[str, list[str]] = {line(k): [] for k in "abc"}
    rounds = 0
    while batch := await box.claim(limit=32, lease_seconds=LEASE):
        rounds += 1
        assert len(batch) == 3
        assert len({e.ordering_key for e in batch}) == 3
        for entry in batch:
            order[entry.ordering_key].append(entry.id)
            assert await box.mark_delivered(entry)
    assert rounds == 20
    for k in "abc":
        assert order[line(k)] == ids[k]
    status = await box.status()
    assert (status.pending, status.delivered) == (0, 60)


async def test_a_leased_head_blocks_its_key_and_the_others_go_on(make_outbox):
    """While a key's head is leased, the claim passes over it and takes the other keys."""
    box = make_outbox()
    for i in range(3):
        await box.enqueue(note("busy", f"b{i}"))
    await box.enqueue(note("calm", "c0"))
    [first, other] = await box.claim(limit=32, lease_seconds=LEASE)
    assert (first.ordering_key, other.ordering_key) == (
        line("busy"),
        line("calm"),
    )
    assert await box.mark_delivered(other)
    assert await box.claim(limit=32, lease_seconds=LEASE) == []
    assert await box.schedule_retry(first, delay=0, error="again")
    [again] = await box.claim(limit=32, lease_seconds=LEASE)
    assert again.id == first.id
    assert again.attempts == 2


async def test_a_requeued_older_dead_letter_becomes_the_head_again(make_outbox):
    """A dead letter requeued while later commands of its key wait is sent before them."""
    box = make_outbox()
    dead_id = await box.enqueue(note("p", "first"))
    [entry] = await box.claim(limit=32, lease_seconds=LEASE)
    assert await box.dead_letter(entry, reason="vendor said no")
    later = [await box.enqueue(note("p", f"later-{i}")) for i in range(2)]
    assert await box.requeue(dead_id)
    [head] = await box.claim(limit=32, lease_seconds=LEASE)
    assert head.id == dead_id
    assert await box.mark_delivered(head)
    got = []
    while batch := await box.claim(limit=32, lease_seconds=LEASE):
        got += [e.id for e in batch]
        for e in batch:
            assert await box.mark_delivered(e)
    assert got == later


async def test_an_expired_lease_frees_the_head(make_outbox, clock):
    """A head whose lease ran out is claimable again, reported as such."""
    box = make_outbox()
    await box.enqueue(note("p", "one"))
    await box.enqueue(note("p", "two"))
    [entry] = await box.claim(limit=32, lease_seconds=LEASE)
    assert await box.claim(limit=32, lease_seconds=LEASE) == []
    clock.advance(LEASE + 1)
    [again] = await box.claim(limit=32, lease_seconds=LEASE)
    assert (again.id, again.lease_expired) == (entry.id, True)


async def test_delivered_rows_are_purged_after_their_age_and_dead_letters_stay(make_outbox, clock):
    """purge_delivered removes only delivered rows finished before the cut, in batches."""
    box = make_outbox()
    for i in range(5):
        await box.enqueue(note(f"k{i}", "x"))
    await box.enqueue(note("dead", "x"))
    batch = await box.claim(limit=32, lease_seconds=LEASE)
    for entry in batch:
        if entry.ordering_key == line("dead"):
            assert await box.dead_letter(entry, reason="no")
        else:
            assert await box.mark_delivered(entry)
    ids = [e.id for e in batch if e.ordering_key != line("dead")]
    fresh = await box.enqueue(note("k9", "y"))
    [late] = await box.claim(limit=32, lease_seconds=LEASE)
    clock.advance(100)
    assert await box.mark_delivered(late)
    cut = clock() - 50
    assert await box.purge_delivered(finished_before=cut, limit=3) == 3
    assert await box.purge_delivered(finished_before=cut, limit=3) == 2
    assert await box.purge_delivered(finished_before=cut, limit=3) == 0
    assert all([await box.get(i) is None for i in ids])
    kept = await box.get(fresh)
    assert kept is not None
    assert kept.state is EntryState.DELIVERED
    status = await box.status()
    assert (status.dead, status.delivered) == (1, 6)


_OLD_SCHEMA = """
CREATE TABLE {t} (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
    integration TEXT NOT NULL, ordering_key TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0, enqueued_at REAL NOT NULL, available_at REAL NOT NULL,
    lease_token TEXT, lease_until REAL, last_error TEXT, finished_at REAL);
CREATE INDEX {t}_line ON {t} (ordering_key, seq) WHERE state = 'pending';
CREATE INDEX {t}_due ON {t} (available_at) WHERE state = 'pending';
CREATE INDEX {t}_state ON {t} (state, integration);
"""


async def test_an_outbox_of_an_earlier_version_is_upgraded_when_opened(tmp_path, clock):
    """A file without heads gets them at open, filled from its pending rows, counts kept."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(_OLD_SCHEMA.format(t="portico_outbox"))
        rows = [
            (f"id{i}", "crm", f"p{i % 3}", f"k{i}", state, float(i))
            for i, state in enumerate(["delivered"] * 4 + ["pending"] * 6 + ["dead"])
        ]
        conn.executemany(
            "INSERT INTO portico_outbox (id, kind, integration, ordering_key, idempotency_key,"
            " payload, state, enqueued_at, available_at) VALUES (?, 'add_note', ?, ?, ?, '{}',"
            " ?, ?, 0)",
            rows,
        )
    box = SqliteOutbox(path, clock=clock, mode="existing")
    status = await box.status()
    assert (status.pending, status.dead, status.delivered) == (6, 1, 4)
    heads = [e.id for e in await box.claim(limit=32, lease_seconds=LEASE)]
    assert heads == ["id4", "id5", "id6"]  # the oldest pending of p1, p2 and p0
    await box.close()
    reopened = SqliteOutbox(path, clock=clock)
    assert (await reopened.status()).in_flight == 3
    await reopened.close()


async def test_heads_of_the_earlier_layout_are_rebuilt_in_claim_order(tmp_path, clock):
    """
    Heads keyed by ordering key (the earlier layout) are rebuilt keyed by ``seq`` when a writer
    opens the file: leases, order and the delivered counters carry over.
    """
    path = tmp_path / "heads.sqlite3"
    box = SqliteOutbox(path, clock=clock)
    for contact in ("c1", "c2", "c1"):
        await box.enqueue(note(contact, "a"))
    first = await box.claim(limit=1, lease_seconds=LEASE)
    assert len(first) == 1
    [delivered] = await box.claim(limit=1, lease_seconds=LEASE)
    assert await box.mark_delivered(delivered)
    await box.close()
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "ALTER TABLE portico_outbox_heads RENAME TO h_new;"
            "CREATE TABLE portico_outbox_heads (ordering_key TEXT PRIMARY KEY, "
            "seq INTEGER NOT NULL UNIQUE, integration TEXT NOT NULL, due_at REAL NOT NULL, "
            "lease_until REAL);"
            "INSERT INTO portico_outbox_heads SELECT ordering_key, seq, integration, due_at, "
            "lease_until FROM h_new; DROP TABLE h_new;"
        )
    reopened = SqliteOutbox(path, clock=clock)
    status = await reopened.status()
    assert (status.pending, status.in_flight, status.delivered) == (2, 1, 1)
    assert await reopened.claim(limit=32, lease_seconds=LEASE) == []  # c1 is still leased
    await reopened.close()
    with sqlite3.connect(path) as conn:
        pk = [r[1] for r in conn.execute("PRAGMA table_info(portico_outbox_heads)") if r[5]]
        heads = conn.execute("SELECT ordering_key FROM portico_outbox_heads ORDER BY rowid")
        assert pk == ["seq"]
        assert [k for (k,) in heads] == [line("c1")]


_OPEN_QUERIES = (
    "SELECT integration, state, COUNT(*), MIN(enqueued_at) FROM {t} "
    "WHERE state IN ('pending', 'dead') GROUP BY state, integration",
    "SELECT id FROM {t} WHERE state IN ('pending', 'dead') AND state = 'dead' "
    "AND (? IS NULL OR integration = ?) ORDER BY seq LIMIT 5",
)


async def test_delivered_rows_are_not_in_the_status_index_on_sqlite(tmp_path, clock):
    """
    The ``open`` index holds pending and dead rows only (a delivery writes no entry there), an
    earlier version's full ``status`` index is dropped, and status and dead-letter queries
    still read the index, never the table.
    """
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(_OLD_SCHEMA.format(t="portico_outbox"))
        conn.execute("CREATE INDEX portico_outbox_status ON portico_outbox (state, integration)")
    box = SqliteOutbox(path, clock=clock)
    await box.enqueue(note("c1", "a"))
    [entry] = await box.claim(limit=1, lease_seconds=LEASE)
    assert await box.mark_delivered(entry)
    await box.close()
    with sqlite3.connect(path) as conn:
        indexes = dict(
            conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        )
        assert "portico_outbox_status" not in indexes
        assert "WHERE state IN ('pending', 'dead')" in indexes["portico_outbox_open"]
        entries = conn.execute(
            "SELECT COUNT(*) FROM portico_outbox INDEXED BY portico_outbox_open "
            "WHERE state IN ('pending', 'dead')"
        ).fetchone()
        assert entries == (0,)  # the delivered row left no entry
        for query in _OPEN_QUERIES:
            text = query.format(t="portico_outbox")
            plan = [
                r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + text, (None,) * text.count("?"))
            ]
            assert any("portico_outbox_open" in step for step in plan), plan
            assert not any(step.startswith("SCAN portico_outbox") for step in plan), plan


async def test_delivered_rows_are_not_in_the_status_index_on_postgresql(postgres_url, clock):
    """The same on PostgreSQL: an earlier ``status`` index is replaced by the partial one."""
    import psycopg

    from portico.adapters.outbox.postgres import PostgresOutbox

    table = f"open_{uuid.uuid4().hex[:8]}"
    box = PostgresOutbox(postgres_url, table=table, clock=clock)
    await box.status()
    await box.close()
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        await conn.execute(f"DROP INDEX {table}_open")  # as an earlier version left it
        await conn.execute(f"CREATE INDEX {table}_status ON {table} (state, integration)")
    box = PostgresOutbox(postgres_url, table=table, clock=clock)
    try:
        await box.enqueue(note("c1", "a"))
        assert await box.mark_delivered_many(await box.claim(limit=1, lease_seconds=LEASE))
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
            cur = await conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", (table,)
            )
            indexes: dict[str, str] = dict(await cur.fetchall())
            assert f"{table}_status" not in indexes
            assert (
                "WHERE (state = ANY (ARRAY['pending'::text, 'dead'::text]))"
                in (indexes[f"{table}_open"])
            )
            await conn.execute("SET enable_seqscan = off")
            for query in _OPEN_QUERIES:
                text = query.format(t=table).replace("?", "%s::text")
                cur = await conn.execute("EXPLAIN " + text, (None,) * text.count("%s"))
                plan = " ".join(r[0] for r in await cur.fetchall())
                assert f"{table}_open" in plan, plan
        assert (await box.status()).delivered == 1
    finally:
        await box.close()
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {table}, {table}_heads, {table}_counts")


async def _vm_steps_per_command(tmp_path, name: str, pending: int, keys: int | None) -> float:
    """SQLite VM steps (in thousands of instructions) per command claimed (runs of 8) and
    delivered, on a file holding ``pending`` rows (``keys`` busy keys, or all distinct)."""
    path = tmp_path / f"{name}.sqlite3"
    box = SqliteOutbox(path)
    await box.status()
    await box.close()
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO portico_outbox (id, kind, integration, ordering_key, idempotency_key, "
            "payload, enqueued_at, available_at) VALUES (?, 'add_note', 'crm', ?, ?, '{}', 1, 1)",
            ((f"p{i}", f"k{i % keys if keys else i}", f"i{i}") for i in range(pending)),
        )
        conn.execute("DROP TABLE portico_outbox_heads")  # rebuilt from the rows at open
        conn.execute("DROP TABLE portico_outbox_counts")
        conn.execute("ANALYZE")
    box = SqliteOutbox(path)
    await box.status()
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    def count(on: bool) -> None:
        box._worker.connection().set_progress_handler(tick if on else None, 1000)

    await box._worker.run(count, True)
    done = 0
    for _ in range(8):
        batch = await box.claim(limit=32, lease_seconds=LEASE, per_key=8)
        done += len(await box.mark_delivered_many(batch))
    await box._worker.run(count, False)
    await box.close()
    assert done == 256
    return steps / done


async def test_a_claim_and_its_delivery_cost_the_same_whatever_waits_behind(tmp_path):
    """
    SQLite's instruction count per command claimed and delivered does not grow with the
    backlog (distinct keys, and 4 busy keys whose queues hold thousands each): no statement of
    the hot path scans the table or a key's queue.
    """
    for keys in (None, 4):
        small = await _vm_steps_per_command(tmp_path, f"s{keys}", 400, keys)
        large = await _vm_steps_per_command(tmp_path, f"l{keys}", 40_000, keys)
        assert large < small * 1.5, (keys, small, large)


async def test_a_claim_on_postgresql_reads_no_bitmap_of_the_backlog_with_stale_statistics(
    postgres_url, clock
):
    """
    Statistics taken while the table was empty, then 20,000 rows of 4 busy keys: the claim's
    plan reads rows by key (no bitmap of the whole ``_line`` index, which grows with the backlog).
    """
    import psycopg
    from psycopg import sql

    from portico.adapters.outbox.postgres import PostgresOutbox

    table = f"stale_{uuid.uuid4().hex[:8]}"
    box = PostgresOutbox(postgres_url, table=table, clock=clock)
    try:
        await box.status()
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
            await conn.execute(f"ANALYZE {table}")
            await conn.execute(
                f"INSERT INTO {table} (id, kind, integration, ordering_key, idempotency_key, "  # noqa: S608
                "payload, enqueued_at, available_at) SELECT 'p' || i, 'add_note', 'crm', "
                "'k' || (i % 4), 'i' || i, '{}', 1, 1 FROM generate_series(1, 20000) i"
            )
            await conn.execute(
                f"INSERT INTO {table}_heads SELECT DISTINCT ON (ordering_key) ordering_key, seq, "  # noqa: S608
                f"integration, available_at, NULL FROM {table} ORDER BY ordering_key, seq"
            )
            await conn.execute(f"VACUUM {table}")  # the visibility map; statistics stay old
        conn = await box._connection()
        params = {
            "now": clock(),
            "all": True,
            "only": [],
            "limit": 32,
            "lease": LEASE,
            "lease_now": clock(),
            "per_key": 8,
        }
        cur = await conn.execute(sql.SQL("EXPLAIN (COSTS OFF) ") + box._claim_sql, params)
        plan = "\n".join(r[0] for r in await cur.fetchall())
        assert "Bitmap" not in plan, plan
        assert len(await box.claim(limit=32, lease_seconds=LEASE, per_key=8)) == 32
    finally:
        await box.close()
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {table}, {table}_heads, {table}_counts")
