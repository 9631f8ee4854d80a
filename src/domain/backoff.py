"""
The one backoff schedule: exponential with full jitter, for in-call retries and the relay alike.

Retry number ``n`` (1 for the first) waits a delay drawn uniformly from
``[0, min(max_delay, base_delay * multiplier ** (n - 1))]`` (AWS's "full jitter", which spreads
retrying clients best). The resilience `RetryPolicy` and the outbox relay both draw from it, so a
vendor sees the same spread of load whoever retries.
"""

from __future__ import annotations

import math
from collections.abc import Callable


__all__ = ["backoff_ceiling", "full_jitter"]


def backoff_ceiling(retry: int, *, base_delay: float, max_delay: float, multiplier: float) -> float:
    """
    The longest wait before retry number ``retry``: ``min(max_delay, base * mult**(n-1))``.

    The cap is applied before the power is taken: ``multiplier ** 10_000`` is beyond a float
    (`OverflowError`), yet its ceiling is plainly ``max_delay``.
    """
    if base_delay <= 0:
        return 0.0
    if base_delay >= max_delay:
        return max_delay
    exponent = retry - 1
    if multiplier > 1 and exponent > math.log(max_delay / base_delay, multiplier):
        return max_delay
    return min(max_delay, base_delay * multiplier**exponent)


def full_jitter(
    retry: int,
    *,
    base_delay: float,
    max_delay: float,
    multiplier: float,
    uniform: Callable[[float, float], float],
) -> float:
    """A jittered wait before retry number ``retry``: ``uniform(0, backoff_ceiling(...))``."""
    ceiling = backoff_ceiling(
        retry, base_delay=base_delay, max_delay=max_delay, multiplier=multiplier
    )
    return uniform(0.0, ceiling)
