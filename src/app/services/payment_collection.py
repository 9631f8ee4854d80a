"""
Payment collection: send a patient a checkout link, and settle the deal once they pay.

The checkout carries the deal and contact ids in its metadata, so the payment webhook finds its
way back to the deal.

Exactly once: Stripe sends ``checkout.session.completed`` *and* ``payment_intent.succeeded`` for
a paid checkout (a Checkout Session in payment mode creates a PaymentIntent; for delayed methods
only the intent's event means the money arrived), with different event ids, near together. The
deal is settled on ``payment_intent.succeeded``; a delayed-method checkout (bank debit) ends days
later with ``checkout.session.async_payment_succeeded`` (settles the same way, and the keys make the
pair one settlement) or ``..._failed`` (a note: the session is spent, the patient needs a new
link). Its side effects (deal stage, receipt
message, lifecycle update, note) are enqueued as outbox commands whose idempotency keys are
derived from the payment intent id, so a redelivered, retried or concurrent webhook enqueues
nothing new and the relay delivers each once. The handler does two reads and four local writes,
and answers the provider fast whatever the state of the vendors.

Delivery modes (`DeliveryMode`): the link message, asked for by the host, is sent now and falls
back to the outbox (``request_mode``); everything a webhook triggers is always enqueued.

Retry-safe `request_payment`: the checkout request is fixed per clock window (see
`app.services._payment_link`), so a retry gets the same link, and the message carrying a link is
taken once, through a claim on its key in the shared `ReplayStore` (``claims``): a retry after it
was sent or queued gets ``ALREADY_ACCEPTED`` instead of a second message. WhatsApp takes no
idempotency key, so a send whose outcome is unknown is never repeated either (``UNKNOWN``).
"""

from __future__ import annotations

import logging

import attrs

from ...domain.commands import AddNote, MoveDeal, SendEmail, SendMessage, UpdateContact
from ...domain.crm import DealStage, LifecycleStage
from ...domain.email import EmailMessage
from ...domain.errors import InvalidValue, NotFound, OutcomeUnknown
from ...domain.events import CheckoutPaymentSettled, PaymentFailed, PaymentSucceeded
from ...domain.messaging import TemplateMessage
from ...domain.payments import CheckoutLink, CheckoutRequest, PaymentIntent, PaymentStatus
from ...domain.replay import Claim
from ...domain.time import SYSTEM_CLOCK, Clock
from ...domain.values import IdempotencyKey, Money, PhoneNumber
from ...domain.webhooks import ClaimOutcome
from ...ports.crm import CRMPort
from ...ports.delivery_status import TextFallbackStore
from ...ports.payments import PaymentPort
from ...ports.webhooks import ReplayStore
from ._outreach import enqueue_once, send_text_or_template
from ._payment_link import LinkStatus, PaymentLinkSent, checkout_window
from .lead_intake import OPEN_DEAL_PROPERTY
from .outbox_dispatch import CommandDispatch, DeliveryMode, Dispatched
from .webhook_values import Subscription


__all__ = ["LinkStatus", "PaymentCollection", "PaymentLinkSent", "Settlement"]

logger = logging.getLogger("portico.services")

DEFAULT_ITEM = "your appointment"


def _window(_self: object, _attr: object, value: object) -> None:
    # The window's start is the request's created_at: the link must still live 30 minutes.
    if isinstance(value, bool) or not isinstance(value, int) or not 60 <= value <= 12 * 3600:
        raise InvalidValue("link_window", "must be an int from 60 to 43200 seconds")


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


def _won_stage(value: DealStage | str) -> DealStage:
    return DealStage.of(value, field="crm.won_stage")


