"""
The cost of checking that a SQLite store's path still names its open file, against a claim.

Run: ``.venv/bin/python -m bench.sqlite_identity``. Prints the time of one check
(`FileIdentity.check`, one ``os.stat``) and of one claim-and-complete on `SQLiteReplayStore`
(``synchronous=FULL``, which runs the check before each of its two calls), so the share of the
check in a delivery's bookkeeping is visible.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench._common import header
from portico.adapters.sqlite_worker import FileIdentity
from portico.adapters.stores.sqlite import SQLiteReplayStore


CHECKS = 200_000
CLAIMS = 2_000


def _check_cost(path: Path) -> float:
    identity = FileIdentity(path, integration="bench")
    identity.remember()
    started = time.perf_counter()
    for _ in range(CHECKS):
        identity.check()
    return (time.perf_counter() - started) / CHECKS


async def _claim_cost(path: Path) -> float:
    async with SQLiteReplayStore(path) as store:
        started = time.perf_counter()
        for i in range(CLAIMS):
            await store.complete(await store.claim(f"bench:{i}", lease_seconds=60))
        return (time.perf_counter() - started) / CLAIMS


async def main() -> None:
    print(header("sqlite_identity: the file-identity check against a claim + complete"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "replay.sqlite3"
        claim = await _claim_cost(path)
        check = _check_cost(path)
    print(f"one identity check (os.stat)     {check * 1e6:8.2f} us  ({CHECKS:,} checks)")
    print(f"one claim + complete (2 calls)   {claim * 1e6:8.1f} us  ({CLAIMS:,} events)")
    print(f"checks' share of a delivery      {2 * check / claim:8.2%}")


if __name__ == "__main__":
    asyncio.run(main())
