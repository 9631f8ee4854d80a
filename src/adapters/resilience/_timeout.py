"""
A per-attempt time limit in the domain's language, at a fraction of `asyncio.timeout`'s cost.

Every attempt through one `Timeout` has the same limit, so deadlines expire in the order attempts
started. One timer therefore serves them all: it is armed for the oldest running attempt, cancels
the attempts whose deadline has passed when it fires, and re-arms for the next. An attempt costs a
dict insert and delete instead of a timer handle of its own (the timer fires at most once per
``seconds`` while calls are running).

An attempt cut off raises `TimedOut` with ``request_sent=True``: a request that timed out may have
been applied, so retry treats a non-idempotent operation as `OutcomeUnknown` instead of resending.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ...domain.errors import TimedOut
from ...domain.time import SYSTEM_CLOCK, Clock, TimerHandle


__all__ = ["Timeout", "timed_out"]

T = TypeVar("T")


def timed_out(integration: str, operation: str, seconds: float) -> TimedOut:
    """The domain error for an attempt cut off after ``seconds``."""
    return TimedOut(
        f"{operation}: no answer within {seconds:g}s", integration=integration, request_sent=True
    )


class Timeout:
    """
    Cut one attempt off after ``seconds``.

    Args:
        name: the integration, named in `TimedOut`.
        seconds: the limit per attempt.
        clock: the time source: `Clock.monotonic` stamps deadlines, `Clock.call_later` arms the
            shared timer (the running loop's on `SYSTEM_CLOCK`, the fake's in tests).

    The hot path is `enter` / `expired` / `leave` (what `Pipeline` uses); `call` wraps them.
    One task runs at most one attempt at a time through a given `Timeout`.
    """

    __slots__ = (
        "_call_later",
        "_expired",
        "_monotonic",
        "_running",
        "_timer",
        "clock",
        "name",
        "seconds",
    )

    def __init__(
        self,
        name: str,
        seconds: float,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not seconds > 0:
            msg = f"seconds must be > 0, got {seconds}"
            raise ValueError(msg)
        self.name = name
        self.seconds = seconds
        self.clock = clock
        self._monotonic = clock.monotonic
        self._call_later = clock.call_later
        self._running: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._timer: TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<Timeout {self.name!r} {self.seconds:g}s, {len(self._running)} running>"

    def enter(self) -> asyncio.Task[Any]:
        """Start timing the current task's attempt; hand the task to `expired` / `leave`."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - only reachable outside a task
            msg = "Timeout must be used inside an asyncio task"
            raise RuntimeError(msg)
        self._running[task] = self._monotonic() + self.seconds
        if self._timer is None:
            self._timer = self._call_later(self.seconds, self._fire)
        return task

    def expired(self, task: asyncio.Task[Any]) -> bool:
        """After a CancelledError: True if this timeout caused it and no other cancel is pending."""
        if task not in self._expired:
            return False
        self._expired.discard(task)
        return task.uncancel() == 0

    def leave(self, task: asyncio.Task[Any]) -> None:
        """Stop timing the task's attempt."""
        if self._running.pop(task, None) is None:
            self._expired.discard(task)

    async def call(
        self, fn: Callable[..., Awaitable[T]], *args: Any, operation: str = "call", **kwargs: Any
    ) -> T:
        """Run ``fn(*args, **kwargs)``; raise `TimedOut` if it takes longer than ``seconds``."""
        task = self.enter()
        try:
            return await fn(*args, **kwargs)
        except asyncio.CancelledError:
            if self.expired(task):
                raise timed_out(self.name, operation, self.seconds) from None
            raise
        finally:
            self.leave(task)

    def _fire(self) -> None:
        self._timer = None
        running = self._running
        now = self._monotonic()
        while running:
            task = next(iter(running))
            deadline = running[task]
            if deadline > now:
                self._timer = self._call_later(deadline - now, self._fire)
                return
            del running[task]
            if not task.done():
                self._expired.add(task)
                task.cancel()
