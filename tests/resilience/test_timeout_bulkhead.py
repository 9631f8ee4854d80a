"""Per-attempt timeouts and the bulkhead, driven by a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from portico.adapters.fakes import FakeClock
from portico.adapters.resilience import Bulkhead, Timeout
from portico.domain.errors import BulkheadFull, TimedOut


class TestTimeout:
    async def test_a_slow_call_becomes_timed_out_with_request_sent(self) -> None:
        """A call past its limit raises TimedOut(request_sent=True) naming the operation."""
        clock = FakeClock()
        timeout = Timeout("t", 5.0, clock=clock)
        with pytest.raises(TimedOut) as info:
            await timeout.call(clock.sleep, 30.0, operation="get_contact")
        assert info.value.request_sent is True
        assert info.value.integration == "t"
        assert "get_contact" in str(info.value)

    async def test_a_fast_call_returns_and_leaves_no_timer_running(self) -> None:
        """A call inside its limit returns its result and is not cancelled later."""
        clock = FakeClock()
        timeout = Timeout("t", 5.0, clock=clock)

        async def quick() -> str:
            await clock.sleep(1.0)
            return "ok"

        assert await timeout.call(quick) == "ok"
        clock.advance(100.0)
        await asyncio.sleep(0)
        assert await timeout.call(quick) == "ok"

    async def test_one_timer_serves_many_overlapping_attempts(self) -> None:
        """Of attempts started at 0, 2 and 4 s with a 5 s limit, those still running at 6 s fail."""
        clock = FakeClock()
        timeout = Timeout("t", 5.0, clock=clock)
        never = asyncio.Event()
        finish_second = asyncio.Event()

        async def wait(event: asyncio.Event) -> str:
            await event.wait()
            return "ok"

        first = asyncio.create_task(timeout.call(wait, never))
        await asyncio.sleep(0)
        clock.advance(2.0)
        second = asyncio.create_task(timeout.call(wait, finish_second))
        await asyncio.sleep(0)
        clock.advance(2.0)
        third = asyncio.create_task(timeout.call(wait, never))
        await asyncio.sleep(0)
        finish_second.set()
        assert await second == "ok"
        clock.advance(2.0)
        with pytest.raises(TimedOut):
            await first
        assert not third.done()
        clock.advance(3.0)
        with pytest.raises(TimedOut):
            await third

    async def test_an_outside_cancellation_stays_a_cancellation(self) -> None:
        """Cancelling the caller propagates CancelledError, not TimedOut."""
        clock = FakeClock()
        timeout = Timeout("t", 5.0, clock=clock)
        task = asyncio.create_task(timeout.call(asyncio.Event().wait))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def test_works_on_the_real_event_loop(self) -> None:
        """With the default loop timer, a hung call is cut off (limit 10 ms)."""
        timeout = Timeout("t", 0.01)
        with pytest.raises(TimedOut):
            await timeout.call(asyncio.Event().wait)


class TestBulkhead:
    async def test_refuses_beyond_max_concurrent_when_not_waiting(self) -> None:
        """With max_wait 0, the call past max_concurrent raises BulkheadFull at once."""
        bulkhead = Bulkhead("t", max_concurrent=2)
        gate = asyncio.Event()
        tasks = [asyncio.create_task(bulkhead.call(gate.wait)) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(BulkheadFull) as info:
            await bulkhead.call(gate.wait)
        assert info.value.request_sent is False
        gate.set()
        await asyncio.gather(*tasks)
        assert bulkhead.in_use == 0

    async def test_a_waiter_gets_the_freed_slot_in_order(self) -> None:
        """Queued callers are served first come, first served as slots free up."""
        clock = FakeClock()
        bulkhead = Bulkhead("t", max_concurrent=1, max_wait=10.0, clock=clock)
        order: list[int] = []
        gates = [asyncio.Event() for _ in range(3)]

        async def job(n: int) -> None:
            order.append(n)
            await gates[n].wait()

        tasks = [asyncio.create_task(bulkhead.call(job, n)) for n in range(3)]
        await asyncio.sleep(0)
        assert order == [0]
        assert bulkhead.waiting == 2
        for gate in gates:
            gate.set()
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2]
        assert bulkhead.in_use == 0

    async def test_a_waiter_gives_up_after_max_wait(self) -> None:
        """A caller queued longer than max_wait gets BulkheadFull and leaves the queue."""
        clock = FakeClock()
        bulkhead = Bulkhead("t", max_concurrent=1, max_wait=2.0, clock=clock)
        gate = asyncio.Event()
        holder = asyncio.create_task(bulkhead.call(gate.wait))
        await asyncio.sleep(0)
        waiter = asyncio.create_task(bulkhead.call(gate.wait))
        await asyncio.sleep(0)
        clock.advance(2.0)
        with pytest.raises(BulkheadFull):
            await waiter
        assert bulkhead.waiting == 0
        gate.set()
        await holder
        assert bulkhead.in_use == 0

    async def test_a_cancelled_waiter_does_not_leak_a_slot(self) -> None:
        """Cancelling a queued caller leaves every slot usable."""
        clock = FakeClock()
        bulkhead = Bulkhead("t", max_concurrent=1, max_wait=10.0, clock=clock)
        gate = asyncio.Event()
        holder = asyncio.create_task(bulkhead.call(gate.wait))
        await asyncio.sleep(0)
        waiter = asyncio.create_task(bulkhead.call(gate.wait))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        gate.set()
        await holder
        assert bulkhead.in_use == 0
        assert bulkhead.try_enter()
