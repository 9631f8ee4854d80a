"""
Peak RSS of `MemoryReplayStore` holding 1,000,000 completed event ids, and proof the bound holds.

Run: ``make bench`` or ``.venv/bin/python -m bench.replay_memory`` (prints baseline and peak RSS
in MiB, and whether the bound held).
Ids look like Stripe's (``evt_`` + 24 characters); the store keeps a 128-bit digest of each.
"""

from __future__ import annotations

import asyncio
import resource
import secrets
import time

from bench._common import header
from portico.adapters.stores.memory import MemoryReplayStore


N = 1_000_000


def _rss_mib() -> float:
    # ru_maxrss is in KiB on Linux: the peak resident set of this process so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _fill(store: MemoryReplayStore, count: int, tag: str) -> None:
    for i in range(count):
        key = f"evt_{tag}{i:020d}"
        await store.complete(await store.claim(key, lease_seconds=30))


async def main() -> None:
    print(header("replay_memory: MemoryReplayStore holding 1,000,000 ids"))
    baseline = _rss_mib()
    store = MemoryReplayStore(max_entries=N)
    started = time.perf_counter()
    await _fill(store, N, secrets.token_hex(2))
    elapsed = time.perf_counter() - started
    full = _rss_mib()
    print(f"baseline RSS           {baseline:8.1f} MiB")
    print(f"1,000,000 ids held     {full:8.1f} MiB peak  ({len(store):,} entries, {elapsed:.1f} s)")
    print(f"per id                 {(full - baseline) * 1024 * 1024 / N:8.0f} bytes")
    await _fill(store, N // 2, "more")  # push past the bound: the oldest completions go
    after = _rss_mib()
    print(
        f"+500,000 past the bound {after:7.1f} MiB peak  ({len(store):,} entries, "
        f"{store.evicted:,} evicted)"
    )
    verdict = "PASS" if len(store) == N else "MISS"
    print(
        f"{verdict} the bound holds: {len(store):,} entries after {N + N // 2:,} ids (bound {N:,})"
    )


if __name__ == "__main__":
    asyncio.run(main())
