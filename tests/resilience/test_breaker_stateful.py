"""A stateful property test: the breaker agrees with a small reference model on every step."""

from __future__ import annotations

import asyncio
import itertools
import math
from typing import Any

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from portico.adapters.fakes import FakeClock
from portico.adapters.resilience import CircuitBreaker, CircuitState
from portico.domain.errors import CircuitOpenError, InvalidRequest, Unavailable


RESET = 10.0
SLOW = 5.0
OVERRIDE = {
    "open": CircuitState.FORCED_OPEN,
    "closed": CircuitState.FORCED_CLOSED,
    "disabled": CircuitState.DISABLED,
}


@attrs.define
class Model:
    """The breaker's specification, written as plainly as possible."""

    threshold: int
    max_probes: int
    successes_needed: int
    window_size: int = 0
    window_type: str = "count"
    minimum_calls: int = 1
    failure_rate: float = 0.5
    half_open_mode: str = "probes"
    multiplier: float = 1.0
    wait_max: float | None = None
    slow_duration: float | None = None
    slow_rate: float | None = None
    window: list[tuple[float, bool, bool]] = attrs.field(factory=list)
    state: CircuitState = CircuitState.CLOSED
    epoch: int = 0
    consecutive: int = 0
    open_until: float = 0.0
    override_until: float = math.inf
    trips: int = 0
    probes: int = 0
    judged: int = 0
    probe_successes: int = 0
    probe_failures: int = 0
    probe_slow: int = 0
    failures: int = 0
    admitted: dict[int, tuple[int, float]] = attrs.field(factory=dict)

    def wait(self) -> float:
        """The open wait of trip number ``trips``: grown by the multiplier, capped."""
        if self.multiplier == 1 or self.wait_max is None:
            return RESET
        return min(self.wait_max, RESET * self.multiplier ** (self.trips - 1))

    def move(self, state: CircuitState, now: float) -> None:
        """Enter ``state``: every transition starts afresh."""
        self.state = state
        self.epoch += 1
        self.consecutive = self.probes = self.judged = 0
        self.probe_successes = self.probe_failures = self.probe_slow = 0
        self.window = []
        self.override_until = math.inf
        if state is CircuitState.OPEN:
            self.trips += 1
            self.open_until = now + self.wait()
        elif state is not CircuitState.HALF_OPEN:
            self.trips = 0

    def current(self, now: float) -> CircuitState:
        """The state as a caller sees it now."""
        if self.state is CircuitState.OPEN and now >= self.open_until:
            self.move(CircuitState.HALF_OPEN, now)
        elif self.state in OVERRIDE.values() and now >= self.override_until:
            self.move(CircuitState.CLOSED, now)
        return self.state

    def admit(self, call: int, now: float) -> bool:
        """Whether a call arriving now runs."""
        state = self.current(now)
        if state in (CircuitState.OPEN, CircuitState.FORCED_OPEN):
            return False
        if state is CircuitState.HALF_OPEN:
            if self.probes + self.judged >= self.max_probes:
                return False
            self.probes += 1
        self.admitted[call] = (self.epoch, now)
        return True

    def finish(self, call: int, outcome: str, now: float) -> None:
        """Apply a call's outcome: ok, permanent, transient or cancel."""
        epoch, started = self.admitted.pop(call)
        current = epoch == self.epoch
        if outcome == "cancel":
            if current and self.state is CircuitState.HALF_OPEN:
                self.probes -= 1
            return
        slow = self.slow_duration is not None and now - started >= self.slow_duration
        failed = outcome == "transient" or (slow and self.slow_rate is None)
        if failed:
            self.failures += 1
        if not current:
            return
        if self.state is CircuitState.CLOSED:
            self.consecutive = self.consecutive + 1 if failed else 0
            tripped = self.rate_trips(now, failed=failed, slow=slow)
            if tripped or (failed and self.consecutive >= self.threshold):
                self.move(CircuitState.OPEN, now)
        elif self.state is CircuitState.FORCED_CLOSED:
            self.consecutive = self.consecutive + 1 if failed else 0
            self.rate_trips(now, failed=failed, slow=slow)
        elif self.state is CircuitState.HALF_OPEN:
            self.probe_outcome(now, failed=failed, slow=slow)

    def probe_outcome(self, now: float, *, failed: bool, slow: bool) -> None:
        """A half-open probe's outcome, by the half-open mode."""
        if self.half_open_mode == "probes":
            if failed:
                self.move(CircuitState.OPEN, now)
                return
            self.probes -= 1
            self.probe_successes += 1
            if self.probe_successes >= self.successes_needed:
                self.move(CircuitState.CLOSED, now)
            return
        self.probes -= 1
        self.judged += 1
        self.probe_failures += failed
        self.probe_slow += slow
        if self.judged < self.max_probes:
            return
        too_slow = self.slow_rate is not None and self.probe_slow >= self.slow_rate * self.judged
        if self.probe_failures >= self.failure_rate * self.judged or too_slow:
            self.move(CircuitState.OPEN, now)
        else:
            self.move(CircuitState.CLOSED, now)

    def rate_trips(self, now: float, *, failed: bool, slow: bool) -> bool:
        """Record an outcome in the window; True when a rate is reached (after every outcome)."""
        if not self.window_size:
            return False
        self.window.append((now, failed, slow))
        if self.window_type == "count":
            self.window = self.window[-self.window_size :]
            minimum = min(self.minimum_calls, self.window_size)
        else:
            edge = math.floor(now) - self.window_size
            self.window = [entry for entry in self.window if math.floor(entry[0]) > edge]
            minimum = self.minimum_calls
        total = len(self.window)
        failures = sum(entry[1] for entry in self.window)
        slows = sum(entry[2] for entry in self.window)
        if total < minimum:
            return False
        too_slow = self.slow_rate is not None and slows >= self.slow_rate * total
        return failures >= self.failure_rate * total or too_slow

    def force(self, mode: str, seconds: float | None, now: float) -> None:
        """An operator override for ``seconds`` (None: until released)."""
        self.move(OVERRIDE[mode], now)
        self.override_until = math.inf if seconds is None else now + seconds

    def open_for(self, now: float) -> float:
        """Seconds a caller is told to wait."""
        if self.state is CircuitState.OPEN:
            return max(self.open_until - now, 0.0)
        if self.state is CircuitState.FORCED_OPEN:
            return RESET if self.override_until == math.inf else self.override_until - now
        return 0.0


