"""
Payment collection: send a patient a checkout link, and settle the deal once they pay.

The checkout carries the deal and contact ids in its metadata, so the payment webhook finds its
way back to the deal. Stripe sends both ``checkout.session.completed`` and
``payment_intent.succeeded`` for one payment; the receipt is sent once, because the contact
remembers (a CRM property) which payment it last acknowledged.
"""

from __future__ import annotations

import logging

import attrs

from app.services._outreach import Subscription, send_text_or_template
from app.services.lead_intake import OPEN_DEAL_PROPERTY
from domain.crm import ContactDraft, Deal, LifecycleStage
from domain.errors import InvalidValue, NotFound
from domain.events import CheckoutCompleted, PaymentFailed, PaymentSucceeded
from domain.messaging import MessageReceipt
from domain.payments import CheckoutLink, CheckoutRequest, PaymentIntent
from domain.values import IdempotencyKey, Money
from ports.crm import CRMPort
from ports.messaging import MessagingPort
from ports.payments import PaymentPort


__all__ = ["PaymentCollection", "PaymentLinkSent", "Settlement"]

logger = logging.getLogger("portico.services")


@attrs.frozen
class PaymentLinkSent:
    """A checkout link and the receipt of the message that carried it."""

    link: CheckoutLink
    message: MessageReceipt


@attrs.frozen
class Settlement:
    """A paid deal: its new state, and the receipt message (None if already acknowledged)."""

    deal: Deal
    receipt: MessageReceipt | None


@attrs.frozen
class PaymentCollection:
    """
    Collect a deal's fee through a hosted checkout page, then close the deal.

    Args:
        payments, crm, messaging: the ports.
        success_url: where the checkout page sends the patient after paying.
        won_stage: the deal stage of a paid deal.
        link_template, receipt_template: WhatsApp templates used outside the 24-hour window.
    """

    payments: PaymentPort
    crm: CRMPort
    messaging: MessagingPort
    success_url: str = "https://portico.invalid/paid"
    cancel_url: str | None = None
    won_stage: str = "closedwon"
    link_template: str = "payment_link"
    receipt_template: str = "payment_receipt"
    language: str = "en"
    open_deal_property: str = OPEN_DEAL_PROPERTY
    receipt_property: str = "portico_last_receipt"

    async def request_payment(
        self, *, contact_id: str, deal_id: str, amount: Money, description: str
    ) -> PaymentLinkSent:
        """Create a checkout link for the deal and message it to the contact's phone."""
        contact = await self.crm.get_contact(contact_id)
        if contact.phone is None:
            raise InvalidValue("phone", "the contact has no phone number to send the link to")
        link = await self.payments.create_checkout_link(
            CheckoutRequest(
                amount=amount,
                description=description,
                patient_ref=contact_id,
                success_url=self.success_url,
                cancel_url=self.cancel_url,
                # The same deal and amount reuse the same session, even after a crash.
                idempotency_key=IdempotencyKey.derive("checkout", deal_id, str(amount)),
                metadata={"deal_id": deal_id, "contact_id": contact_id},
            )
        )
        expires = link.expires_at.strftime("%d %b %H:%M UTC")
        message = await send_text_or_template(
            self.messaging,
            contact.phone,
            f"To confirm your {description}, please pay {amount} here: {link.url} "
            f"(the link works until {expires}).",
            template=self.link_template,
            parameters=(description, str(amount), link.url),
            language=self.language,
            key=IdempotencyKey.derive("payment-link", link.id),
        )
        return PaymentLinkSent(link, message)

    async def settle(self, payment_intent_id: str) -> Settlement | None:
        """
        Close the paid intent's deal and acknowledge the payment once.

        Returns None for a payment that is not ours (no deal in its metadata).
        """
        intent = await self._our_intent(payment_intent_id)
        if intent is None:
            return None
        deal_id = intent.metadata.get("deal_id")
        contact_id = intent.metadata.get("contact_id") or intent.patient_ref
        if not deal_id or not contact_id:
            logger.warning("payment %s carries no deal; not ours, ignored", payment_intent_id)
            return None
        deal = await self.crm.move_deal(deal_id, self.won_stage)
        contact = await self.crm.get_contact(contact_id)
        if contact.properties.get(self.receipt_property) == payment_intent_id:
            return Settlement(deal, None)
        amount = intent.amount_received or intent.amount
        receipt = None
        if contact.phone is not None:
            receipt = await send_text_or_template(
                self.messaging,
                contact.phone,
                f"Thank you! We received your payment of {amount} for {deal.name}.",
                template=self.receipt_template,
                parameters=(str(amount), deal.name),
                language=self.language,
                key=IdempotencyKey.derive("receipt", payment_intent_id),
            )
        await self.crm.upsert_contact(
            ContactDraft(
                phone=contact.phone,
                email=contact.email,
                lifecycle_stage=LifecycleStage.CUSTOMER,
                properties={self.receipt_property: payment_intent_id, self.open_deal_property: ""},
            )
        )
        await self.crm.add_note(contact_id, f"Paid {amount} for {deal.name} ({payment_intent_id}).")
        return Settlement(deal, receipt)

    async def _our_intent(self, payment_intent_id: str) -> PaymentIntent | None:
        """
        The intent, or None when this account does not know it.

        A webhook about an unknown intent (another Stripe account's key, a test event) can never
        succeed, so it is acknowledged and logged rather than failed, which would make the
        provider retry it for days.
        """
        try:
            return await self.payments.get_payment_intent(payment_intent_id)
        except NotFound:
            logger.warning("payment %s is unknown to this account; ignored", payment_intent_id)
            return None

    async def on_payment_succeeded(self, event: PaymentSucceeded) -> None:
        """Webhook handler: a paid intent settles its deal."""
        await self.settle(event.payment_intent_id)

    async def on_checkout_completed(self, event: CheckoutCompleted) -> None:
        """Webhook handler: a paid checkout settles its deal (once, with the intent's event)."""
        if event.paid and event.payment_intent_id is not None:
            await self.settle(event.payment_intent_id)

    async def on_payment_failed(self, event: PaymentFailed) -> None:
        """Webhook handler: note a declined attempt on the contact; the link keeps working."""
        intent = await self._our_intent(event.payment_intent_id)
        contact_id = intent and (intent.metadata.get("contact_id") or intent.patient_ref)
        if contact_id:
            await self.crm.add_note(
                contact_id,
                f"A payment attempt of {event.amount} failed "
                f"({event.failure_code or 'no reason given'}).",
            )

    def subscriptions(self) -> tuple[Subscription, ...]:
        """The events this service reacts to, for the webhook ingress."""
        return (
            (PaymentSucceeded, self.on_payment_succeeded),
            (CheckoutCompleted, self.on_checkout_completed),
            (PaymentFailed, self.on_payment_failed),
        )
