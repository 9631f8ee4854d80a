"""
The webhook replay stores and the failed-event log as they fill (issue 14): replay claim +
complete per second at 10k, 100k and 1M ids against the raw operations they are built on, the
memory store's bytes per id, and the failed-event log's record and count as it holds more.

Run: ``make bench`` or ``.venv/bin/python -m bench.stores_scale``. The memory store is compared
with a dict's get + set, the SQLite store with a bare ``INSERT ... ON CONFLICT`` + ``UPDATE`` on
the same kind of file, durability (``synchronous=FULL``) and worker thread, the Redis store with
bare ``SET NX PX`` + ``SET PX`` on the same client and server (a private ``redis-server`` when
the binary exists, else ``PORTICO_REDIS_URL``; without either its rows are skipped and say so).
Each figure is for the ids added on top of a store already holding the stated number, so it
shows whether growth slows the hot path. Memory per id (tracemalloc) must stay at or below 139 B.

The failed-event log holds unresolved records (an unattended log: the worst case, since they are
kept until an operator acts): ``record`` of new failures per second and ``count`` (what the
health route reads) at each size. Both must stay flat, the largest size within 1.5x of the
smallest (the outbox's flatness target): on SQLite at 10k to 1M records, on the bounded memory
log (``max_entries``, default 1,000) at its bound of 1k to 100k, where every record evicts one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench._common import header, ratio
from portico.adapters.failed_events.memory import MemoryFailedEventLog
from portico.adapters.failed_events.sqlite import SQLiteFailedEventLog
from portico.adapters.sqlite_worker import SQLiteWorker, open_wal
from portico.adapters.stores.memory import MemoryReplayStore
from portico.adapters.stores.redis_store import RedisReplayStore
from portico.adapters.stores.sqlite import SQLiteReplayStore
from portico.domain.failed_events import FailedEvent


SIZES = (10_000, 100_000, 1_000_000)
MEASURED = 5_000
MAX_BYTES_PER_ID = 139
FLAT = 1.5
FAILED_MEASURED = 1_000
COUNT_TRIES = 25  # a count is tens of microseconds (a worker-thread round trip): best of many
MEMORY_LOG_SIZES = (1_000, 10_000, 100_000)


async def _fill(
    store: MemoryReplayStore | SQLiteReplayStore | RedisReplayStore, start: int, count: int
) -> float:
    began = time.perf_counter()
    for i in range(start, start + count):
        await store.complete(await store.claim(f"evt_{i:024d}", lease_seconds=30))
    return count / (time.perf_counter() - began)


def _dict_rate(size: int) -> float:
    seen: dict[str, bool] = {f"evt_{i:024d}": True for i in range(size)}
    began = time.perf_counter()
    for i in range(size, size + MEASURED):
        key = f"evt_{i:024d}"
        if seen.get(key) is None:
            seen[key] = False
            seen[key] = True
    return MEASURED / (time.perf_counter() - began)


async def _raw_sqlite_rate(path: Path, size: int) -> float:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE r (key TEXT PRIMARY KEY, done INTEGER, expires_at REAL)")
        conn.executemany(
            "INSERT INTO r VALUES (?, 1, 1e12)", ((f"evt_{i:024d}",) for i in range(size))
        )
    conn.close()
    worker = SQLiteWorker(
        lambda: open_wal(str(path), busy_timeout=10, synchronous="FULL", check_same_thread=False),
        name="raw",
        thread_name="raw",
    )

    def claim(key: str) -> None:
        worker.connection().execute(
            "INSERT INTO r VALUES (?, 0, 1e12) ON CONFLICT (key) DO NOTHING", (key,)
        )

    def complete(key: str) -> None:
        worker.connection().execute("UPDATE r SET done = 1 WHERE key = ?", (key,))

    began = time.perf_counter()
    for i in range(size, size + MEASURED):
        key = f"evt_{i:024d}"
        await worker.run(claim, key)
        await worker.run(complete, key)
    rate = MEASURED / (time.perf_counter() - began)
    await worker.close()
    return rate


@contextmanager
def _redis() -> Iterator[str | None]:
    """A private redis-server on a free port (AOF, fsync each second), else PORTICO_REDIS_URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield os.environ.get("PORTICO_REDIS_URL")
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as workdir:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "yes", "--appendfsync", "everysec", "--dir", workdir]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


async def _redis_rows(url: str, size: int) -> tuple[float, float]:
    """(store claim+complete/s, bare SET NX PX + SET PX/s) with ``size`` ids already held."""
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    await client.flushdb()
    for start in range(0, size, 10_000):
        async with client.pipeline(transaction=False) as pipe:
            for i in range(start, min(size, start + 10_000)):
                pipe.set(f"portico:replay:evt_{i:024d}", "done", px=600_000_000)
            await pipe.execute()
    store = RedisReplayStore(client=client)
    ours = await _fill(store, size, MEASURED)
    began = time.perf_counter()
    for i in range(size + MEASURED, size + 2 * MEASURED):
        key = f"raw:evt_{i:024d}"
        await client.set(key, "claim:token", nx=True, px=30_000)
        await client.set(key, "done", px=600_000_000)
    raw = MEASURED / (time.perf_counter() - began)
    await client.aclose()
    return ours, raw


def _failure(i: int) -> FailedEvent:
    """The ``i``-th permanently failed Stripe event, as the ingress records it."""
    return FailedEvent(
        provider="stripe",
        event_id=f"evt_{i:024d}",
        event_type="payment_intent.succeeded",
        handler="record_payment",
        error="InvalidRequest",
        reason="InvalidRequest",
        first_failed_at=1.7e9 + i,
        last_failed_at=1.7e9 + i,
        url="/webhooks/stripe",
        content_type="application/json",
        body=b'{"id": "evt", "type": "payment_intent.succeeded"}',
    )


