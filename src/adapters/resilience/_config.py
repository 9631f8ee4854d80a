"""
One integration's resilience settings and the factory that makes its pipeline.

The defaults follow the design card (breaker 5 failures / 60 s; 3 attempts, 1 s base delay, 30 s
max delay, multiplier 2; 10 s per attempt). Each vendor's own policy (Stripe's 3 / 30 s breaker,
every vendor's published rate limit) lives in its package's ``spec.py``; the settings model
overrides any field from ``resilience.<integration>`` with `ResiliencePolicy.with_overrides`.
Field names are the component's parameter with its policy as prefix (``retry_base_delay`` is
`RetryPolicy`'s ``base_delay``), and the one name is used end to end: settings, variables
(``PORTICO_RESILIENCE__STRIPE__RETRY_BASE_DELAY``) and the health report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ...domain.time import SYSTEM_CLOCK, Clock
from ._breaker import CircuitBreaker
from ._bulkhead import Bulkhead
from ._limiter import RateLimiter
from ._pipeline import Pipeline
from ._registry import BreakerRegistry
from ._retry import RetryPolicy
from ._timeout import Timeout


__all__ = ["ResiliencePolicy", "build_pipeline"]


def _positive(_inst: object, attr: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        msg = f"{attr.name} must be > 0, got {value}"
        raise ValueError(msg)


def _non_negative(_inst: object, attr: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        msg = f"{attr.name} must be >= 0, got {value}"
        raise ValueError(msg)


@attrs.frozen
class ResiliencePolicy:
    """
    Everything that shapes one integration's pipeline; every field has a safe default.

    ``rate`` None disables the limiter, ``max_concurrent`` None the bulkhead, ``timeout`` None the
    per-attempt timeout, ``retry_deadline`` None the overall deadline, ``window_size`` 0 the
    failure-rate window, ``slow_call_duration`` None slow-call counting.
    """

    failure_threshold: int = attrs.field(default=5, validator=_positive)
    reset_timeout: float = attrs.field(default=60.0, validator=_positive)
    half_open_max_calls: int = attrs.field(default=1, validator=_positive)
    success_threshold: int = attrs.field(default=1, validator=_positive)
    window_size: int = attrs.field(default=0, validator=_non_negative)
    minimum_calls: int = attrs.field(default=10, validator=_positive)
    failure_rate: float = attrs.field(default=0.5, validator=_positive)
    slow_call_duration: float | None = attrs.field(default=None, validator=_positive)
    retry_attempts: int = attrs.field(default=3, validator=_positive)
    retry_base_delay: float = attrs.field(default=1.0, validator=_non_negative)
    retry_max_delay: float = attrs.field(default=30.0, validator=_non_negative)
    retry_multiplier: float = attrs.field(default=2.0, validator=_positive)
    retry_deadline: float | None = attrs.field(default=60.0, validator=_positive)
    rate: float | None = attrs.field(default=None, validator=_positive)
    burst: int = attrs.field(default=10, validator=_positive)
    rate_max_wait: float = attrs.field(default=1.0, validator=_non_negative)
    max_concurrent: int | None = attrs.field(default=20, validator=_positive)
    bulkhead_max_wait: float = attrs.field(default=1.0, validator=_non_negative)
    timeout: float | None = attrs.field(default=10.0, validator=_positive)

    def with_overrides(self, overrides: Mapping[str, object] | None) -> ResiliencePolicy:
        """
        A copy with ``overrides`` applied (e.g. from the container's configuration).

        Raises:
            ValueError: an unknown field (named), or a value of the wrong type or range.
        """
        if not overrides:
            return self
        fields = attrs.fields_dict(ResiliencePolicy)
        changes: dict[str, object] = {}
        for key, value in overrides.items():
            field = fields.get(key)
            if field is None:
                msg = f"{key}: not a resilience setting (known: {', '.join(sorted(fields))})"
                raise ValueError(msg)
            changes[key] = _coerce(key, value, field.default)
        return attrs.evolve(self, **changes)  # type: ignore[arg-type]

    def backoff_summary(self) -> str:
        """The retry schedule in a few words, for the health report."""
        low, high = self.retry_base_delay, self.retry_max_delay
        return f"exp x{self.retry_multiplier:g} {low:g}s..{high:g}s jitter"


def _coerce(key: str, value: object, default: object) -> object:
    """Config files give strings and ints; turn them into the field's type or refuse clearly."""
    if value is None:
        return None
    wants_int = isinstance(default, int) and not isinstance(default, bool)
    msg = f"{key}: expected {'an integer' if wants_int else 'a number'}, got {type(value).__name__}"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(msg)
    try:
        number = float(value)
    except ValueError:
        raise ValueError(msg) from None
    if not wants_int:
        return number
    if not number.is_integer():
        raise ValueError(msg)
    return int(number)


def build_pipeline(
    integration: str,
    policy: ResiliencePolicy | None = None,
    *,
    registry: BreakerRegistry | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Pipeline:
    """
    The pipeline for ``integration``, from ``policy`` (default: `ResiliencePolicy()`).

    Every policy of the pipeline (and a breaker created here) reads the same ``clock``; tests pass
    one `FakeClock`, so backoff, reset timeouts, timeouts and token refills all run instantly.
    The breaker is taken from ``registry`` when it already has one of that name (so every pipeline
    of an integration shares its breaker), else created and registered there.
    """
    if policy is None:
        policy = ResiliencePolicy()
    registry = registry if registry is not None else BreakerRegistry()
    breaker = registry.get(integration)
    if breaker is None:
        breaker = CircuitBreaker(
            integration,
            failure_threshold=policy.failure_threshold,
            reset_timeout=policy.reset_timeout,
            half_open_max_calls=policy.half_open_max_calls,
            success_threshold=policy.success_threshold,
            window_size=policy.window_size,
            minimum_calls=policy.minimum_calls,
            failure_rate=policy.failure_rate,
            slow_call_duration=policy.slow_call_duration,
            clock=clock,
        )
        registry.register(breaker, policy)
    return Pipeline(
        integration,
        breaker=breaker,
        retry=RetryPolicy(
            attempts=policy.retry_attempts,
            base_delay=policy.retry_base_delay,
            max_delay=policy.retry_max_delay,
            multiplier=policy.retry_multiplier,
            deadline=policy.retry_deadline,
            clock=clock,
        ),
        bulkhead=None
        if policy.max_concurrent is None
        else Bulkhead(
            integration,
            max_concurrent=policy.max_concurrent,
            max_wait=policy.bulkhead_max_wait,
            clock=clock,
        ),
        limiter=None
        if policy.rate is None
        else RateLimiter(
            integration,
            rate=policy.rate,
            burst=policy.burst,
            max_wait=policy.rate_max_wait,
            clock=clock,
        ),
        timeout=None
        if policy.timeout is None
        else Timeout(integration, policy.timeout, clock=clock),
        clock=clock,
    )
