"""Shared pieces of the replay-store tests: the per-store harness."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

from portico.ports.webhooks import ReplayStore


RETENTION = 3600.0


@attrs.define
class StoreKit:
    """A store under test, a way to let time pass for it, and a second worker on its backend."""

    store: ReplayStore
    advance: Callable[[float], Awaitable[None]]
    peer: Callable[[], Awaitable[ReplayStore]] | None  # None: the store is not shared
    name: str

    async def another_worker(self) -> ReplayStore:
        """A second store instance on the same backend (only for shared stores)."""
        assert self.peer is not None, f"{self.name} is not shared between workers"
        return await self.peer()