async def _log_rates(
    log: MemoryFailedEventLog | SQLiteFailedEventLog, start: int
) -> tuple[float, float]:
    """(``record`` of new failures per second, the best of `COUNT_TRIES` ``count`` in ms)."""
    began = time.perf_counter()
    for i in range(start, start + FAILED_MEASURED):
        await log.record(_failure(i))
    rate = FAILED_MEASURED / (time.perf_counter() - began)
    counts = []
    for _ in range(COUNT_TRIES):
        began = time.perf_counter()
        await log.count()
        counts.append(time.perf_counter() - began)
    return rate, min(counts) * 1e3


def _flat(what: str, small: tuple[int, float], large: tuple[int, float]) -> str:
    """PASS when the cost per operation at the larger size is within `FLAT` of the smaller's."""
    slower = large[1] / small[1]
    verdict = "PASS" if slower <= FLAT else "MISS"
    return (
        f"{verdict} {what} with {large[0]:,} held takes {slower:.2f}x its time with "
        f"{small[0]:,} (target <= {FLAT}x: flat)"
    )


async def _sqlite_log(path: Path, size: int) -> tuple[float, float]:
    """The SQLite log's rates with ``size`` unresolved records already in it (filled in bulk)."""
    log = SQLiteFailedEventLog(path)
    await log.record(_failure(0))  # creates the table (its counter's triggers count the fill)
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO portico_failed_events VALUES "
            "(?, 'stripe', ?, 'payment_intent.succeeded', 'record_payment', 'InvalidRequest', "
            "'InvalidRequest', ?, ?, 1, NULL, '/webhooks/stripe', 'application/json', x'7b7d')",
            (
                (f"stripe:evt_{i:024d}", f"evt_{i:024d}", 1.7e9 + i, 1.7e9 + i)
                for i in range(1, size)
            ),
        )
    conn.close()
    try:
        return await _log_rates(log, size)
    finally:
        await log.close()


async def _failed_event_rows() -> None:
    print("failed-event log, unresolved records held: record of new failures/s, one count()")
    sqlite: dict[int, tuple[float, float]] = {}
    for size in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            rate, count_ms = sqlite[size] = await _sqlite_log(Path(tmp) / "failed.sqlite3", size)
        print(f"  sqlite  at {size:>9,} records: {rate:7,.0f} record/s, count() {count_ms:8.2f} ms")
    memory: dict[int, tuple[float, float]] = {}
    for size in MEMORY_LOG_SIZES:
        log = MemoryFailedEventLog(max_entries=size)
        for i in range(size):
            await log.record(_failure(i))
        rate, count_ms = memory[size] = await _log_rates(log, size)
        print(
            f"  memory  at {size:>9,} records (its bound, each record evicts one): "
            f"{rate:7,.0f} record/s, count() {count_ms:8.2f} ms"
        )
    for name, rows, sizes in (("sqlite", sqlite, SIZES), ("memory", memory, MEMORY_LOG_SIZES)):
        small, large = sizes[0], sizes[-1]
        record = (small, 1 / rows[small][0]), (large, 1 / rows[large][0])
        print(_flat(f"{name} failed-event log: a record", *record))
        count = (small, rows[small][1]), (large, rows[large][1])
        print(_flat(f"{name} failed-event log: count()", *count))


async def main() -> None:
    print(header("stores_scale: replay stores claim + complete as they fill"))
    for size in SIZES:
        memory = MemoryReplayStore(max_entries=size + MEASURED)
        await _fill(memory, 0, size)
        ours = await _fill(memory, size, MEASURED)
        print(ratio(f"memory  at {size:>9,} ids, claim+complete/s vs dict", ours, _dict_rate(size)))
        with tempfile.TemporaryDirectory() as tmp:
            store = SQLiteReplayStore(Path(tmp) / "replay.sqlite3")
            await _fill(store, 0, 1)  # creates the table; the rest is filled by bulk SQL
            with sqlite3.connect(Path(tmp) / "replay.sqlite3") as conn:
                conn.executemany(
                    "INSERT INTO portico_replay (key, token, done, expires_at) "
                    "VALUES (?, NULL, 1, 1e12)",
                    ((f"evt_{i:024d}",) for i in range(1, size)),
                )
            conn.close()
            ours = await _fill(store, size, MEASURED)
            await store.close()
            raw = await _raw_sqlite_rate(Path(tmp) / "raw.sqlite3", size)
        print(ratio(f"sqlite  at {size:>9,} ids, claim+complete/s vs raw SQL", ours, raw))
        with _redis() as url:
            if url is None:
                print(f"redis   at {size:>9,} ids: skipped (no redis-server, no PORTICO_REDIS_URL)")
            else:
                ours, raw = await _redis_rows(url, size)
                print(
                    ratio(f"redis   at {size:>9,} ids, claim+complete/s vs SET NX + SET", ours, raw)
                )
    count = SIZES[-1]
    tracemalloc.start()
    memory = MemoryReplayStore(max_entries=count)
    before = tracemalloc.get_traced_memory()[0]
    await _fill(memory, 0, count)
    per_id = (tracemalloc.get_traced_memory()[0] - before) / count
    tracemalloc.stop()
    verdict = "PASS" if per_id <= MAX_BYTES_PER_ID else "MISS"
    print(f"{verdict} memory store: {per_id:.0f} B per id at {count:,} ids (target <= 139 B)")
    await _failed_event_rows()


if __name__ == "__main__":
    asyncio.run(main())
