"""
Follow-up calls: the voice assistant calls a patient back, and the call's outcome lands in the CRM.

The call carries the contact id in its metadata, so the end-of-call webhook finds the contact.
"""

from __future__ import annotations

import logging

import attrs

from app.services._outreach import Subscription
from domain.crm import Note
from domain.errors import InvalidValue
from domain.events import CallEnded
from domain.values import IdempotencyKey
from domain.voice import Call, CallOutcome, CallRequest
from ports.crm import CRMPort
from ports.voice import VoicePort


__all__ = ["FollowUpCalls"]

logger = logging.getLogger("portico.services")


@attrs.frozen
class FollowUpCalls:
    """
    Have the voice assistant call contacts back and note what came of it.

    Args:
        voice, crm: the ports.
        assistant_id: the voice platform's assistant that places the calls.
    """

    voice: VoicePort
    crm: CRMPort
    assistant_id: str

    async def request_call(self, contact_id: str, *, reason: str = "follow-up") -> Call:
        """Start a call to the contact's phone; ``reason`` is a label, never patient data."""
        contact = await self.crm.get_contact(contact_id)
        if contact.phone is None:
            raise InvalidValue("phone", "the contact has no phone number to call")
        return await self.voice.start_call(
            CallRequest(
                to=contact.phone,
                assistant_id=self.assistant_id,
                metadata={"contact_id": contact_id, "reason": reason},
                idempotency_key=IdempotencyKey.new(),
            )
        )

    async def record_outcome(self, outcome: CallOutcome) -> Note | None:
        """Add the call's summary to its contact's timeline; None for a call that is not ours."""
        call = await self.voice.get_call(outcome.call_id)
        contact_id = call.metadata.get("contact_id")
        if not contact_id:
            logger.warning("call %s carries no contact; not ours, ignored", outcome.call_id)
            return None
        reason = call.metadata.get("reason", "follow-up")
        duration = (
            f"{outcome.duration_seconds:.0f} s" if outcome.duration_seconds is not None else "?"
        )
        lines = [
            f"Voice call ({reason}) ended: {outcome.ended_reason or 'unknown reason'}, {duration}.",
            f"Summary: {outcome.summary or 'none given.'}",
        ]
        if outcome.recording_url:
            lines.append(f"Recording: {outcome.recording_url}")
        return await self.crm.add_note(contact_id, "\n".join(lines))

    async def on_call_ended(self, event: CallEnded) -> None:
        """Webhook handler: every ended call's outcome is noted."""
        await self.record_outcome(event.outcome)

    def subscriptions(self) -> tuple[Subscription, ...]:
        """The events this service reacts to, for the webhook ingress."""
        return ((CallEnded, self.on_call_ended),)
