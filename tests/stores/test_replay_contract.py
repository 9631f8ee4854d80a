"""The `ReplayStore` contract, run against the memory, SQLite and Redis stores alike."""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid
from pathlib import Path

import pytest

from portico.domain.webhooks import ClaimOutcome
from portico.ports.webhooks import ReplayStore
from tests.stores.replay_kit import RETENTION, StoreKit
from tests.stores.replay_workers import redis_worker, sqlite_worker


CLAIMED, DUPLICATE, IN_FLIGHT = (
    ClaimOutcome.CLAIMED,
    ClaimOutcome.DUPLICATE,
    ClaimOutcome.IN_FLIGHT,
)
LEASE = 30.0


async def test_store_satisfies_the_port(kit: StoreKit) -> None:
    """Every store is a runtime-checkable ReplayStore."""
    assert isinstance(kit.store, ReplayStore)


async def test_first_claim_wins_and_second_is_in_flight(kit: StoreKit) -> None:
    """A fresh key is CLAIMED once; while the lease runs, others see IN_FLIGHT."""
    assert (await kit.store.claim("evt_1", lease_seconds=LEASE)).outcome is CLAIMED
    assert (await kit.store.claim("evt_1", lease_seconds=LEASE)).outcome is IN_FLIGHT
    assert (await kit.store.claim("evt_2", lease_seconds=LEASE)).outcome is CLAIMED


async def test_completed_key_is_a_duplicate(kit: StoreKit) -> None:
    """After complete, every later claim answers DUPLICATE."""
    claim = await kit.store.claim("evt_1", lease_seconds=LEASE)
    await kit.store.complete(claim)
    for _ in range(3):
        assert (await kit.store.claim("evt_1", lease_seconds=LEASE)).outcome is DUPLICATE


async def test_released_key_is_claimed_again(kit: StoreKit) -> None:
    """A failed delivery releases its claim, so the provider's retry is processed."""
    claim = await kit.store.claim("evt_1", lease_seconds=LEASE)
    assert claim.outcome is CLAIMED
    await kit.store.release(claim)
    assert (await kit.store.claim("evt_1", lease_seconds=LEASE)).outcome is CLAIMED


async def test_release_after_complete_keeps_it_complete(kit: StoreKit) -> None:
    """Releasing a completed key does not make it processable again."""
    claim = await kit.store.claim("evt_1", lease_seconds=LEASE)
    await kit.store.complete(claim)
    await kit.store.release(claim)
    assert (await kit.store.claim("evt_1", lease_seconds=LEASE)).outcome is DUPLICATE


async def test_claims_carry_key_outcome_and_a_fresh_token(kit: StoreKit) -> None:
    """A CLAIMED claim names its key and a token of its own; other answers carry no token."""
    first = await kit.store.claim("evt_1", lease_seconds=LEASE)
    busy = await kit.store.claim("evt_1", lease_seconds=LEASE)
    second = await kit.store.claim("evt_2", lease_seconds=LEASE)
    assert (first.key, first.outcome, busy.outcome) == ("evt_1", CLAIMED, IN_FLIGHT)
    assert first.token
    assert second.token
    assert first.token != second.token
    assert busy.token == ""
    assert "token" not in repr(first)


async def test_only_a_claimed_claim_can_be_completed_or_released(kit: StoreKit) -> None:
    """Completing or releasing an IN_FLIGHT or DUPLICATE answer is a programming error."""
    await kit.store.claim("evt_1", lease_seconds=LEASE)
    busy = await kit.store.claim("evt_1", lease_seconds=LEASE)
    with pytest.raises(ValueError, match="only a CLAIMED claim"):
        await kit.store.release(busy)
    with pytest.raises(ValueError, match="only a CLAIMED claim"):
        await kit.store.complete(busy)
    assert (await kit.store.claim("evt_1", lease_seconds=LEASE)).outcome is IN_FLIGHT


async def test_expired_claimant_cannot_release_the_new_claim_of_the_same_store(
    kit: StoreKit,
) -> None:
    """Coroutine A's lease expires, B re-claims on one instance: A's release keeps B's claim."""
    claim_a = await kit.store.claim("evt_1", lease_seconds=LEASE)
    await kit.advance(LEASE + 1)
    claim_b = await kit.store.claim("evt_1", lease_seconds=LEASE)
    assert (claim_a.outcome, claim_b.outcome) == (CLAIMED, CLAIMED)
    await kit.store.release(claim_a)
    assert (await kit.store.claim("evt_1", lease_seconds=LEASE)).outcome is IN_FLIGHT
    await kit.store.release(claim_b)
    claim_c = await kit.store.claim("evt_1", lease_seconds=LEASE)
    assert claim_c.outcome is CLAIMED
    await kit.store.complete(claim_c)
    await kit.store.release(claim_a)
    await kit.store.release(claim_b)
    assert (await kit.store.claim("evt_1", lease_seconds=LEASE)).outcome is DUPLICATE


