"""
`FakeClock`: one `Clock` for a whole test, which moves only when told and never really waits.

Hand the same instance to everything (``create_container(clock=fake)`` does): a retry's backoff,
a breaker's reset timeout, a timeout's timer, a limiter's refill, a verifier's tolerance window
and a fake vendor's timestamps then all read one time, and ``await fake.sleep(60)`` returns at
once with the minute spent.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta

from ...domain.time import Clock, TimerHandle, utc_now


__all__ = ["FakeClock"]


class FakeClock(Clock):
    """
    A clock that moves only when told, for deterministic and instant tests.

    `advance` moves wall time and monotonic time forward together, running every timer
    (`call_later`) that falls due, in order. `sleep` records its delay in `sleeps`, advances by it
    and yields once to the event loop, so a retry loop that would wait a minute finishes at once.

    Args:
        start: the initial wall time (timezone-aware); default: the real time now, so signatures
            made with the real time still verify. Pass a fixed datetime for reproducible stamps.
        monotonic: the initial `monotonic` reading.

    Raises:
        ValueError: ``start`` is naive.
    """

    __slots__ = ("_mono", "_seq", "_start", "_start_mono", "_timers", "sleeps")

    def __init__(self, start: datetime | None = None, *, monotonic: float = 0.0) -> None:
        start = utc_now() if start is None else start
        if start.utcoffset() is None:
            msg = "start must be timezone-aware"
            raise ValueError(msg)
        self._start = start
        self._start_mono = self._mono = float(monotonic)
        self.sleeps: list[float] = []
        self._timers: list[tuple[float, int, _FakeHandle]] = []
        self._seq = itertools.count()

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now().isoformat()}, monotonic={self._mono:g})"

    def now(self) -> datetime:
        """The start time plus every second this clock has advanced."""
        return self._start + timedelta(seconds=self._mono - self._start_mono)

    def monotonic(self) -> float:
        """The monotonic reading, in seconds."""
        return self._mono

    def advance(self, seconds: float) -> None:
        """
        Move time forward by ``seconds``, running every callback that falls due, in order.

        Raises:
            ValueError: ``seconds`` is negative (time only moves forward).
        """
        if seconds < 0:
            msg = f"seconds: time only moves forward, got {seconds}"
            raise ValueError(msg)
        target = self._mono + seconds
        timers = self._timers
        while timers and timers[0][0] <= target:
            when, _, handle = heapq.heappop(timers)
            self._mono = max(self._mono, when)
            if not handle.cancelled:
                handle.callback()
        self._mono = target

    async def sleep(self, seconds: float, /) -> None:
        """Record the delay, advance the clock by it, and let other tasks run once."""
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)

    def call_later(self, delay: float, callback: Callable[[], None], /) -> TimerHandle:
        """Run ``callback`` when the clock reaches ``monotonic() + delay``."""
        handle = _FakeHandle(callback)
        heapq.heappush(self._timers, (self._mono + max(delay, 0.0), next(self._seq), handle))
        return handle


class _FakeHandle:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
