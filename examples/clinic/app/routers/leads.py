"""``POST /leads``: an enquiry from the web form becomes a CRM contact with one open deal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import portico
from fastapi import APIRouter
from portico.domain import InboundMessage

from ..dependencies import Portico
from ..schemas import LeadIn, LeadOut


router = APIRouter(tags=["leads"])


@router.post("/leads", status_code=201)
async def take_in_lead(lead: LeadIn, container: Portico) -> LeadOut:
    """Take the enquiry in as Portico takes in a patient's WhatsApp message."""
    message = InboundMessage(
        message_id=f"web-{uuid.uuid4().hex}",
        sender=portico.PhoneNumber.parse(lead.phone),
        received_at=datetime.now(UTC),
        provider="web-form",
        text=lead.message,
        sender_name=lead.name,
    )
    taken = await container.lead_intake().intake(message)
    return LeadOut(contact_id=taken.contact.id, deal_id=taken.deal_id, new_deal=taken.opened)
