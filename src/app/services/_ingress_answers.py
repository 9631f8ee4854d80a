"""
What the webhook ingress answers a provider, from the outcome of each event in a delivery.

The answer tells the provider only whether to retry: 5xx when any event must come back (a handler
failed, the replay store is down, another worker holds it; with Retry-After where it helps), 2xx
otherwise, with counts of what was processed, already processed or of an unhandled type.
"""

from __future__ import annotations

from enum import Enum

from ...domain.errors import WebhookRejected
from .webhook_values import WebhookResponse


__all__ = ["POST_ONLY", "Outcome", "decide", "reason_key"]


POST_ONLY = WebhookResponse(
    405, {"received": False, "error": "deliveries are POSTed"}, (("allow", "POST"),)
)


class Outcome(Enum):
    """What became of one event of a delivery."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IN_FLIGHT = "in_flight"
    FAILED = "failed"
    REJECTED = "rejected"
    STORE_DOWN = "store_down"


def reason_key(error: WebhookRejected) -> str:
    """``InvalidSignature`` -> ``invalid_signature``: a bounded set of counter names."""
    name = type(error).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def decide(outcomes: list[Outcome], unknown: int, retry_after: int) -> WebhookResponse:
    """The answer to a delivery whose events ended in ``outcomes`` (``unknown``: unhandled)."""
    if Outcome.FAILED in outcomes:
        return WebhookResponse(500, {"received": False, "error": "a handler failed; retry"})
    retry = (("retry-after", str(retry_after)),)
    if Outcome.STORE_DOWN in outcomes:
        return WebhookResponse(
            503, {"received": False, "error": "temporarily unavailable; retry"}, retry
        )
    if Outcome.IN_FLIGHT in outcomes:
        busy = {"received": False, "in_flight": True, "error": "being processed; retry"}
        return WebhookResponse(503, busy, retry)
    if Outcome.REJECTED in outcomes:
        return WebhookResponse(200, {"received": True, "failed": True})
    if outcomes and all(o is Outcome.DUPLICATE for o in outcomes):
        return WebhookResponse(200, {"received": True, "duplicate": True})
    processed = outcomes.count(Outcome.PROCESSED)
    duplicates = outcomes.count(Outcome.DUPLICATE)
    body: dict[str, object] = {
        "received": True,
        "processed": processed,
        "duplicates": duplicates,
    }
    if unknown:
        body["unknown_types"] = unknown
    return WebhookResponse(200, body)
