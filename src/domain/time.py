"""
The one source of time: a `Clock` tells wall time and monotonic time, sleeps, and runs timers.

Nothing in Portico reads the system clock or sleeps on its own: whatever needs time takes a
``clock`` (default `SYSTEM_CLOCK`) and asks it. The readings answer different questions:

- `Clock.now`: *when* something happened (timestamps on events and records, a webhook's
  tolerance window, a checkout link's expiry): an aware UTC datetime.
- `Clock.monotonic`: *how long* something took or must wait (breakers, backoff, deadlines,
  token buckets, timeouts): seconds from an arbitrary origin that never go backwards.
- `Clock.sleep` and `Clock.call_later`: waiting, on the monotonic scale.

Tests hand one fake (`portico.testing.FakeClock`) to everything, so a retry's backoff, a breaker's
reset timeout, a verifier's tolerance and a fake vendor's timestamps all move together, instantly.
"""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, Protocol


__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock", "TimerHandle", "epoch_seconds", "utc_now"]


def utc_now() -> datetime:
    """The system's wall time, timezone-aware (UTC)."""
    return datetime.now(UTC)


class TimerHandle(Protocol):
    """What `Clock.call_later` returns: a scheduled callback that can still be called off."""

    @abstractmethod
    def cancel(self) -> None:
        """Do not run the callback (nothing happens if it already ran)."""


class Clock(Protocol):
    """
    Wall time, monotonic time, sleeping and timers, from one source.

    `now` and `monotonic` move together on a real clock and on a fake one; only `now` may jump
    (NTP, a test setting the date), which is why durations are measured on `monotonic`.
    """

    @abstractmethod
    def now(self) -> datetime:
        """The current wall time, timezone-aware (UTC)."""

    @abstractmethod
    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards, only differences matter."""

    @abstractmethod
    async def sleep(self, seconds: float, /) -> None:
        """Wait ``seconds`` (at once when zero or negative), letting other tasks run."""

    @abstractmethod
    def call_later(self, delay: float, callback: Callable[[], None], /) -> TimerHandle:
        """Run ``callback`` once, ``delay`` seconds from now on the `monotonic` scale."""


def _loop_call_later(delay: float, callback: Callable[[], None], /) -> TimerHandle:
    """``call_later`` on the running event loop, whose time is `time.monotonic`."""
    return asyncio.get_running_loop().call_later(delay, callback)


class SystemClock(Clock):
    """
    The real time: `datetime.now`, `time.monotonic`, `asyncio.sleep` and the running loop's timers.

    Its methods are the standard library's functions themselves (no wrapper frame), so a hot path
    that caches ``clock.monotonic`` at construction pays exactly what `time.monotonic` costs.
    """

    __slots__ = ()

    now = staticmethod(utc_now)
    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(asyncio.sleep)
    call_later = staticmethod(_loop_call_later)

    def __repr__(self) -> str:
        return "SYSTEM_CLOCK"


SYSTEM_CLOCK: Final[Clock] = SystemClock()
"""The process's real clock; the default of every ``clock`` parameter."""


def epoch_seconds(clock: Clock) -> Callable[[], float]:
    """
    A reader of ``clock``'s wall time as seconds since the epoch, for stores that stamp rows.

    On `SYSTEM_CLOCK` it is `time.time` itself; on any other clock, ``clock.now().timestamp()``.
    """
    if clock is SYSTEM_CLOCK:
        return time.time

    def read() -> float:
        return clock.now().timestamp()

    return read
