"""
Payment collection: send a patient a checkout link, and settle the deal once they pay.

The checkout carries the deal and contact ids in its metadata, so the payment webhook finds its
way back to the deal.

Exactly once: Stripe sends ``checkout.session.completed`` *and* ``payment_intent.succeeded`` for
a paid checkout (a Checkout Session in payment mode creates a PaymentIntent; for delayed methods
only the intent's event means the money arrived), with different event ids, near together. The
deal is settled on ``payment_intent.succeeded`` alone. Its side effects (deal stage, receipt
message, lifecycle update, note) are enqueued as outbox commands whose idempotency keys are
derived from the payment intent id, so a redelivered, retried or concurrent webhook enqueues
nothing new and the relay delivers each once. The handler does two reads and four local writes,
and answers the provider fast whatever the state of the vendors.

Delivery modes (`DeliveryMode`): the link message, asked for by the host, is sent now and falls
back to the outbox (``request_mode``); everything a webhook triggers is always enqueued.
"""

from __future__ import annotations

import logging

import attrs

from app.services._outreach import Subscription, enqueue_once, send_text_or_template
from app.services.lead_intake import OPEN_DEAL_PROPERTY
from app.services.outbox_dispatch import CommandDispatch, DeliveryMode, Dispatched
from domain.commands import AddNote, MoveDeal, SendMessage, UpsertContact
from domain.crm import ContactDraft, LifecycleStage
from domain.errors import InvalidValue, NotFound
from domain.events import PaymentFailed, PaymentSucceeded
from domain.messaging import MessageReceipt, TemplateMessage
from domain.payments import CheckoutLink, CheckoutRequest, PaymentIntent, PaymentStatus
from domain.values import IdempotencyKey, Money
from ports.crm import CRMPort
from ports.payments import PaymentPort


__all__ = ["PaymentCollection", "PaymentLinkSent", "Settlement"]

logger = logging.getLogger("portico.services")

DEFAULT_ITEM = "your appointment"


@attrs.frozen
class PaymentLinkSent:
    """A checkout link and what became of the message carrying it (sent now, or queued)."""

    link: CheckoutLink
    delivery: Dispatched

    @property
    def message(self) -> MessageReceipt | None:
        """The vendor's receipt when the message went out now; None while it waits in the outbox."""
        result = self.delivery.result
        return result if isinstance(result, MessageReceipt) else None

    @property
    def queued(self) -> bool:
        """True when the message waits in the outbox for the relay."""
        return self.delivery.queued


@attrs.frozen
class Settlement:
    """
    A paid deal and the side effects accepted for it, in the outbox.

    A redelivered webhook gets the same entries back (the outbox keeps one per derived key).
    """

    deal_id: str
    accepted: tuple[Dispatched, ...]

    @property
    def entry_ids(self) -> tuple[str, ...]:
        """The outbox entries holding the settlement's side effects."""
        return tuple(d.entry_id for d in self.accepted if d.entry_id is not None)