async def test_expired_claim_is_taken_over(kit: StoreKit) -> None:
    """A crashed worker's claim expires after its lease and the retry is CLAIMED."""
    assert (await kit.store.claim("evt_1", lease_seconds=LEASE)).outcome is CLAIMED
    await kit.advance(LEASE - 1)
    assert (await kit.store.claim("evt_1", lease_seconds=LEASE)).outcome is IN_FLIGHT
    await kit.advance(2)
    assert (await kit.store.claim("evt_1", lease_seconds=LEASE)).outcome is CLAIMED


async def test_completion_is_forgotten_after_retention(kit: StoreKit) -> None:
    """A completed key answers DUPLICATE for the retention period, then is new again."""
    await kit.store.complete(await kit.store.claim("evt_1", lease_seconds=LEASE))
    await kit.advance(RETENTION - 10)
    assert (await kit.store.claim("evt_1", lease_seconds=LEASE)).outcome is DUPLICATE
    await kit.advance(20)
    assert (await kit.store.claim("evt_1", lease_seconds=LEASE)).outcome is CLAIMED


async def test_keys_are_independent_and_opaque(kit: StoreKit) -> None:
    """Keys with separators, unicode and great length are stored exactly, not confused."""
    keys = ["wamid.HBgL:read", "wamid.HBgL:delivered", "ключ✓", "k" * 2000, "a:b", "a", ""]
    claims = [await kit.store.claim(key, lease_seconds=LEASE) for key in keys]
    assert all(claim.outcome is CLAIMED for claim in claims)
    for claim in claims:
        await kit.store.complete(claim)
    for key in keys:
        assert (await kit.store.claim(key, lease_seconds=LEASE)).outcome is DUPLICATE


async def test_200_concurrent_claims_yield_exactly_one(kit: StoreKit) -> None:
    """Of 200 concurrent claims of one key, exactly one is CLAIMED."""
    outcomes = await asyncio.gather(
        *(kit.store.claim("evt_race", lease_seconds=LEASE) for _ in range(200))
    )
    assert [c.outcome for c in outcomes].count(CLAIMED) == 1
    assert [c.outcome for c in outcomes].count(IN_FLIGHT) == 199


async def test_concurrent_claims_across_instances_yield_exactly_one(shared_kit: StoreKit) -> None:
    """Workers with their own store instances on one backend still claim a key exactly once."""
    stores = [shared_kit.store] + [await shared_kit.another_worker() for _ in range(4)]
    outcomes = await asyncio.gather(
        *(stores[i % 5].claim("evt_race", lease_seconds=LEASE) for i in range(200))
    )
    assert [c.outcome for c in outcomes].count(CLAIMED) == 1


async def test_stale_worker_cannot_release_anothers_claim(shared_kit: StoreKit) -> None:
    """A worker whose lease expired releases nothing: the new claimant keeps the key."""
    slow, fast = shared_kit.store, await shared_kit.another_worker()
    slow_claim = await slow.claim("evt_1", lease_seconds=LEASE)
    assert slow_claim.outcome is CLAIMED
    await shared_kit.advance(LEASE + 1)
    fast_claim = await fast.claim("evt_1", lease_seconds=LEASE)
    assert fast_claim.outcome is CLAIMED
    await slow.release(slow_claim)
    assert (await slow.claim("evt_1", lease_seconds=LEASE)).outcome is IN_FLIGHT
    await fast.complete(fast_claim)
    assert (await slow.claim("evt_1", lease_seconds=LEASE)).outcome is DUPLICATE


async def test_stale_worker_cannot_undo_anothers_completion(shared_kit: StoreKit) -> None:
    """A late release from an expired claim leaves another worker's completion in place."""
    slow, fast = shared_kit.store, await shared_kit.another_worker()
    slow_claim = await slow.claim("evt_1", lease_seconds=LEASE)
    await shared_kit.advance(LEASE + 1)
    await fast.complete(await fast.claim("evt_1", lease_seconds=LEASE))
    await slow.release(slow_claim)
    assert (await fast.claim("evt_1", lease_seconds=LEASE)).outcome is DUPLICATE


def test_sqlite_claims_from_several_processes_yield_exactly_one(tmp_path: Path) -> None:
    """Four OS processes racing on one SQLite file claim each key exactly once."""
    path = str(tmp_path / "shared.sqlite3")
    keys = [f"evt_{i}" for i in range(10)]
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=sqlite_worker, args=(path, keys, barrier, results)) for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    counts = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    assert all(proc.exitcode == 0 for proc in procs)
    for key in keys:
        assert sum(c[key] for c in counts) == 1


def test_redis_claims_from_several_processes_yield_exactly_one(redis_url: str) -> None:
    """Four OS processes racing on one Redis claim each key exactly once."""
    prefix = f"mp:{uuid.uuid4().hex}:"
    keys = [f"evt_{i}" for i in range(10)]
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=redis_worker, args=(redis_url, prefix, keys, barrier, results))
        for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    counts = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    assert all(proc.exitcode == 0 for proc in procs)
    for key in keys:
        assert sum(c[key] for c in counts) == 1
