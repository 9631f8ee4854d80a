"""
The breaker's sliding windows: the last N calls (count-based) or the last N seconds (time-based).

Both follow Resilience4j's ``SlidingWindowType``: an outcome is *recorded* with two flags (failed,
slow), and after every recorded outcome, success or failure, the window is *judged*: once it holds
``minimum`` outcomes, a failure rate at or above ``failure_rate``, or a slow-call rate at or
above ``slow_rate``, trips the breaker (resilience4j ``CircuitBreakerStateMachineTest``
``shouldOpenAfterFailureRateThresholdExceeded``: F, F, F, S, S opens on the fifth call, 60% >= 50%).

For a count-based window the minimum is capped at the window's size, as Resilience4j's
``CircuitBreakerConfig.Builder.slidingWindow`` does for ``COUNT_BASED``
(``this.minimumNumberOfCalls = Math.min(minimumNumberOfCalls, slidingWindowSize)``); a larger
minimum would otherwise switch the rate check off without a word. A time-based window keeps its
minimum as given (Resilience4j does not cap it either).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Literal


__all__ = ["CountWindow", "TimeWindow", "WindowType", "make_window"]

WindowType = Literal["count", "time"]

_FAILED, _SLOW = 1, 2


def _judge(
    total: int, failures: int, slow: int, minimum: int, rate: float, slow_rate: float | None
) -> str | None:
    if total < minimum:
        return None
    if failures >= rate * total:
        return f"failure rate {failures}/{total}"
    if slow_rate is not None and slow >= slow_rate * total:
        return f"slow-call rate {slow}/{total}"
    return None


class CountWindow:
    """The outcomes of the last ``size`` calls."""

    __slots__ = (
        "_failures",
        "_index",
        "_outcomes",
        "_slow",
        "minimum",
        "rate",
        "size",
        "slow_rate",
    )

    def __init__(self, size: int, minimum: int, rate: float, slow_rate: float | None) -> None:
        self.size = size
        self.minimum = min(minimum, size)
        self.rate = rate
        self.slow_rate = slow_rate
        self._outcomes: list[int] = []
        self._index = 0
        self._failures = 0
        self._slow = 0

    def __len__(self) -> int:
        return len(self._outcomes)

    def record(self, *, failed: bool, slow: bool = False) -> str | None:
        """Push one outcome (evicting the oldest when full); the trip reason, or None."""
        code = failed | (_SLOW if slow else 0)
        outcomes = self._outcomes
        if len(outcomes) < self.size:
            outcomes.append(code)
        else:
            old = outcomes[self._index]
            self._failures -= old & _FAILED
            self._slow -= (old & _SLOW) >> 1
            outcomes[self._index] = code
            self._index = (self._index + 1) % self.size
        self._failures += failed
        self._slow += slow
        return _judge(
            len(outcomes), self._failures, self._slow, self.minimum, self.rate, self.slow_rate
        )

    def clear(self) -> None:
        """Forget every outcome (on each state transition)."""
        self._outcomes.clear()
        self._index = 0
        self._failures = 0
        self._slow = 0


class TimeWindow:
    """The outcomes of the last ``size`` seconds, in one-second buckets (Resilience4j's)."""

    __slots__ = (
        "_buckets",
        "_failures",
        "_monotonic",
        "_slow",
        "_total",
        "minimum",
        "rate",
        "size",
        "slow_rate",
    )

    def __init__(
        self,
        size: int,
        minimum: int,
        rate: float,
        slow_rate: float | None,
        monotonic: Callable[[], float],
    ) -> None:
        self.size = size
        self.minimum = minimum
        self.rate = rate
        self.slow_rate = slow_rate
        self._monotonic = monotonic
        self._buckets: deque[list[int]] = deque()  # [second, total, failures, slow]
        self._total = self._failures = self._slow = 0

    def __len__(self) -> int:
        self._evict(math.floor(self._monotonic()))
        return self._total

    def _evict(self, second: int) -> None:
        buckets = self._buckets
        while buckets and buckets[0][0] <= second - self.size:
            _, total, failures, slow = buckets.popleft()
            self._total -= total
            self._failures -= failures
            self._slow -= slow

    def record(self, *, failed: bool, slow: bool = False) -> str | None:
        """Add one outcome to the current second's bucket; the trip reason, or None."""
        second = math.floor(self._monotonic())
        self._evict(second)
        buckets = self._buckets
        if buckets and buckets[-1][0] == second:
            bucket = buckets[-1]
        else:
            bucket = [second, 0, 0, 0]
            buckets.append(bucket)
        bucket[1] += 1
        bucket[2] += failed
        bucket[3] += slow
        self._total += 1
        self._failures += failed
        self._slow += slow
        return _judge(
            self._total, self._failures, self._slow, self.minimum, self.rate, self.slow_rate
        )

    def clear(self) -> None:
        """Forget every outcome (on each state transition)."""
        self._buckets.clear()
        self._total = self._failures = self._slow = 0


def make_window(
    kind: WindowType,
    size: int,
    minimum: int,
    rate: float,
    slow_rate: float | None,
    monotonic: Callable[[], float],
) -> CountWindow | TimeWindow | None:
    """The window a breaker judges its rates over; None when ``size`` is 0 (no window)."""
    if not size:
        return None
    if kind == "time":
        return TimeWindow(size, minimum, rate, slow_rate, monotonic)
    return CountWindow(size, minimum, rate, slow_rate)
