"""
Lead intake: a patient writes to us, so they become a CRM contact with one open deal.

The open deal's id is kept on the contact (a CRM property), so a second message, a redelivered
webhook or a restarted worker finds the same deal instead of opening another. The marker is
written *by contact id* (`UpdateContact`), never by phone: HubSpot's search lags a few seconds
behind its writes, so a by-phone upsert right after creating the contact would miss it and
create a second contact holding the marker. For the same reason the contact found by phone is
read again by id before its marker is trusted (a search result can be stale).

One sender at a time: with a `ReplayStore` injected (``claims``), intake holds a short claim on
``intake:<hash of the phone>`` across every worker sharing the store, so two near-simultaneous
first messages cannot both open a deal: the second raises `Unavailable`, the webhook answers 5xx
and the provider redelivers it after the first is done. The claim is released (never completed)
after each message, since the next message of the sender must be taken in too. Its lease must
outlast intake's worst case, `INTAKE_CRM_CALLS` CRM calls each retried up to its pipeline's
deadline: the container sizes it from the CRM pipeline (`app.leases.intake_lease`); the webhook
ingress's event lease guards the same work and must be as long.

The open-deal marker is written right after ``create_deal``; if the CRM fails at that moment the
marker goes to the outbox (an idempotent update by id, keyed by the deal) and intake still
succeeds, so the provider does not redeliver and nothing opens a second deal. What remains:

- ``create_deal`` itself timing out after HubSpot acted (``OutcomeUnknown``): HubSpot takes no
  idempotency key for deals, so the redelivery opens a second one;
- the outbox being down as well as the CRM right after ``create_deal`` (the handler fails and
  the redelivery opens a second deal);
- another message from the sender arriving after the CRM recovered but before the relay wrote the
  queued marker;
- a brand-new sender's second message arriving before HubSpot's search shows the contact the
  first one created (seconds): it cannot be found by phone, so a second contact (and deal) is
  made. A unique phone property (``HubSpotCRM.phone_id_property``) closes this.
Each needs two failures at one moment, and each leaves an extra *open* deal (visible in the CRM),
never a lost message or a lost deal.
"""

from __future__ import annotations

import logging

import attrs

from ...domain.commands import UpdateContact
from ...domain.crm import Contact, ContactDraft, Deal, DealDraft, DealStage, LifecycleStage
from ...domain.errors import Unavailable
from ...domain.events import MessageReceived
from ...domain.messaging import InboundMessage
from ...domain.replay import Claim
from ...domain.values import IdempotencyKey, Money, PhoneNumber
from ...ports.crm import CRMPort
from ...ports.webhooks import ReplayStore
from .outbox_dispatch import CommandDispatch, DeliveryMode, Dispatched
from .webhook_values import Subscription


__all__ = ["INTAKE_CRM_CALLS", "OPEN_DEAL_PROPERTY", "Lead", "LeadIntake"]

logger = logging.getLogger("portico.services")

# The contact property holding the id of the contact's open deal ("" once it is closed).
OPEN_DEAL_PROPERTY = "portico_open_deal_id"
# The most CRM calls one intake makes: find, read by id (or create), open the deal, mark it.
INTAKE_CRM_CALLS = 4


@attrs.frozen
class Lead:
    """
    The outcome of intake: the contact, their open deal, and whether the deal is new.

    ``marker`` says how the open-deal marker of a new deal went (sent now, or queued).
    """

    contact: Contact
    deal_id: str
    opened: bool
    deal: Deal | None = None
    marker: Dispatched | None = attrs.field(default=None, repr=False)


def _deal_stage(value: DealStage | str) -> DealStage:
    return DealStage.of(value, field="crm.deal_stage")


