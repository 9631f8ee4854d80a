"""
The outbox claim as its contents grow (issue 14): per command claimed and delivered, on SQLite and
PostgreSQL, against a plain queue in the same run.

Run: ``make bench`` or ``.venv/bin/python -m bench.outbox_scale``. Backlogs of 1k, 10k and 100k
pending commands by default, and 1M with ``PORTICO_BENCH_FULL=1`` (the history case then sits
behind 1M delivered rows instead of 100k; ``bench/results/outbox_scale_1m.txt`` holds such a
run). PostgreSQL comes from ``PORTICO_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``); a private database is created and dropped;
without a server its rows are skipped. ``PORTICO_BENCH_STORES=postgresql`` runs one store.

Cases: ``distinct`` (every command its own recipient), ``hot`` (10 busy recipients: a claim
fills its batch with runs of up to ``per_key`` consecutive commands per recipient, the relay's
default, printed in the header), ``history`` (2,000 pending behind a long delivered history),
and on PostgreSQL ``stale`` (``history`` with the statistics taken before the rows arrived) and
``stale hot`` (the largest ``hot`` backlog, statistics taken before it arrived).
The outbox side claims with that same ``per_key`` in every case.
The plain queue is ``INSERT`` + ``SELECT ... ORDER BY seq LIMIT 32 FOR UPDATE SKIP LOCKED`` (with
a partial index on pending rows, so it too is flat) and one ``UPDATE`` per claimed batch on
delivery (the target's baseline), through the same driver and thread hop; it keeps no
per-recipient order. The outbox records each batch with ``mark_delivered_many``, as the relay
does; each row also shows, for reference, the plain queue delivering row by row (one
transaction per command, the baseline of the figures in issue 14). Both are filled with the same
rows by bulk SQL (the outbox then builds its heads as it does when upgrading an older table).
Targets: every ratio within 2x of the plain queue, and the largest backlog within 1.5x of 1k.

Method: both sides are filled, then each claims and delivers `WARM_UP` batches untimed (a relay
runs for hours: its statements are prepared and its caches warm; the plain queue gets the same),
then `ROUNDS` rounds alternate between them on their tables, each round starting at the next
side, so drift on a shared machine hits both alike; a row reports the median of the per-round
ratios (and of the per-round costs).

Last, for SQLite, where the cost goes: the plain queue, then its claim and delivery on the
outbox's own table with a little more of what an outbox row needs at each rung (a lease token
made in SQL, the 17 columns of an entry returned, the per-recipient index, the status and
retention indexes), then the outbox, which adds the heads, runs, counters and entries.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from bench._common import header
from portico.adapters.outbox._rows import COLUMNS
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.sqlite_worker import SQLiteWorker, open_wal
from portico.app.services.relay_settings import DEFAULT_PER_KEY


FULL = os.environ.get("PORTICO_BENCH_FULL") == "1"
SIZES = (1_000, 10_000, 100_000, 1_000_000) if FULL else (1_000, 10_000, 100_000)
HISTORY = 1_000_000 if FULL else 100_000
MEASURED = 2_048  # commands claimed and delivered per row
BATCH = 32
WARM_UP = 6  # untimed batches per side before the rounds
ROUNDS = 3
LADDER_ROUNDS = 7  # the ladder's rungs differ by a few microseconds: more rounds
HOT_KEYS = 10
STORES = tuple(os.environ.get("PORTICO_BENCH_STORES", "sqlite,postgresql").split(","))
PG_URL = os.environ.get("PORTICO_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

_COLS = "id, kind, integration, ordering_key, idempotency_key, payload, state, enqueued_at, "
_COLS += "available_at, finished_at"


def _rows(pending: int, keys: int | None, delivered: int) -> list[tuple[Any, ...]]:
    """Delivered history first, then the pending backlog (``keys`` recipients, or all distinct)."""
    out: list[tuple[Any, ...]] = []
    for i in range(delivered):
        out.append((f"d{i}", "send_message", "messaging", f"h{i}", f"hk{i}", "x", "delivered",
                    1.0, 1.0, 2.0))  # fmt: skip
    for i in range(pending):
        key = f"k{i % keys}" if keys else f"k{i}"
        out.append((f"p{i}", "send_message", "messaging", key, f"pk{i}", "x", "pending",
                    1.0, 1.0, None))  # fmt: skip
    return out


# ---------------------------------------------------------------- SQLite


def _sqlite_fill(path: Path, table: str, rows: list[tuple[Any, ...]]) -> None:
    with sqlite3.connect(path) as conn:
        conn.executemany(
            f"INSERT INTO {table} ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            rows,
        )
        conn.execute(f"DROP TABLE {table}_heads")  # rebuilt from the rows at the next open
        conn.execute(f"DROP TABLE {table}_counts")
    conn.close()


Drain = Callable[[int], Awaitable[float]]  # claims and delivers n commands: us per command


async def _measured(
    sides: Sequence[AbstractAsyncContextManager[Drain]], rounds: int, n: int
) -> list[list[float]]:
    """
    Open every side, warm each up (`WARM_UP` batches), then each side's cost per command in
    each of ``rounds`` rounds of ``n`` commands. Each round starts at the next side, so no
    side always runs first (or right after the same one).
    """
    async with AsyncExitStack() as stack:
        drains = [await stack.enter_async_context(side) for side in sides]
        for drain in drains:
            await drain(WARM_UP * BATCH)
        costs: list[list[float]] = [[] for _ in drains]
        for round_ in range(rounds):
            for i in range(len(drains)):
                at = (i + round_) % len(drains)
                costs[at].append(await drains[at](n))
    return costs


async def _timed(step: Callable[[], Awaitable[int]], n: int) -> float:
    """Microseconds per command of ``step`` (one claimed batch, returns its size) over ``n``."""
    done = 0
    started = time.perf_counter()
    while done < n:
        got = await step()
        if not got:
            break
        done += got
    return (time.perf_counter() - started) / max(done, 1) * 1e6


def _outbox_drain(box: Any) -> Drain:
    async def step() -> int:
        batch = await box.claim(limit=BATCH, lease_seconds=60, per_key=DEFAULT_PER_KEY)
        if batch:
            await box.mark_delivered_many(batch)  # as the relay records a batch's deliveries
        return len(batch)

    return lambda n: _timed(step, n)


def _plain_drain(
    claim: Callable[[], Awaitable[list[tuple[Any, ...]]]],
    deliver: Callable[[list[int]], Awaitable[None]],
    *,
    batched: bool,
) -> Drain:
    """``batched``: one delivery transaction per claimed batch, else one per row."""

    async def step() -> int:
        batch = await claim()
        if batched:
            await deliver([row[0] for row in batch])
        else:
            for row in batch:
                await deliver([row[0]])
        return len(batch)

    return lambda n: _timed(step, n)


@asynccontextmanager
async def sqlite_outbox(rows: list[tuple[Any, ...]], tmp: Path) -> AsyncIterator[Drain]:
    """`SqliteOutbox` on a file filled with ``rows``."""
    path, table = tmp / f"o{uuid.uuid4().hex[:6]}.sqlite3", "portico_outbox"
    box = SqliteOutbox(path)
    await box.status()
    await box.close()
    _sqlite_fill(path, table, rows)
    box = SqliteOutbox(path)
    await box.status()  # the upgrade builds the heads
    try:
        yield _outbox_drain(box)
    finally:
        await box.close()


@asynccontextmanager
async def sqlite_plain(
    rows: list[tuple[Any, ...]], tmp: Path, *, batched: bool
) -> AsyncIterator[Drain]:
    """A plain queue on the same kind of file and worker thread."""
    path = tmp / f"q{uuid.uuid4().hex[:6]}.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE q (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT, kind TEXT, "
            "integration TEXT, ordering_key TEXT, idempotency_key TEXT UNIQUE, payload TEXT, "
            "state TEXT, enqueued_at REAL, available_at REAL, finished_at REAL, lease_until REAL);"
            "CREATE INDEX q_pending ON q (seq) WHERE state = 'pending';"
        )
        conn.executemany(f"INSERT INTO q ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)  # noqa: S608
    conn.close()
    async with _sqlite_queue(path, "q", batched=batched) as drain:
        yield drain


@asynccontextmanager
async def _sqlite_queue(
    path: Path,
    t: str,
    *,
    batched: bool,
    claim_sets: str = "",
    columns: str = "seq, id, payload",
    deliver_sets: str = "",
) -> AsyncIterator[Drain]:
    """
    The plain queue's claim (``UPDATE ... WHERE seq IN (SELECT ... LIMIT 32) RETURNING``) and
    delivery on table ``t`` of ``path``, on a worker thread as the outbox's; ``claim_sets`` and
    ``deliver_sets`` add columns to set, ``columns`` what the claim returns (``seq`` first).
    """

    def opener() -> sqlite3.Connection:
        return open_wal(str(path), busy_timeout=10, synchronous="NORMAL", check_same_thread=False)

    worker = SQLiteWorker(opener, name="plain", thread_name="plain")

    def claim() -> list[tuple[Any, ...]]:
        conn = worker.connection()
        conn.execute("BEGIN IMMEDIATE")
        got = conn.execute(
            f"UPDATE {t} SET state = 'leased', lease_until = 1e12{claim_sets} WHERE seq IN "  # noqa: S608
            f"(SELECT seq FROM {t} WHERE state = 'pending' ORDER BY seq LIMIT ?) "
            f"RETURNING {columns}",
            (BATCH,),
        ).fetchall()
        conn.execute("COMMIT")
        return got

    def deliver(seqs: list[int]) -> None:
        conn = worker.connection()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            f"UPDATE {t} SET state = 'delivered', finished_at = 2{deliver_sets} WHERE seq = ?",  # noqa: S608
            [(s,) for s in seqs],
        )
        conn.execute("COMMIT")

    try:
        yield _plain_drain(
            lambda: worker.run(claim), lambda seqs: worker.run(deliver, seqs), batched=batched
        )
    finally:
        await worker.close()


# The rungs from the plain queue to the outbox, on the outbox's own table: what a row costs
# before any heads bookkeeping. (label, indexes kept, the lease token, the columns returned.)
_ENTRY = "seq, " + COLUMNS.replace("seq, ", "")  # seq first: the plain deliver reads row[0]
_NEW_LEASE = "lower(hex(randomblob(16)))"  # 32 random hex digits, as the outbox makes
_RUNGS = (
    ("plain queue on the outbox's table", (), "'t'", "seq, id, payload"),
    ("+ a lease token made in SQL", (), _NEW_LEASE, "seq, id, payload"),
    ("+ returning an entry's 17 columns", (), _NEW_LEASE, _ENTRY),
    ("+ the per-recipient index (_line)", ("line",), _NEW_LEASE, _ENTRY),
    ("+ the status and retention indexes", ("line", "open", "done"), _NEW_LEASE, _ENTRY),
)


@asynccontextmanager
async def sqlite_rung(
    rows: list[tuple[Any, ...]], tmp: Path, keep: tuple[str, ...], token: str, columns: str
) -> AsyncIterator[Drain]:
    """The plain queue's claim and batched delivery on the outbox's table, ``keep`` its indexes."""
    path, t = tmp / f"r{uuid.uuid4().hex[:6]}.sqlite3", "portico_outbox"
    box = SqliteOutbox(path)
    await box.status()
    await box.close()
    _sqlite_fill(path, t, rows)
    with sqlite3.connect(path) as conn:
        for index in {"line", "open", "done"} - set(keep):
            conn.execute(f"DROP INDEX {t}_{index}")
        conn.execute(f"CREATE INDEX {t}_pending ON {t} (seq) WHERE state = 'pending'")
    conn.close()
    async with _sqlite_queue(
        path,
        t,
        batched=True,
        claim_sets=f", lease_token = {token}, attempts = attempts + 1",
        columns=columns,
        deliver_sets=", lease_token = NULL, lease_until = NULL",
    ) as drain:
        yield drain


async def sqlite_ladder(pending: int = 10_000) -> None:
    """
    Where the outbox's cost per command goes on SQLite: the plain queue, the same claim and
    delivery on the outbox's table with more of what an outbox row needs at each rung, then the
    outbox itself; all through the same worker thread, alternating in `LADDER_ROUNDS` rounds.
    """
    rows = _rows(pending, None, 0)
    with tempfile.TemporaryDirectory() as tmp:
        sides = [sqlite_plain(rows, Path(tmp), batched=True)]
        sides += [sqlite_rung(rows, Path(tmp), *rung[1:]) for rung in _RUNGS]
        sides.append(sqlite_outbox(rows, Path(tmp)))
        costs = await _measured(sides, LADDER_ROUNDS, MEASURED // ROUNDS)
    labels = ["the plain queue (the baseline above)", *(rung[0] for rung in _RUNGS)]
    labels.append("the outbox (heads, runs, counters, entries)")
    print(
        f"where the cost goes, sqlite, {pending:,} distinct pending, batched claim + deliver "
        "(best of rounds, as timeit: the rungs differ by microseconds; x of the plain queue):"
    )
    base = min(costs[0])
    for label, cost in zip(labels, costs, strict=True):
        print(f"  {label:<46}{min(cost):6.0f} us  {min(cost) / base:4.2f}x")


# ---------------------------------------------------------------- PostgreSQL


@asynccontextmanager
async def pg_outbox(url: str, rows: list[tuple[Any, ...]], *, stale: bool) -> AsyncIterator[Drain]:
    """`PostgresOutbox` on a table filled with ``rows`` (``stale``: ANALYZE before the fill)."""
    import psycopg

    from portico.adapters.outbox.postgres import PostgresOutbox

    table = f"o_{uuid.uuid4().hex[:8]}"
    box = PostgresOutbox(url, table=table)
    await box.status()
    await box.close()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"DROP TABLE {table}_heads, {table}_counts")
        if stale:
            await conn.execute(f"ANALYZE {table}")
        await _pg_fill(conn, table, rows)
    box = PostgresOutbox(url, table=table)
    await box.status()  # the upgrade builds the heads
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        if stale:
            await conn.execute(f"VACUUM {table}")  # visibility map only; statistics stay old
        else:
            await conn.execute(f"VACUUM ANALYZE {table}")
            await conn.execute(f"ANALYZE {table}_heads")
    try:
        yield _outbox_drain(box)
    finally:
        await box.close()


async def _pg_fill(conn: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
    async with conn.cursor() as cur, cur.copy(f"COPY {table} ({_COLS}) FROM STDIN") as copy:
        for row in rows:
            await copy.write_row(row)


@asynccontextmanager
async def pg_plain(
    url: str, rows: list[tuple[Any, ...]], *, stale: bool, batched: bool
) -> AsyncIterator[Drain]:
    """A plain skip-locked queue on the same server and driver."""
    import psycopg

    table = f"q_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            f"CREATE TABLE {table} (seq BIGSERIAL PRIMARY KEY, id TEXT, kind TEXT, "
            "integration TEXT, ordering_key TEXT, idempotency_key TEXT UNIQUE, payload TEXT, "
            "state TEXT, enqueued_at DOUBLE PRECISION, available_at DOUBLE PRECISION, "
            "finished_at DOUBLE PRECISION, lease_until DOUBLE PRECISION)"
        )
        await conn.execute(f"CREATE INDEX ON {table} (seq) WHERE state = 'pending'")
        if stale:
            await conn.execute(f"ANALYZE {table}")
        await _pg_fill(conn, table, rows)
        await conn.execute(f"VACUUM {table}" if stale else f"VACUUM ANALYZE {table}")
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    claim_sql = (
        f"UPDATE {table} SET state = 'leased', lease_until = 1e12 WHERE seq IN (SELECT seq "  # noqa: S608
        f"FROM {table} WHERE state = 'pending' ORDER BY seq LIMIT {BATCH} "
        "FOR UPDATE SKIP LOCKED) RETURNING seq, id, payload"
    )
    deliver_sql = (
        f"UPDATE {table} SET state = 'delivered', finished_at = 2 "  # noqa: S608
        "WHERE seq = ANY(%s::bigint[])"
    )

    async def claim() -> list[tuple[Any, ...]]:
        return await (await conn.execute(claim_sql)).fetchall()

    async def deliver(seqs: list[int]) -> None:
        await conn.execute(deliver_sql, (seqs,))

    try:
        yield _plain_drain(claim, deliver, batched=batched)
    finally:
        await conn.close()


def _pg_database() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as conn:
            name = f"portico_bench_{uuid.uuid4().hex[:8]}"
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as err:
        print(f"PostgreSQL rows skipped: {type(err).__name__}")
        return None
    return f"{PG_URL.rpartition('/')[0]}/{name}"


def _drop(url: str) -> None:
    import psycopg

    name = url.rpartition("/")[2]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- report


def _cases(store: str) -> list[tuple[str, int | None, bool]]:
    cases = [("distinct", None, False), ("hot", HOT_KEYS, False), ("history", None, False)]
    stale = [("stale", None, True), ("stale hot", HOT_KEYS, True)]
    return cases + (stale if store == "postgresql" else [])


async def _paired(
    sides: tuple[AbstractAsyncContextManager[Drain], ...], pending: int
) -> tuple[float, float, float, float]:
    """
    The median cost per command of the outbox, the plain queue and the plain queue row by
    row over `ROUNDS` rounds, and the median per-round ratio outbox / plain queue.
    """
    per_round = max(BATCH, (min(MEASURED, pending) - WARM_UP * BATCH) // ROUNDS)
    costs = await _measured(sides, ROUNDS, per_round)
    ours, plain, by_row = (statistics.median(c) for c in costs)
    ratios = [o / p for o, p in zip(costs[0], costs[1], strict=True)]
    return ours, plain, by_row, statistics.median(ratios)


async def main() -> int:
    print(
        header(
            "outbox_scale: claim + deliver per command vs a plain skip-locked queue", ["psycopg"]
        )
    )
    print(
        f"up to {MEASURED} commands measured per row in {ROUNDS} alternating rounds after"
        f" {WARM_UP} warm-up batches per side, batches of {BATCH}, outbox claims with per_key"
        f" {DEFAULT_PER_KEY} (the relay's default); sizes {SIZES}"
    )
    misses = 0
    pg = _pg_database()
    try:
        for store in STORES:
            if store == "postgresql" and pg is None:
                continue
            for case, keys, stale in _cases(store):
                first: float | None = None
                sizes = {"distinct": SIZES, "hot": SIZES, "stale hot": SIZES[-1:]}.get(
                    case, (HISTORY,)
                )
                for size in sizes:
                    history = case in ("history", "stale")
                    pending = 2_000 if history else size
                    rows = _rows(pending, keys, size if history else 0)
                    with tempfile.TemporaryDirectory() as tmp:
                        if store == "sqlite":
                            sides = (
                                sqlite_outbox(rows, Path(tmp)),
                                sqlite_plain(rows, Path(tmp), batched=True),
                                sqlite_plain(rows, Path(tmp), batched=False),
                            )
                        else:
                            assert pg is not None
                            sides = (
                                pg_outbox(pg, rows, stale=stale),
                                pg_plain(pg, rows, stale=stale, batched=True),
                                pg_plain(pg, rows, stale=stale, batched=False),
                            )
                        ours, plain, by_row, r = await _paired(sides, pending)
                    first = ours if first is None else first
                    flat = ours / first
                    grows = case in ("distinct", "hot")  # the rows with a flatness target
                    ok = r <= 2.0 and (not grows or flat <= 1.5)
                    misses += not ok
                    label = f"{store:10} {case:9} " + (
                        f"2k pending behind {size:>9,} delivered"
                        if history
                        else f"{size:>9,} pending"
                    )
                    print(
                        f"{'PASS' if ok else 'MISS'} {label}: {ours:7.0f} us"
                        f" vs plain {plain:6.0f} us"
                        f" = {r:4.2f}x (median of rounds; target <= 2x)"
                        + (f"; {flat:4.2f}x of 1k (target <= 1.5x)" if grows else "")
                        + f"; plain delivering row by row {by_row:.0f} us = {ours / by_row:4.2f}x"
                    )
    finally:
        if pg is not None:
            _drop(pg)
    if "sqlite" in STORES:
        await sqlite_ladder()
    print(f"{misses} row(s) missed their target" if misses else "every row met its target")
    return 0


if __name__ == "__main__":
    asyncio.run(main())
