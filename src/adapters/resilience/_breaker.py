"""
A circuit breaker: stop calling a vendor that is failing, and probe it carefully before trusting it.

The state machine (Resilience4j's model)::

    CLOSED --(failure_threshold consecutive failures, or a failure / slow-call rate over the
              window, judged after every recorded outcome)--> OPEN
    OPEN --(the open wait elapsed; checked lazily on the next call or state read)--> HALF_OPEN
    HALF_OPEN --(half_open_mode "probes": success_threshold probe successes)--> CLOSED
    HALF_OPEN --("probes": any probe failure)--> OPEN (the wait restarts, maybe longer)
    HALF_OPEN --(half_open_mode "rate": after exactly half_open_max_calls probe outcomes, their
                 failure or slow-call rate at or above the threshold)--> OPEN, else CLOSED

The open wait is ``reset_timeout`` for the first trip and grows by ``reset_multiplier`` on each
trip that follows without a close in between, up to ``reset_timeout_max`` (Resilience4j's
``waitIntervalFunctionInOpenState`` with ``IntervalFunction.ofExponentialBackoff``).

Operators (and `BreakerControl`, which applies the CLI's overrides) may also move it by hand,
for a while or until released; each override ends in a fresh CLOSED::

    FORCED_OPEN    rejects every call (Resilience4j's transitionToForcedOpenState)
    FORCED_CLOSED  admits every call and keeps its counters, never trips (FORCED_CLOSE)
    DISABLED       admits every call and judges nothing (DISABLED)
    reset()        back to CLOSED with every counter of the window cleared

Every transition starts a new *epoch*. A permit remembers the epoch it was issued in, so an
outcome that arrives after the state moved on (a slow call admitted while CLOSED finishing during
HALF_OPEN) is counted in the totals but cannot close or re-open the circuit, and cannot free a
probe slot it never held. The sync `acquire` / `on_success` / `on_error` / `release` methods are
the hot path the `Pipeline` uses; `call` wraps them for use on its own.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, TypeVar

import attrs

from ...domain.backoff import backoff_ceiling
from ...domain.errors import (
    CircuitOpenError,
    IntegrationError,
    LocalRejection,
    TokenRefreshFailed,
    TransientError,
)
from ...domain.time import SYSTEM_CLOCK, Clock
from ._windows import CountWindow, TimeWindow, WindowType, make_window


__all__ = [
    "BreakerStats",
    "CircuitBreaker",
    "CircuitState",
    "HalfOpenMode",
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
    FORCED_OPEN = "forced_open"
    FORCED_CLOSED = "forced_closed"
    DISABLED = "disabled"


# Module globals, not ``CircuitState.OPEN``: on CPython 3.11 a member read through the enum class
# costs ~30 ns, and the rejection path reads one per call (bench/overhead.py measures it: the
# rejection ratio goes from ~0.27 to ~0.30 of pybreaker's, the target's limit, without these).
_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN
_FORCED_OPEN = CircuitState.FORCED_OPEN
_FORCED_CLOSED = CircuitState.FORCED_CLOSED
_DISABLED = CircuitState.DISABLED
OVERRIDES = frozenset({_FORCED_OPEN, _FORCED_CLOSED, _DISABLED})
"""The states only an operator (or `BreakerControl`) puts a breaker in."""

HalfOpenMode = Literal["probes", "rate"]

Listener = Callable[[CircuitState, CircuitState, str], None]
"""Called on every transition with (old state, new state, reason)."""


def counts_as_failure(exc: BaseException) -> bool:
    """
    The default predicate: transient vendor errors, timeouts and failed token renewals (the
    vendor's identity service is unwell or refuses us) say the vendor is unwell.
    """
    return isinstance(exc, TransientError | TimeoutError | TokenRefreshFailed)


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
    open_wait: float = 0.0
    """The wait of the current (or next) trip, grown by repeated trips."""
    override_for: float | None = None
    """Seconds an operator override has left (inf: until released); None without one."""


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
        reset_timeout: seconds the first trip stays OPEN before the next call becomes a probe.
        reset_multiplier: each further trip (HALF_OPEN back to OPEN) waits this many times the
            previous wait (1: always ``reset_timeout``).
        reset_timeout_max: the longest open wait; required when ``reset_multiplier`` > 1.
        half_open_max_calls: ``half_open_mode`` "probes": probes allowed in flight at once;
            "rate": the exact number of probe outcomes the HALF_OPEN verdict is judged over
            (a cancelled probe gives its slot back, so exactly this many outcomes are counted).
        success_threshold: "probes" mode: probe successes needed to close again.
        half_open_mode: "probes" (default: any failing probe re-opens, ``success_threshold``
            successes close) or "rate" (Resilience4j: the failure and slow-call rates of the
            ``half_open_max_calls`` probes decide).
        window_size: when > 0, also open when the failure rate (or slow-call rate) over the
            window reaches its threshold, judged after every recorded outcome once
            ``minimum_calls`` outcomes are in. Calls for ``window_type`` "count", seconds for
            "time".
        window_type: "count" (the last ``window_size`` calls) or "time" (the last
            ``window_size`` seconds).
        minimum_calls: outcomes needed in the window before a rate is judged; for a count window
            it is capped at ``window_size`` (as Resilience4j does), never a silent "off".
        failure_rate: the failure rate (0..1] that opens the circuit.
        slow_call_duration: a call that took at least this long is *slow*.
        slow_call_rate: when set, slow calls have their own rate threshold (0..1] over the
            window (they count as neither failure nor success of the failure rate); when None,
            a slow success counts as a failure (needs ``slow_call_duration``).
        is_failure: which exceptions count against the vendor (default: `counts_as_failure`).
            Local rejections and non-vendor errors (not `IntegrationError`) count as neither;
            other vendor errors (a 404, a declined card) prove the vendor answered: a success.
        clock: the time source; only its `Clock.monotonic` is read.
        listeners: called on each transition with (old, new, reason).

    Raises:
        ValueError: a setting out of range (named).
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
        "_override_until",
        "_probe_failures",
        "_probe_slow",
        "_probe_successes",
        "_probes",
        "_probes_judged",
        "_rate_mode",
        "_rejections",
        "_state",
        "_successes",
        "_trips",
        "_window",
        "clock",
        "failure_rate",
        "failure_threshold",
        "half_open",
        "half_open_max_calls",
        "half_open_mode",
        "minimum_calls",
        "name",
        "reset_multiplier",
        "reset_timeout",
        "reset_timeout_max",
        "slow_call_duration",
        "slow_call_rate",
        "success_threshold",
        "window_size",
        "window_type",
    )

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 60.0,
        reset_multiplier: float = 1.0,
        reset_timeout_max: float | None = None,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        half_open_mode: HalfOpenMode = "probes",
        window_size: int = 0,
        window_type: WindowType = "count",
        minimum_calls: int = 10,
        failure_rate: float = 0.5,
        slow_call_duration: float | None = None,
        slow_call_rate: float | None = None,
        is_failure: Callable[[BaseException], bool] = counts_as_failure,
        clock: Clock = SYSTEM_CLOCK,
        listeners: Iterable[Listener] = (),
    ) -> None:
        _check(
            failure_threshold=failure_threshold,
            reset_timeout=reset_timeout,
            reset_multiplier=reset_multiplier,
            reset_timeout_max=reset_timeout_max,
            half_open_max_calls=half_open_max_calls,
            success_threshold=success_threshold,
            half_open_mode=half_open_mode,
            window_size=window_size,
            window_type=window_type,
            minimum_calls=minimum_calls,
            failure_rate=failure_rate,
            slow_call_duration=slow_call_duration,
            slow_call_rate=slow_call_rate,
        )
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.reset_multiplier = reset_multiplier
        self.reset_timeout_max = reset_timeout_max
        self.half_open_max_calls = half_open_max_calls
        self.success_threshold = success_threshold
        self.half_open_mode = half_open_mode
        self._rate_mode = half_open_mode == "rate"
        self.window_size = window_size
        self.window_type = window_type
        self.minimum_calls = (
            min(minimum_calls, window_size)
            if window_type == "count" and window_size
            else minimum_calls
        )
        self.failure_rate = failure_rate
        self.slow_call_duration = slow_call_duration
        self.slow_call_rate = slow_call_rate
        self._is_failure = is_failure
        self.clock = clock
        self._monotonic = clock.monotonic  # bound once: the hot path pays no lookup for it
        self._listeners = list(listeners)
        self._state = _CLOSED
        self.half_open = False
        """True while HALF_OPEN: a permit taken now is a probe (a plain read for the hot path)."""
        self._epoch = 0
        self._open_until = 0.0
        self._override_until = math.inf
        self._trips = 0
        self._consecutive = 0
        self._probes = 0
        self._probes_judged = 0
        self._probe_successes = 0
        self._probe_failures = 0
        self._probe_slow = 0
        self._window: CountWindow | TimeWindow | None = make_window(
            window_type, window_size, minimum_calls, failure_rate, slow_call_rate, clock.monotonic
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
        """The state now; an OPEN breaker whose wait elapsed becomes (and reports) HALF_OPEN."""
        state = self._state
        if state is _OPEN and self._monotonic() >= self._open_until:
            self._transition(_HALF_OPEN, "reset timeout elapsed", 0.0)
        elif state in OVERRIDES and self._monotonic() >= self._override_until:
            self._transition(_CLOSED, f"{state.value} override expired", 0.0)
        return self._state

    @property
    def probes_in_flight(self) -> int:
        """How many HALF_OPEN probes are running now."""
        return self._probes if self._state is _HALF_OPEN else 0

    def open_for(self) -> float:
        """Seconds until an OPEN breaker admits a probe (0 when it admits calls now)."""
        state = self._state
        if state is _OPEN:
            return max(self._open_until - self._monotonic(), 0.0)
        if state is _FORCED_OPEN:
            return self._forced_retry_in()
        return 0.0

    def next_open_wait(self) -> float:
        """How long the next trip would stay OPEN (the current one's wait while OPEN)."""
        trips = self._trips if self._state is _OPEN else self._trips + 1
        return self._wait(max(trips, 1))

    def add_listener(self, listener: Listener) -> None:
        """Also call ``listener(old, new, reason)`` on every transition."""
        self._listeners.append(listener)

    # ---------------------------------------------------------------- manual control

    def force_open(self, seconds: float | None = None) -> None:
        """Reject every call for ``seconds`` (None: until `release_override` or `reset`)."""
        self._override(_FORCED_OPEN, seconds)

    def force_closed(self, seconds: float | None = None) -> None:
        """Admit every call, keep counting, never trip, for ``seconds`` (None: until released)."""
        self._override(_FORCED_CLOSED, seconds)

    def disable(self, seconds: float | None = None) -> None:
        """Admit every call and judge nothing, for ``seconds`` (None: until released)."""
        self._override(_DISABLED, seconds)

    def reset(self) -> None:
        """Back to a fresh CLOSED: overrides, counters of the window and the trip count cleared."""
        self._transition(_CLOSED, "reset", 0.0)

    def release_override(self) -> None:
        """End an operator override now (a fresh CLOSED); nothing happens without one."""
        state = self._state
        if state in OVERRIDES:
            self._transition(_CLOSED, f"{state.value} override released", 0.0)

    def adopt_open(self, retry_in: float, reason: str) -> None:
        """
        Go OPEN for ``retry_in`` seconds because another worker's breaker opened (shared state).

        Counters of the window are cleared as on any trip; the wait is the shared one, not this
        breaker's own. An operator override wins: a FORCED or DISABLED breaker is left alone.
        """
        state = self._state
        if state in OVERRIDES:
            return
        now = self._monotonic()
        if state is not _OPEN:  # already OPEN: only its wait is aligned on the shared one
            self._transition(_OPEN, reason, now)
        self._open_until = now + max(retry_in, 0.0)

    def adopt_closed(self, reason: str) -> None:
        """Go CLOSED because another worker's probe closed the shared circuit (not overrides)."""
        if self._state is _OPEN or self._state is _HALF_OPEN:
            self._transition(_CLOSED, reason, 0.0)

    def _override(self, state: CircuitState, seconds: float | None) -> None:
        if seconds is not None and not seconds > 0:
            msg = f"seconds must be > 0, got {seconds}"
            raise ValueError(msg)
        now = self._monotonic()
        reason = "until released" if seconds is None else f"for {seconds:g}s"
        self._transition(state, f"{state.value} {reason}", now)
        self._override_until = math.inf if seconds is None else now + seconds

    def _forced_retry_in(self) -> float:
        left = self._override_until - self._monotonic()
        return max(left, 0.0) if left != math.inf else self.reset_timeout

    # ---------------------------------------------------------------- the hot path

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
        elif state is not _HALF_OPEN:
            return self._acquire_overridden(state)
        if self._probes + self._probes_judged >= self.half_open_max_calls:
            self._rejections += 1
            raise RejectedByBreaker(self.name, 0.0)
        self._probes += 1
        self._calls += 1
        return self._epoch

    def readmit(self, permit: int) -> int:
        """
        Check again a permit taken before a wait (bulkhead, limiter): the permit to use now.

        Unchanged while the state is the one it was issued in; otherwise the call is admitted
        afresh (`acquire`: rejected when the breaker opened meanwhile, a probe when half-open).

        Raises:
            CircuitOpenError: the breaker opened while the call waited; nothing was sent.
        """
        if permit == self._epoch:
            return permit
        return self.acquire()

    def _acquire_overridden(self, state: CircuitState) -> int:
        now = self._monotonic()
        if now >= self._override_until:
            self._transition(_CLOSED, f"{state.value} override expired", now)
            return self.acquire()
        if state is _FORCED_OPEN:
            self._rejections += 1
            raise RejectedByBreaker(self.name, self._forced_retry_in())
        self._calls += 1
        return self._epoch

    def on_success(self, permit: int, duration: float = 0.0) -> None:
        """Record a call that returned (slow: a failure, or slow when slow_call_rate is set)."""
        slow = self.slow_call_duration
        if slow is not None and duration >= slow:
            if self.slow_call_rate is None:
                self._failed(permit, "slow call")
                return
            self._succeeded(permit, slow=True)
            return
        self._successes += 1
        self._last_success = self._monotonic()
        if permit != self._epoch:
            return
        if self._state is _CLOSED:
            self._consecutive = 0
            window = self._window
            if window is not None:
                reason = window.record(failed=False)
                if reason is not None:
                    self._transition(_OPEN, f"{reason} over the window", self._monotonic())
        else:
            self._outcome(failed=False, slow=False)

    def _succeeded(self, permit: int, *, slow: bool) -> None:
        self._successes += 1
        self._last_success = self._monotonic()
        if permit != self._epoch:
            return
        if self._state is _CLOSED:
            self._consecutive = 0
            window = self._window
            if window is not None:
                reason = window.record(failed=False, slow=slow)
                if reason is not None:
                    self._transition(_OPEN, f"{reason} over the window", self._monotonic())
        else:
            self._outcome(failed=False, slow=slow)

    def on_error(self, permit: int, exc: BaseException, duration: float = 0.0) -> None:
        """Record a call that raised: a failure, a success (the vendor answered) or neither."""
        if self._is_failure(exc):
            slow = self.slow_call_duration
            self._failed(permit, type(exc).__name__, slow=slow is not None and duration >= slow)
        elif isinstance(exc, IntegrationError) and not isinstance(exc, LocalRejection):
            self.on_success(permit, duration)
        else:
            self.release(permit)

    def counts_against(self, exc: BaseException) -> bool:
        """Whether ``exc`` counts as a vendor failure (the ``is_failure`` predicate)."""
        return self._is_failure(exc)

    def release(self, permit: int) -> None:
        """Return a permit with no outcome (cancelled, refused locally): frees its probe slot."""
        if permit == self._epoch and self._state is _HALF_OPEN:
            self._probes -= 1

    def stats(self) -> BreakerStats:
        """The counters now, for the health report."""
        state = self.state
        override = None
        if state in OVERRIDES:
            override = max(self._override_until - self._monotonic(), 0.0)
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
            open_wait=self.next_open_wait(),
            override_for=override,
        )

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` through the breaker; cancellation counts as nothing."""
        # `acquire` rejects too, but an outage's hot path saves its frame here: measured, the
        # rejection goes from ~0.27 to ~0.31 of pybreaker's without this (the target is 0.3).
        # `Pipeline._run` inlines these same lines for the same reason.
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
            self.on_error(permit, exc, self._monotonic() - started)
            raise
        except BaseException:
            self.release(permit)
            raise
        self.on_success(permit, self._monotonic() - started)
        return result

    # ---------------------------------------------------------------- bookkeeping

    def _failed(self, permit: int, reason: str, *, slow: bool = False) -> None:
        now = self._monotonic()
        self._failures += 1
        self._last_failure = now
        if permit != self._epoch:
            return
        state = self._state
        if state is _CLOSED or state is _FORCED_CLOSED:
            self._consecutive += 1
            window = self._window
            trip = None
            if self._consecutive >= self.failure_threshold:
                trip = f"{self._consecutive} consecutive failures ({reason})"
            if window is not None:
                rate = window.record(failed=True, slow=slow)
                trip = trip or (None if rate is None else f"{rate} over the window")
            if trip is not None and state is _CLOSED:
                self._transition(_OPEN, trip, now)
        elif state is _HALF_OPEN:
            if self._rate_mode:
                self._outcome(failed=True, slow=slow)
            else:
                self._transition(_OPEN, f"probe failed: {reason}", now)

    def _outcome(self, *, failed: bool, slow: bool) -> None:
        """A current-epoch outcome outside CLOSED: a probe's, or counted while FORCED_CLOSED."""
        state = self._state
        if state is _FORCED_CLOSED:
            if not failed:
                self._consecutive = 0
            window = self._window
            if window is not None:
                window.record(failed=failed, slow=slow)
            return
        if state is not _HALF_OPEN:
            return  # DISABLED judges nothing
        self._probes -= 1
        if not self._rate_mode:
            self._probe_successes += 1
            if self._probe_successes >= self.success_threshold:
                self._transition(_CLOSED, f"{self._probe_successes} probe(s) succeeded", 0.0)
            return
        self._probes_judged += 1
        self._probe_failures += failed
        self._probe_slow += slow
        judged = self._probes_judged
        if judged < self.half_open_max_calls:
            return
        if self._probe_failures >= self.failure_rate * judged:
            self._transition(
                _OPEN, f"probe failure rate {self._probe_failures}/{judged}", self._monotonic()
            )
        elif self.slow_call_rate is not None and self._probe_slow >= self.slow_call_rate * judged:
            self._transition(
                _OPEN, f"probe slow-call rate {self._probe_slow}/{judged}", self._monotonic()
            )
        else:
            self._transition(_CLOSED, f"probe failure rate {self._probe_failures}/{judged}", 0.0)

    def _wait(self, trips: int) -> float:
        if self.reset_multiplier == 1 or self.reset_timeout_max is None:
            return self.reset_timeout
        return backoff_ceiling(
            trips,
            base_delay=self.reset_timeout,
            max_delay=self.reset_timeout_max,
            multiplier=self.reset_multiplier,
        )

    def _transition(self, new: CircuitState, reason: str, now: float) -> None:
        old = self._state
        self._state = new
        self.half_open = new is _HALF_OPEN
        self._epoch += 1
        self._probes = 0
        self._probes_judged = 0
        self._probe_successes = 0
        self._probe_failures = 0
        self._probe_slow = 0
        self._consecutive = 0
        self._override_until = math.inf
        if self._window is not None:
            self._window.clear()
        if new is _OPEN:
            self._trips += 1
            self._open_until = now + self._wait(self._trips)
        elif new is not _HALF_OPEN:
            self._trips = 0
        for listener in self._listeners:
            try:
                listener(old, new, reason)
            except Exception:  # noqa: BLE001 - a broken listener must not break the breaker
                _log.exception("circuit listener failed for %s", self.name)


def _check(
    *,
    failure_threshold: int,
    reset_timeout: float,
    reset_multiplier: float,
    reset_timeout_max: float | None,
    half_open_max_calls: int,
    success_threshold: int,
    half_open_mode: str,
    window_size: int,
    window_type: str,
    minimum_calls: int,
    failure_rate: float,
    slow_call_duration: float | None,
    slow_call_rate: float | None,
) -> None:
    _positive("failure_threshold", failure_threshold)
    _positive("reset_timeout", reset_timeout)
    _positive("half_open_max_calls", half_open_max_calls)
    _positive("success_threshold", success_threshold)
    _positive("minimum_calls", minimum_calls)
    problems = []
    if not 0 < failure_rate <= 1:
        problems.append(f"failure_rate must be in (0, 1], got {failure_rate}")
    if slow_call_rate is not None and not 0 < slow_call_rate <= 1:
        problems.append(f"slow_call_rate must be in (0, 1], got {slow_call_rate}")
    if slow_call_rate is not None and (slow_call_duration is None or not window_size):
        problems.append("slow_call_rate needs slow_call_duration and window_size > 0")
    if window_size < 0:
        problems.append(f"window_size must be >= 0, got {window_size}")
    if window_type not in ("count", "time"):
        problems.append(f"window_type must be count or time, got {window_type!r}")
    if half_open_mode not in ("probes", "rate"):
        problems.append(f"half_open_mode must be probes or rate, got {half_open_mode!r}")
    if reset_multiplier < 1:
        problems.append(f"reset_multiplier must be >= 1, got {reset_multiplier}")
    if reset_multiplier > 1 and reset_timeout_max is None:
        problems.append("reset_timeout_max is required when reset_multiplier > 1")
    if reset_timeout_max is not None and reset_timeout_max < reset_timeout:
        problems.append(
            f"reset_timeout_max must be >= reset_timeout ({reset_timeout:g}), "
            f"got {reset_timeout_max}"
        )
    if slow_call_duration is not None:
        _positive("slow_call_duration", slow_call_duration)
    if problems:
        raise ValueError("; ".join(problems))