class BreakerMachine(RuleBasedStateMachine):
    """Random successes, failures, cancellations, time advances and overlapping probes."""

    calls = Bundle("calls")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.ids = itertools.count()
        self.pending: dict[int, tuple[asyncio.Task[Any], asyncio.Future[str]]] = {}
        self.breaker: CircuitBreaker
        self.model: Model

    @initialize(
        threshold=st.integers(1, 6),
        max_probes=st.integers(1, 3),
        needed=st.integers(1, 3),
        window=st.sampled_from([0, 2, 4, 6]),
        window_type=st.sampled_from(["count", "time"]),
        minimum=st.integers(1, 8),
        rate=st.sampled_from([0.25, 0.5, 1.0]),
        half_open_mode=st.sampled_from(["probes", "rate"]),
        growth=st.sampled_from([(1.0, None), (2.0, 35.0)]),
        slow=st.sampled_from([(None, None), (SLOW, None), (SLOW, 0.5)]),
    )
    def configure(
        self,
        threshold: int,
        max_probes: int,
        needed: int,
        window: int,
        window_type: str,
        minimum: int,
        rate: float,
        half_open_mode: str,
        growth: tuple[float, float | None],
        slow: tuple[float | None, float | None],
    ) -> None:
        """A breaker with random thresholds, probe limits, windows, waits and slow-call rules."""
        slow_duration, slow_rate = slow
        if not window:
            slow_rate = None  # a slow-call rate needs a window
        self.breaker = CircuitBreaker(
            "sm",
            failure_threshold=threshold,
            reset_timeout=RESET,
            reset_multiplier=growth[0],
            reset_timeout_max=growth[1],
            half_open_max_calls=max_probes,
            success_threshold=needed,
            half_open_mode=half_open_mode,  # type: ignore[arg-type]
            window_size=window,
            window_type=window_type,  # type: ignore[arg-type]
            minimum_calls=minimum,
            failure_rate=rate,
            slow_call_duration=slow_duration,
            slow_call_rate=slow_rate,
            clock=self.clock,
        )
        self.model = Model(
            threshold,
            max_probes,
            needed,
            window,
            window_type,
            minimum,
            rate,
            half_open_mode,
            growth[0],
            growth[1],
            slow_duration,
            slow_rate,
        )

    def _spin(self) -> None:
        for _ in range(3):
            self.loop.run_until_complete(asyncio.sleep(0))

    @rule(target=calls)
    def start(self) -> int:
        """A call arrives and stays in flight until finished by another rule."""
        call = next(self.ids)
        future: asyncio.Future[str] = self.loop.create_future()

        async def vendor() -> str:
            return await future

        task = self.loop.create_task(self.breaker.call(vendor))
        self._spin()
        admitted = self.model.admit(call, self.clock.monotonic())
        if not admitted:
            assert task.done()
            assert isinstance(task.exception(), CircuitOpenError)
            return -1
        assert not task.done()
        self.pending[call] = (task, future)
        return call

    @rule(call=consumes(calls), outcome=st.sampled_from(["ok", "permanent", "transient", "cancel"]))
    def finish(self, call: int, outcome: str) -> None:
        """An in-flight call ends with ``outcome``."""
        if call < 0:
            return
        task, future = self.pending.pop(call)
        if outcome == "ok":
            future.set_result("ok")
        elif outcome == "permanent":
            future.set_exception(InvalidRequest("400", integration="sm"))
        elif outcome == "transient":
            future.set_exception(Unavailable("503", integration="sm"))
        else:
            task.cancel()
        self._spin()
        assert task.done()
        self.model.finish(call, outcome, self.clock.monotonic())

    @rule(outcome=st.sampled_from(["ok", "permanent", "transient"]))
    def instant(self, outcome: str) -> None:
        """A call that arrives and finishes at once."""
        call = next(self.ids)
        if self.start_and_finish(call, outcome):
            self.model.finish(call, outcome, self.clock.monotonic())

    def start_and_finish(self, call: int, outcome: str) -> bool:
        """Run one immediate call; True when it was admitted."""

        async def vendor() -> str:
            if outcome == "transient":
                raise Unavailable("503", integration="sm")
            if outcome == "permanent":
                raise InvalidRequest("400", integration="sm")
            return "ok"

        admitted = self.model.admit(call, self.clock.monotonic())
        try:
            self.loop.run_until_complete(self.breaker.call(vendor))
        except CircuitOpenError:
            assert not admitted
            return False
        except (Unavailable, InvalidRequest):
            pass
        assert admitted
        return True

    @rule(dt=st.sampled_from([0.5, 3.0, 5.0, 9.99, 10.0, 25.0]))
    def advance(self, dt: float) -> None:
        """Time passes (in-flight calls become slow)."""
        self.clock.advance(dt)

    @rule(
        mode=st.sampled_from(["open", "closed", "disabled"]),
        seconds=st.sampled_from([None, 5.0, 15.0]),
    )
    def override(self, mode: str, seconds: float | None) -> None:
        """An operator forces the breaker open, closed or off, for a while or until released."""
        getattr(
            self.breaker, {"open": "force_open", "closed": "force_closed"}.get(mode, "disable")
        )(seconds)
        self.model.force(mode, seconds, self.clock.monotonic())

    @rule()
    def release(self) -> None:
        """An operator ends the override (nothing happens without one)."""
        self.breaker.release_override()
        if self.model.state in OVERRIDE.values():
            self.model.move(CircuitState.CLOSED, self.clock.monotonic())

    @rule()
    def reset(self) -> None:
        """An operator resets the breaker to a fresh CLOSED."""
        self.breaker.reset()
        self.model.move(CircuitState.CLOSED, self.clock.monotonic())

    @invariant()
    def agrees_with_the_model(self) -> None:
        """State, probes in flight and failure count match the model."""
        if not hasattr(self, "model"):
            return
        now = self.clock.monotonic()
        assert self.breaker.state is self.model.current(now)
        assert self.breaker.probes_in_flight == (
            self.model.probes if self.model.state is CircuitState.HALF_OPEN else 0
        )
        assert self.breaker.probes_in_flight <= self.model.max_probes
        stats = self.breaker.stats()
        assert stats.failures == self.model.failures
        assert stats.consecutive_failures == self.model.consecutive
        assert stats.retry_in == pytest.approx(self.model.open_for(now))

    def teardown(self) -> None:
        """Cancel what is still in flight and close the loop."""
        for task, _ in self.pending.values():
            task.cancel()
        self._spin()
        self.loop.close()


TestBreakerMachine = BreakerMachine.TestCase
# Interleavings that matter (a probe racing a straggler, a rate trip at the window's edge) need
# more runs than the profile's default; each run takes about a millisecond.
TestBreakerMachine.settings = settings(
    settings(), max_examples=max(500, settings().max_examples), stateful_step_count=40
)
TestBreakerMachine.__doc__ = "The breaker matches its reference model under random schedules."
