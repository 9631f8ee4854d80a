"""The ports of webhook ingress: verify a delivery, parse it, and remember what was processed."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from domain.webhooks import ClaimOutcome, ParsedDelivery, WebhookRequest


__all__ = ["ReplayStore", "WebhookParser", "WebhookVerifier"]


@runtime_checkable
class WebhookVerifier(Protocol):
    """Proves a delivery came from the provider, unaltered and recent."""

    def verify(self, request: WebhookRequest) -> None:
        """
        Accept the delivery or raise.

        Checks the signature over the exact body bytes in constant time, and the signed timestamp
        (where the scheme has one) against a window in both directions.

        Raises:
            InvalidSignature: no signature, or none that matches.
            StaleTimestamp: the signed timestamp is too old or too far in the future.
            MalformedWebhook: the signature headers cannot be parsed.
        """
        ...


@runtime_checkable
class WebhookParser(Protocol):
    """Turns a verified delivery into domain events."""

    def parse(self, request: WebhookRequest) -> ParsedDelivery:
        """
        The events in the delivery, each with its provider-scoped ``event_id``.

        Event types the parser does not know are listed in ``unknown_types``, never an error.

        Raises:
            MalformedWebhook: the body is not what the provider documents (not UTF-8, not JSON,
                a required field missing).
        """
        ...


@runtime_checkable
class ReplayStore(Protocol):
    """
    Remembers which events were processed, so each is processed exactly once.

    The protocol is claim, then process, then `complete` (or `release` when processing failed,
    so the provider's retry is processed rather than dropped as a duplicate). A claim expires
    after ``lease_seconds``, so the claim of a worker that crashed is taken over by a retry.
    """

    async def claim(self, key: str, *, lease_seconds: float) -> ClaimOutcome:
        """
        Try to take ``key`` for processing.

        Returns:
            CLAIMED when it is ours (no one processed it, or a previous claim expired);
            DUPLICATE when it was completed before (within the store's retention);
            IN_FLIGHT when another worker holds an unexpired claim.

        Atomic: of many concurrent claims of one key, exactly one is CLAIMED.
        """
        ...

    async def complete(self, key: str) -> None:
        """Mark a claimed key processed; later claims answer DUPLICATE for the retention period."""
        ...

    async def release(self, key: str) -> None:
        """Give up a claim after a failure, so the next delivery of the key is CLAIMED."""
        ...
