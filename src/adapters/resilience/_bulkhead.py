"""
A bulkhead: cap the calls in flight to one integration, so a slow vendor cannot take every worker.

A caller that finds every slot taken queues (first come, first served) for at most ``max_wait``
seconds, then gets `BulkheadFull`. A freed slot is handed straight to the oldest waiter, so a
newcomer can never overtake the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ...domain.errors import BulkheadFull
from ...domain.time import SYSTEM_CLOCK, Clock


__all__ = ["Bulkhead"]

T = TypeVar("T")


class Bulkhead:
    """
    At most ``max_concurrent`` calls at once; wait up to ``max_wait`` seconds for a slot.

    Args:
        name: the integration, named in `BulkheadFull`.
        max_concurrent: slots.
        max_wait: the longest a caller queues for a slot (0 refuses at once).
        clock: the time source; its `Clock.call_later` ends a wait.
    """

    __slots__ = ("_waiters", "clock", "in_use", "max_concurrent", "max_wait", "name")

    def __init__(
        self,
        name: str,
        *,
        max_concurrent: int,
        max_wait: float = 0.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if max_concurrent < 1:
            msg = f"max_concurrent must be >= 1, got {max_concurrent}"
            raise ValueError(msg)
        if max_wait < 0:
            msg = f"max_wait must be >= 0, got {max_wait}"
            raise ValueError(msg)
        self.name = name
        self.max_concurrent = max_concurrent
        self.max_wait = max_wait
        self.clock = clock
        self.in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def __repr__(self) -> str:
        return f"<Bulkhead {self.name!r} {self.in_use}/{self.max_concurrent}>"

    @property
    def waiting(self) -> int:
        """Callers queued for a slot."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    def try_enter(self) -> bool:
        """Take a slot if one is free and nobody is queued; never waits."""
        if self.in_use < self.max_concurrent and not self._waiters:
            self.in_use += 1
            return True
        return False

    async def enter(self) -> None:
        """
        Take a slot, queueing up to ``max_wait`` seconds.

        Raises:
            BulkheadFull: no slot came free in time.
        """
        if self.try_enter():
            return
        if self.max_wait <= 0:
            raise self._full()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)

        def give_up() -> None:
            if not waiter.done():
                waiter.set_exception(self._full())

        timer = self.clock.call_later(self.max_wait, give_up)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.leave()  # handed a slot, but our caller is gone: pass it on
            raise
        finally:
            timer.cancel()
            with contextlib.suppress(ValueError):  # already popped by leave()
                self._waiters.remove(waiter)

    def leave(self) -> None:
        """Give a slot back, straight to the oldest live waiter if there is one."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_use -= 1

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` in a slot."""
        if not self.try_enter():
            await self.enter()
        try:
            return await fn(*args, **kwargs)
        finally:
            self.leave()

    def _full(self) -> BulkheadFull:
        return BulkheadFull(
            f"{self.in_use} calls in flight (max {self.max_concurrent}), no slot within "
            f"{self.max_wait:g}s",
            integration=self.name,
        )
