"""
Retry with exponential backoff and full jitter, safe for operations that must not happen twice.

Only `TransientError` is retried. Everything else propagates unchanged and at once: a
`PermanentError` will fail the same way again, and a `LocalRejection` (an open circuit, a full
bulkhead, an empty token bucket) means *we* decided not to call. A non-idempotent operation is
retried only when the error proves the request never reached the vendor (``request_sent`` is
False); otherwise the caller gets `OutcomeUnknown`, chained from the error, and decides.

A *result* may be retried too: ``retry_on_result(result)`` True asks for another attempt of an
idempotent operation (a non-idempotent one was applied: its answer is returned as it is), with
the same backoff, attempts and deadline; when none is left the last result is returned, as
Resilience4j's ``retryOnResult`` does. ``on_retry(RetryEvent)`` is called before every backoff
sleep (attempt number, delay, the error or the result), so a host can log or count retries
without wrapping Portico; a hook that raises is logged and ignored.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs

from ...domain.backoff import full_jitter
from ...domain.errors import OutcomeUnknown, RateLimited, RetryExhaustedError, TransientError
from ...domain.time import SYSTEM_CLOCK, Clock


__all__ = ["RetryEvent", "RetryHook", "RetryPolicy", "notify"]

T = TypeVar("T")
_log = logging.getLogger(__name__)


@attrs.frozen
class RetryEvent:
    """
    One retry about to happen: what `RetryPolicy.on_retry` receives.

    Attributes:
        integration: the pipeline's integration ("" for a bare `RetryPolicy.call`).
        operation: the port operation ("" for a bare `RetryPolicy.call`).
        attempt: the attempt that just ended (1-based); the next one is ``attempt + 1``.
        delay: seconds the policy sleeps before it.
        error: the transient error that ended the attempt, or None.
        result: the result ``retry_on_result`` refused, or None.
    """

    integration: str
    operation: str
    attempt: int
    delay: float
    error: BaseException | None = attrs.field(default=None, repr=False)
    result: object = attrs.field(default=None, repr=False)


RetryHook = Callable[[RetryEvent], None]
"""Called with a `RetryEvent` before each backoff sleep."""


def notify(
    hook: RetryHook,
    integration: str,
    operation: str,
    attempt: int,
    delay: float,
    error: BaseException | None,
    result: object,
) -> None:
    """Call ``hook``; one that raises is logged and ignored (it must not change the outcome)."""
    try:
        hook(RetryEvent(integration, operation, attempt, delay, error, result))
    except Exception:  # noqa: BLE001 - a host's hook must not break the call
        _log.exception("on_retry hook failed for %s %s", integration, operation)


class RetryPolicy:
    """
    When and how long to wait before trying again.

    Args:
        attempts: total attempts, the first included (1 disables retrying).
        base_delay: the backoff cap of the first retry, in seconds.
        max_delay: no backoff delay exceeds this.
        multiplier: the cap grows by this factor per retry.
        deadline: when set, no wait may end more than this many seconds after the first attempt
            started; a retry that would is not made (`RetryExhaustedError` instead).
        clock: the time source (`Clock.monotonic` for the deadline, `Clock.sleep` to back off).
        uniform: ``uniform(a, b)`` for the jitter.
        retry_on_result: when set, a result it answers True for is retried like a transient
            error (idempotent operations only); the last result is returned when no attempt
            is left.
        on_retry: called with a `RetryEvent` before every backoff sleep.

    A backoff delay is drawn uniformly from ``[0, min(max_delay, base_delay * multiplier**n)]``
    (AWS's "full jitter", which spreads retrying clients best: `domain.backoff`, which the outbox
    relay shares). `RateLimited.retry_after`, when
    the vendor sent one, is the delay instead: never less, even above ``max_delay``, and if it
    does not fit before the deadline the policy gives up at once rather than sleep in vain.
    """

    __slots__ = (
        "_monotonic",
        "_sleep",
        "attempts",
        "base_delay",
        "clock",
        "deadline",
        "max_delay",
        "multiplier",
        "on_retry",
        "retry_on_result",
        "uniform",
    )

    def __init__(
        self,
        *,
        attempts: int = 3,
        base_delay: float = 1.0,
        max_delay: float = 30.0,
        multiplier: float = 2.0,
        deadline: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
        uniform: Callable[[float, float], float] = random.uniform,
        retry_on_result: Callable[[Any], bool] | None = None,
        on_retry: RetryHook | None = None,
    ) -> None:
        checks = (
            ("attempts", attempts >= 1),
            ("base_delay", base_delay >= 0),
            ("max_delay", max_delay >= 0),
            ("multiplier", multiplier >= 1),
            ("deadline", deadline is None or deadline > 0),
        )
        for field, ok in checks:
            if not ok:
                msg = f"{field}: out of range"
                raise ValueError(msg)
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.multiplier = multiplier
        self.deadline = deadline
        self.clock = clock
        self._monotonic = clock.monotonic
        self._sleep = clock.sleep
        self.uniform = uniform
        self.retry_on_result = retry_on_result
        self.on_retry = on_retry

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(attempts={self.attempts}, base_delay={self.base_delay}, "
            f"max_delay={self.max_delay}, multiplier={self.multiplier}, "
            f"deadline={self.deadline})"
        )

    def backoff(self, retry: int) -> float:
        """The jittered delay before retry number ``retry`` (1 for the first retry)."""
        return full_jitter(
            retry,
            base_delay=self.base_delay,
            max_delay=self.max_delay,
            multiplier=self.multiplier,
            uniform=self.uniform,
        )

    def next_delay(
        self, exc: TransientError, attempt: int, elapsed: float, *, idempotent: bool
    ) -> float:
        """
        The wait before attempt ``attempt + 1``, or the error that ends the operation.

        Args:
            exc: the transient error attempt number ``attempt`` (1-based) ended with.
            elapsed: seconds since the first attempt started.
            idempotent: whether sending the request twice is harmless.

        Raises:
            OutcomeUnknown: the operation is not idempotent and the request may have been applied.
            RetryExhaustedError: no attempts left, or the wait would end past the deadline.
        """
        if not idempotent and exc.request_sent:
            raise OutcomeUnknown(
                f"{type(exc).__name__} after the request was sent; not retried, so it cannot be "
                "applied twice",
                integration=exc.integration,
                vendor_code=exc.vendor_code,
                status_code=exc.status_code,
            ) from exc
        if attempt >= self.attempts:
            raise RetryExhaustedError(exc, attempts=attempt) from exc
        retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
        delay = retry_after if retry_after is not None else self.backoff(attempt)
        if self.deadline is not None and elapsed + delay > self.deadline:
            raise RetryExhaustedError(exc, attempts=attempt) from exc
        return delay

    def result_delay(self, attempt: int, elapsed: float) -> float | None:
        """
        The wait before retrying a result ``retry_on_result`` refused; None: return it as it is.

        Args:
            attempt: the attempt (1-based) that returned it.
            elapsed: seconds since the first attempt started.
        """
        if attempt >= self.attempts:
            return None
        delay = self.backoff(attempt)
        if self.deadline is not None and elapsed + delay > self.deadline:
            return None
        return delay

    async def call(self, fn: Callable[[], Awaitable[T]], *, idempotent: bool) -> T:
        """Run ``fn()`` until it succeeds or the policy gives up (see `next_delay`)."""
        monotonic = self._monotonic
        on_result = self.retry_on_result if idempotent else None
        started = monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await fn()
            except TransientError as exc:
                delay = self.next_delay(exc, attempt, monotonic() - started, idempotent=idempotent)
                if self.on_retry is not None:
                    notify(self.on_retry, "", "", attempt, delay, exc, None)
            else:
                if on_result is None or not on_result(result):
                    return result
                result_delay = self.result_delay(attempt, monotonic() - started)
                if result_delay is None:
                    return result
                delay = result_delay
                if self.on_retry is not None:
                    notify(self.on_retry, "", "", attempt, delay, None, result)
            await self._sleep(delay)
