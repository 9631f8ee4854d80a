"""The ports of webhook ingress: verify a delivery, parse it, and remember what was processed."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..domain.replay import Claim
from ..domain.webhooks import ParsedDelivery, SignatureScheme, WebhookRequest


__all__ = ["DescribesScheme", "ReplayStore", "WebhookParser", "WebhookVerifier"]


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
class DescribesScheme(Protocol):
    """A verifier that can say what it checks (the audit report's webhook security section)."""

    def scheme(self) -> SignatureScheme:
        """The scheme verified, its timestamp tolerance and any legacy scheme accepted."""
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

    `claim` returns a `Claim` carrying a token unique to that claim, and `complete` / `release`
    take it back: a claimant whose lease ran out, and whose key another coroutine (of the same
    process or not) has since claimed, cannot release the newcomer's claim.
    """

    async def claim(self, key: str, *, lease_seconds: float) -> Claim:
        """
        Try to take ``key`` for processing.

        Returns:
            a `Claim` whose ``outcome`` is
            CLAIMED when it is ours (no one processed it, or a previous claim expired);
            DUPLICATE when it was completed before (within the store's retention);
            IN_FLIGHT when another worker holds an unexpired claim.

        Atomic: of many concurrent claims of one key, exactly one is CLAIMED.
        """
        ...

    async def complete(self, claim: Claim) -> None:
        """
        Mark a claimed key processed; later claims answer DUPLICATE for the retention period.

        The key is marked even if the lease ran out meanwhile: the event *was* processed.

        Raises:
            ValueError: ``claim`` was not CLAIMED.
        """
        ...

    async def release(self, claim: Claim) -> None:
        """
        Give up a claim after a failure, so the next delivery of the key is CLAIMED.

        Only this very claim is dropped: a key claimed since by another, or completed, stays so.

        Raises:
            ValueError: ``claim`` was not CLAIMED.
        """
        ...
