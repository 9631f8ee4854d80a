"""
Time seams shared by every policy, and the `FakeClock` that makes resilience tests instant.

Policies never read the wall clock or sleep on their own: they take a ``clock`` (monotonic
seconds), an async ``sleep`` and, where they must act after a while (timeouts, bounded waits), a
``call_later``. Production uses `time.monotonic`, `asyncio.sleep` and the event loop's
``call_later``; tests pass one `FakeClock`, whose ``sleep`` advances time instead of waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from typing import Protocol


__all__ = ["CallLater", "Clock", "FakeClock", "Sleep", "TimerHandle", "loop_call_later"]

Clock = Callable[[], float]
"""Monotonic seconds; only differences matter."""

Sleep = Callable[[float], Awaitable[None]]
"""Wait this many seconds."""


class TimerHandle(Protocol):
    """What a scheduled callback returns: something that can be cancelled."""

    def cancel(self) -> None:
        """Do not run the callback."""


CallLater = Callable[[float, Callable[[], None]], TimerHandle]
"""Run a callback after this many seconds (``loop.call_later``, or `FakeClock.call_later`)."""


def loop_call_later(delay: float, callback: Callable[[], None]) -> TimerHandle:
    """``call_later`` on the running event loop, whose time is `time.monotonic`."""
    return asyncio.get_running_loop().call_later(delay, callback)


class FakeClock:
    """
    A clock that moves only when told, for deterministic and instant tests.

    ``sleep(dt)`` advances the clock by ``dt`` (and yields once to the event loop), so a retry
    loop that would wait a minute finishes at once while every delay is recorded in ``sleeps``.
    ``call_later`` schedules on this clock: callbacks run when `advance` (or `sleep`) passes their
    time, which drives timeouts and bounded waits. Pass ``clock=fake``, ``sleep=fake.sleep`` and
    ``call_later=fake.call_later`` to any policy.

    Args:
        start: the initial reading.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self.sleeps: list[float] = []
        self._timers: list[tuple[float, int, _FakeHandle]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self._now

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now})"

    def now(self) -> float:
        """The current reading, in seconds."""
        return self._now

    def advance(self, dt: float) -> None:
        """Move time forward by ``dt`` seconds, running every callback that falls due, in order."""
        if dt < 0:
            msg = f"dt: time only moves forward, got {dt}"
            raise ValueError(msg)
        target = self._now + dt
        timers = self._timers
        while timers and timers[0][0] <= target:
            when, _, handle = heapq.heappop(timers)
            self._now = max(self._now, when)
            if not handle.cancelled:
                handle.callback()
        self._now = target

    async def sleep(self, dt: float) -> None:
        """Record the delay, advance the clock by it, and let other tasks run once."""
        self.sleeps.append(dt)
        self.advance(max(dt, 0.0))
        await asyncio.sleep(0)

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` when the clock reaches ``now + delay``."""
        handle = _FakeHandle(callback)
        heapq.heappush(self._timers, (self._now + max(delay, 0.0), next(self._seq), handle))
        return handle


class _FakeHandle:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