@attrs.frozen
class LeadIntake:
    """
    Turn inbound messages into CRM leads.

    Args:
        crm: where contacts and deals live (read and written directly: intake needs the ids).
        dispatch: writes the open-deal marker now, or queues it on an outage (`OutboxDispatch`).
        claims: serialises intake per sender across workers; None for a single worker.
        claim_lease: seconds a claim lasts if its worker dies; it must exceed intake's worst
            duration (`app.leases.intake_lease` computes it from the CRM pipeline).
        deal_name: the name of the deal opened for a new lead.
        deal_stage: the stage a new deal starts in (the CRM adapter maps it to its pipeline's).
        pipeline: the deal pipeline.
        deal_amount: the expected value of the deal, when known up front.
        open_deal_property: the contact property that remembers the open deal's id.
    """

    crm: CRMPort
    dispatch: CommandDispatch
    claims: ReplayStore | None = None
    claim_lease: float = 60.0
    deal_name: str = "New patient enquiry"
    deal_stage: DealStage = attrs.field(default=DealStage.OPEN, converter=_deal_stage)
    pipeline: str = "default"
    deal_amount: Money | None = None
    open_deal_property: str = OPEN_DEAL_PROPERTY

    async def intake(self, message: InboundMessage) -> Lead:
        """
        Make the sender a lead (new contacts only; a known one keeps its name and stage) with
        exactly one open deal.

        Raises:
            Unavailable: another worker is taking in a message of the same sender (retry later).
            IntegrationError: the CRM failed before the deal existed (retrying is safe).
        """
        if self.claims is None:
            return await self._intake(message)
        claim = await self._claim(self.claims, message.sender)
        try:
            return await self._intake(message)
        finally:
            await _release(self.claims, claim)

    async def _intake(self, message: InboundMessage) -> Lead:
        found = await self.crm.find_contact(phone=message.sender)
        # Search results may lag behind writes: trust only the contact read by id.
        contact = None if found is None else await self.crm.get_contact(found.id)
        if contact is None:
            contact = await self.crm.upsert_contact(
                ContactDraft(
                    phone=message.sender,
                    first_name=_first_name(message.sender_name),
                    lifecycle_stage=LifecycleStage.LEAD,
                )
            )
        existing = contact.properties.get(self.open_deal_property)
        if existing:
            return Lead(contact, existing, opened=False)
        deal = await self.crm.create_deal(
            DealDraft(
                contact_id=contact.id,
                name=self.deal_name,
                stage=self.deal_stage,
                amount=self.deal_amount,
                pipeline=self.pipeline,
            )
        )
        marker = UpdateContact(
            contact.id,
            {self.open_deal_property: deal.id},
            idempotency_key=IdempotencyKey.derive("open-deal", deal.id),
        )
        written = await self.dispatch.submit(marker, mode=DeliveryMode.SEND_NOW)
        if isinstance(written.result, Contact):
            contact = written.result
        else:
            logger.warning("deal %s opened; its marker is queued (%s)", deal.id, written.reason)
        return Lead(contact, deal.id, opened=True, deal=deal, marker=written)

    async def _claim(self, claims: ReplayStore, sender: PhoneNumber) -> Claim:
        key = f"intake:{IdempotencyKey.derive('intake', sender.e164).value}"
        claim = await claims.claim(key, lease_seconds=self.claim_lease)
        if not claim.claimed:
            raise Unavailable(
                "another worker is taking in this sender; retry shortly",
                integration="intake",
                request_sent=False,
            )
        return claim

    async def on_message_received(self, event: MessageReceived) -> None:
        """Webhook handler: every inbound message goes through intake."""
        await self.intake(event.message)

    def subscriptions(self) -> tuple[Subscription, ...]:
        """The events this service reacts to, for the webhook ingress."""
        return ((MessageReceived, self.on_message_received),)


async def _release(claims: ReplayStore, claim: Claim) -> None:
    try:
        await claims.release(claim)
    except Exception as exc:  # noqa: BLE001 - the claim's lease expires instead
        logger.error("intake claim not released (%s); it expires", type(exc).__name__)


def _first_name(profile_name: str | None) -> str | None:
    """The first word of the WhatsApp profile name, trimmed to the CRM's limit."""
    if not profile_name or not profile_name.strip():
        return None
    return profile_name.strip().split()[0][:100]
