"""
The webhook replay stores as they fill (issue 14): claim + complete per second at 10k and 100k
ids (1M with ``PORTICO_BENCH_FULL=1``) against the raw operations they are built on, and the
memory store's bytes per id.

Run: ``make bench`` or ``.venv/bin/python -m bench.stores_scale``. The memory store is compared
with a dict's get + set, the SQLite store with a bare ``INSERT ... ON CONFLICT`` + ``UPDATE`` on
the same kind of file, durability (``synchronous=FULL``) and worker thread. Each figure is
for the ids added on top of a store
already holding the stated number, so it shows whether growth slows the hot path.
Memory per id (tracemalloc) must stay at or below 139 B.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench._common import header, ratio
from portico.adapters.sqlite_worker import SQLiteWorker, open_wal
from portico.adapters.stores.memory import MemoryReplayStore
from portico.adapters.stores.sqlite import SQLiteReplayStore


FULL = os.environ.get("PORTICO_BENCH_FULL") == "1"
SIZES = (10_000, 100_000, 1_000_000) if FULL else (10_000, 100_000)
MEASURED = 5_000
MAX_BYTES_PER_ID = 139


async def _fill(store: MemoryReplayStore | SQLiteReplayStore, start: int, count: int) -> float:
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
    count = SIZES[-1]
    tracemalloc.start()
    store = MemoryReplayStore(max_entries=count)
    before = tracemalloc.get_traced_memory()[0]
    await _fill(store, 0, count)
    per_id = (tracemalloc.get_traced_memory()[0] - before) / count
    tracemalloc.stop()
    verdict = "PASS" if per_id <= MAX_BYTES_PER_ID else "MISS"
    print(f"{verdict} memory store: {per_id:.0f} B per id at {count:,} ids (target <= 139 B)")


if __name__ == "__main__":
    asyncio.run(main())
