"""
The one place the policies are composed, in this order (outermost first)::

    retry -> breaker -> bulkhead -> limiter -> timeout -> call

- **retry** is outermost so every attempt goes through everything below it, and its backoff sleep
  holds no slot and no token. It stops at once on any `LocalRejection`, so an open circuit ends
  the retry loop immediately.
- **breaker** is checked first on each attempt: while open, it rejects before a bulkhead slot is
  taken or a rate token is spent, which keeps rejection cheap and leaves tokens for healthy
  integrations. It sees the outcome of every attempt. Bulkhead and limiter refusals below it are
  local, so they count neither for nor against the vendor (and free a probe slot).
- **and checked again after a wait**: an attempt that queued in the bulkhead or the limiter asks
  the breaker once more (`CircuitBreaker.readmit`) before it goes out, so calls admitted while
  it was CLOSED cannot pour onto the wire after it opened (a 200-way burst against a vendor
  answering 503 sends at most the calls already in flight plus the threshold: issue 13).
- **bulkhead** before **limiter**: a caller queues for a slot before it takes a token, so tokens
  are spent only by calls about to go out.
- **timeout** wraps only the vendor call, not the queueing above it; its TimeoutError becomes
  `TimedOut` (``request_sent=True``), which the breaker counts and retry treats as maybe-applied.

An OPEN breaker is consulted before any of this (as in `CircuitBreaker.call`): an outage's
rejection costs one coroutine and one fresh `CircuitOpenError`, raised in its own ``raise`` so that
no local keeps it (a frame -> error -> traceback -> frame cycle cost 40% more per rejection).
Only two checks come before it, and a refusal needs both: the telemetry check in `call` (a
refused call is traced and counted too) and the override and shared-state refresh below (either
may have closed or forced the breaker). Below the telemetry check a rejection costs what
`CircuitBreaker.call`'s does; bench/overhead.py prints the share of the check and `call`'s frame.

Operator overrides (`BreakerControl`: ``portico breaker open stripe --for 10m``) are read from
their store at most once per ``control.interval`` seconds, at the start of a call: one clock
read and one comparison per call, never a store round trip.

A shared breaker (`SharedBreakerState`, ``shared_breaker`` on) adds one clock comparison per call
(its state is read from Redis in the background once per interval) and, for a half-open probe
only, one Redis script for a cluster-wide probe slot and one for its outcome.

The policies' fast paths are synchronous (`CircuitBreaker.acquire`, `Bulkhead.try_enter`,
`RateLimiter.try_acquire`), so a successful call costs one coroutine and no allocations beyond
one dict entry in the shared timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from ...domain.errors import LocalRejection, RateLimited, RetryExhaustedError, TransientError
from ...domain.time import SYSTEM_CLOCK, Clock
from ..telemetry import TELEMETRY, error_attributes, outcome_of
from ._breaker import _OPEN, CircuitBreaker, RejectedByBreaker
from ._bulkhead import Bulkhead
from ._limiter import Limiter, charging, end_charging
from ._retry import RetryPolicy, notify
from ._timeout import Timeout, timed_out


if TYPE_CHECKING:
    from ._control import BreakerControl
    from ._shared_breaker import SharedBreakerState
    from ._shared_limiter import RateFeedback


__all__ = ["Pipeline"]

T = TypeVar("T")


class _Observed:
    """One observed call's span (None while not tracing), attempt count and metric labels."""

    __slots__ = ("attempts", "labels", "metering", "span")

    def __init__(self, span: Span | None, labels: Mapping[str, str], metering: bool) -> None:
        self.span = span
        self.labels = labels
        self.metering = metering
        self.attempts = 1

    def event(self, name: str, attributes: Mapping[str, Any]) -> None:
        if self.span is not None:
            self.span.add_event(name, dict(attributes))

    def retried(self, attempt: int, delay: float, error_type: str) -> None:
        self.event(
            "retry",
            {
                "portico.attempt": attempt,
                "portico.delay_s": round(delay, 3),
                "error.type": error_type,
            },
        )
        if self.metering:
            TELEMETRY.retries.add(1, self.labels)

    def rate_limited(self, waited: float) -> None:
        self.event("rate_limit.wait", {"portico.waited_s": round(waited, 4)})
        if self.metering:
            TELEMETRY.rate_wait.record(waited, self.labels)


