"""
An async token bucket: at most ``burst + rate * t`` requests in any window of ``t`` seconds.

Waiters *reserve* their token (the balance may go negative) and sleep until it exists, so
concurrent callers are served in arrival order and never over-admit. A caller whose token would
take longer than ``max_wait`` is refused at once with `RateLimitExceeded` and reserves nothing.

A token is one HTTP request, because that is what a vendor's quota counts: the pipeline takes
the first before an attempt, and `spend_request` (called by the HTTP client before each
request) takes one more for every further request the same attempt sends (HubSpot's
``add_note`` reads the contact, then creates the note: two requests, two tokens).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token
from typing import Any, Protocol, TypeVar

from ...domain.errors import RateLimitExceeded
from ...domain.time import SYSTEM_CLOCK, Clock


__all__ = ["Limiter", "RateLimiter", "charging", "end_charging", "spend_request"]

T = TypeVar("T")


class Limiter(Protocol):
    """What the pipeline asks of a limiter: `RateLimiter` (local) or `SharedRateLimiter`."""

    @property
    def name(self) -> str:
        """The integration."""

    @property
    def rate(self) -> float:
        """Slots per second (for the whole account, when shared)."""

    @property
    def clock(self) -> Clock:
        """The time source the limiter waits on."""

    @property
    def max_wait(self) -> float:
        """The longest `acquire` waits before refusing (`Pipeline.worst_case_seconds`)."""

    def try_acquire(self) -> bool:
        """Take a slot now if one is there, without waiting or I/O."""

    async def acquire(self) -> None:
        """Take a slot within ``max_wait`` or raise `RateLimitExceeded`."""


class _Attempt:
    """The limiter of the attempt in progress, and whether its prepaid first token is used."""

    __slots__ = ("limiter", "prepaid")

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter
        self.prepaid = True


_ATTEMPT: ContextVar[_Attempt | None] = ContextVar("portico_rate_attempt", default=None)


def charging(limiter: Limiter) -> Token[_Attempt | None]:
    """
    Start an attempt whose first token ``limiter`` has just given (the pipeline's); pass the
    result to `end_charging` when the attempt ends.
    """
    return _ATTEMPT.set(_Attempt(limiter))


def end_charging(token: Token[_Attempt | None]) -> None:
    """End the attempt `charging` started."""
    _ATTEMPT.reset(token)


async def spend_request() -> None:
    """
    Before sending one request: the attempt's first request uses the token the pipeline took,
    each further one takes (or waits for) another. Outside a rate-limited attempt, nothing.

    Raises:
        RateLimitExceeded: the next token is further away than the limiter's ``max_wait``
            (this request is not sent).
    """
    attempt = _ATTEMPT.get()
    if attempt is None:
        return
    if attempt.prepaid:
        attempt.prepaid = False
        return
    limiter = attempt.limiter
    if not limiter.try_acquire():
        await limiter.acquire()


class RateLimiter:
    """
    Spend one token per call; wait up to ``max_wait`` seconds for one, else refuse.

    Args:
        name: the integration, named in `RateLimitExceeded`.
        rate: tokens added per second.
        burst: the bucket's size (and its initial content).
        max_wait: the longest a caller may wait for its token (0 refuses instead of waiting).
        clock: the time source (`Clock.monotonic` refills the bucket, `Clock.sleep` waits).
    """

    __slots__ = (
        "_last",
        "_monotonic",
        "_sleep",
        "_tokens",
        "burst",
        "clock",
        "max_wait",
        "name",
        "rate",
    )

    def __init__(
        self,
        name: str,
        *,
        rate: float,
        burst: int,
        max_wait: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not rate > 0:
            msg = f"rate must be > 0, got {rate}"
            raise ValueError(msg)
        if burst < 1:
            msg = f"burst must be >= 1, got {burst}"
            raise ValueError(msg)
        if max_wait < 0:
            msg = f"max_wait must be >= 0, got {max_wait}"
            raise ValueError(msg)
        self.name = name
        self.rate = rate
        self.burst = burst
        self.max_wait = max_wait
        self.clock = clock
        self._monotonic = clock.monotonic
        self._sleep = clock.sleep
        self._tokens = float(burst)
        self._last = clock.monotonic()

    def __repr__(self) -> str:
        return f"<RateLimiter {self.name!r} rate={self.rate}/s burst={self.burst}>"

    def _refill(self) -> float:
        now = self._monotonic()
        tokens = self._tokens + (now - self._last) * self.rate
        self._last = now
        self._tokens = tokens = min(tokens, self.burst)
        return tokens

    def try_acquire(self) -> bool:
        """Take a token if one is there now; never waits."""
        if self._refill() >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    async def acquire(self) -> None:
        """
        Take a token, waiting for it if it comes within ``max_wait``.

        Raises:
            RateLimitExceeded: the token would come later than ``max_wait`` from now.
        """
        tokens = self._refill() - 1.0
        if tokens >= 0.0:
            self._tokens = tokens
            return
        wait = -tokens / self.rate
        if wait > self.max_wait:
            raise RateLimitExceeded(
                f"no token within {self.max_wait:g}s (limit {self.rate:g}/s, burst {self.burst})",
                integration=self.name,
            )
        # Reserved now, spent at wake-up; a cancelled waiter forfeits it (never over-admits).
        self._tokens = tokens
        await self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """
        No token for ``seconds`` (a vendor's ``Retry-After``): the balance drops to the debt
        that takes that long to repay. Callers already waiting keep their turn.
        """
        if seconds > 0:
            self._tokens = min(self._refill(), -seconds * self.rate)

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Take a token (see `acquire`), then run ``fn(*args, **kwargs)``."""
        if not self.try_acquire():
            await self.acquire()
        return await fn(*args, **kwargs)
