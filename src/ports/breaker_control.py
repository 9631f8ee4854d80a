"""
The breaker-control store: operator overrides of circuit breakers, shared by every process.

The pipelines read it at most once per poll interval (`BreakerControl`), so `read` must be cheap
and never block long; the CLI writes it. Sync on purpose: one small read a second costs less
than a hop to a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ..domain.breaker_control import BreakerOverride, OverrideMode


__all__ = ["BreakerControlStore"]


class BreakerControlStore(Protocol):
    """Where overrides live; one row per integration that ever had one."""

    def read(self) -> Mapping[str, BreakerOverride]:
        """
        Every row by integration (expired overrides included: `BreakerOverride.active` decides).

        Raises:
            Unavailable: the store cannot be read (the pipelines keep their last view).
        """
        ...

    def set(self, integration: str, mode: OverrideMode, until: float | None) -> BreakerOverride:
        """Put ``integration`` under ``mode`` until ``until`` (epoch s; None: until cleared)."""
        ...

    def clear(self, integration: str) -> BreakerOverride:
        """End ``integration``'s override (its breaker returns to a fresh CLOSED)."""
        ...

    def reset(self, integration: str) -> BreakerOverride:
        """End the override and ask every process to reset ``integration``'s breaker once."""
        ...

    def close(self) -> None:
        """Release connections (idempotent)."""
        ...