@attrs.frozen
class PaymentCollection:
    """
    Collect a deal's fee through a hosted checkout page, then close the deal.

    Args:
        payments, crm: the ports read directly (checkout creation, intent and contact reads).
        dispatch: sends or enqueues every outbound command (`OutboxDispatch`).
        success_url: where the checkout page sends the patient after paying.
        won_stage: the deal stage of a paid deal.
        link_template, receipt_template: WhatsApp templates used outside the 24-hour window
            (the receipt always goes as a template: it waits in the outbox).
        request_mode: how the link message goes (`DeliveryMode.SEND_NOW`: now, the outbox on an
            outage).
    """

    payments: PaymentPort
    crm: CRMPort
    dispatch: CommandDispatch
    success_url: str = "https://portico.invalid/paid"
    cancel_url: str | None = None
    won_stage: str = "closedwon"
    link_template: str = "payment_link"
    receipt_template: str = "payment_receipt"
    language: str = "en"
    open_deal_property: str = OPEN_DEAL_PROPERTY
    request_mode: DeliveryMode = DeliveryMode.SEND_NOW

    async def request_payment(
        self, *, contact_id: str, deal_id: str, amount: Money, description: str
    ) -> PaymentLinkSent:
        """
        Create a checkout link for the deal and message it to the contact's phone.

        The link is created directly (a link nobody receives is useless, and the derived key
        makes the caller's retry reuse the same session); the message is sent now or queued.

        Raises:
            InvalidValue: the contact has no phone.
            IntegrationError: the CRM or Stripe failed; nothing was sent, retrying is safe.
        """
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
                metadata={"deal_id": deal_id, "contact_id": contact_id, "item": description},
            )
        )
        expires = link.expires_at.strftime("%d %b %H:%M UTC")
        delivery = await send_text_or_template(
            self.dispatch,
            contact.phone,
            f"To confirm your {description}, please pay {amount} here: {link.url} "
            f"(the link works until {expires}).",
            template=self.link_template,
            parameters=(description, str(amount), link.url),
            language=self.language,
            key=IdempotencyKey.derive("payment-link", link.id),
            mode=self.request_mode,
        )
        return PaymentLinkSent(link, delivery)

    async def settle(self, payment_intent_id: str) -> Settlement | None:
        """
        Enqueue the paid intent's side effects once: deal won, receipt, customer stage, note.

        Returns None for a payment that is not ours (no deal in its metadata, or unknown here).
        """
        intent = await self._our_intent(payment_intent_id)
        if intent is None:
            return None
        deal_id = intent.metadata.get("deal_id")
        contact_id = intent.metadata.get("contact_id") or intent.patient_ref
        if not deal_id or not contact_id:
            logger.warning("payment %s carries no deal; not ours, ignored", payment_intent_id)
            return None
        if intent.status is not PaymentStatus.SUCCEEDED:
            logger.warning("payment %s is %s; not settled", intent.id, intent.status.value)
            return None
        contact = await self.crm.get_contact(contact_id)
        amount = intent.amount_received or intent.amount
        item = intent.metadata.get("item") or intent.description or DEFAULT_ITEM

        def key(effect: str) -> IdempotencyKey:
            return IdempotencyKey.derive(effect, payment_intent_id)

        commands: list[MoveDeal | SendMessage | UpsertContact | AddNote] = [
            MoveDeal(deal_id, self.won_stage, key("settle-deal"))
        ]
        if contact.phone is not None:
            receipt = TemplateMessage(
                contact.phone, self.receipt_template, self.language, (str(amount), item)
            )
            commands.append(SendMessage(receipt, key("receipt")))
        if contact.phone is not None or contact.email is not None:
            draft = ContactDraft(
                phone=contact.phone,
                email=contact.email,
                lifecycle_stage=LifecycleStage.CUSTOMER,
                properties={self.open_deal_property: ""},
            )
            commands.append(UpsertContact(draft, key("settle-contact")))
        note = f"Paid {amount} for {item} ({payment_intent_id})."
        commands.append(AddNote(contact_id, note, key("settle-note")))
        accepted = [await enqueue_once(self.dispatch, command) for command in commands]
        return Settlement(deal_id, tuple(d for d in accepted if d is not None))

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
        """Webhook handler: a paid intent settles its deal (checkout payments included)."""
        await self.settle(event.payment_intent_id)

    async def on_payment_failed(self, event: PaymentFailed) -> None:
        """Webhook handler: note a declined attempt on the contact; the link keeps working."""
        intent = await self._our_intent(event.payment_intent_id)
        contact_id = intent and (intent.metadata.get("contact_id") or intent.patient_ref)
        if contact_id:
            body = (
                f"A payment attempt of {event.amount} failed "
                f"({event.failure_code or 'no reason given'})."
            )
            key = IdempotencyKey.derive("payment-failed", event.provider, event.event_id)
            await enqueue_once(self.dispatch, AddNote(contact_id, body, key))

    def subscriptions(self) -> tuple[Subscription, ...]:
        """
        The events this service reacts to, for the webhook ingress.

        ``CheckoutCompleted`` is deliberately absent: its payment also raises
        ``payment_intent.succeeded``, the one event a payment is settled on.
        """
        return (
            (PaymentSucceeded, self.on_payment_succeeded),
            (PaymentFailed, self.on_payment_failed),
        )
