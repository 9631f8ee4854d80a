"""The ingress when its replay store fails: counted, reported, and never a second processing."""

from __future__ import annotations

import attrs
import pytest
from tests.webhooks.ingress.ingress_doubles import Paid, delivery, make_ingress

from portico.adapters.fakes import FakeClock
from portico.adapters.stores.memory import MemoryReplayStore
from portico.domain.replay import Claim
from portico.domain.webhooks import ClaimOutcome


class StoreDown(Exception):
    """What a replay store raises while its backend is gone."""


@attrs.define
class FlakyStore:
    """A real memory store whose calls fail while the switch for them is on."""

    inner: MemoryReplayStore = attrs.Factory(MemoryReplayStore)
    claim_down: bool = False
    complete_failures: int = 0  # the next this many completions fail
    completes: int = 0

    async def claim(self, key: str, *, lease_seconds: float) -> Claim:
        """Claim through the real store, unless down."""
        if self.claim_down:
            raise StoreDown
        return await self.inner.claim(key, lease_seconds=lease_seconds)

    async def complete(self, claim: Claim) -> None:
        """Complete through the real store, unless this completion is one that fails."""
        self.completes += 1
        if self.complete_failures:
            self.complete_failures -= 1
            raise StoreDown
        await self.inner.complete(claim)

    async def release(self, claim: Claim) -> None:
        """Release through the real store."""
        await self.inner.release(claim)


async def test_store_failures_are_counted_per_provider_and_reported() -> None:
    """A claim that fails answers 503, counts a store failure and names the problem."""
    store = FlakyStore(claim_down=True)
    ingress = make_ingress(replay_store=store)
    answer = await ingress.handle("test", delivery("e1"))
    assert answer.status == 503
    assert ingress.counters("test").store_failures == 1
    assert ingress.store_problem == "replay store unavailable (claim (StoreDown))"
    assert await ingress.check_store() == "replay store unavailable (StoreDown)"
    store.claim_down = False
    assert await ingress.check_store() is None
    assert ingress.store_problem is None


async def test_a_brief_completion_failure_is_retried_on_the_clock() -> None:
    """Two failed completions, then one that works: completed, no claim left behind."""
    clock = FakeClock()
    store = FlakyStore(complete_failures=2)
    ingress = make_ingress(replay_store=store, clock=clock)
    assert (await ingress.handle("test", delivery("e1"))).status == 200
    assert store.completes == 3
    assert not ingress.uncompleted
    claim = await store.inner.claim("test:e1", lease_seconds=60)
    assert claim.outcome is ClaimOutcome.DUPLICATE


@pytest.mark.parametrize("store_back", [True, False], ids=["store_back", "store_still_down"])
async def test_a_redelivery_after_a_failed_completion_is_never_processed_again(
    store_back: bool,
) -> None:
    """The handler ran once; the redelivery is a duplicate (or 503), even after the lease."""
    clock = FakeClock()
    store = FlakyStore(inner=MemoryReplayStore(clock=clock), complete_failures=3)
    ingress = make_ingress(replay_store=store, clock=clock, lease_seconds=120.0)
    ran: list[str] = []

    async def handler(event: Paid) -> None:
        ran.append(event.event_id)

    ingress.on(Paid, handler)
    first = await ingress.handle("test", delivery("e1"))
    assert first.status == 200  # handled: nothing lost, so no redelivery is asked for
    assert list(ingress.uncompleted) == ["test:e1"]
    assert ingress.counters("test").store_failures == 3
    clock.advance(300.0)  # the lease has run out: the old code processed it a second time
    if not store_back:
        store.complete_failures = 1
        again = await ingress.handle("test", delivery("e1"))
        assert again.status == 503
        assert list(ingress.uncompleted) == ["test:e1"]
    redelivered = await ingress.handle("test", delivery("e1"))
    assert redelivered.status == 200
    assert redelivered.body == {"received": True, "duplicate": True}
    assert ran == ["e1"]
    assert not ingress.uncompleted
    done = await store.inner.claim("test:e1", lease_seconds=60)
    assert done.outcome is ClaimOutcome.DUPLICATE


async def test_uncompleted_claims_are_completed_when_the_store_comes_back() -> None:
    """The next delivery of another event, or a store check, completes the kept claims."""
    store = FlakyStore(complete_failures=3)
    ingress = make_ingress(replay_store=store, clock=FakeClock())
    await ingress.handle("test", delivery("e1"))
    assert list(ingress.uncompleted) == ["test:e1"]
    assert (await ingress.handle("test", delivery("e2"))).status == 200
    assert not ingress.uncompleted
    assert (await store.inner.claim("test:e1", lease_seconds=1)).outcome is ClaimOutcome.DUPLICATE
    store.complete_failures = 3
    await ingress.handle("test", delivery("e3"))
    assert list(ingress.uncompleted) == ["test:e3"]
    assert await ingress.check_store() is None
    assert not ingress.uncompleted
