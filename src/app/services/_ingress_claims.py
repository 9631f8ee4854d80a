"""
The webhook ingress's bookkeeping calls that must never raise: completing or releasing a replay
claim and recording a permanent failure durably.

Each one logs a store failure (its type only) and carries on: a claim that cannot be completed or
released simply expires with its lease; a failure that cannot be recorded returns False so the
ingress releases the event for the provider's retry instead of forgetting it.
"""

from __future__ import annotations

import logging

from ...domain.failed_events import FailedEvent
from ...domain.replay import Claim
from ...ports.failed_events import FailedEventLog
from ...ports.webhooks import ReplayStore


__all__ = ["complete_claim", "record_failure", "release_claim"]

logger = logging.getLogger("portico.webhooks")


async def record_failure(log: FailedEventLog | None, failure: FailedEvent) -> bool:
    """Write the failure to the durable log (if any); False when that failed."""
    if log is None:
        return True
    try:
        await log.record(failure)
    except Exception as exc:  # noqa: BLE001 - not recorded: the provider must retry instead
        logger.error(
            "webhook %s: could not record the permanent failure of %s (%s); released for "
            "the provider's retry",
            failure.provider,
            failure.event_id,
            type(exc).__name__,
        )
        return False
    return True


async def complete_claim(store: ReplayStore, provider: str, event_id: str, claim: Claim) -> None:
    """Mark a processed event complete; on a store failure the claim expires instead."""
    try:
        await store.complete(claim)
    except Exception as exc:  # noqa: BLE001 - processed already: acknowledge, claim expires
        logger.error(
            "webhook %s: %s processed but not marked complete (%s)",
            provider,
            event_id,
            type(exc).__name__,
        )


async def release_claim(store: ReplayStore, provider: str, claim: Claim) -> None:
    """Give an event back for a retry; on a store failure the claim's lease expires instead."""
    try:
        await store.release(claim)
    except Exception as exc:  # noqa: BLE001 - the claim's lease expires instead
        logger.error("webhook %s: could not release a claim (%s)", provider, type(exc).__name__)
