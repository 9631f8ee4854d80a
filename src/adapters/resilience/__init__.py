"""
Resilience policies for vendor calls, and decorators that wrap each port in them.

Each policy works on its own (`CircuitBreaker`, `RetryPolicy`, `RateLimiter`, `Timeout`,
`Bulkhead`); `Pipeline` composes them in one documented order; `build_pipeline` makes one from a
`ResiliencePolicy`; the ``Resilient*`` decorators implement the ports through a pipeline.
Every policy takes a `portico.domain.time.Clock` (default: the system's); one
`portico.testing.FakeClock` shared by all of them makes tests instant.
"""

from ._breaker import (
    BreakerStats,
    CircuitBreaker,
    CircuitState,
    HalfOpenMode,
    Listener,
    counts_as_failure,
)
from ._bulkhead import Bulkhead
from ._config import (
    ResiliencePolicy,
    build_pipeline,
)
from ._control import BreakerControl
from ._decorators import (
    ResilientCRM,
    ResilientEmail,
    ResilientMessaging,
    ResilientPayments,
    ResilientVoice,
)
from ._limiter import Limiter, RateLimiter, spend_request
from ._pipeline import Pipeline
from ._registry import BreakerRegistry, IntegrationHealth
from ._retry import RetryEvent, RetryHook, RetryPolicy
from ._shared_breaker import SharedBreakerState, SharedCircuit, breaker_key, worker_id
from ._shared_limiter import RateFeedback, SharedRateLimiter, account_key
from ._timeout import Timeout, timed_out
from ._windows import WindowType


__all__ = [
    "BreakerControl",
    "BreakerRegistry",
    "BreakerStats",
    "Bulkhead",
    "CircuitBreaker",
    "CircuitState",
    "HalfOpenMode",
    "IntegrationHealth",
    "Limiter",
    "Listener",
    "Pipeline",
    "RateFeedback",
    "RateLimiter",
    "ResiliencePolicy",
    "ResilientCRM",
    "ResilientEmail",
    "ResilientMessaging",
    "ResilientPayments",
    "ResilientVoice",
    "RetryEvent",
    "RetryHook",
    "RetryPolicy",
    "SharedBreakerState",
    "SharedCircuit",
    "SharedRateLimiter",
    "Timeout",
    "WindowType",
    "account_key",
    "breaker_key",
    "build_pipeline",
    "counts_as_failure",
    "spend_request",
    "timed_out",
    "worker_id",
]