class Pipeline:
    """
    Run vendor calls through retry, breaker, bulkhead, limiter and timeout (any may be None).

    Args:
        integration: the vendor's name, as in errors and the health report.
        breaker: required; the breaker sees each attempt.
        retry: None makes one attempt.
        bulkhead, limiter: None disables them.
        timeout: the per-attempt `Timeout`; None disables it.
        control: the operator overrides this pipeline's breaker follows (`BreakerControl`).
        feedback: told of every `RateLimited` with a ``retry_after`` (`RateFeedback.pause`),
            so a shared limiter pauses the account for every worker; None: only the retry
            loop of the caller that met it honours the wait.
        shared: the breaker's state shared through Redis (`SharedBreakerState`, attached to
            ``breaker``): read in the background once per its interval, and asked for a
            cluster-wide slot before a probe goes out; None: the breaker is this process's.
        clock: the time source: `Clock.monotonic` for retry's deadline and slow-call timing,
            `Clock.sleep` for the backoff wait. Give the policies the same one (`build_pipeline`
            does).
    """

    __slots__ = (
        "_monotonic",
        "_sleep",
        "breaker",
        "bulkhead",
        "clock",
        "control",
        "decorators",
        "feedback",
        "integration",
        "limiter",
        "retry",
        "shared",
        "timeout",
    )

    def __init__(
        self,
        integration: str,
        *,
        breaker: CircuitBreaker,
        retry: RetryPolicy | None = None,
        bulkhead: Bulkhead | None = None,
        limiter: Limiter | None = None,
        timeout: Timeout | None = None,
        control: BreakerControl | None = None,
        feedback: RateFeedback | None = None,
        shared: SharedBreakerState | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.integration = integration
        self.breaker = breaker
        self.retry = retry
        self.bulkhead = bulkhead
        self.limiter = limiter
        self.timeout = timeout
        self.control = control
        self.feedback = feedback
        self.shared = shared
        self.clock = clock
        self._monotonic = clock.monotonic  # bound once: no lookup per call on the hot path
        self._sleep = clock.sleep
        self.decorators: dict[type, object] = {}  # port decorators over this pipeline (`around`)

    def __repr__(self) -> str:
        return f"<Pipeline {self.integration!r}>"

    @overload
    def worst_case_seconds(self) -> float | None: ...

    @overload
    def worst_case_seconds(self, *, untimed_attempt: float) -> float: ...

    def worst_case_seconds(self, *, untimed_attempt: float | None = None) -> float | None:
        """
        The longest one `call` can take, queueing, retries and backoff included.

        One attempt is at most its timeout plus the bulkhead's and the limiter's ``max_wait``.
        With a retry deadline, every wait ends before the deadline (a vendor's ``Retry-After``
        included) and one last attempt may follow: ``deadline + attempt``. Without one, every
        attempt runs and each wait is counted at the backoff cap: ``attempts x attempt +
        (attempts - 1) x max_delay``; a ``Retry-After`` above the cap is then not bounded.

        Args:
            untimed_attempt: the seconds to count for an attempt when the pipeline has no
                per-attempt timeout; without it such a pipeline has no worst case (None).

        Leases that must outlast a call are derived from this (the relay's, intake's claim).
        """
        if self.timeout is not None:
            attempt = self.timeout.seconds
        elif untimed_attempt is not None:
            attempt = untimed_attempt
        else:
            return None
        if self.bulkhead is not None:
            attempt += self.bulkhead.max_wait
        if self.limiter is not None:
            attempt += self.limiter.max_wait
        retry = self.retry
        if retry is None or retry.attempts == 1:
            return attempt
        if retry.deadline is not None:
            return retry.deadline + attempt
        return retry.attempts * attempt + (retry.attempts - 1) * retry.max_delay

    def call(
        self,
        operation: str,
        fn: Callable[[], Awaitable[T]],
        *,
        idempotent: bool,
        port: str | None = None,
    ) -> Awaitable[T]:
        """
        Run ``fn()`` with every policy; ``operation`` names it in errors, ``port`` (e.g.
        "payments") names its span (``payments.create_intent``; default: the integration).

        A plain function returning the awaitable: with no OpenTelemetry SDK installed the call
        costs one telemetry check and no extra coroutine (`adapters.telemetry`).

        Raises:
            CircuitOpenError, BulkheadFull, RateLimitExceeded: refused locally, nothing was sent.
            RetryExhaustedError: every attempt failed transiently (carries the last error).
            OutcomeUnknown: a non-idempotent call failed after its request may have been applied.
            PermanentError: as raised by ``fn``, at once.
        """
        tel = TELEMETRY  # its `observing` check, inline: no frame, no clock read per call
        if tel.countdown:
            tel.countdown -= 1
        else:
            tel.recheck()
        if tel.active:
            return self._observed(port or self.integration, operation, fn, idempotent)
        return self._run(operation, fn, idempotent, None)

    async def _observed(
        self, port: str, operation: str, fn: Callable[[], Awaitable[T]], idempotent: bool
    ) -> T:
        """`_run` inside a span, counted in the call metrics (only while an SDK is installed)."""
        tel = TELEMETRY
        labels = {"portico.integration": self.integration, "portico.operation": operation}
        started = time.perf_counter()
        with tel.span(f"{port}.{operation}", labels, kind=SpanKind.INTERNAL) as span:
            seen = _Observed(span, labels, tel.metering)
            error: BaseException | None = None
            try:
                return await self._run(operation, fn, idempotent, seen)
            except Exception as exc:
                error = exc
                if isinstance(exc, LocalRejection):  # breaker, bulkhead or limiter: nothing sent
                    seen.event("rejected", {"error.type": type(exc).__name__})
                raise
            finally:
                outcome = outcome_of(error)
                if span is not None:
                    span.set_attributes(
                        {
                            "portico.outcome": outcome,
                            "portico.attempts": seen.attempts,
                            "portico.breaker.state": self.breaker.state.value,
                            "portico.outcome_unknown": outcome == "unknown",
                        }
                    )
                    if error is not None:
                        span.set_attributes(error_attributes(error))
                        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                if seen.metering:
                    tags = {**labels, "portico.outcome": outcome}
                    tel.calls.add(1, tags)
                    tel.duration.record(time.perf_counter() - started, tags)

    async def _run(
        self,
        operation: str,
        fn: Callable[[], Awaitable[T]],
        idempotent: bool,
        seen: _Observed | None,
    ) -> T:
        control = self.control
        shared = self.shared
        if control is not None or shared is not None:  # one clock read for both
            now = self._monotonic()
            if control is not None and now >= control.due:
                control.refresh()
            if shared is not None and now >= shared.due:
                await shared.catch_up()  # a background read; waits only after an idle spell
        breaker = self.breaker
        if breaker._state is _OPEN:  # an outage's hot path: no retry machinery, no frame below
            # `CircuitBreaker.call`'s rejection, inline as it is there: a method returning the
            # wait cost ~45 ns of a ~790 ns rejection (bench/overhead.py; the target is 0.3x
            # pybreaker's). FORCED_OPEN rejects later, in `acquire`.
            now = breaker._monotonic()
            if now < breaker._open_until:
                breaker._rejections += 1
                raise RejectedByBreaker(breaker.name, breaker._open_until - now)
        retry = self.retry
        if retry is None:
            return await self._attempt(operation, fn, seen)
        on_result = retry.retry_on_result if idempotent else None
        started = self._monotonic()
        attempt = 0
        while True:
            attempt += 1
            if seen is not None:
                seen.attempts = attempt
            try:
                result = await self._attempt(operation, fn, seen)
            except TransientError as exc:
                delay = retry.next_delay(
                    exc, attempt, self._monotonic() - started, idempotent=idempotent
                )
                if breaker.open_for() > delay:
                    # This failure opened the circuit: the next attempt would be refused.
                    raise RetryExhaustedError(exc, attempts=attempt) from exc
                if retry.on_retry is not None:
                    notify(retry.on_retry, self.integration, operation, attempt, delay, exc, None)
                if seen is not None:
                    seen.retried(attempt, delay, type(exc).__name__)
            else:
                if on_result is None or not on_result(result):
                    return result
                result_delay = retry.result_delay(attempt, self._monotonic() - started)
                if result_delay is None or breaker.open_for() > result_delay:
                    return result  # no attempt left: the caller gets the last answer
                delay = result_delay
                if retry.on_retry is not None:
                    notify(
                        retry.on_retry, self.integration, operation, attempt, delay, None, result
                    )
                if seen is not None:
                    seen.retried(attempt, delay, "retry_on_result")
            await self._sleep(delay)

    async def _attempt(
        self, operation: str, fn: Callable[[], Awaitable[T]], seen: _Observed | None
    ) -> T:
        breaker = self.breaker
        permit = breaker.acquire()
        slow = breaker.slow_call_duration is not None
        started = 0.0
        shared = self.shared
        probe: int | None = None  # the shared generation a cluster-wide probe was admitted in
        try:
            waited = False
            bulkhead = self.bulkhead
            if bulkhead is not None and not bulkhead.try_enter():
                await bulkhead.enter()
                waited = True
            try:
                limiter = self.limiter
                if limiter is not None and not limiter.try_acquire():
                    queued = time.perf_counter()
                    await limiter.acquire()
                    waited = True
                    if seen is not None:
                        seen.rate_limited(time.perf_counter() - queued)
                if waited:  # the breaker may have opened while this call queued
                    permit = breaker.readmit(permit)
                if shared is not None and breaker.half_open:  # a probe: ask the cluster first
                    permit, probe = await shared.admit(permit)
                if slow:
                    started = self._monotonic()
                charged = None if limiter is None else charging(limiter)
                try:
                    timeout = self.timeout
                    if timeout is None:
                        result = await fn()
                    else:
                        task = timeout.enter()
                        try:
                            result = await fn()
                        except asyncio.CancelledError:
                            if timeout.expired(task):
                                raise timed_out(
                                    self.integration, operation, timeout.seconds
                                ) from None
                            raise
                        finally:
                            timeout.leave(task)
                finally:
                    if charged is not None:
                        end_charging(charged)
            finally:
                if bulkhead is not None:
                    bulkhead.leave()
        except Exception as exc:
            duration = self._monotonic() - started if started else 0.0
            if probe is not None and shared is not None:
                await shared.outcome(probe, exc, duration)
            breaker.on_error(permit, exc, duration)
            feedback = self.feedback
            if feedback is not None and isinstance(exc, RateLimited) and exc.retry_after:
                await feedback.pause(exc.retry_after)
            raise
        except BaseException:
            if probe is not None and shared is not None:
                shared.give_back(probe)
            breaker.release(permit)
            raise
        if probe is not None and shared is not None:
            await shared.outcome(probe, None, self._monotonic() - started if slow else 0.0)
        breaker.on_success(permit, self._monotonic() - started if slow else 0.0)
        return result
