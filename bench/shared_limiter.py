"""
Acquire cost of `SharedRateLimiter` (one GCRA Lua script per call) against the `limits`
library's async Redis moving-window limiter, on the same Redis in the same run.

Run: ``make bench`` or ``.venv/bin/python -m bench.shared_limiter``. Redis: a private
redis-server on a free port when the binary exists, else ``PORTICO_REDIS_URL``. Both limiters
get a quota far above the call rate, so every acquire is admitted and only its cost is measured
(median and p99 of N sequential calls, one connection each).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from bench._common import header, ratio
from portico.adapters.redis_client import fail_fast_client
from portico.adapters.resilience import SharedRateLimiter


N = 5_000


@contextmanager
def _redis() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        yield os.environ.get("PORTICO_REDIS_URL", "redis://127.0.0.1:6379/0")
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


async def _timed(acquire: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    for _ in range(200):  # warm up: connection, script load
        await acquire()
    samples = []
    for _ in range(N):
        started = time.perf_counter()
        await acquire()
        samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.median(samples) * 1e6, samples[int(len(samples) * 0.99)] * 1e6


async def main() -> None:
    print(header("shared_limiter: acquire cost on one Redis", ["redis", "limits"]))
    from limits import RateLimitItemPerSecond
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import MovingWindowRateLimiter

    with _redis() as url:
        client = fail_fast_client(url, timeout=1.0)
        ours = SharedRateLimiter(
            "bench", client=client, key=f"bench:{uuid.uuid4().hex}", rate=1e6, burst=1000
        )
        storage = RedisStorage(url.replace("redis://", "async+redis://"), implementation="redispy")
        moving = MovingWindowRateLimiter(storage)
        item = RateLimitItemPerSecond(1_000_000)
        name = uuid.uuid4().hex

        async def theirs() -> None:
            if not await moving.hit(item, "bench", name):
                raise RuntimeError("limits refused a call under its quota")

        rounds = []
        for _ in range(3):  # alternate, so drift on a shared machine hits both alike
            rounds.append((await _timed(ours.acquire), await _timed(theirs)))
        await client.aclose()
    ours_median = statistics.median(r[0][0] for r in rounds)
    ours_p99 = statistics.median(r[0][1] for r in rounds)
    theirs_median = statistics.median(r[1][0] for r in rounds)
    theirs_p99 = statistics.median(r[1][1] for r in rounds)
    print(f"SharedRateLimiter (GCRA):        median {ours_median:.0f} us, p99 {ours_p99:.0f} us")
    print(f"limits moving window:    median {theirs_median:.0f} us, p99 {theirs_p99:.0f} us")
    print(
        ratio("acquires per second, ours / limits (median)", 1e6 / ours_median, 1e6 / theirs_median)
    )


if __name__ == "__main__":
    asyncio.run(main())
