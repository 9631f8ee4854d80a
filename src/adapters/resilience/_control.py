"""
`BreakerControl`: apply the operators' overrides (the breaker-control store) to this process's
breakers.

Every pipeline built with a control calls `BreakerControl.refresh` when its interval has passed
(one clock read and a comparison per call; never a store round trip per call). A refresh reads
every row once and, for each registered breaker whose row changed since the last refresh:

- a grown ``resets`` count resets the breaker (once per ``portico breaker reset``);
- an active mode forces it (``open`` -> FORCED_OPEN, ``closed`` -> FORCED_CLOSED, ``disabled``
  -> DISABLED) for the time the row has left (wall clock, the same in every process);
- no active mode (cleared, or expired) releases an override it had applied.

A store that cannot be read keeps the last view (logged once per outage): an operator's lever
must never become a way to break every call. The seam for shared state (issue 15: breaker
transitions published on Redis) is the store: a Redis store with the same `read` plugs in here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ...domain.breaker_control import BreakerOverride, OverrideMode
from ...domain.time import SYSTEM_CLOCK, Clock, epoch_seconds
from ...ports.breaker_control import BreakerControlStore
from ._breaker import CircuitBreaker
from ._registry import BreakerRegistry


__all__ = ["BreakerControl"]

_log = logging.getLogger(__name__)

_FORCE: dict[OverrideMode, Callable[[CircuitBreaker, float | None], None]] = {
    "open": CircuitBreaker.force_open,
    "closed": CircuitBreaker.force_closed,
    "disabled": CircuitBreaker.disable,
}


class BreakerControl:
    """
    The overrides of ``store``, applied to the breakers of ``registry`` every ``interval`` s.

    Args:
        store: where the CLI writes overrides.
        registry: the breakers to steer (by integration name).
        interval: seconds between two reads of the store (the delay before a running process
            honours a command).
        clock: `Clock.monotonic` schedules the reads; wall time converts ``until``.
    """

    __slots__ = (
        "_applied",
        "_failing",
        "_monotonic",
        "_wall",
        "due",
        "interval",
        "registry",
        "store",
    )

    def __init__(
        self,
        store: BreakerControlStore,
        registry: BreakerRegistry,
        *,
        interval: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not interval > 0:
            msg = f"interval must be > 0, got {interval}"
            raise ValueError(msg)
        self.store = store
        self.registry = registry
        self.interval = interval
        self._monotonic = clock.monotonic
        self._wall = epoch_seconds(clock)
        self.due = 0.0  # the first call reads the store
        self._applied: dict[str, tuple[OverrideMode | None, float | None, int]] = {}
        self._failing = False

    def __repr__(self) -> str:
        return f"<BreakerControl {self.store!r} every {self.interval:g}s>"

    def refresh(self) -> None:
        """Read the store now and apply what changed (a failed read keeps the last view)."""
        self.due = self._monotonic() + self.interval
        try:
            rows = self.store.read()
        except Exception:  # noqa: BLE001 - a broken store must not break the calls
            if not self._failing:
                _log.warning(
                    "breaker-control store unreadable; keeping the last overrides", exc_info=True
                )
            self._failing = True
            return
        self._failing = False
        now = self._wall()
        for breaker in self.registry:
            self._apply(breaker, rows.get(breaker.name), now)

    def _apply(self, breaker: CircuitBreaker, row: BreakerOverride | None, now: float) -> None:
        mode = None if row is None else row.active(now)
        until = None if row is None or mode is None else row.until
        resets = 0 if row is None else row.resets
        seen = self._applied.get(breaker.name)
        self._applied[breaker.name] = (mode, until, resets)
        if seen is None:
            seen = (None, None, resets)  # resets asked before this process started are history
        if resets > seen[2]:
            breaker.reset()
        elif (mode, until) == seen[:2]:
            return
        if mode is None:
            if seen[0] is not None:
                breaker.release_override()
            return
        left = None if until is None else until - now
        _FORCE[mode](breaker, left)
        _log.warning(
            "circuit %s: operator override %s %s",
            breaker.name,
            mode,
            "until cleared" if left is None else f"for {left:.0f}s",
        )

    def applied(self, integration: str) -> OverrideMode | None:
        """The override this process applied last to ``integration`` (None: none)."""
        seen = self._applied.get(integration)
        return None if seen is None else seen[0]
