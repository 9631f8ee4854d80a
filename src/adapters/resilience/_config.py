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

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ...domain.time import SYSTEM_CLOCK, Clock
from ..telemetry import TELEMETRY
from ._breaker import CircuitBreaker
from ._bulkhead import Bulkhead
from ._control import BreakerControl
from ._limiter import Limiter, RateLimiter
from ._pipeline import Pipeline
from ._registry import BreakerRegistry
from ._retry import RetryHook, RetryPolicy
from ._shared_breaker import SharedBreakerState
from ._shared_limiter import SharedRateLimiter
from ._timeout import Timeout


__all__ = ["ResiliencePolicy", "build_pipeline"]


def _positive(_inst: object, attr: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        msg = f"{attr.name} must be > 0, got {value}"
        raise ValueError(msg)


def _rate(_inst: object, attr: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not 0 < value <= 1:
        msg = f"{attr.name} must be in (0, 1], got {value}"
        raise ValueError(msg)


def _one_of(*choices: str) -> Callable[[object, attrs.Attribute[Any], str], None]:
    def check(_inst: object, attr: attrs.Attribute[Any], value: str) -> None:
        if value not in choices:
            msg = f"{attr.name} must be one of {', '.join(choices)}, got {value!r}"
            raise ValueError(msg)

    return check


_CODE_ONLY = frozenset({"retry_on_result", "on_retry"})
"""Fields a host sets in code (callables), never from configuration."""


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
    failure-rate window, ``slow_call_duration`` None slow-call counting, ``slow_call_rate`` None
    its own threshold (a slow call then counts as a failure), ``reset_multiplier`` 1 a growing
    open wait. ``shared_limits`` makes ``rate`` and ``burst`` the quota of the vendor account
    named by ``account_key`` (the HubSpot app, the Twilio sender), shared by every worker through
    Redis (`SharedRateLimiter`, settings ``resilience.shared``); ``shared_breaker`` shares the
    breaker's trips and half-open probes with them (`SharedBreakerState`). The breaker fields are
    `CircuitBreaker`'s parameters (see there); ``window_type`` is "count" or "time",
    ``half_open_mode`` "probes" or "rate". A count window's ``minimum_calls`` is capped at
    ``window_size`` (Resilience4j's rule).

    Two fields are set in code only (not from configuration): ``retry_on_result``, a predicate
    on a result that asks for another attempt of an idempotent operation (the last result is
    returned when none is left), and ``on_retry``, called with a `RetryEvent` (integration,
    operation, attempt, delay, error or result) before each backoff sleep. A host sets them per
    integration in its `VendorSpec`'s policy (``attrs.evolve(spec.policy, on_retry=...)``), or
    ``on_retry`` for every integration with ``create_container(on_retry=...)``.
    """

    failure_threshold: int = attrs.field(default=5, validator=_positive)
    reset_timeout: float = attrs.field(default=60.0, validator=_positive)
    reset_multiplier: float = attrs.field(default=1.0, validator=_positive)
    reset_timeout_max: float | None = attrs.field(default=None, validator=_positive)
    half_open_max_calls: int = attrs.field(default=1, validator=_positive)
    success_threshold: int = attrs.field(default=1, validator=_positive)
    half_open_mode: str = attrs.field(default="probes", validator=_one_of("probes", "rate"))
    window_size: int = attrs.field(default=0, validator=_non_negative)
    window_type: str = attrs.field(default="count", validator=_one_of("count", "time"))
    minimum_calls: int = attrs.field(default=10, validator=_positive)
    failure_rate: float = attrs.field(default=0.5, validator=_rate)
    slow_call_duration: float | None = attrs.field(default=None, validator=_positive)
    slow_call_rate: float | None = attrs.field(default=None, validator=_rate)
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
    shared_limits: bool = False
    shared_breaker: bool = False
    account_key: str | None = None
    retry_on_result: Callable[[Any], bool] | None = attrs.field(
        default=None, eq=False, repr=False, kw_only=True
    )
    on_retry: RetryHook | None = attrs.field(default=None, eq=False, repr=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        problems = []
        if self.reset_multiplier < 1:
            problems.append(f"reset_multiplier must be >= 1, got {self.reset_multiplier}")
        if self.reset_multiplier > 1 and self.reset_timeout_max is None:
            problems.append("reset_timeout_max is required when reset_multiplier > 1")
        if self.reset_timeout_max is not None and self.reset_timeout_max < self.reset_timeout:
            problems.append("reset_timeout_max must be >= reset_timeout")
        if self.shared_limits and self.rate is None:
            problems.append("shared_limits needs a rate (the account's quota)")
        if self.slow_call_rate is not None and (
            self.slow_call_duration is None or not self.window_size
        ):
            problems.append("slow_call_rate needs slow_call_duration and window_size > 0")
        if problems:
            raise ValueError("; ".join(problems))

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
            if key in _CODE_ONLY:
                msg = f"{key}: set in code (ResiliencePolicy), not from configuration"
                raise ValueError(msg)
            if field is None:
                msg = f"{key}: not a resilience setting (known: {', '.join(sorted(fields))})"
                raise ValueError(msg)
            if isinstance(field.default, str):
                changes[key] = str(value).strip().lower() if isinstance(value, str) else value
                continue
            if isinstance(field.default, bool):
                changes[key] = _flag(key, value)
                continue
            if key in _TEXT:
                text = None if value is None else str(value).strip()
                changes[key] = text or None
                continue
            changes[key] = _coerce(key, value, field.default)
        return attrs.evolve(self, **changes)  # type: ignore[arg-type]

    def backoff_summary(self) -> str:
        """The retry schedule in a few words, for the health report."""
        low, high = self.retry_base_delay, self.retry_max_delay
        return f"exp x{self.retry_multiplier:g} {low:g}s..{high:g}s jitter"


_TEXT = frozenset({"account_key"})
"""Free-text fields, kept as given (an account id is case-sensitive)."""


def _flag(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    msg = f"{key}: expected true or false, got {type(value).__name__}"
    raise ValueError(msg)


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
    control: BreakerControl | None = None,
    on_retry: RetryHook | None = None,
    shared_limiter: SharedRateLimiter | None = None,
    shared_breaker: SharedBreakerState | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Pipeline:
    """
    The pipeline for ``integration``, from ``policy`` (default: `ResiliencePolicy()`).

    Every policy of the pipeline (and a breaker created here) reads the same ``clock``; tests pass
    one `FakeClock`, so backoff, reset timeouts, timeouts and token refills all run instantly.
    The breaker is taken from ``registry`` when it already has one of that name (so every pipeline
    of an integration shares its breaker), else created and registered there. With a
    ``control`` the pipeline follows the operators' overrides (`BreakerControl`); ``on_retry``
    is called before each retry when the policy sets none of its own. A ``shared_limiter``
    (the account's quota on Redis, built by the container when ``policy.shared_limits``) takes
    the local limiter's place and hears the vendor's ``Retry-After`` (`RateFeedback`). A
    ``shared_breaker`` (built when ``policy.shared_breaker``) is attached to the breaker: its
    trips reach every worker and its half-open probes are counted across all of them.
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
            reset_multiplier=policy.reset_multiplier,
            reset_timeout_max=policy.reset_timeout_max,
            half_open_max_calls=policy.half_open_max_calls,
            success_threshold=policy.success_threshold,
            half_open_mode=policy.half_open_mode,  # type: ignore[arg-type]  # validated above
            window_size=policy.window_size,
            window_type=policy.window_type,  # type: ignore[arg-type]  # validated above
            minimum_calls=policy.minimum_calls,
            failure_rate=policy.failure_rate,
            slow_call_duration=policy.slow_call_duration,
            slow_call_rate=policy.slow_call_rate,
            clock=clock,
            listeners=(TELEMETRY.on_transition(integration),),
        )
        registry.register(breaker, policy)
    limiter: Limiter | None = shared_limiter
    if limiter is None and policy.rate is not None:
        limiter = RateLimiter(
            integration,
            rate=policy.rate,
            burst=policy.burst,
            max_wait=policy.rate_max_wait,
            clock=clock,
        )
    if shared_limiter is not None:
        registry.register_limiter(shared_limiter)
    if shared_breaker is not None:  # every pipeline of the integration shares the first one
        shared_breaker = registry.register_shared(shared_breaker)
        shared_breaker.attach(breaker)
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
            retry_on_result=policy.retry_on_result,
            on_retry=policy.on_retry if policy.on_retry is not None else on_retry,
        ),
        bulkhead=None
        if policy.max_concurrent is None
        else Bulkhead(
            integration,
            max_concurrent=policy.max_concurrent,
            max_wait=policy.bulkhead_max_wait,
            clock=clock,
        ),
        limiter=limiter,
        timeout=None
        if policy.timeout is None
        else Timeout(integration, policy.timeout, clock=clock),
        control=control,
        feedback=shared_limiter,
        shared=shared_breaker,
        clock=clock,
    )
