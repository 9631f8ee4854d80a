"""
The circuit breaker's vocabulary: its states, its counters, its rejection and its rate window.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs

from ...domain.errors import CircuitOpenError, TransientError


__all__ = [
    "BreakerStats",
    "CircuitState",
    "FailureWindow",
    "Listener",
    "RejectedByBreaker",
    "counts_as_failure",
]


class CircuitState(enum.Enum):
    """Where a breaker is: letting calls through, refusing them, or probing."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


Listener = Callable[[CircuitState, CircuitState, str], None]
"""Called on every transition with (old state, new state, reason)."""


def counts_as_failure(exc: BaseException) -> bool:
    """The default predicate: transient vendor errors and timeouts say the vendor is unwell."""
    return isinstance(exc, TransientError | TimeoutError)


@attrs.frozen
class BreakerStats:
    """A breaker's counters at one instant, for the health report (times are clock readings)."""

    name: str
    state: CircuitState
    calls: int
    successes: int
    failures: int
    rejections: int
    consecutive_failures: int
    last_success: float | None
    last_failure: float | None
    retry_in: float
    failure_threshold: int
    reset_timeout: float


class RejectedByBreaker(CircuitOpenError):
    """
    A `CircuitOpenError` that costs what a bare exception costs to build.

    Rejection is the hot path of an outage, so each rejection raises a *fresh* instance (a reused
    one would grow its traceback on every raise). This one keeps ``(integration, retry_in)`` in
    the C-level ``args`` (no Python ``__init__`` runs) and formats its message only when read.
    """

    __init__ = Exception.__init__  # C-level: no Python frame runs
    vendor_code = None
    status_code = None
    request_sent = False

    @property
    def integration(self) -> str:  # type: ignore[override]
        """The breaker's name."""
        return str(self.args[0])

    @property
    def retry_in(self) -> float:  # type: ignore[override]
        """Seconds until the breaker admits a probe."""
        return float(self.args[1])

    @property
    def message(self) -> str:  # type: ignore[override]
        """The base class's wording, formatted on demand."""
        return f"circuit open; next probe in {self.retry_in:.1f}s"


class FailureWindow:
    """
    The outcomes of the last ``size`` calls, and whether their failure rate trips the breaker.

    Resilience4j's count-based window: the rate is judged only once ``minimum`` outcomes are in,
    and only when a failure arrives (a success cannot trip anything).
    """

    __slots__ = ("_failures", "_index", "_outcomes", "minimum", "rate", "size")

    def __init__(self, size: int, minimum: int, rate: float) -> None:
        self.size = size
        self.minimum = minimum
        self.rate = rate
        self._outcomes: list[bool] = []
        self._index = 0
        self._failures = 0

    def __len__(self) -> int:
        return len(self._outcomes)

    def record(self, *, failed: bool) -> bool:
        """Push one outcome (evicting the oldest when full); True when the failure rate trips."""
        outcomes = self._outcomes
        if len(outcomes) < self.size:
            outcomes.append(failed)
        else:
            self._failures -= outcomes[self._index]
            outcomes[self._index] = failed
            self._index = (self._index + 1) % self.size
        self._failures += failed
        return (
            failed
            and len(outcomes) >= self.minimum
            and (self._failures >= self.rate * len(outcomes))
        )

    def clear(self) -> None:
        """Forget every outcome (on each state transition)."""
        self._outcomes.clear()
        self._index = 0
        self._failures = 0
