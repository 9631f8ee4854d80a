"""
A circuit breaker: stop calling a vendor that is failing, and probe it carefully before trusting it.

The state machine (Resilience4j's model)::

    CLOSED --(failure_threshold consecutive failures, or failure rate over the window)--> OPEN
    OPEN --(reset_timeout elapsed; checked lazily on the next call or state read)--> HALF_OPEN
    HALF_OPEN --(success_threshold probe successes)--> CLOSED
    HALF_OPEN --(any probe failure)--> OPEN (the timeout restarts)

Every transition starts a new *epoch*. A permit remembers the epoch it was issued in, so an
outcome that arrives after the state moved on (a slow call admitted while CLOSED finishing during
HALF_OPEN) is counted in the totals but cannot close or re-open the circuit, and cannot free a
probe slot it never held. The sync `acquire` / `on_success` / `on_error` / `release` methods are
the hot path the `Pipeline` uses; `call` wraps them for use on its own.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import attrs

from ...domain.errors import (
    CircuitOpenError,
    IntegrationError,
    LocalRejection,
    TransientError,
)
from ...domain.time import SYSTEM_CLOCK, Clock


__all__ = [
    "BreakerStats",
    "CircuitBreaker",
    "CircuitState",
    "Listener",
    "RejectedByBreaker",
    "counts_as_failure",
]

T = TypeVar("T")
_log = logging.getLogger(__name__)


class CircuitState(enum.Enum):
    """Where a breaker is: letting calls through, refusing them, or probing."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# Module globals, not ``CircuitState.OPEN``: on CPython 3.11 a member read through the enum class
# costs ~30 ns, and the rejection path reads one per call (bench/overhead.py measures it: the
# rejection ratio goes from ~0.27 to ~0.30 of pybreaker's, the target's limit, without these).
_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN

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


def _positive(field: str, value: float) -> None:
    if not value > 0:
        msg = f"{field} must be > 0, got {value}"
        raise ValueError(msg)


