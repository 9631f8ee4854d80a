"""Several processes, each with its own ingress, against one Redis: each event processed once."""

from __future__ import annotations

import multiprocessing
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest
from redis.asyncio import Redis

from portico.adapters.stores.redis_store import RedisReplayStore

from .ingress_doubles import Paid, delivery, make_ingress
from .ingress_workers import redis_ingress_worker


pytestmark = pytest.mark.redis

WORKERS = 4
COPIES = 100


async def test_processes_sharing_redis_process_the_event_once(redis_url, monkeypatch):
    """4 processes x 100 concurrent copies of one delivery: the handler runs exactly once."""
    # A spawned child imports the worker by this package's name: give it the same search path.
    package = sys.modules[redis_ingress_worker.__module__.rpartition(".")[0]]
    for entry in package.__path__:
        monkeypatch.syspath_prepend(str(Path(entry).parent))
    prefix = f"test:{uuid.uuid4().hex}:"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    processes = [
        ctx.Process(
            target=redis_ingress_worker,
            args=(redis_url, prefix, "evt_shared", COPIES, barrier, results),
        )
        for _ in range(WORKERS)
    ]
    for process in processes:
        process.start()
    answers = [results.get(timeout=60) for _ in processes]  # a crashed child fails in 60 s
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    flat = [answer for batch in answers for answer in batch]
    assert len(flat) == WORKERS * COPIES
    assert {status for status, _ in flat} <= {200, 503}
    assert sum(1 for _, body in flat if body.get("processed") == 1) == 1
    counter = Redis.from_url(redis_url)
    try:
        processed = await counter.get(f"{prefix}processed:evt_shared")
        assert processed is not None
        assert int(processed) == 1
    finally:
        await counter.aclose()
    # The providers' retries of every 503 are then answered as duplicates.
    store = RedisReplayStore(redis_url, prefix=prefix)
    try:
        late = await make_ingress(replay_store=store).handle("test", delivery("evt_shared"))
        assert late.body == {"received": True, "duplicate": True}
    finally:
        await store.close()


async def test_failed_handler_is_retried_across_processes_via_redis(redis_url):
    """A claim released after a handler failure is claimable by another worker's ingress."""
    prefix = f"test:{uuid.uuid4().hex}:"
    first_store = RedisReplayStore(redis_url, prefix=prefix)
    second_store = RedisReplayStore(redis_url, prefix=prefix)
    try:
        failing = make_ingress(replay_store=first_store)
        healthy = make_ingress(replay_store=second_store)
        seen: list[str] = []

        async def broken(_event: Paid) -> None:
            raise RuntimeError("downstream")

        async def works(event: Paid) -> None:
            seen.append(event.event_id)

        failing.on(Paid, broken)
        healthy.on(Paid, works)
        assert (await failing.handle("test", delivery("evt_r"))).status == 500
        assert (await healthy.handle("test", delivery("evt_r"))).status == 200
        again = await failing.handle("test", delivery("evt_r"))
        assert isinstance(again.body, Mapping)
        assert again.body["duplicate"] is True
        assert seen == ["evt_r"]
    finally:
        await first_store.close()
        await second_store.close()
