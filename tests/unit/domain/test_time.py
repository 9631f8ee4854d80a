"""The one time source: the system clock, and the fake every test hands to everything."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from portico.adapters.fakes import FakeClock
from portico.domain.time import SYSTEM_CLOCK, SystemClock, epoch_seconds, utc_now


START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class TestSystemClock:
    """`SYSTEM_CLOCK` is the standard library's time, with no wrapper in between."""

    def test_its_readings_are_the_standard_librarys_functions(self) -> None:
        """monotonic and sleep are time.monotonic and asyncio.sleep themselves (hot paths)."""
        assert SYSTEM_CLOCK.monotonic is time.monotonic
        assert SYSTEM_CLOCK.sleep is asyncio.sleep
        assert epoch_seconds(SYSTEM_CLOCK) is time.time
        assert isinstance(SYSTEM_CLOCK, SystemClock)
        assert repr(SYSTEM_CLOCK) == "SYSTEM_CLOCK"

    def test_now_is_aware_utc_and_close_to_the_epoch_seconds(self) -> None:
        """now() is timezone-aware UTC and agrees with time.time."""
        now = SYSTEM_CLOCK.now()
        assert now.tzinfo is UTC
        assert abs(now.timestamp() - time.time()) < 5
        assert utc_now().tzinfo is UTC

    async def test_call_later_runs_on_the_running_loop(self) -> None:
        """call_later schedules on the event loop; a cancelled timer never runs."""
        ran: list[str] = []
        SYSTEM_CLOCK.call_later(0, lambda: ran.append("due"))
        SYSTEM_CLOCK.call_later(0, lambda: ran.append("cancelled")).cancel()
        await SYSTEM_CLOCK.sleep(0.01)
        assert ran == ["due"]


class TestFakeClock:
    """One FakeClock moves wall time and monotonic time together, only when told."""

    def test_wall_and_monotonic_time_advance_together(self) -> None:
        """advance(s) moves now() and monotonic() by the same seconds."""
        clock = FakeClock(START, monotonic=100.0)
        clock.advance(90.5)
        assert clock.now() == START + timedelta(seconds=90.5)
        assert clock.monotonic() == 190.5
        assert epoch_seconds(clock)() == START.timestamp() + 90.5
        assert repr(clock) == "FakeClock(now=2026-01-05T09:01:30.500000+00:00, monotonic=190.5)"

    def test_the_default_start_is_the_real_time_now(self) -> None:
        """Without a start, the fake begins at the real time, so real-time signatures verify."""
        assert abs((FakeClock().now() - utc_now()).total_seconds()) < 5

    def test_a_naive_start_and_going_back_are_refused(self) -> None:
        """A naive start is ambiguous and time only moves forward."""
        with pytest.raises(ValueError, match="timezone-aware"):
            FakeClock(datetime(2026, 1, 5, 9, 0))
        with pytest.raises(ValueError, match="forward"):
            FakeClock(START).advance(-1)

    async def test_sleep_records_advances_and_returns_at_once(self) -> None:
        """sleep(s) is instant: it records s and moves the clock by it (never backwards)."""
        clock = FakeClock(START)
        started = time.monotonic()
        await clock.sleep(3600)
        await clock.sleep(-1)
        assert time.monotonic() - started < 1
        assert clock.sleeps == [3600, -1]
        assert clock.now() == START + timedelta(hours=1)

    def test_timers_run_in_order_when_time_passes_them(self) -> None:
        """call_later callbacks run as advance passes their time, in time order, each once."""
        clock = FakeClock(START)
        seen: list[tuple[str, float]] = []
        clock.call_later(5, lambda: seen.append(("b", clock.monotonic())))
        clock.call_later(2, lambda: seen.append(("a", clock.monotonic())))
        clock.call_later(3, lambda: seen.append(("never", clock.monotonic()))).cancel()
        clock.advance(1)
        assert seen == []
        clock.advance(10)
        assert seen == [("a", 2.0), ("b", 5.0)]
        assert clock.monotonic() == 11.0
