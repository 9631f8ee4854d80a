"""The in-memory replay store's bound: it always holds, and never at a live claim's expense."""

from __future__ import annotations

import pytest

from portico.adapters.fakes import FakeClock
from portico.adapters.stores.memory import MemoryReplayStore
from portico.domain.webhooks import ClaimOutcome


CLAIMED, DUPLICATE, IN_FLIGHT = (
    ClaimOutcome.CLAIMED,
    ClaimOutcome.DUPLICATE,
    ClaimOutcome.IN_FLIGHT,
)


async def _process(store: MemoryReplayStore, key: str) -> None:
    claim = await store.claim(key, lease_seconds=30)
    assert claim.outcome is CLAIMED
    await store.complete(claim)


async def test_bound_evicts_oldest_completed_first() -> None:
    """At the bound, the oldest completed key is forgotten and the newest are kept."""
    clock = FakeClock()
    store = MemoryReplayStore(max_entries=3, clock=clock)
    for key in ("a", "b", "c", "d"):
        clock.advance(1)
        await _process(store, key)
    assert len(store) == 3
    assert store.evicted == 1
    assert (await store.claim("b", lease_seconds=30)).outcome is DUPLICATE
    assert (await store.claim("d", lease_seconds=30)).outcome is DUPLICATE
    assert (await store.claim("a", lease_seconds=30)).outcome is CLAIMED  # evicted, so new again


async def test_bound_holds_over_many_keys() -> None:
    """However many keys pass through, the store never holds more than max_entries."""
    store = MemoryReplayStore(max_entries=100, clock=FakeClock())
    for i in range(1000):
        await _process(store, f"evt_{i}")
        assert len(store) <= 100
    assert store.evicted == 900


async def test_live_claims_are_never_evicted() -> None:
    """When only live claims fill the store, a new key is answered IN_FLIGHT, not stolen."""
    store = MemoryReplayStore(max_entries=2, clock=FakeClock())
    claim_a = await store.claim("a", lease_seconds=30)
    assert claim_a.outcome is CLAIMED
    assert (await store.claim("b", lease_seconds=30)).outcome is CLAIMED
    assert (await store.claim("c", lease_seconds=30)).outcome is IN_FLIGHT
    assert (await store.claim("a", lease_seconds=30)).outcome is IN_FLIGHT
    await store.complete(claim_a)
    assert (await store.claim("c", lease_seconds=30)).outcome is CLAIMED  # "a" was evictable
    assert (await store.claim("b", lease_seconds=30)).outcome is IN_FLIGHT


async def test_expired_claims_make_room() -> None:
    """Claims of crashed workers expire and free their slots."""
    clock = FakeClock()
    store = MemoryReplayStore(max_entries=2, clock=clock)
    await store.claim("a", lease_seconds=10)
    await store.claim("b", lease_seconds=10)
    clock.advance(11)
    assert (await store.claim("c", lease_seconds=10)).outcome is CLAIMED
    assert len(store) <= 2


async def test_expired_completions_are_purged_before_eviction() -> None:
    """Completions past retention are dropped first, so nothing live is evicted early."""
    clock = FakeClock()
    store = MemoryReplayStore(max_entries=2, retention_seconds=60, clock=clock)
    await _process(store, "old")
    clock.advance(30)
    await _process(store, "young")
    clock.advance(31)  # "old" has expired, "young" has not
    await _process(store, "new")
    assert store.evicted == 0
    assert (await store.claim("young", lease_seconds=30)).outcome is DUPLICATE


async def test_rereleased_and_recompleted_keys_keep_the_bound() -> None:
    """A key completed, expired and completed again is counted once and evicted in order."""
    clock = FakeClock()
    store = MemoryReplayStore(max_entries=2, retention_seconds=10, clock=clock)
    await _process(store, "a")
    clock.advance(11)
    await _process(store, "a")
    await _process(store, "b")
    await _process(store, "c")
    assert len(store) == 2
    assert (await store.claim("c", lease_seconds=30)).outcome is DUPLICATE


def test_bad_settings_are_refused() -> None:
    """A bound below one or a non-positive retention is a programming error."""
    with pytest.raises(ValueError, match="max_entries"):
        MemoryReplayStore(max_entries=0)
    with pytest.raises(ValueError, match="retention"):
        MemoryReplayStore(retention_seconds=0)


def test_repr_shows_sizes_not_keys() -> None:
    """The repr names counts only: keys may derive from patient messages."""
    assert repr(MemoryReplayStore(max_entries=5)) == (
        "<MemoryReplayStore claims=0 completed=0 max_entries=5>"
    )
