"""
An operator's override of one integration's circuit breaker, as the breaker-control store keeps it.

``portico breaker open stripe --for 10m`` writes one; every process whose pipelines read the same
store (a running ``portico serve``, a relay, the host's workers) applies it within its poll
interval. ``until`` is wall-clock time (seconds since the epoch), so it means the same in every
process; ``resets`` counts the ``portico breaker reset`` commands, so a process that sees it grow
resets its breaker once.
"""

from __future__ import annotations

from typing import Literal

import attrs


__all__ = ["OVERRIDE_MODES", "BreakerOverride", "OverrideMode"]

OverrideMode = Literal["open", "closed", "disabled"]
OVERRIDE_MODES: tuple[OverrideMode, ...] = ("open", "closed", "disabled")


@attrs.frozen
class BreakerOverride:
    """
    One integration's row: its override (``mode`` None: none) and its reset count.

    Attributes:
        integration: the breaker's name (the vendor, e.g. ``stripe``).
        mode: "open" (reject every call), "closed" (admit every call, never trip), "disabled"
            (admit every call, judge nothing), or None.
        until: when the override ends (epoch seconds), None for "until cleared".
        resets: how many resets were asked for so far.
        updated_at: when the row last changed (epoch seconds).
    """

    integration: str
    mode: OverrideMode | None = None
    until: float | None = None
    resets: int = 0
    updated_at: float = 0.0

    def active(self, now: float) -> OverrideMode | None:
        """The mode in force at ``now`` (epoch seconds): None once expired or cleared."""
        if self.mode is None or (self.until is not None and self.until <= now):
            return None
        return self.mode
