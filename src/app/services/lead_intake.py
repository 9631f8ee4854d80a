"""
Lead intake: a patient writes to us, so they become a CRM contact with one open deal.

The open deal's id is kept on the contact (a CRM property), so a second message, a redelivered
webhook or a restarted worker finds the same deal instead of opening another.
"""

from __future__ import annotations

import attrs

from app.services._outreach import Subscription
from domain.crm import Contact, ContactDraft, Deal, DealDraft, LifecycleStage
from domain.events import MessageReceived
from domain.messaging import InboundMessage
from domain.values import Money
from ports.crm import CRMPort


__all__ = ["OPEN_DEAL_PROPERTY", "Lead", "LeadIntake"]

# The contact property holding the id of the contact's open deal ("" once it is closed).
OPEN_DEAL_PROPERTY = "portico_open_deal_id"


@attrs.frozen
class Lead:
    """The outcome of intake: the contact, their open deal, and whether the deal is new."""

    contact: Contact
    deal_id: str
    opened: bool
    deal: Deal | None = None


@attrs.frozen
class LeadIntake:
    """
    Turn inbound messages into CRM leads.

    Args:
        crm: where contacts and deals live.
        deal_name: the name of the deal opened for a new lead.
        deal_stage: the pipeline stage a new deal starts in (HubSpot's first default stage).
        pipeline: the deal pipeline.
        deal_amount: the expected value of the deal, when known up front.
        open_deal_property: the contact property that remembers the open deal's id.
    """

    crm: CRMPort
    deal_name: str = "New patient enquiry"
    deal_stage: str = "appointmentscheduled"
    pipeline: str = "default"
    deal_amount: Money | None = None
    open_deal_property: str = OPEN_DEAL_PROPERTY

    async def intake(self, message: InboundMessage) -> Lead:
        """
        Make the sender a lead (new contacts only; a known one keeps its name and stage) with
        exactly one open deal.
        """
        contact = await self.crm.find_contact(phone=message.sender)
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
        contact = await self.crm.upsert_contact(
            ContactDraft(phone=message.sender, properties={self.open_deal_property: deal.id})
        )
        return Lead(contact, deal.id, opened=True, deal=deal)

    async def on_message_received(self, event: MessageReceived) -> None:
        """Webhook handler: every inbound message goes through intake."""
        await self.intake(event.message)

    def subscriptions(self) -> tuple[Subscription, ...]:
        """The events this service reacts to, for the webhook ingress."""
        return ((MessageReceived, self.on_message_received),)


def _first_name(profile_name: str | None) -> str | None:
    """The first word of the WhatsApp profile name, trimmed to the CRM's limit."""
    if not profile_name or not profile_name.strip():
        return None
    return profile_name.strip().split()[0][:100]
