"""The port to a payment provider (Stripe)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..domain.payments import (
    CheckoutLink,
    CheckoutRequest,
    PaymentIntent,
    PaymentRequest,
    Refund,
    RefundRequest,
)
from .probe import Probed


__all__ = ["PaymentPort"]


@runtime_checkable
class PaymentPort(Probed, Protocol):
    """Collect and refund patients' payments."""

    async def create_payment_intent(self, request: PaymentRequest) -> PaymentIntent:
        """
        Create a payment intent for ``request.amount``.

        Returns:
            An intent in status REQUIRES_PAYMENT_METHOD whose ``patient_ref`` and metadata are the
            request's.

        Raises:
            Conflict: ``request.idempotency_key`` was already used with a different request.
            InvalidRequest: the provider refused the amount or currency.

        Idempotent by key: the same key with the same request returns the same intent (same id)
        and creates nothing new.
        """
        ...

    async def get_payment_intent(self, intent_id: str) -> PaymentIntent:
        """
        The intent with this id.

        Raises:
            NotFound: no such intent.

        Idempotent (a read).
        """
        ...

    async def cancel_payment_intent(self, intent_id: str) -> PaymentIntent:
        """
        Cancel an intent that has not been paid.

        Returns:
            The intent in status CANCELED.

        Raises:
            NotFound: no such intent.
            InvalidRequest: the intent already succeeded (refund it instead).

        Idempotent: cancelling a canceled intent returns it unchanged.
        """
        ...

    async def refund(self, request: RefundRequest) -> Refund:
        """
        Refund all that is left of a paid intent, or ``request.amount`` of it.

        Raises:
            NotFound: no such intent.
            InvalidRequest: the intent was not paid, the currency differs, or the amount is more
                than what is left to refund (refunds never exceed what was captured).
            Conflict: the idempotency key was already used with a different request.

        Idempotent by key: the same key returns the same refund and moves no more money.
        """
        ...

    async def create_checkout_link(self, request: CheckoutRequest) -> CheckoutLink:
        """
        Create a hosted payment page for the patient.

        Returns:
            A link with an https URL that expires at ``request.expires_at``.

        Raises:
            InvalidRequest: the provider refused the amount, currency or URLs.
            Conflict: the idempotency key was already used with a different request.

        Idempotent by key.
        """
        ...
