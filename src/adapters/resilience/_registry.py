"""
The breakers of every integration by name, each with the policy it was built from.

The registry is what the audit report reads (``app.wiring.audit``): one row per integration with
its circuit state, failures, last success and the retry and breaker settings that shape it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import attrs

from ._breaker import BreakerStats, CircuitBreaker


if TYPE_CHECKING:
    from ._config import ResiliencePolicy
    from ._shared_breaker import SharedBreakerState, SharedCircuit
    from ._shared_limiter import SharedRateLimiter


__all__ = ["BreakerRegistry", "IntegrationHealth"]


@attrs.frozen
class IntegrationHealth:
    """One row of the audit report."""

    stats: BreakerStats
    now: float
    retry_max: int | None
    backoff: str
    shared: SharedCircuit | None = None
    """The circuit shared through Redis (who tripped it), when the integration shares it."""

    @property
    def name(self) -> str:
        """The integration."""
        return self.stats.name


@attrs.define
class BreakerRegistry:
    """Breakers by integration name, each with the policy it was built from."""

    _breakers: dict[str, CircuitBreaker] = attrs.field(factory=dict, init=False)
    _policies: dict[str, ResiliencePolicy | None] = attrs.field(factory=dict, init=False)
    _limiters: dict[str, SharedRateLimiter] = attrs.field(factory=dict, init=False)
    _shared: dict[str, SharedBreakerState] = attrs.field(factory=dict, init=False)

    def __repr__(self) -> str:
        return f"<BreakerRegistry {sorted(self._breakers)}>"

    def register(self, breaker: CircuitBreaker, policy: ResiliencePolicy | None = None) -> None:
        """
        Add ``breaker`` under its name.

        Raises:
            ValueError: another breaker already has that name.
        """
        if breaker.name in self._breakers and self._breakers[breaker.name] is not breaker:
            msg = f"name: a breaker named {breaker.name!r} is already registered"
            raise ValueError(msg)
        self._breakers[breaker.name] = breaker
        self._policies[breaker.name] = policy

    def register_limiter(self, limiter: SharedRateLimiter) -> None:
        """Report ``limiter`` (an account's shared quota) in `limiter_status`."""
        self._limiters[limiter.name] = limiter

    def register_shared(self, shared: SharedBreakerState) -> SharedBreakerState:
        """
        Report ``shared`` (a breaker's state on Redis) in its integration's row; the one
        already registered for that integration is kept and returned (one per breaker).
        """
        return self._shared.setdefault(shared.name, shared)

    async def refresh_shared(self, *, due_only: bool = False) -> None:
        """
        Read the shared circuits from Redis now (a fresh process: `portico health`); with
        ``due_only``, only those whose view is older than their interval (``/healthz``).
        """
        for shared in self._shared.values():
            if not due_only or shared.breaker.clock.monotonic() >= shared.due:
                await shared.refresh()

    def shared_circuits(self) -> dict[str, dict[str, object]]:
        """The shared circuits by integration, as JSON-ready mappings (``/healthz``)."""
        return {name: attrs.asdict(self._shared[name].status()) for name in sorted(self._shared)}

    def limiter_status(self) -> tuple[str, ...]:
        """
        One line per shared rate limit, sorted by integration: on Redis, or on its local
        fallback since when (for `portico health`).
        """
        return tuple(self._limiters[name].status() for name in sorted(self._limiters))

    def get(self, name: str) -> CircuitBreaker | None:
        """The breaker named ``name``, or None."""
        return self._breakers.get(name)

    def __getitem__(self, name: str) -> CircuitBreaker:
        try:
            return self._breakers[name]
        except KeyError:
            msg = f"no breaker for integration {name!r} (known: {sorted(self._breakers)})"
            raise LookupError(msg) from None

    def __iter__(self) -> Iterator[CircuitBreaker]:
        return iter(self._breakers.values())

    def __len__(self) -> int:
        return len(self._breakers)

    def snapshot(self) -> tuple[IntegrationHealth, ...]:
        """Every integration's health now, sorted by name."""
        rows = []
        for name in sorted(self._breakers):
            breaker = self._breakers[name]
            policy = self._policies[name]
            shared = self._shared.get(name)
            rows.append(
                IntegrationHealth(
                    stats=breaker.stats(),
                    now=breaker.clock.monotonic(),
                    retry_max=None if policy is None else policy.retry_attempts,
                    backoff="-" if policy is None else policy.backoff_summary(),
                    shared=None if shared is None else shared.status(),
                )
            )
        return tuple(rows)
