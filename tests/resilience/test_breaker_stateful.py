"""A stateful property test: the breaker agrees with a small reference model on every step."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import attrs
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


@attrs.define
class Model:
    """The breaker's specification, written as plainly as possible."""

    threshold: int
    max_probes: int
    successes_needed: int
    window_size: int = 0
    minimum_calls: int = 1
    failure_rate: float = 0.5
    window: list[bool] = attrs.field(factory=list)
    state: CircuitState = CircuitState.CLOSED
    epoch: int = 0
    consecutive: int = 0
    open_until: float = 0.0
    probes: int = 0
    probe_successes: int = 0
    failures: int = 0
    admitted: dict[int, int] = attrs.field(factory=dict)

    def move(self, state: CircuitState, now: float) -> None:
        """Enter ``state``: every transition starts afresh."""
        self.state = state
        self.epoch += 1
        self.consecutive = self.probes = self.probe_successes = 0
        self.window = []
        if state is CircuitState.OPEN:
            self.open_until = now + RESET

    def current(self, now: float) -> CircuitState:
        """The state as a caller sees it now."""
        if self.state is CircuitState.OPEN and now >= self.open_until:
            self.move(CircuitState.HALF_OPEN, now)
        return self.state

    def admit(self, call: int, now: float) -> bool:
        """Whether a call arriving now runs."""
        state = self.current(now)
        if state is CircuitState.OPEN:
            return False
        if state is CircuitState.HALF_OPEN:
            if self.probes >= self.max_probes:
                return False
            self.probes += 1
        self.admitted[call] = self.epoch
        return True

    def finish(self, call: int, outcome: str, now: float) -> None:
        """Apply a call's outcome: ok, permanent, transient or cancel."""
        epoch = self.admitted.pop(call)
        if outcome == "transient":
            self.failures += 1
        current = epoch == self.epoch
        if outcome == "cancel":
            if current and self.state is CircuitState.HALF_OPEN:
                self.probes -= 1
        elif outcome == "transient":
            if not current:
                return
            if self.state is CircuitState.HALF_OPEN:
                self.move(CircuitState.OPEN, now)
            else:
                self.consecutive += 1
                if self.consecutive >= self.threshold or self.rate_trips(failed=True):
                    self.move(CircuitState.OPEN, now)
        elif current:
            if self.state is CircuitState.HALF_OPEN:
                self.probes -= 1
                self.probe_successes += 1
                if self.probe_successes >= self.successes_needed:
                    self.move(CircuitState.CLOSED, now)
            else:
                self.consecutive = 0
                self.rate_trips(failed=False)

    def rate_trips(self, *, failed: bool) -> bool:
        """Record an outcome in the last-N window; True when the failure rate is reached."""
        if not self.window_size:
            return False
        self.window = [*self.window, failed][-self.window_size :]
        return (
            failed
            and len(self.window) >= self.minimum_calls
            and sum(self.window) >= self.failure_rate * len(self.window)
        )


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
        minimum=st.integers(1, 6),
        rate=st.sampled_from([0.25, 0.5, 1.0]),
    )
    def configure(
        self, threshold: int, max_probes: int, needed: int, window: int, minimum: int, rate: float
    ) -> None:
        """A breaker with random thresholds, probe limits and failure-rate window."""
        self.breaker = CircuitBreaker(
            "sm",
            failure_threshold=threshold,
            reset_timeout=RESET,
            half_open_max_calls=max_probes,
            success_threshold=needed,
            window_size=window,
            minimum_calls=minimum,
            failure_rate=rate,
            clock=self.clock,
        )
        self.model = Model(threshold, max_probes, needed, window, minimum, rate)

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

    @rule(dt=st.sampled_from([0.5, 3.0, 9.99, 10.0, 25.0]))
    def advance(self, dt: float) -> None:
        """Time passes."""
        self.clock.advance(dt)

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
        assert self.breaker.stats().failures == self.model.failures

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
