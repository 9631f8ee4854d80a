"""
The shared resilience wiring: one fail-fast Redis client per process, one `SharedRateLimiter`
per integration that sets ``resilience.<integration>.shared_limits`` and one `SharedBreakerState`
per integration that sets ``shared_breaker``.
"""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import Redis

from ...adapters.redis_client import fail_fast_client
from ...adapters.resilience import (
    SharedBreakerState,
    SharedRateLimiter,
    account_key,
    breaker_key,
)
from ...domain.time import Clock
from .settings import Settings


__all__ = ["build_shared_breaker", "build_shared_limiter", "build_shared_redis"]


def build_shared_redis(settings: Settings) -> Redis | None:
    """The client of ``resilience.shared.redis_url`` (None when no integration shares)."""
    shared = settings.shared
    if shared.redis_url is None or not any(
        settings.policy(name).shared_limits or settings.policy(name).shared_breaker
        for name in settings.resilience
    ):
        return None
    return fail_fast_client(shared.redis_url, timeout=shared.timeout)


def build_shared_limiter(
    port: str, settings: Settings, redis: Callable[[], Redis | None], clock: Clock
) -> SharedRateLimiter | None:
    """``port``'s integration's account quota on Redis, when its policy shares limits."""
    if not settings.enabled(port):
        return None
    integration = settings.integration(port)
    policy = settings.policy(integration)
    if not policy.shared_limits or policy.rate is None:
        return None
    client = redis()
    if client is None:  # load_settings requires the URL whenever a policy shares limits
        return None
    shared = settings.shared
    return SharedRateLimiter(
        integration,
        client=client,
        key=account_key(shared.prefix, integration, policy.account_key),
        rate=policy.rate,
        burst=policy.burst,
        max_wait=policy.rate_max_wait,
        expected_workers=shared.expected_workers,
        retry_interval=shared.retry_interval,
        clock=clock,
    )


def build_shared_breaker(
    port: str, settings: Settings, redis: Callable[[], Redis | None], clock: Clock
) -> SharedBreakerState | None:
    """``port``'s integration's circuit on Redis, when its policy shares the breaker."""
    if not settings.enabled(port):
        return None
    integration = settings.integration(port)
    if not settings.policy(integration).shared_breaker:
        return None
    client = redis()
    if client is None:  # load_settings requires the URL whenever a policy shares its breaker
        return None
    shared = settings.shared
    return SharedBreakerState(
        integration,
        client=client,
        key=breaker_key(shared.breaker_prefix, integration),
        interval=shared.breaker_interval,
        retry_interval=shared.retry_interval,
        clock=clock,
    )