class CircuitBreaker:
    """
    Trip after repeated vendor failures, reject while open, and admit a bounded number of probes.

    Args:
        name: the integration this breaker guards (used in errors and the health report).
        failure_threshold: consecutive failures (in CLOSED) that open the circuit.
        reset_timeout: seconds OPEN lasts before the next call becomes a probe.
        half_open_max_calls: probes allowed in flight at once while HALF_OPEN; others are rejected.
        success_threshold: probe successes needed to close again.
        window_size: when > 0, also open when the failure rate over the last ``window_size``
            outcomes reaches ``failure_rate`` (once ``minimum_calls`` outcomes are in the window).
        minimum_calls: outcomes needed in the window before the rate is judged.
        failure_rate: the rate (0..1] that opens the circuit.
        slow_call_duration: when set, a success that took at least this long counts as a failure.
        is_failure: which exceptions count against the vendor (default: `counts_as_failure`).
            Local rejections and non-vendor errors (not `IntegrationError`) count as neither;
            other vendor errors (a 404, a declined card) prove the vendor answered: a success.
        clock: the time source; only its `Clock.monotonic` is read.
        listeners: called on each transition with (old, new, reason).
    """

    __slots__ = (
        "_calls",
        "_consecutive",
        "_epoch",
        "_failures",
        "_is_failure",
        "_last_failure",
        "_last_success",
        "_listeners",
        "_monotonic",
        "_open_until",
        "_probe_successes",
        "_probes",
        "_rejections",
        "_state",
        "_successes",
        "_window",
        "clock",
        "failure_rate",
        "failure_threshold",
        "half_open_max_calls",
        "minimum_calls",
        "name",
        "reset_timeout",
        "slow_call_duration",
        "success_threshold",
        "window_size",
    )

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 60.0,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        window_size: int = 0,
        minimum_calls: int = 10,
        failure_rate: float = 0.5,
        slow_call_duration: float | None = None,
        is_failure: Callable[[BaseException], bool] = counts_as_failure,
        clock: Clock = SYSTEM_CLOCK,
        listeners: Iterable[Listener] = (),
    ) -> None:
        _positive("failure_threshold", failure_threshold)
        _positive("reset_timeout", reset_timeout)
        _positive("half_open_max_calls", half_open_max_calls)
        _positive("success_threshold", success_threshold)
        _positive("minimum_calls", minimum_calls)
        if not 0 < failure_rate <= 1:
            msg = f"failure_rate must be in (0, 1], got {failure_rate}"
            raise ValueError(msg)
        if window_size < 0:
            msg = f"window_size must be >= 0, got {window_size}"
            raise ValueError(msg)
        if slow_call_duration is not None:
            _positive("slow_call_duration", slow_call_duration)
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.half_open_max_calls = half_open_max_calls
        self.success_threshold = success_threshold
        self.window_size = window_size
        self.minimum_calls = minimum_calls
        self.failure_rate = failure_rate
        self.slow_call_duration = slow_call_duration
        self._is_failure = is_failure
        self.clock = clock
        self._monotonic = clock.monotonic  # bound once: the hot path pays no lookup for it
        self._listeners = list(listeners)
        self._state = _CLOSED
        self._epoch = 0
        self._open_until = 0.0
        self._consecutive = 0
        self._probes = 0
        self._probe_successes = 0
        self._window = (
            FailureWindow(window_size, minimum_calls, failure_rate) if window_size else None
        )
        self._calls = 0
        self._successes = 0
        self._failures = 0
        self._rejections = 0
        self._last_success: float | None = None
        self._last_failure: float | None = None

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.name!r} {self._state.value}>"

    @property
    def state(self) -> CircuitState:
        """The state now; an OPEN breaker whose timeout elapsed becomes (and reports) HALF_OPEN."""
        if self._state is _OPEN and self._monotonic() >= self._open_until:
            self._transition(_HALF_OPEN, "reset timeout elapsed", 0.0)
        return self._state

    @property
    def probes_in_flight(self) -> int:
        """How many HALF_OPEN probes are running now."""
        return self._probes if self._state is _HALF_OPEN else 0

    def open_for(self) -> float:
        """Seconds until an OPEN breaker admits a probe (0 when it admits calls now)."""
        if self._state is not _OPEN:
            return 0.0
        return max(self._open_until - self._monotonic(), 0.0)

    def add_listener(self, listener: Listener) -> None:
        """Also call ``listener(old, new, reason)`` on every transition."""
        self._listeners.append(listener)

    def rejecting(self) -> float | None:
        """
        While OPEN: count one rejection and return the seconds until a probe; else None.

        The caller raises ``RejectedByBreaker(name, retry_in)`` in its own ``raise`` expression.
        Returning the error instead would leave it in a local of the raising frame, a cycle
        (frame -> error -> traceback -> frame) that only the cyclic GC frees: +40% per rejection.
        """
        if self._state is _OPEN:
            now = self._monotonic()
            if now < self._open_until:
                self._rejections += 1
                return self._open_until - now
        return None

    def acquire(self) -> int:
        """
        Admit one call, or raise `CircuitOpenError` without calling anything.

        Returns:
            The permit to hand back to exactly one of `on_success`, `on_error` or `release`.
        """
        state = self._state
        if state is _CLOSED:
            self._calls += 1
            return self._epoch
        if state is _OPEN:
            now = self._monotonic()
            if now < self._open_until:
                self._rejections += 1
                raise RejectedByBreaker(self.name, self._open_until - now)
            self._transition(_HALF_OPEN, "reset timeout elapsed", now)
        if self._probes >= self.half_open_max_calls:
            self._rejections += 1
            raise RejectedByBreaker(self.name, 0.0)
        self._probes += 1
        self._calls += 1
        return self._epoch

    def on_success(self, permit: int, duration: float = 0.0) -> None:
        """Record a call that returned (slow ones count as failures when configured)."""
        slow = self.slow_call_duration
        if slow is not None and duration >= slow:
            self._failed(permit, "slow call")
            return
        self._successes += 1
        self._last_success = self._monotonic()
        if permit != self._epoch:
            return
        if self._state is _CLOSED:
            self._consecutive = 0
            if self._window is not None:
                self._window.record(failed=False)
        else:
            self._probes -= 1
            self._probe_successes += 1
            if self._probe_successes >= self.success_threshold:
                self._transition(_CLOSED, f"{self._probe_successes} probe(s) succeeded", 0.0)

    def on_error(self, permit: int, exc: BaseException) -> None:
        """Record a call that raised: a failure, a success (the vendor answered) or neither."""
        if self._is_failure(exc):
            self._failed(permit, type(exc).__name__)
        elif isinstance(exc, IntegrationError) and not isinstance(exc, LocalRejection):
            self.on_success(permit)
        else:
            self.release(permit)

    def release(self, permit: int) -> None:
        """Return a permit with no outcome (cancelled, refused locally): frees its probe slot."""
        if permit == self._epoch and self._state is _HALF_OPEN:
            self._probes -= 1

    def stats(self) -> BreakerStats:
        """The counters now, for the health report."""
        state = self.state
        return BreakerStats(
            name=self.name,
            state=state,
            calls=self._calls,
            successes=self._successes,
            failures=self._failures,
            rejections=self._rejections,
            consecutive_failures=self._consecutive,
            last_success=self._last_success,
            last_failure=self._last_failure,
            retry_in=self.open_for(),
            failure_threshold=self.failure_threshold,
            reset_timeout=self.reset_timeout,
        )

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` through the breaker; cancellation counts as nothing."""
        # `acquire` rejects too, but an outage's hot path saves its frame here: measured, the
        # rejection goes from ~0.27 to ~0.31 of pybreaker's without this (the target is 0.3).
        if self._state is _OPEN:
            now = self._monotonic()
            if now < self._open_until:
                self._rejections += 1
                raise RejectedByBreaker(self.name, self._open_until - now)
        permit = self.acquire()
        started = self._monotonic()
        try:
            result = await fn(*args, **kwargs)
        except Exception as exc:
            self.on_error(permit, exc)
            raise
        except BaseException:
            self.release(permit)
            raise
        self.on_success(permit, self._monotonic() - started)
        return result

    def _failed(self, permit: int, reason: str) -> None:
        now = self._monotonic()
        self._failures += 1
        self._last_failure = now
        if permit != self._epoch:
            return
        if self._state is _HALF_OPEN:
            self._transition(_OPEN, f"probe failed: {reason}", now)
            return
        self._consecutive += 1
        if self._consecutive >= self.failure_threshold:
            self._transition(_OPEN, f"{self._consecutive} consecutive failures ({reason})", now)
        elif self._window is not None and self._window.record(failed=True):
            self._transition(_OPEN, f"failure rate over the last {len(self._window)} calls", now)

    def _transition(self, new: CircuitState, reason: str, now: float) -> None:
        old = self._state
        self._state = new
        self._epoch += 1
        self._probes = 0
        self._probe_successes = 0
        self._consecutive = 0
        if self._window is not None:
            self._window.clear()
        if new is _OPEN:
            self._open_until = now + self.reset_timeout
        for listener in self._listeners:
            try:
                listener(old, new, reason)
            except Exception:  # noqa: BLE001 - a broken listener must not break the breaker
                _log.exception("circuit listener failed for %s", self.name)