@attrs.frozen
class PaymentCollection:
    """
    Collect a deal's fee through a hosted checkout page, then close the deal.

    Args:
        payments, crm: the ports read directly (checkout creation, intent and contact reads).
        dispatch: sends or enqueues every outbound command (`OutboxDispatch`).
        success_url: where the checkout page sends the patient after paying.
        won_stage: the deal stage of a paid deal (the CRM adapter maps it to its pipeline's).
        link_template, receipt_template: WhatsApp templates used outside the 24-hour window
            (the receipt always goes as a template: it waits in the outbox).
        request_mode: how the link message goes (`DeliveryMode.SEND_NOW`: now, the outbox on an
            outage).
        claims: where the link message is taken once across retries and workers (the webhook
            replay store); None sends on every call (a single-shot script).
        claim_lease: seconds a link-message claim lasts if its worker dies mid-send.
        clock: the time source; the checkout window is read from `Clock.now`.
        link_window: seconds a checkout request stays the same (retries inside reuse it).
        fallbacks: where an accepted link text's template is kept, so a later 131047 "failed"
            status sends it (`app.services.message_failures`); None: only the synchronous
            refusal falls back.
        email_sender: the mailbox receipts are also emailed from, to a contact with an email
            address (a `SendEmail` through the outbox); None: no email receipts.
        receipt_subject: the emailed receipt's subject.
    """

    payments: PaymentPort
    crm: CRMPort
    dispatch: CommandDispatch
    success_url: str = "https://portico.invalid/paid"
    cancel_url: str | None = None
    won_stage: DealStage = attrs.field(default=DealStage.WON, converter=_won_stage)
    link_template: str = "payment_link"
    receipt_template: str = "payment_receipt"
    language: str = "en"
    open_deal_property: str = OPEN_DEAL_PROPERTY
    request_mode: DeliveryMode = DeliveryMode.SEND_NOW
    claims: ReplayStore | None = None
    claim_lease: float = 120.0
    clock: Clock = SYSTEM_CLOCK
    link_window: int = attrs.field(default=3600, validator=_window)
    fallbacks: TextFallbackStore | None = attrs.field(default=None, repr=False)
    email_sender: str | None = attrs.field(default=None, repr=False)
    receipt_subject: str = "Your receipt"

    async def request_payment(
        self, *, contact_id: str, deal_id: str, amount: Money, description: str
    ) -> PaymentLinkSent:
        """
        Create a checkout link for the deal and message it to the contact's phone, once.

        Safe to call again (a timeout, a double click, a crashed caller): within the checkout
        window the same link comes back, and its message is not sent again: the answer's
        ``status`` says ``ALREADY_ACCEPTED`` (or ``IN_PROGRESS`` while another call sends it).
        A send whose outcome is unknown is answered with ``UNKNOWN``, not raised: the link
        exists, the patient may have it, and resending could message them twice.

        Raises:
            InvalidValue: the contact has no phone.
            IntegrationError: the CRM, Stripe or the claim store failed, or WhatsApp refused
                the message; no message went out, retrying is safe.
        """
        contact = await self.crm.get_contact(contact_id)
        if contact.phone is None:
            raise InvalidValue("phone", "the contact has no phone number to send the link to")
        created_at, key = checkout_window(self.clock.now(), self.link_window, deal_id, amount)
        link = await self.payments.create_checkout_link(
            CheckoutRequest(
                amount=amount,
                description=description,
                patient_ref=contact_id,
                success_url=self.success_url,
                cancel_url=self.cancel_url,
                idempotency_key=key,
                metadata={"deal_id": deal_id, "contact_id": contact_id, "item": description},
                created_at=created_at,
            )
        )
        message_key = IdempotencyKey.derive("payment-link", link.id)
        claim = await self._claim(message_key)
        if claim is not None and not claim.claimed:
            taken = claim.outcome is ClaimOutcome.DUPLICATE
            status = LinkStatus.ALREADY_ACCEPTED if taken else LinkStatus.IN_PROGRESS
            return PaymentLinkSent(link, None, status)
        try:
            delivery = await self._send_link(contact.phone, link, amount, description, message_key)
        except OutcomeUnknown as unknown:
            logger.warning("link message for %s: outcome unknown (%s)", link.id, unknown)
            await self._finish(claim, done=True)
            return PaymentLinkSent(link, None, LinkStatus.UNKNOWN)
        except BaseException:
            await self._finish(claim, done=False)
            raise
        await self._finish(claim, done=True)
        status = LinkStatus.SENT if delivery.sent else LinkStatus.QUEUED
        return PaymentLinkSent(link, delivery, status)

    async def _send_link(
        self,
        phone: PhoneNumber,
        link: CheckoutLink,
        amount: Money,
        description: str,
        key: IdempotencyKey,
    ) -> Dispatched:
        expires = link.expires_at.strftime("%d %b %H:%M UTC")
        return await send_text_or_template(
            self.dispatch,
            phone,
            f"To confirm your {description}, please pay {amount} here: {link.url} "
            f"(the link works until {expires}).",
            template=self.link_template,
            parameters=(description, str(amount), link.url),
            language=self.language,
            key=key,
            mode=self.request_mode,
            fallbacks=self.fallbacks,
        )

    async def _claim(self, message_key: IdempotencyKey) -> Claim | None:
        if self.claims is None:
            return None
        return await self.claims.claim(
            f"payment-link:{message_key.value}", lease_seconds=self.claim_lease
        )

    async def _finish(self, claim: Claim | None, *, done: bool) -> None:
        """Complete the claim (the message went, or may have) or release it (nothing went)."""
        if claim is None or self.claims is None:
            return
        try:
            await (self.claims.complete(claim) if done else self.claims.release(claim))
        except Exception as exc:  # noqa: BLE001 - the lease expires; the outbox dedupes queued
            logger.error("link message claim not recorded (%s)", type(exc).__name__)

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

        commands: list[MoveDeal | SendMessage | SendEmail | UpdateContact | AddNote] = [
            MoveDeal(deal_id, self.won_stage, key("settle-deal"))
        ]
        if contact.phone is not None:
            receipt = TemplateMessage(
                contact.phone, self.receipt_template, self.language, (str(amount), item)
            )
            commands.append(SendMessage(receipt, key("receipt")))
        if self.email_sender is not None and contact.email is not None:
            mail = EmailMessage(
                sender=self.email_sender,
                to=(contact.email,),
                subject=self.receipt_subject,
                text=f"Paid {amount} for {item}. Thank you.",
            )
            commands.append(SendEmail(mail, key("receipt-email")))
        # By id: the contact is known, and a by-phone upsert could miss it in a lagging search.
        commands.append(
            UpdateContact(
                contact_id,
                {self.open_deal_property: ""},
                LifecycleStage.CUSTOMER,
                key("settle-contact"),
            )
        )
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

    async def on_checkout_settled(self, event: CheckoutPaymentSettled) -> None:
        """
        Webhook handler: a delayed-method checkout ended (see the module docstring).

        Paid: settled like its ``payment_intent.succeeded`` (same keys, so whichever comes second
        enqueues nothing). Failed: a note on the contact, once per session, saying a new link is
        needed (Stripe also sends ``payment_intent.payment_failed``, noted as an attempt).
        """
        if event.payment_intent_id is None:
            logger.warning("checkout %s settled without a payment; ignored", event.session_id)
            return
        if event.paid:
            await self.settle(event.payment_intent_id)
            return
        intent = await self._our_intent(event.payment_intent_id)
        contact_id = intent and (intent.metadata.get("contact_id") or intent.patient_ref)
        if contact_id:
            amount = f" of {event.amount}" if event.amount is not None else ""
            body = (
                f"The delayed checkout payment{amount} failed ({event.session_id}); "
                "the link is spent, send a new one."
            )
            key = IdempotencyKey.derive("checkout-failed", event.session_id)
            await enqueue_once(self.dispatch, AddNote(contact_id, body, key))

    def subscriptions(self) -> tuple[Subscription, ...]:
        """
        The events this service reacts to, for the webhook ingress.

        ``CheckoutCompleted`` is deliberately absent: its payment also raises
        ``payment_intent.succeeded``, the event a card payment is settled on, and a delayed
        payment is not yet money.
        """
        return (
            (PaymentSucceeded, self.on_payment_succeeded),
            (PaymentFailed, self.on_payment_failed),
            (CheckoutPaymentSettled, self.on_checkout_settled),
        )
