"""
How long a relay's lease must last: longer than the slowest port can take to give its answer.

A lease that ends while its relay is still sending lets a second relay claim the entry with
``lease_expired`` and dead-letter it as "maybe sent" (or send it again). So the relay refuses a
lease that does not exceed every port pipeline's worst case:

    per attempt  = timeout + bulkhead max_wait + limiter max_wait
    worst case   = attempts x per attempt + (attempts - 1) x backoff cap,
                   capped at retry_deadline + per attempt (the deadline stops new attempts only)

With the default policies (10 s timeout, 1 s + 1 s waits, 3 attempts, 30 s cap, 60 s deadline)
that is 72 s, under the 120 s default lease. A pipeline without a per-attempt timeout has no
worst case; the relay then logs a warning instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ..resilience import Pipeline


__all__ = ["DEFAULT_LEASE_SECONDS", "check_lease", "worst_case"]

DEFAULT_LEASE_SECONDS = 120.0
log = logging.getLogger("portico.outbox.relay")


def worst_case(pipeline: Pipeline) -> float | None:
    """Seconds one call through ``pipeline`` may take at most; None when unbounded."""
    if pipeline.timeout is None:
        return None
    per_attempt = pipeline.timeout.seconds
    per_attempt += pipeline.bulkhead.max_wait if pipeline.bulkhead is not None else 0.0
    per_attempt += pipeline.limiter.max_wait if pipeline.limiter is not None else 0.0
    retry = pipeline.retry
    if retry is None:
        return per_attempt
    total = retry.attempts * per_attempt + (retry.attempts - 1) * retry.max_delay
    if retry.deadline is not None:
        total = min(total, retry.deadline + per_attempt)
    return total


def check_lease(lease_seconds: float, ports: Iterable[object]) -> None:
    """
    Refuse a lease that a resilient port (one with a ``pipeline``) could outlast.

    Raises:
        ValueError: names ``outbox.lease_seconds``, the integration and its worst case.
    """
    if not lease_seconds > 0:
        raise ValueError("outbox.lease_seconds must be a number of seconds above 0")
    for port in ports:
        pipeline = getattr(port, "pipeline", None)
        if not isinstance(pipeline, Pipeline):
            continue
        worst = worst_case(pipeline)
        if worst is None:
            log.warning(
                "outbox: %s has no per-attempt timeout; a %gs lease may expire mid-send",
                pipeline.integration,
                lease_seconds,
            )
        elif lease_seconds <= worst:
            raise ValueError(
                f"outbox.lease_seconds ({lease_seconds:g}s) must exceed the {pipeline.integration} "
                f"pipeline's worst case of {worst:g}s (timeout x attempts + backoff, capped by "
                "retry_deadline); raise it or shorten that integration's resilience settings"
            )
